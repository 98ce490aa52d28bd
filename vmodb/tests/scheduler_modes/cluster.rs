//! Cluster-level fixture: a probe logging when handlers run, and an app with a handler per mode.

use crate::support::util::{collect, config_ms};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vmodb::{
    App, Cluster, Entity, Handler, Outcome, Service, TableDef, Tid, TransactionDef, TxCtx, TxError,
};

// ---------------------------------------------------------------------------------------------
// Cluster level: handlers log when they run
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mode {
    Single,
    Parallel,
    Part(Vec<u32>),
}

#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub(crate) service: &'static str,
    pub(crate) handler: &'static str,
    pub(crate) tid: Tid,
    pub(crate) mode: Mode,
    writes: bool,
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// A logical clock and the spans handlers ran in. Every handler sleeps while "running" so that
/// overlaps the scheduler allows actually happen.
#[derive(Default)]
struct Probe {
    clock: AtomicU64,
    spans: Mutex<Vec<Span>>,
    work: Duration,
}

impl Probe {
    fn new() -> Arc<Self> {
        Arc::new(Probe {
            work: Duration::from_micros(200),
            ..Probe::default()
        })
    }

    fn run<R>(
        &self,
        (service, handler): (&'static str, &'static str),
        ctx: &TxCtx,
        mode: Mode,
        writes: bool,
        f: impl FnOnce() -> R,
    ) -> R {
        let start = self.clock.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.work);
        let r = f();
        let end = self.clock.fetch_add(1, Ordering::SeqCst);
        self.spans.lock().unwrap().push(Span {
            service,
            handler,
            tid: ctx.tid(),
            mode,
            writes,
            start,
            end,
        });
        r
    }

    fn spans(&self) -> Vec<Span> {
        let mut v = self.spans.lock().unwrap().clone();
        v.sort_by_key(|s| s.tid);
        v
    }
}

fn overlap(a: &Span, b: &Span) -> bool {
    a.start < b.end && b.start < a.end
}

/// May `b` run beside the earlier task `a` of the same service?
fn spans_may_overlap(a: &Span, b: &Span) -> bool {
    if !a.writes {
        return true;
    }
    match (&a.mode, &b.mode) {
        (Mode::Single, _) | (_, Mode::Single) => false,
        (Mode::Parallel, Mode::Parallel) => true,
        (Mode::Parallel, Mode::Part(_)) | (Mode::Part(_), Mode::Parallel) => false,
        (Mode::Part(x), Mode::Part(y)) => !x.iter().any(|k| y.contains(k)),
    }
}

