//! Execution modes: the per-service chain (`vmodb::internals::Chain`) as pure logic, then the same
//! rules observed on a running cluster through handlers that log when they run.
//!
//! Rules (module doc of `scheduler.rs`): a running read-only task never blocks later tasks; a
//! single task conflicts with every running writer; a parallel task with running single and
//! partitioned writers; a partitioned task with running single, parallel and key-sharing
//! partitioned writers; a read-only candidate conflicts like a writer would. An empty footprint
//! (nothing to run) touches nothing.

mod support;

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::util::{collect, column, config_ms, input, int};
use vmodb::internals::{Chain, Footprint, InsertError, Slot};
use vmodb::{
    App, Cluster, Entity, Handler, Outcome, Service, TableDef, Tid, TransactionDef, TxCtx, TxError,
};

// ---------------------------------------------------------------------------------------------
// Pure chain logic
// ---------------------------------------------------------------------------------------------

fn part(writes: bool, keys: &[u64]) -> Footprint {
    Footprint::Partitioned {
        writes,
        keys: keys.iter().copied().collect(),
    }
}

fn slot(tid: Tid, prev: Tid, footprint: Footprint) -> Slot<Tid> {
    Slot {
        tid,
        prev,
        footprint,
        task: tid,
    }
}

fn writes(f: &Footprint) -> bool {
    match f {
        Footprint::Empty => false,
        Footprint::Single { writes } | Footprint::Parallel { writes } => *writes,
        Footprint::Partitioned { writes, .. } => *writes,
    }
}

/// The reference rule: may `b` start while the earlier task `a` runs?
fn may_overlap(a: &Footprint, b: &Footprint) -> bool {
    use Footprint::*;
    if !writes(a) {
        return true; // a running reader (or a marker) never blocks later tasks
    }
    match (a, b) {
        (_, Empty) => true, // touches nothing
        (Single { .. }, _) | (_, Single { .. }) => false,
        (Parallel { .. }, Parallel { .. }) => true,
        (Parallel { .. }, Partitioned { .. }) | (Partitioned { .. }, Parallel { .. }) => false,
        (Partitioned { keys: x, .. }, Partitioned { keys: y, .. }) => {
            !x.iter().any(|k| y.contains(k))
        }
        (Empty, _) => unreachable!("an empty footprint does not write"),
    }
}

/// Candidate footprints: every kind, reading and writing, with keys overlapping {1, 2} or not.
fn footprints() -> Vec<(String, Footprint)> {
    let mut out = vec![("empty".to_string(), Footprint::Empty)];
    for w in [true, false] {
        let rw = if w { "writer" } else { "reader" };
        out.push((format!("single {rw}"), Footprint::Single { writes: w }));
        out.push((format!("parallel {rw}"), Footprint::Parallel { writes: w }));
        out.push((format!("partitioned {rw} {{1,2}}"), part(w, &[1, 2])));
        out.push((format!("partitioned {rw} {{2,3}}"), part(w, &[2, 3])));
        out.push((format!("partitioned {rw} {{3,4}}"), part(w, &[3, 4])));
    }
    out
}

fn admitted_tids(v: Vec<Slot<Tid>>) -> Vec<Tid> {
    v.into_iter()
        .map(|s| {
            assert_eq!(s.task, s.tid, "the slot carries its own task");
            s.tid
        })
        .collect()
}

