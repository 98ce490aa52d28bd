//! End to end: the three-service shop under concurrent clients; the final state must equal the
//! serial replay of the committed inputs, and the application's own invariants must hold.

mod support;

use rand::{RngExt, SeedableRng};
use std::time::Duration;
use support::shop::{self, Audit, PlaceOrder, Receipt, Restock, Summary};
use vmodb::{Cluster, ClusterConfig, CoordinatorConfig, Outcome, Value};

fn config(window_ms: u64, max_batch: u32) -> ClusterConfig {
    ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(window_ms),
            batch_max_txns: max_batch,
            record_inputs: true,
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: true,
        link_delay: None,
        data_dir: None,
    }
}

fn column(state: &vmodb::ClusterState, service: &str, table: &str, col: &str) -> Vec<Value> {
    let t = &state[service][table];
    let i = t.columns.iter().position(|c| c == col).expect("column");
    t.rows.iter().map(|r| r[i].clone()).collect()
}

fn int(v: &Value) -> i64 {
    v.as_f64().expect("number") as i64
}

#[test]
fn concurrent_run_equals_serial_replay() {
    let (items, customers) = (20u32, 50u32);
    let app = shop::app().expect("app");
    let cluster =
        Cluster::start(app, config(2, 64), shop::load(items, 30, customers)).expect("start");
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let client = cluster.client();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                let mut submitted = 0;
                for i in 0..400u64 {
                    let r = rng.random_range(0..100);
                    if r < 80 {
                        let e = PlaceOrder {
                            order_id: t * 1_000_000 + i,
                            customer: rng.random_range(0..customers),
                            item: rng.random_range(0..items),
                            qty: rng.random_range(1..4),
                        };
                        client.submit("checkout", &e).expect("submit");
                    } else if r < 90 {
                        let e = Restock {
                            item: rng.random_range(0..items),
                            add: rng.random_range(1..5),
                        };
                        client.submit("restock", &e).expect("submit");
                    } else {
                        client
                            .submit(
                                "audit",
                                &Audit {
                                    customer: rng.random_range(0..customers),
                                },
                            )
                            .expect("submit");
                    }
                    submitted += 1;
                }
                let mut outcomes = Vec::new();
                for _ in 0..submitted {
                    outcomes.push(
                        client
                            .completions()
                            .recv_timeout(Duration::from_secs(30))
                            .expect("completion"),
                    );
                }
                outcomes
            })
        })
        .collect();
    let completions: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    assert_eq!(completions.len(), 1600);
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    for c in &completions {
        match (&*c.transaction, &c.outcome) {
            ("checkout", Outcome::Committed { output: Some(o) }) => {
                let r: Receipt = o.decode().expect("receipt");
                assert!(r.ok || r.charged == 0);
            }
            ("audit", Outcome::Committed { output: Some(o) }) => {
                let _: Summary = o.decode().expect("summary");
            }
            ("restock", Outcome::Committed { output: None }) => {}
            other => panic!("unexpected completion {other:?}"),
        }
    }
    let state = cluster.state();
    let inputs = cluster.committed_inputs();
    assert_eq!(inputs.len(), 1600);
    let replayed = vmodb::serial_replay(
        &shop::app().expect("app"),
        shop::load(items, 30, customers),
        &inputs,
    )
    .expect("replay");
    assert_eq!(
        state, replayed,
        "concurrent state differs from serial replay"
    );
    // The replay in steps (two runs, split at a batch boundary) reaches the same state, and the
    // timed check says so and counts every input.
    let app = shop::app().expect("app");
    let mut sorted = inputs.clone();
    sorted.sort_by_key(|i| i.env.tid);
    let cut = sorted
        .iter()
        .position(|i| i.batch != sorted[0].batch)
        .unwrap_or(sorted.len());
    let mut steps =
        vmodb::SerialReplay::load(&app, shop::load(items, 30, customers)).expect("load");
    steps.run(&sorted[..cut]).expect("first part");
    steps.run(&sorted[cut..]).expect("the rest");
    assert_eq!(steps.state(), replayed);
    assert!(
        steps.run(&sorted[..1]).is_err(),
        "a TID at or below one already run is refused"
    );
    let check = vmodb::check_serial_replay(&app, shop::load(items, 30, customers), &inputs, &state)
        .expect("check");
    assert!(check.equal);
    assert_eq!(check.transactions, 1600);
    assert!(check.tps() > 0.0);

    // Application invariants: stock never negative; what was sold was paid.
    let stock = column(&state, "inventory", "items", "stock");
    assert!(stock.iter().all(|s| int(s) >= 0));
    let sold: i64 = column(&state, "inventory", "items", "sold")
        .iter()
        .map(int)
        .sum();
    let paid_rows = column(&state, "billing", "payments", "status");
    let orders = column(&state, "orders", "orders", "id").len();
    assert_eq!(paid_rows.len(), orders, "one payment row per order");
    let balance_drop: i64 = column(&state, "billing", "accounts", "balance")
        .iter()
        .map(|b| shop::START_BALANCE - int(b))
        .sum();
    let prices: Vec<i64> = column(&state, "inventory", "items", "price")
        .iter()
        .map(int)
        .collect();
    let sold_per_item: Vec<i64> = column(&state, "inventory", "items", "sold")
        .iter()
        .map(int)
        .collect();
    let revenue: i64 = prices.iter().zip(&sold_per_item).map(|(p, s)| p * s).sum();
    assert_eq!(balance_drop, revenue);
    assert!(sold > 0);

    // Every declared mode held: no two concurrent tasks touched a row the earlier one writes.
    let (violations, examples) = cluster.mode_violations();
    assert_eq!(violations, 0, "{examples:?}");

    // A committed snapshot query agrees with the final state.
    let s: Summary = cluster.query("billing", "summary", &0u32).expect("query");
    assert_eq!(s.customer, 0);
}

