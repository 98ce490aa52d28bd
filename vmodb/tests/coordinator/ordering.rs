//! Dense TIDs, and completions and commits in TID and batch order.

use crate::support::kv::{self, fwd, set};
use crate::support::util::{collect, config_ms, input};
use crate::{committed, start};
use std::time::{Duration, Instant};
use vmodb::Completion;

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