#[test]
fn every_ordered_pair_of_footprints() {
    let all = footprints();
    let mut checked = 0;
    for (an, a) in &all {
        for (bn, b) in &all {
            let mut chain = Chain::new(0);
            chain.insert(slot(1, 0, a.clone())).expect("insert first");
            chain.insert(slot(2, 1, b.clone())).expect("insert second");
            let first = admitted_tids(chain.admit());
            if may_overlap(a, b) {
                assert_eq!(first, vec![1, 2], "`{bn}` may start while `{an}` runs");
                assert_eq!(chain.waiting_len(), 0);
            } else {
                assert_eq!(first, vec![1], "`{bn}` must wait while `{an}` runs");
                assert_eq!(chain.waiting_len(), 1);
                assert!(
                    chain.admit().is_empty(),
                    "nothing changed, nothing admitted"
                );
                chain.finish(a);
                assert_eq!(
                    admitted_tids(chain.admit()),
                    vec![2],
                    "`{bn}` starts once `{an}` finished"
                );
            }
            assert_eq!(chain.last_admitted(), 2);
            checked += 1;
        }
    }
    assert_eq!(checked, 121);
}

#[test]
fn spot_checks_of_the_rules() {
    // Independent of `may_overlap`: a few pairs spelled out.
    let cases = [
        (
            Footprint::Single { writes: false },
            Footprint::Single { writes: true },
            true,
        ),
        (
            Footprint::Single { writes: true },
            Footprint::Single { writes: false },
            false,
        ),
        (Footprint::Single { writes: true }, Footprint::Empty, true),
        (
            Footprint::Parallel { writes: true },
            Footprint::Parallel { writes: true },
            true,
        ),
        (
            Footprint::Parallel { writes: true },
            Footprint::Parallel { writes: false },
            true,
        ),
        (
            Footprint::Parallel { writes: true },
            part(true, &[9]),
            false,
        ),
        (
            Footprint::Parallel { writes: true },
            part(false, &[9]),
            false,
        ),
        (part(true, &[1]), part(true, &[2]), true),
        (part(true, &[1, 5]), part(false, &[5]), false),
        (part(false, &[1]), part(true, &[1]), true),
        (
            part(true, &[1]),
            Footprint::Parallel { writes: true },
            false,
        ),
        (part(true, &[1]), Footprint::Single { writes: false }, false),
        (Footprint::Empty, Footprint::Single { writes: true }, true),
    ];
    for (a, b, overlap) in cases {
        let mut chain = Chain::new(7);
        chain.insert(slot(8, 7, a.clone())).unwrap();
        chain.insert(slot(11, 8, b.clone())).unwrap();
        let got = admitted_tids(chain.admit());
        let want = if overlap { vec![8, 11] } else { vec![8] };
        assert_eq!(got, want, "{a:?} then {b:?}");
        assert_eq!(
            may_overlap(&a, &b),
            overlap,
            "reference rule for {a:?} then {b:?}"
        );
    }
}

#[test]
fn out_of_order_arrival_waits_for_the_predecessor() {
    let mut chain = Chain::new(0);
    let par = Footprint::Parallel { writes: true };
    chain.insert(slot(5, 3, par.clone())).unwrap();
    assert!(chain.admit().is_empty());
    chain.insert(slot(3, 2, par.clone())).unwrap();
    assert!(chain.admit().is_empty());
    chain.insert(slot(2, 1, par.clone())).unwrap();
    assert!(
        chain.admit().is_empty(),
        "TID 1 has not arrived: nothing may start"
    );
    assert_eq!(chain.waiting_len(), 3);
    assert_eq!(chain.last_admitted(), 0);
    chain.insert(slot(1, 0, par.clone())).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![1, 2, 3, 5]);
    assert_eq!(chain.waiting_len(), 0);
    assert_eq!(chain.last_admitted(), 5);

    // The same with single tasks: the predecessor arrives last, then one at a time.
    let single = Footprint::Single { writes: true };
    let mut chain = Chain::new(10);
    chain.insert(slot(14, 12, single.clone())).unwrap();
    chain.insert(slot(12, 10, single.clone())).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![12]);
    assert!(chain.admit().is_empty());
    chain.finish(&single);
    assert_eq!(admitted_tids(chain.admit()), vec![14]);
}