mod wrong_declaration {
    use serde::{Deserialize, Serialize};
    use std::time::Duration;
    use vmodb::{
        App, Cluster, ClusterConfig, CoordinatorConfig, Entity, Handler, Service, TableDef,
        TransactionDef,
    };

    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    pub struct Counter {
        pub id: u32,
        pub n: i64,
    }
    impl Entity for Counter {
        type Key = u32;
        fn key(&self) -> u32 {
            self.id
        }
    }

    /// One counter row bumped by every transaction: `parallel` is a lie, `single` is the truth.
    fn run(parallel: bool) -> (u64, Vec<String>) {
        let bump = Handler::on::<u32>("bump");
        let bump = if parallel {
            bump.parallel()
        } else {
            bump.single()
        };
        let service = Service::new("counter")
            .table(TableDef::<Counter>::new("counters", &["id"]))
            .handler(bump.run(|ctx, _: u32| {
                let t = ctx.table::<Counter>()?;
                let mut c = t.get(&0).unwrap_or_default();
                std::thread::sleep(Duration::from_micros(300)); // widen the window for overlap
                c.n += 1;
                t.upsert(c)
            }));
        let app = App::builder()
            .service(service)
            .transaction(TransactionDef::new("bump", "counter", "bump"))
            .build();
        let config = ClusterConfig {
            coordinator: CoordinatorConfig {
                batch_window: Duration::from_millis(2),
                ..CoordinatorConfig::default()
            },
            workers: 2,
            check_modes: true,
            link_delay: None,
            data_dir: None,
        };
        let cluster = Cluster::start(app.expect("app"), config, |_| Ok(())).expect("start");
        let client = cluster.client();
        let inputs = (0..200u32)
            .map(|i| {
                (
                    "bump".to_string(),
                    postcard::to_allocvec(&i).expect("encode"),
                )
            })
            .collect();
        client.submit_all(inputs).expect("submit");
        assert!(cluster.wait_idle(Duration::from_secs(20)));
        cluster.mode_violations()
    }

    #[test]
    fn the_mode_checker_catches_a_wrong_parallel_declaration() {
        let (n, examples) = run(true);
        assert!(
            n > 0,
            "a read-modify-write of one row declared parallel must be reported"
        );
        assert!(examples[0].contains("counters"), "{examples:?}");
        let (n, examples) = run(false);
        assert_eq!(n, 0, "single mode never overlaps: {examples:?}");
    }
}