/// Checks every pair of spans of one service against the rules; returns the pairs that overlapped.
pub(crate) fn check_spans(spans: &[Span]) -> Vec<(Span, Span)> {
    let mut overlapping = Vec::new();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.service != b.service {
                continue;
            }
            assert!(a.tid < b.tid, "one span per TID and service");
            if !spans_may_overlap(a, b) {
                assert!(
                    b.start > a.end,
                    "service {}: {} (tid {}, {:?}) ran beside the earlier conflicting {} (tid {}, {:?})",
                    a.service,
                    b.handler,
                    b.tid,
                    b.mode,
                    a.handler,
                    a.tid,
                    a.mode
                );
            }
            if overlap(a, b) {
                overlapping.push((a.clone(), b.clone()));
            }
        }
    }
    overlapping
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Counter {
    pub(crate) id: u32,
    pub(crate) n: u64,
    pub(crate) last_tid: u64,
}
impl Entity for Counter {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct LogRow {
    tid: u64,
    key: u32,
}
impl Entity for LogRow {
    type Key = u64;
    fn key(&self) -> u64 {
        self.tid
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Work {
    pub(crate) key: u32,
    pub(crate) keys: Vec<u32>,
}

pub(crate) fn work(key: u32) -> Work {
    Work { key, keys: vec![] }
}

/// The counter every single-mode task bumps: no partitioned task touches it.
const GLOBAL: u32 = 1_000_000;

fn bump(ctx: &TxCtx, keys: &[u32]) -> Result<(), TxError> {
    let counters = ctx.table::<Counter>()?;
    for &k in keys {
        let n = counters.get(&k).map_or(0, |c| c.n);
        counters.upsert(Counter {
            id: k,
            n: n + 1,
            last_tid: ctx.tid(),
        })?;
    }
    Ok(())
}

fn read(ctx: &TxCtx, keys: &[u32]) -> Result<(), TxError> {
    let counters = ctx.table::<Counter>()?;
    for k in keys {
        let _ = counters.get(k);
    }
    Ok(())
}

pub(crate) const HANDLERS: [&str; 6] =
    ["single", "part", "multi", "par", "read_single", "read_part"];

/// A service whose handlers cover every mode, writing and reading; all are logged in `probe`.
fn moded_service(name: &'static str, probe: &Arc<Probe>) -> Service {
    let p = Arc::clone(probe);
    let single = Handler::on::<Work>("single")
        .read_write()
        .single()
        .run(move |ctx, e| {
            p.run((name, "single"), ctx, Mode::Single, true, || {
                bump(ctx, &[e.key, GLOBAL])
            })
        });
    let p = Arc::clone(probe);
    let part = Handler::on::<Work>("part")
        .read_write()
        .partition_by(|e: &Work| e.key)
        .run(move |ctx, e| {
            p.run((name, "part"), ctx, Mode::Part(vec![e.key]), true, || {
                bump(ctx, &[e.key])
            })
        });
    let p = Arc::clone(probe);
    let multi = Handler::on::<Work>("multi")
        .read_write()
        .partition_by_keys(|e: &Work| e.keys.clone())
        .run(move |ctx, e| {
            // An empty key set makes the task run alone.
            let mode = if e.keys.is_empty() {
                Mode::Single
            } else {
                Mode::Part(e.keys.clone())
            };
            p.run((name, "multi"), ctx, mode, true, || bump(ctx, &e.keys))
        });
    let p = Arc::clone(probe);
    let par = Handler::on::<Work>("par")
        .write_only()
        .parallel()
        .run(move |ctx, e| {
            p.run((name, "par"), ctx, Mode::Parallel, true, || {
                ctx.table::<LogRow>()?.insert(LogRow {
                    tid: ctx.tid(),
                    key: e.key,
                })
            })
        });
    let p = Arc::clone(probe);
    let read_single = Handler::on::<Work>("read_single")
        .read_only()
        .single()
        .run(move |ctx, e| {
            p.run((name, "read_single"), ctx, Mode::Single, false, || {
                read(ctx, &[e.key, GLOBAL])
            })
        });
    let p = Arc::clone(probe);
    let read_part = Handler::on::<Work>("read_part")
        .read_only()
        .partition_by(|e: &Work| e.key)
        .run(move |ctx, e| {
            p.run(
                (name, "read_part"),
                ctx,
                Mode::Part(vec![e.key]),
                false,
                || read(ctx, &[e.key]),
            )
        });
    Service::new(name)
        .table(TableDef::<Counter>::new("counters", &["id"]))
        .table(TableDef::<LogRow>::new("log", &["tid"]))
        .handler(single)
        .handler(part)
        .handler(multi)
        .handler(par)
        .handler(read_single)
        .handler(read_part)
}

/// Services `s1` and `s2`, each with every handler; transaction `sN.handler` runs one handler.
fn moded_app(probe: &Arc<Probe>) -> App {
    let mut b = App::builder()
        .service(moded_service("s1", probe))
        .service(moded_service("s2", probe));
    for s in ["s1", "s2"] {
        for h in HANDLERS {
            b = b.transaction(TransactionDef::new(&format!("{s}.{h}"), s, h));
        }
    }
    b.build().expect("app")
}

/// Runs `inputs` in one submission on a fresh cluster; returns the spans and checks every
/// transaction committed and the final state equals the serial replay.
pub(crate) fn run_moded(inputs: Vec<(String, Vec<u8>)>) -> Vec<Span> {
    let probe = Probe::new();
    let cluster =
        Cluster::start(moded_app(&probe), config_ms(2, 10_000), |_| Ok(())).expect("start");
    let client = cluster.client();
    let n = inputs.len();
    client.submit_all(inputs).expect("submit");
    for c in collect(&client, n) {
        assert!(
            matches!(c.outcome, Outcome::Committed { .. }),
            "tid {} failed: {:?}",
            c.tid,
            c.outcome
        );
    }
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let replayed = vmodb::serial_replay(
        &moded_app(&Arc::new(Probe::default())),
        |_| Ok(()),
        &cluster.committed_inputs(),
    )
    .expect("replay");
    assert_eq!(
        cluster.state(),
        replayed,
        "state differs from serial replay"
    );
    let spans = probe.spans();
    assert_eq!(spans.len(), n, "every task ran once");
    spans
}
