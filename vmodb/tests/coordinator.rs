//! The coordinator: batching (size cap and time window), dense TIDs, commit order of
//! completions, snapshot queries, `wait_idle`, bounded memory, outputs and failures.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::kv::{self, Churn, Done, Fwd, Hooks, fwd, set};
use support::util::{collect, config, config_ms, input};
use vmodb::{Cluster, ClusterConfig, Completion, Outcome, TxError};

fn start(cfg: ClusterConfig) -> (Cluster, std::sync::Arc<Hooks>) {
    let hooks = Hooks::new();
    let cluster = Cluster::start(kv::app(hooks.clone()), cfg, kv::load).expect("start");
    (cluster, hooks)
}

fn committed(c: &Completion) -> bool {
    matches!(c.outcome, Outcome::Committed { .. })
}

fn batch_sizes(done: &[Completion]) -> BTreeMap<u64, usize> {
    let mut sizes = BTreeMap::new();
    for c in done {
        *sizes.entry(c.batch).or_insert(0) += 1;
    }
    sizes
}

fn get(cluster: &Cluster, service: &str, id: u32) -> Option<i64> {
    cluster.query(service, "get", &id).expect("query")
}

#[test]
fn batches_hold_exactly_batch_max_txns() {
    // The window never expires during the test: only the size cap seals batches.
    let (cluster, _) = start(config(Duration::from_secs(60), 10));
    let client = cluster.client();
    let mut tids = Vec::new();
    for i in 0..45u32 {
        tids.push(client.submit("set", &set(i % 10, 1)).expect("submit"));
    }
    let inputs = (0..35u32).map(|i| input("pipe", &fwd(i % 10, 2))).collect();
    tids.extend(client.submit_all(inputs).expect("submit"));
    for i in 0..20u32 {
        tids.push(client.submit("poke", &set(i, 3)).expect("submit"));
    }
    let done = collect(&client, 100);
    assert!(done.iter().all(committed));
    let sizes = batch_sizes(&done);
    assert_eq!(
        sizes.len(),
        10,
        "100 transactions in batches of 10: {sizes:?}"
    );
    assert!(sizes.values().all(|n| *n == 10), "{sizes:?}");
    for c in &done {
        assert_eq!(
            c.batch,
            sizes.keys().next().unwrap() + (c.tid - 1) / 10,
            "batch k holds TIDs 10(k-1)+1 ..= 10k"
        );
    }
    assert!(cluster.wait_idle(Duration::from_secs(1)));
    assert_eq!(cluster.stats().coordinator.sealed_pending, 0);
}

#[test]
fn batches_close_by_time_window() {
    let window = Duration::from_millis(3);
    let (cluster, _) = start(config(window, 10_000));
    let client = cluster.client();
    client.submit("set", &set(1, 1)).expect("submit");
    let first = collect(&client, 1).remove(0);
    assert!(committed(&first));
    assert!(
        first.latency + Duration::from_millis(1) >= window,
        "a lone transaction commits when its batch window expires ({:?})",
        first.latency
    );
    std::thread::sleep(Duration::from_millis(15));
    let inputs = (0..5u32).map(|i| input("set", &set(i, 2))).collect();
    client.submit_all(inputs).expect("submit");
    let second = collect(&client, 5);
    std::thread::sleep(Duration::from_millis(15));
    client.submit("poke", &set(1, 3)).expect("submit");
    let third = collect(&client, 1);
    let batches: Vec<u64> = std::iter::once(&first)
        .chain(&second)
        .chain(&third)
        .map(|c| c.batch)
        .collect();
    assert_eq!(
        batches,
        vec![
            first.batch,
            first.batch + 1,
            first.batch + 1,
            first.batch + 1,
            first.batch + 1,
            first.batch + 1,
            first.batch + 2
        ],
        "one batch per burst"
    );
}