#[test]
fn a_blocked_task_blocks_every_later_task() {
    // 2 shares key 1 with the running 1; 3 (key 2) would not conflict but must not pass 2.
    let mut chain = Chain::new(0);
    chain.insert(slot(1, 0, part(true, &[1]))).unwrap();
    chain.insert(slot(2, 1, part(true, &[1]))).unwrap();
    chain.insert(slot(3, 2, part(true, &[2]))).unwrap();
    chain.insert(slot(4, 3, Footprint::Empty)).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![1]);
    assert_eq!(chain.waiting_len(), 3);
    chain.finish(&part(true, &[1]));
    assert_eq!(admitted_tids(chain.admit()), vec![2, 3, 4]);

    // Parallel, single, parallel: the second parallel task waits behind the single one.
    let par = Footprint::Parallel { writes: true };
    let single = Footprint::Single { writes: true };
    let mut chain = Chain::new(0);
    chain.insert(slot(1, 0, par.clone())).unwrap();
    chain.insert(slot(2, 1, single.clone())).unwrap();
    chain.insert(slot(3, 2, par.clone())).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![1]);
    chain.finish(&par);
    assert_eq!(admitted_tids(chain.admit()), vec![2]);
    assert!(chain.admit().is_empty());
    chain.finish(&single);
    assert_eq!(admitted_tids(chain.admit()), vec![3]);
}

#[test]
fn finish_unblocks_only_when_the_last_conflicting_writer_is_done() {
    let par = Footprint::Parallel { writes: true };
    let single = Footprint::Single { writes: true };
    let mut chain = Chain::new(0);
    chain.insert(slot(1, 0, par.clone())).unwrap();
    chain.insert(slot(2, 1, par.clone())).unwrap();
    chain.insert(slot(3, 2, single.clone())).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![1, 2]);
    chain.finish(&par);
    assert!(chain.admit().is_empty(), "one parallel writer still runs");
    chain.finish(&par);
    assert_eq!(admitted_tids(chain.admit()), vec![3]);

    // Keys are counted: {1,2} and {3} run; {2,3} waits for both.
    let mut chain = Chain::new(0);
    chain.insert(slot(1, 0, part(true, &[1, 2]))).unwrap();
    chain.insert(slot(2, 1, part(true, &[3]))).unwrap();
    chain.insert(slot(3, 2, part(true, &[2, 3]))).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![1, 2]);
    chain.finish(&part(true, &[1, 2]));
    assert!(chain.admit().is_empty(), "key 3 still held");
    chain.finish(&part(true, &[3]));
    assert_eq!(admitted_tids(chain.admit()), vec![3]);

    // Finishing a reader changes nothing for waiting tasks blocked by a writer.
    let mut chain = Chain::new(0);
    chain.insert(slot(1, 0, single.clone())).unwrap();
    chain
        .insert(slot(2, 1, Footprint::Single { writes: false }))
        .unwrap();
    chain.insert(slot(3, 2, single.clone())).unwrap();
    assert_eq!(admitted_tids(chain.admit()), vec![1]);
    chain.finish(&single);
    // The reader starts, and the writer after it may start while it reads.
    assert_eq!(admitted_tids(chain.admit()), vec![2, 3]);
}

