//! A single-mode service fed by a parallel one still executes in TID order.

use crate::cluster::{Counter, Work, work};
use crate::support::util::{collect, column, config_ms, input, int};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vmodb::{App, Cluster, Entity, Handler, Outcome, Service, TableDef, Tid, TransactionDef};

// A two-service transaction: `front` runs in parallel (so its events reach `back` out of order),
// `back` runs single and must see its share in TID order.

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ToBack {
    n: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Seen {
    tid: u64,
    /// Value of the shared counter before this task bumped it.
    before: u64,
}
impl Entity for Seen {
    type Key = u64;
    fn key(&self) -> u64 {
        self.tid
    }
}

fn pipeline(seen: &Arc<Mutex<Vec<Tid>>>) -> App {
    let front = Service::new("front").handler(
        Handler::on::<Work>("go")
            .emits::<ToBack>("to_back")
            .write_only()
            .parallel()
            .run(|ctx, e| {
                // Uneven work so that later TIDs often finish first.
                let us = (ctx.tid() * 7919) % 400;
                std::thread::sleep(Duration::from_micros(us));
                Ok(ToBack { n: e.key })
            }),
    );
    let log = Arc::clone(seen);
    let back = Service::new("back")
        .table(TableDef::<Counter>::new("counters", &["id"]))
        .table(TableDef::<Seen>::new("seen", &["tid"]))
        .handler(
            Handler::on::<ToBack>("to_back")
                .read_write()
                .single()
                .run(move |ctx, _e| {
                    log.lock().unwrap().push(ctx.tid());
                    let counters = ctx.table::<Counter>()?;
                    let before = counters.get(&0).map_or(0, |c| c.n);
                    counters.upsert(Counter {
                        id: 0,
                        n: before + 1,
                        last_tid: ctx.tid(),
                    })?;
                    ctx.table::<Seen>()?.insert(Seen {
                        tid: ctx.tid(),
                        before,
                    })
                }),
        );
    App::builder()
        .service(front)
        .service(back)
        .transaction(TransactionDef::new("go", "front", "go").then("back", "to_back"))
        .build()
        .expect("app")
}

#[test]
fn a_single_mode_service_executes_in_tid_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cluster = Cluster::start(pipeline(&seen), config_ms(2, 10_000), |_| Ok(())).expect("start");
    let client = cluster.client();
    let mut tids = Vec::new();
    for chunk in 0..6u32 {
        let inputs = (0..50u32)
            .map(|i| input("go", &work(chunk * 50 + i)))
            .collect();
        tids.extend(client.submit_all(inputs).expect("submit"));
    }
    let done = collect(&client, tids.len());
    assert!(
        done.iter()
            .all(|c| matches!(c.outcome, Outcome::Committed { .. }))
    );
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, tids, "the single-mode service saw TIDs out of order");
    let state = cluster.state();
    let seen_tids: Vec<i64> = column(&state, "back", "seen", "tid")
        .iter()
        .map(int)
        .collect();
    let before: Vec<i64> = column(&state, "back", "seen", "before")
        .iter()
        .map(int)
        .collect();
    assert_eq!(
        seen_tids,
        tids.iter().map(|t| *t as i64).collect::<Vec<_>>()
    );
    assert_eq!(
        before,
        (0..tids.len() as i64).collect::<Vec<_>>(),
        "each task must read the counter its TID predecessor wrote"
    );
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "each task ran once");
}