#[test]
fn a_long_window_holds_a_small_batch_until_it_expires() {
    let window = Duration::from_millis(300);
    let (cluster, _) = start(config(window, 10_000));
    let client = cluster.client();
    let t0 = Instant::now();
    for i in 0..3u32 {
        client.submit("set", &set(i, 7)).expect("submit");
    }
    assert!(
        client
            .completions()
            .recv_timeout(Duration::from_millis(150))
            .is_err(),
        "nothing may commit before the window expires"
    );
    let done = collect(&client, 3);
    assert!(t0.elapsed() >= window);
    assert!(
        done.iter()
            .all(|c| c.batch == done[0].batch && committed(c))
    );
    assert!(
        done.iter()
            .all(|c| c.latency + Duration::from_millis(5) >= window)
    );
}

#[test]
fn an_idle_gap_seals_the_batch_before_the_window_but_arrivals_keep_it_open() {
    let window = Duration::from_millis(400);
    let mut cfg = config(window, 10_000);
    cfg.coordinator.batch_idle = Some(Duration::from_millis(20));
    let (cluster, _) = start(cfg);
    let client = cluster.client();
    // A burst, then silence: the gap seals the batch long before the window.
    let t0 = Instant::now();
    for i in 0..3u32 {
        client.submit("set", &set(i, 7)).expect("submit");
    }
    let done = collect(&client, 3);
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "sealed by the idle gap, not the window"
    );
    assert!(
        done.iter()
            .all(|c| c.batch == done[0].batch && committed(c))
    );
    // Arrivals every 5 ms (below the gap) keep one batch open until the window closes it.
    let t1 = Instant::now();
    let mut n = 0u32;
    while t1.elapsed() < Duration::from_millis(250) {
        client
            .submit("set", &set(n % 10, i64::from(n)))
            .expect("submit");
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let done = collect(&client, n as usize);
    let first = done[0].batch;
    let in_first = done.iter().filter(|c| c.batch == first).count();
    assert!(
        in_first * 2 > n as usize,
        "steady arrivals share one batch ({in_first} of {n})"
    );
}

#[test]
fn tids_are_dense_and_increasing_in_submission_order() {
    let (cluster, _) = start(config_ms(2, 16));
    let client = cluster.client();
    let mut tids = Vec::new();
    for i in 0..50u32 {
        tids.push(client.submit("set", &set(i % 7, 1)).expect("submit"));
    }
    let inputs = (0..50u32).map(|i| input("pipe", &fwd(i % 7, 1))).collect();
    tids.extend(client.submit_all(inputs).expect("submit"));
    for i in 0..50u32 {
        tids.push(client.submit("poke", &set(i % 7, 1)).expect("submit"));
    }
    assert_eq!(
        tids,
        (1..=150).collect::<Vec<u64>>(),
        "TIDs are 1, 2, 3, ..."
    );
    let done = collect(&client, 150);
    assert_eq!(
        done.iter().map(|c| c.tid).collect::<Vec<_>>(),
        tids,
        "completions in TID order"
    );
    assert_eq!(cluster.stats().coordinator.sequenced, 150);
}

/// Completions of one stream: TIDs increasing, batches non-decreasing.
fn assert_commit_order(done: &[Completion], what: &str) {
    for w in done.windows(2) {
        assert!(
            w[0].tid < w[1].tid,
            "{what}: tid {} arrived before tid {}",
            w[0].tid,
            w[1].tid
        );
        assert!(
            w[0].batch <= w[1].batch,
            "{what}: batch {} arrived before batch {}",
            w[0].batch,
            w[1].batch
        );
    }
}

