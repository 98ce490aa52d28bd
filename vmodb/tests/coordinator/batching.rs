//! Batching: the size cap, the time window and the idle gap seal batches.

use crate::support::kv::{fwd, set};
use crate::support::util::{collect, config, input};
use crate::{committed, start};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vmodb::Completion;

fn batch_sizes(done: &[Completion]) -> BTreeMap<u64, usize> {
    let mut sizes = BTreeMap::new();
    for c in done {
        *sizes.entry(c.batch).or_insert(0) += 1;
    }
    sizes
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
