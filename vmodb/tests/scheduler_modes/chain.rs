//! The per-service chain as pure logic: every pair of footprints, spot checks, and a proptest.

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use vmodb::Tid;
use vmodb::internals::{Chain, Footprint, InsertError, Slot};

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