#[test]
fn completions_arrive_in_commit_order() {
    let (cluster, _) = start(config_ms(1, 16));
    let shared = cluster.client();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            // Threads 0 and 1 share one client (one completion stream); 2 and 3 have their own.
            let client = if t < 2 {
                shared.clone()
            } else {
                cluster.client()
            };
            std::thread::spawn(move || {
                for i in 0..150u32 {
                    let id = (t * 31 + i) % kv::CELLS;
                    let r = match i % 3 {
                        0 => client.submit("set", &set(id, i.into())),
                        1 => client.submit("pipe", &fwd(id, i.into())),
                        _ => client.submit("poke", &set(id, i.into())),
                    };
                    r.expect("submit");
                }
                if t >= 2 {
                    collect(&client, 150)
                } else {
                    Vec::new()
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for (t, h) in threads.into_iter().enumerate() {
        let own = h.join().expect("client thread");
        assert_commit_order(&own, &format!("client of thread {t}"));
        all.extend(own);
    }
    let shared_done = collect(&shared, 300);
    assert_commit_order(&shared_done, "shared client");
    all.extend(shared_done);
    assert_eq!(all.len(), 600);
    assert!(all.iter().all(committed));
    // Batches are TID ranges: a lower TID never sits in a later batch.
    all.sort_by_key(|c| c.tid);
    assert_eq!(
        all.iter().map(|c| c.tid).collect::<Vec<_>>(),
        (1..=600).collect::<Vec<u64>>()
    );
    assert!(all.windows(2).all(|w| w[0].batch <= w[1].batch));
}

#[test]
fn a_later_batch_never_commits_before_an_earlier_one() {
    let (cluster, hooks) = start(config_ms(1, 1));
    let client = cluster.client();
    // Batch 1: a slow task at `a`. Batch 2: a quick task at `b`, which shares nothing with it.
    let slow = client
        .submit(
            "set",
            &kv::Set {
                id: 1,
                value: 1,
                fail: 0,
                sleep_ms: 150,
            },
        )
        .expect("submit");
    let quick = client.submit("poke", &set(1, 2)).expect("submit");
    let done = collect(&client, 2);
    let finished_at = Instant::now();
    assert_eq!(done[0].tid, slow);
    assert_eq!(done[1].tid, quick);
    assert!(done[0].batch < done[1].batch);
    let poked = hooks.poke_at.lock().unwrap().expect("poke ran");
    assert!(
        finished_at.duration_since(poked) >= Duration::from_millis(100),
        "the quick batch executed early but had to wait for the slow one to commit"
    );
    assert!(done[1].latency >= Duration::from_millis(100));
}

#[test]
fn a_query_reads_the_last_committed_snapshot_at_once() {
    let (cluster, hooks) = start(config_ms(300, 10_000));
    let client = cluster.client();
    assert_eq!(get(&cluster, "a", 5), Some(0));
    client.submit("set", &set(5, 42)).expect("submit");
    // Wait until the handler has run: its write exists, but is not committed.
    let t0 = Instant::now();
    while hooks.set_runs.load(Ordering::SeqCst) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(2), "handler never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        client.completions().try_recv().is_err(),
        "the batch window has not expired yet"
    );
    let q0 = Instant::now();
    let before = get(&cluster, "a", 5);
    assert!(
        q0.elapsed() < Duration::from_millis(100),
        "a query does not wait for the open batch"
    );
    assert_eq!(before, Some(0), "a query must not see an uncommitted write");
    let done = collect(&client, 1);
    assert!(committed(&done[0]));
    assert_eq!(
        get(&cluster, "a", 5),
        Some(42),
        "visible once its completion arrived"
    );
    assert_eq!(get(&cluster, "b", 5), Some(0));
}

#[test]
fn wait_idle_waits_for_every_sequenced_transaction() {
    let (cluster, _) = start(config_ms(200, 10_000));
    let client = cluster.client();
    assert!(
        cluster.wait_idle(Duration::from_millis(10)),
        "nothing sequenced: idle"
    );
    for i in 0..3u32 {
        client.submit("pipe", &fwd(i, 9)).expect("submit");
    }
    assert!(
        !cluster.wait_idle(Duration::from_millis(20)),
        "the batch is still open: not idle"
    );
    assert_eq!(cluster.stats().coordinator.in_flight, 3);
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let stats = cluster.stats();
    assert_eq!(stats.coordinator.in_flight, 0);
    assert_eq!(stats.coordinator.sealed_pending, 0);
    assert_eq!(stats.coordinator.sequenced, 3);
    assert!(stats.coordinator.last_committed_batch >= 1);
    assert_eq!(collect(&client, 3).len(), 3);
}

#[test]
fn after_wait_idle_the_state_shows_every_committed_transaction() {
    let (cluster, _) = start(config_ms(1, 10_000));
    let client = cluster.client();
    for i in 1..=400i64 {
        let tid = client.submit("pipe", &fwd(3, i)).expect("submit");
        assert!(cluster.wait_idle(Duration::from_secs(5)));
        let state = cluster.state();
        let b = support::util::pairs(&state, "b", "cells", "value");
        assert_eq!(
            b[3],
            (3, i),
            "iteration {i}: wait_idle returned but state() misses committed tid {tid} (stats {:?})",
            cluster.stats()
        );
        assert!(cluster.stats().watermark >= tid);
    }
    assert_eq!(collect(&client, 400).len(), 400);
}

#[test]
fn memory_stays_flat_over_a_constant_data_set() {
    let mut cfg = config_ms(2, 1_000);
    cfg.coordinator.record_inputs = false;
    let (cluster, _) = start(cfg);
    let client = cluster.client();
    let live = |cluster: &Cluster| {
        let s = cluster.state();
        s.values()
            .flat_map(|svc| svc.values())
            .map(|t| t.rows.len())
            .sum::<usize>()
    };
    let live_rows = live(&cluster);
    assert_eq!(live_rows, (kv::CELLS * 2) as usize + kv::KEEP as usize);
    let initial = cluster.stats();
    assert_eq!(initial.versions, live_rows);
    const N: u64 = 20_000;
    let mut k = kv::KEEP;
    let mut mid = None;
    while k < kv::KEEP + N {
        let inputs: Vec<_> = (k..(k + 500).min(kv::KEEP + N))
            .map(|k| input("churn", &Churn { k }))
            .collect();
        k += inputs.len() as u64;
        client.submit_all(inputs).expect("submit");
        if k == kv::KEEP + N / 2 {
            let done = collect(&client, (N / 2) as usize);
            assert!(done.iter().all(committed));
            mid = Some(cluster.stats());
        }
    }
    let done = collect(&client, (N / 2) as usize);
    assert!(
        done.iter().all(committed),
        "{:?}",
        done.iter().find(|c| !committed(c))
    );
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let stats = cluster.stats();
    assert_eq!(stats.coordinator.in_flight, 0);
    assert_eq!(stats.coordinator.sealed_pending, 0);
    assert_eq!(stats.waiting, 0);
    assert_eq!(live(&cluster), live_rows, "the data set is constant");
    // Every completion was sent after its batch's commit reached the stores, so garbage is gone:
    // one version per live row, however many transactions ran.
    assert!(
        stats.versions <= live_rows + 10,
        "versions {} after {N} transactions over {live_rows} live rows (mid-run: {:?})",
        stats.versions,
        mid.map(|m| m.versions)
    );
    assert!(
        stats.index_entries <= initial.index_entries + 10,
        "index entries grew from {} to {}",
        initial.index_entries,
        stats.index_entries
    );
    let mid = mid.expect("mid-run stats");
    assert!(
        mid.versions <= live_rows + 10,
        "mid-run versions {}",
        mid.versions
    );
}

#[test]
fn the_last_handler_output_arrives_in_the_completion() {
    let (cluster, hooks) = start(config_ms(1, 10_000));
    let client = cluster.client();
    let timeout = Duration::from_secs(5);
    let c = client
        .submit_and_wait("pipe", &fwd(4, 17), timeout)
        .expect("submit");
    let Outcome::Committed { output: Some(o) } = &c.outcome else {
        panic!("pipe must commit with an output: {:?}", c.outcome);
    };
    assert_eq!(&*o.event, "done");
    assert_eq!(
        o.decode::<Done>().expect("decodes"),
        Done {
            id: 4,
            value: 17,
            before: 0
        }
    );
    assert_eq!(&*c.transaction, "pipe");
    // A transaction whose last handler emits nothing.
    let c = client
        .submit_and_wait("set", &set(4, 1), timeout)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    // The first handler emits nothing: the second runs nothing and there is no output.
    let runs = hooks.fwd_runs.load(Ordering::SeqCst);
    let c = client
        .submit_and_wait("pipe", &fwd(4, -5), timeout)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    assert_eq!(
        hooks.fwd_runs.load(Ordering::SeqCst),
        runs,
        "b got nothing to do"
    );
    assert_eq!(get(&cluster, "a", 4), Some(-5));
    assert_eq!(get(&cluster, "b", 4), Some(17));
}

#[test]
fn outputs_are_never_lost_under_concurrency() {
    // Many tasks admitted at once at each service, so that several workers share each batch.
    let (cluster, _) = start(config_ms(1, 32));
    let client = cluster.client();
    let mut expected = BTreeMap::new();
    for round in 0..10u32 {
        let inputs: Vec<_> = (0..200u32)
            .map(|i| {
                let f = Fwd {
                    id: i % kv::CELLS,
                    value: i64::from(round * 1000 + i),
                    fail: 0,
                    sleep_us: 20,
                };
                input("pipe", &f)
            })
            .collect();
        let tids = client.submit_all(inputs).expect("submit");
        for (i, tid) in (0..200u32).zip(tids) {
            expected.insert(tid, (i % kv::CELLS, i64::from(round * 1000 + i)));
        }
    }
    let done = collect(&client, expected.len());
    let mut lost = Vec::new();
    for c in &done {
        let (id, value) = expected[&c.tid];
        match &c.outcome {
            Outcome::Committed { output: Some(o) } => {
                let d: Done = o.decode().expect("decodes");
                assert_eq!((d.id, d.value), (id, value), "tid {}", c.tid);
            }
            other => lost.push((c.tid, c.batch, other.clone())),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} committed transactions lost their output, e.g. {:?}",
        lost.len(),
        done.len(),
        &lost[..lost.len().min(3)]
    );
}

#[test]
fn a_failing_handler_fails_only_its_transaction() {
    kv::quiet_deliberate_panics();
    let (cluster, hooks) = start(config_ms(2, 10_000));
    let client = cluster.client();
    let with = |id, value, fail| kv::Set {
        id,
        value,
        fail,
        sleep_ms: 0,
    };
    let fwd_with = |id, value, fail| Fwd {
        id,
        value,
        fail,
        sleep_us: 0,
    };
    let inputs = vec![
        input("set", &with(1, 10, 0)),     // 1 ok
        input("set", &with(1, 99, 1)),     // 2 a errs after writing
        input("set", &with(1, 98, 2)),     // 3 a panics after writing
        input("pipe", &fwd_with(2, 5, 3)), // 4 b errs after writing
        input("pipe", &fwd_with(2, 6, 4)), // 5 b panics after writing
        input("pipe", &fwd_with(2, 7, 1)), // 6 a errs: b gets nothing
        input("pipe", &fwd_with(2, 8, 0)), // 7 ok: b sees neither 5 nor 6
        input("set", &with(1, 11, 0)),     // 8 ok
        input("poke", &with(3, 1, 3)),     // 9 b errs (entry service)
        input("poke", &with(3, 2, 0)),     // 10 ok
    ];
    let tids = client.submit_all(inputs).expect("submit");
    let done = collect(&client, tids.len());
    let outcome = |i: usize| &done[i].outcome;
    let failed_at = |i: usize| match outcome(i) {
        Outcome::Failed { service, error } => (service.clone(), error.clone()),
        other => panic!("transaction #{} should have failed: {other:?}", i + 1),
    };
    assert!(matches!(outcome(0), Outcome::Committed { output: None }));
    let (s, e) = failed_at(1);
    assert_eq!(s, "a");
    assert_eq!(e, TxError::App("deliberate failure at a".into()));
    let (s, e) = failed_at(2);
    assert_eq!(s, "a");
    assert!(
        matches!(&e, TxError::Panic(m) if m.contains("deliberate panic at a")),
        "{e:?}"
    );
    assert_eq!(failed_at(3).0, "b");
    let (s, e) = failed_at(4);
    assert_eq!(s, "b");
    assert!(matches!(e, TxError::Panic(_)));
    assert_eq!(failed_at(5).0, "a");
    match outcome(6) {
        Outcome::Committed { output: Some(o) } => assert_eq!(
            o.decode::<Done>().unwrap(),
            Done {
                id: 2,
                value: 8,
                before: 0
            },
            "the failed writes at b were undone before later transactions read"
        ),
        other => panic!("transaction #7 should commit: {other:?}"),
    }
    assert!(committed(&done[7]));
    assert_eq!(failed_at(8).0, "b");
    assert!(committed(&done[9]));
    assert_eq!(
        hooks.fwd_runs.load(Ordering::SeqCst),
        3,
        "b ran for #4, #5, #7 only"
    );
    // Failed writes are gone from the committed state.
    assert_eq!(get(&cluster, "a", 1), Some(11));
    assert_eq!(get(&cluster, "b", 2), Some(8));
    assert_eq!(get(&cluster, "b", 3), Some(2));
    // The chain is not wedged: more work commits.
    let c = client
        .submit_and_wait("pipe", &fwd(2, 9), Duration::from_secs(5))
        .expect("submit");
    assert!(committed(&c));
    assert_eq!(get(&cluster, "b", 2), Some(9));
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let replayed = vmodb::serial_replay(
        &kv::app(Hooks::new()),
        kv::load,
        &cluster.committed_inputs(),
    )
    .expect("replay");
    assert_eq!(cluster.state(), replayed);
}

#[test]
fn failures_under_concurrency_are_reported_exactly() {
    kv::quiet_deliberate_panics();
    let (cluster, _) = start(config_ms(1, 64));
    let client = cluster.client();
    let mut expected = BTreeMap::new();
    for round in 0..6u32 {
        let mut inputs = Vec::new();
        let mut fails = Vec::new();
        for i in 0..200u32 {
            let n = round * 200 + i;
            let fail = if n % 7 == 3 { (n / 7 % 4 + 1) as u8 } else { 0 };
            fails.push(fail);
            inputs.push(input(
                "pipe",
                &Fwd {
                    id: n % 40,
                    value: n.into(),
                    fail,
                    sleep_us: 20,
                },
            ));
        }
        for (tid, fail) in client
            .submit_all(inputs)
            .expect("submit")
            .into_iter()
            .zip(fails)
        {
            expected.insert(tid, fail);
        }
    }
    let done = collect(&client, expected.len());
    let mut wrong = Vec::new();
    for c in &done {
        let fail = expected[&c.tid];
        let ok = match (&c.outcome, fail) {
            (Outcome::Committed { output: Some(_) }, 0) => true,
            (Outcome::Failed { service, .. }, 1 | 2) => service == "a",
            (Outcome::Failed { service, .. }, 3 | 4) => service == "b",
            _ => false,
        };
        if !ok {
            wrong.push((c.tid, fail, c.outcome.clone()));
        }
    }
    let hidden_failures: Vec<_> = wrong.iter().filter(|w| w.1 != 0).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} outcomes wrong (tid, fail code, outcome); {} failed transactions were reported \
         as committed, e.g. {:?}; first wrong: {:?}",
        wrong.len(),
        done.len(),
        hidden_failures.len(),
        hidden_failures.first(),
        &wrong[..wrong.len().min(3)]
    );
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let replayed = vmodb::serial_replay(
        &kv::app(Hooks::new()),
        kv::load,
        &cluster.committed_inputs(),
    )
    .expect("replay");
    assert_eq!(cluster.state(), replayed);
}
