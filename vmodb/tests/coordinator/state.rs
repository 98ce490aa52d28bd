//! Snapshot queries, `wait_idle`, and memory bounded by the live data set.

use crate::support;
use crate::support::kv::{self, Churn, fwd, set};
use crate::support::util::{collect, config_ms, input};
use crate::{committed, get, start};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use vmodb::Cluster;

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
    let before = get(&cluster, "a", 5);
    assert!(
        client.completions().try_recv().is_err(),
        "a query does not wait for the open batch: it answered before the commit"
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

/// A state dump reads a pinned snapshot: commits and garbage collection that run while it
/// reads cannot take a version it needs, so every row of a table that never changes size is
/// in every dump, however busy the writers. (Unpinned, the dump lost rows only when a whole
/// commit and collection fit between its reading the watermark and its scan: rare here; the
/// store-level test `an_unpinned_old_snapshot_loses_rows_to_gc` shows the mechanism.)
#[test]
fn a_state_dump_under_concurrent_commits_misses_no_row() {
    use support::shop::{self, Restock};
    const ITEMS: u32 = 20_000;
    let cluster = Cluster::start(
        shop::app().expect("app"),
        config_ms(1, 10_000),
        shop::load(ITEMS, 10, 10),
    )
    .expect("start");
    let cluster = std::sync::Arc::new(cluster);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let (cluster, stop) = (cluster.clone(), stop.clone());
            std::thread::spawn(move || {
                let client = cluster.client();
                let mut round = 0u32;
                while !stop.load(Ordering::Acquire) {
                    // Items all over the table, rewritten batch after batch.
                    let inputs: Vec<_> = (0..2000u32)
                        .map(|i| (i * 97 + round * 13 + w * 7) % ITEMS)
                        .map(|item| input("restock", &Restock { item, add: 1 }))
                        .collect();
                    let n = inputs.len();
                    client.submit_all(inputs).expect("submit");
                    collect(&client, n);
                    round += 1;
                }
            })
        })
        .collect();
    for dump in 0..100 {
        let state = cluster.state();
        let rows = state["inventory"]["items"].rows.len();
        assert_eq!(rows, ITEMS as usize, "dump {dump} lost rows");
    }
    stop.store(true, Ordering::Release);
    for w in writers {
        w.join().expect("writer");
    }
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

/// Stats once garbage collection (a pool job after each commit) has brought the version count to
/// `bound`, or after 5 s, whichever comes first.
fn settled(cluster: &Cluster, bound: usize) -> vmodb::ClusterStats {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = cluster.stats();
        if stats.versions <= bound || std::time::Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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
            mid = Some(settled(&cluster, live_rows + 10));
        }
    }
    let done = collect(&client, (N / 2) as usize);
    assert!(
        done.iter().all(committed),
        "{:?}",
        done.iter().find(|c| !committed(c))
    );
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let stats = settled(&cluster, live_rows + 10);
    assert_eq!(stats.coordinator.in_flight, 0);
    assert_eq!(stats.coordinator.sealed_pending, 0);
    assert_eq!(stats.waiting, 0);
    assert_eq!(live(&cluster), live_rows, "the data set is constant");
    // Garbage collection runs as a pool job after each commit, so once it has caught up there
    // is one version per live row, however many transactions ran.
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