#[test]
fn corrupt_inserts_are_refused_without_disturbing_the_chain() {
    let par = Footprint::Parallel { writes: true };
    let mut chain = Chain::new(0);
    chain.insert(slot(2, 1, par.clone())).unwrap();
    // A second task claiming predecessor 1 while the first still waits.
    assert_eq!(
        chain.insert(slot(3, 1, par.clone())),
        Err(InsertError::Corrupt { tid: 3, prev: 1 })
    );
    assert_eq!(chain.waiting_len(), 1);
    assert_eq!(chain.last_admitted(), 0);
    chain.insert(slot(1, 0, par.clone())).unwrap();
    assert_eq!(
        admitted_tids(chain.admit()),
        vec![1, 2],
        "the refused task never runs"
    );
    assert_eq!(chain.last_admitted(), 2);

    // Predecessors already passed: a replay of admitted TIDs and a stale predecessor.
    for (tid, prev) in [(1, 0), (2, 1), (5, 1), (5, 0)] {
        assert_eq!(
            chain.insert(slot(tid, prev, par.clone())),
            Err(InsertError::Corrupt { tid, prev }),
            "tid {tid} prev {prev}"
        );
    }
    assert_eq!(chain.waiting_len(), 0);
    assert_eq!(chain.last_admitted(), 2);
    assert!(chain.admit().is_empty());

    // The chain goes on normally; a duplicate of an admitted TID's successor is refused too.
    chain.insert(slot(4, 2, par.clone())).unwrap();
    assert_eq!(
        chain.insert(slot(6, 2, par.clone())),
        Err(InsertError::Corrupt { tid: 6, prev: 2 })
    );
    assert_eq!(admitted_tids(chain.admit()), vec![4]);
    assert_eq!(chain.last_admitted(), 4);
    // Running counts were not touched by refusals: finishing the three parallel tasks lets a
    // single task in.
    chain
        .insert(slot(9, 4, Footprint::Single { writes: true }))
        .unwrap();
    assert!(chain.admit().is_empty());
    chain.finish(&par);
    chain.finish(&par);
    assert!(chain.admit().is_empty());
    chain.finish(&par);
    assert_eq!(admitted_tids(chain.admit()), vec![9]);
}

fn footprint_strategy() -> impl Strategy<Value = Footprint> {
    prop_oneof![
        Just(Footprint::Empty),
        any::<bool>().prop_map(|writes| Footprint::Single { writes }),
        any::<bool>().prop_map(|writes| Footprint::Parallel { writes }),
        (any::<bool>(), prop::collection::btree_set(0u64..6, 1..4))
            .prop_map(|(w, keys)| part(w, &keys.into_iter().collect::<Vec<_>>())),
    ]
}

/// Tasks (TID gap to the previous task here, footprint) and an arrival order.
fn task_set() -> impl Strategy<Value = (Vec<(u64, Footprint)>, Vec<usize>)> {
    prop::collection::vec((1u64..4, footprint_strategy()), 1..40).prop_flat_map(|tasks| {
        let order: Vec<usize> = (0..tasks.len()).collect();
        (Just(tasks), Just(order).prop_shuffle())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random tasks, random arrival order, a simulated executor finishing running tasks in random
    /// order: tasks start in TID order, never beside an earlier running task they conflict with,
    /// the walk stops only at a real conflict, and everything eventually runs.
    #[test]
    fn chain_admits_in_tid_order_without_conflicting_overlap(
        (tasks, arrival) in task_set(),
        start in 0u64..5,
        seed in any::<u64>(),
    ) {
        let mut tids = Vec::with_capacity(tasks.len());
        let mut t = start;
        for (gap, _) in &tasks {
            t += gap;
            tids.push(t);
        }
        let prev = |i: usize| if i == 0 { start } else { tids[i - 1] };
        let index_of = |tid: Tid| tids.iter().position(|t| *t == tid).expect("known tid");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut chain: Chain<usize> = Chain::new(start);
        let mut arrived = vec![false; tasks.len()];
        let mut next_arrival = 0;
        let mut running: Vec<usize> = Vec::new();
        let mut admitted = 0usize;
        let mut steps = 0;
        while admitted < tasks.len() || !running.is_empty() {
            steps += 1;
            prop_assert!(steps < 10_000, "no progress");
            let can_arrive = next_arrival < arrival.len();
            if can_arrive && (running.is_empty() || rng.random_range(0..2) == 0) {
                let i = arrival[next_arrival];
                next_arrival += 1;
                arrived[i] = true;
                let r = chain.insert(Slot { tid: tids[i], prev: prev(i), footprint: tasks[i].1.clone(), task: i });
                prop_assert!(r.is_ok(), "valid insert refused: {:?}", r);
            } else if !running.is_empty() {
                let r = running.swap_remove(rng.random_range(0..running.len()));
                chain.finish(&tasks[r].1);
            } else {
                prop_assert!(false, "stalled: nothing running, nothing to arrive, {} of {} admitted", admitted, tasks.len());
            }
            for s in chain.admit() {
                prop_assert_eq!(s.task, admitted, "admitted out of TID order");
                prop_assert_eq!(s.tid, tids[s.task]);
                prop_assert_eq!(index_of(s.tid), s.task);
                prop_assert!(arrived[s.task], "admitted before it arrived");
                for &r in &running {
                    prop_assert!(r < s.task, "running tasks are earlier");
                    prop_assert!(
                        may_overlap(&tasks[r].1, &s.footprint),
                        "task {} ({:?}) started while conflicting task {} ({:?}) runs",
                        s.task, s.footprint, r, tasks[r].1
                    );
                }
                running.push(s.task);
                admitted += 1;
            }
            prop_assert_eq!(chain.last_admitted(), if admitted == 0 { start } else { tids[admitted - 1] });
            // The walk stops only at a real conflict: if the next task has arrived, some running
            // task must conflict with it.
            if admitted < tasks.len() && arrived[admitted] {
                let blocked = running.iter().any(|&r| !may_overlap(&tasks[r].1, &tasks[admitted].1));
                prop_assert!(blocked, "task {} ({:?}) arrived, conflicts with nothing running, yet was not admitted", admitted, tasks[admitted].1);
            }
            prop_assert_eq!(
                chain.waiting_len(),
                arrived.iter().enumerate().filter(|(i, a)| **a && *i >= admitted).count()
            );
        }
        prop_assert_eq!(admitted, tasks.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster level: handlers log when they run
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Single,
    Parallel,
    Part(Vec<u32>),
}

#[derive(Clone, Debug)]
struct Span {
    service: &'static str,
    handler: &'static str,
    tid: Tid,
    mode: Mode,
    writes: bool,
    start: u64,
    end: u64,
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
fn check_spans(spans: &[Span]) -> Vec<(Span, Span)> {
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
struct Counter {
    id: u32,
    n: u64,
    last_tid: u64,
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
struct Work {
    key: u32,
    keys: Vec<u32>,
}

fn work(key: u32) -> Work {
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

const HANDLERS: [&str; 6] = ["single", "part", "multi", "par", "read_single", "read_part"];

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
fn run_moded(inputs: Vec<(String, Vec<u8>)>) -> Vec<Span> {
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

#[test]
fn single_mode_handlers_never_overlap() {
    let inputs: Vec<_> = (0..160u32)
        .map(|i| {
            let s = if i % 2 == 0 { "s1" } else { "s2" };
            input(&format!("{s}.single"), &work(i % 7))
        })
        .collect();
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    for s in ["s1", "s2"] {
        let mine: Vec<&Span> = spans.iter().filter(|x| x.service == s).collect();
        assert_eq!(mine.len(), 80);
        // Alone, and in TID order.
        let mut by_start = mine.clone();
        by_start.sort_by_key(|x| x.start);
        assert!(
            by_start
                .windows(2)
                .all(|w| w[0].tid < w[1].tid && w[0].end < w[1].start),
            "service {s}: single tasks ran out of TID order or together"
        );
    }
    assert!(
        overlapping.iter().all(|(a, b)| a.service != b.service),
        "only tasks of different services overlap"
    );
}

#[test]
fn partitioned_handlers_overlap_only_on_disjoint_keys() {
    let mut inputs = Vec::new();
    for i in 0..400u32 {
        if i % 10 == 9 {
            let keys = vec![i % 6, (i + 1) % 6];
            inputs.push(input("s1.multi", &Work { key: 0, keys }));
        } else {
            inputs.push(input("s1.part", &work(i % 6)));
        }
    }
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    for (a, b) in &overlapping {
        if let (Mode::Part(x), Mode::Part(y)) = (&a.mode, &b.mode) {
            assert!(
                !x.iter().any(|k| y.contains(k)),
                "same key overlapped: {a:?} {b:?}"
            );
        } else {
            panic!("unexpected overlap {a:?} {b:?}");
        }
    }
    assert!(
        !overlapping.is_empty(),
        "partitioned tasks on different keys never overlapped (2 workers, 400 tasks)"
    );
    // Per key, TID order holds.
    for k in 0..6u32 {
        let mut on_k: Vec<&Span> = spans
            .iter()
            .filter(|s| matches!(&s.mode, Mode::Part(x) if x.contains(&k)))
            .collect();
        on_k.sort_by_key(|s| s.start);
        assert!(
            on_k.windows(2)
                .all(|w| w[0].tid < w[1].tid && w[0].end < w[1].start)
        );
    }
}

#[test]
fn partitioned_handlers_on_many_keys_overlap() {
    // 64 distinct keys: long runs of mutually disjoint tasks.
    let inputs = (0..256u32)
        .map(|i| input("s1.part", &work(i % 64)))
        .collect();
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    assert!(
        !overlapping.is_empty(),
        "partitioned tasks on 64 different keys never overlapped (2 workers, 256 tasks)"
    );
}

#[test]
fn empty_partition_key_set_runs_alone() {
    let mut inputs = Vec::new();
    for i in 0..120u32 {
        match i % 4 {
            0 => inputs.push(input(
                "s1.multi",
                &Work {
                    key: 0,
                    keys: vec![],
                },
            )),
            1 => inputs.push(input("s1.par", &work(i))),
            _ => inputs.push(input("s1.part", &work(i % 5))),
        }
    }
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    assert!(
        overlapping
            .iter()
            .all(|(a, b)| a.mode != Mode::Single && b.mode != Mode::Single),
        "a task with no partition keys overlapped another"
    );
}

#[test]
fn parallel_handlers_overlap_each_other_but_never_single_or_partitioned() {
    let mut inputs = Vec::new();
    for round in 0..12u32 {
        for i in 0..20u32 {
            inputs.push(input("s1.par", &work(round * 100 + i)));
        }
        inputs.push(input("s1.single", &work(round % 3)));
        for i in 0..6u32 {
            inputs.push(input("s1.part", &work(i)));
        }
        // Something for the other service, which may overlap anything of s1.
        inputs.push(input("s2.single", &work(round)));
        inputs.push(input("s2.par", &work(round)));
    }
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    let same_service: Vec<_> = overlapping
        .iter()
        .filter(|(a, b)| a.service == b.service)
        .collect();
    for (a, b) in &same_service {
        let kinds = (&a.mode, &b.mode);
        match kinds {
            (Mode::Parallel, Mode::Parallel) => {}
            (Mode::Part(x), Mode::Part(y)) => assert!(!x.iter().any(|k| y.contains(k))),
            _ => panic!(
                "service {}: {} (tid {}) overlapped {} (tid {})",
                a.service, a.handler, a.tid, b.handler, b.tid
            ),
        }
    }
    assert!(
        same_service
            .iter()
            .any(|(a, b)| a.mode == Mode::Parallel && b.mode == Mode::Parallel),
        "parallel tasks never overlapped each other (2 workers, 240 tasks)"
    );
}

#[test]
fn random_mix_respects_the_conflict_rules_and_replays_serially() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut inputs = Vec::new();
    for _ in 0..500 {
        let s = if rng.random_range(0..3) == 0 {
            "s2"
        } else {
            "s1"
        };
        let h = HANDLERS[rng.random_range(0..HANDLERS.len())];
        let key = rng.random_range(0..5u32);
        let keys: Vec<u32> = (0..rng.random_range(0..3))
            .map(|_| rng.random_range(0..5u32))
            .collect();
        inputs.push(input(&format!("{s}.{h}"), &Work { key, keys }));
    }
    let spans = run_moded(inputs);
    check_spans(&spans);
}

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
