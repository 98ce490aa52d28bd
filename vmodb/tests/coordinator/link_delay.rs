//! Injected link delay (`ClusterConfig::link_delay`): it changes latency, never results;
//! `wait_idle` covers messages held in the delay lines (one per receiving service); dropping
//! the cluster stops them.

use crate::support::kv::{self, set};
use crate::support::shop::{self, Audit, PlaceOrder, Rebalance, Restock};
use crate::support::util::{collect, config_ms};
use crate::{committed, get, start};
use rand::{RngExt, SeedableRng};
use std::sync::Mutex;
use std::time::Duration;
use vmodb::{Cluster, ClusterConfig, Completion, LinkDelay};

/// Tests that start delay lines run one at a time, so `delay_threads` counts only their own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn delayed(window_ms: u64, max_batch: u32, max_us: u64) -> ClusterConfig {
    ClusterConfig {
        link_delay: Some(LinkDelay { max_us, seed: 3 }),
        ..config_ms(window_ms, max_batch)
    }
}

/// Live delay-line threads of this process (Linux; `None` elsewhere). The kernel keeps the
/// first 15 bytes of a thread name.
fn delay_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("vmodb-link-dela"))
            .count(),
    )
}

/// Waits (up to 10 s) until `delay_threads` is `n`: a new thread names itself once it runs, and
/// an ended one leaves the task list shortly after it was joined.
fn expect_delay_threads(n: usize, why: &str) {
    let t0 = std::time::Instant::now();
    while let Some(now) = delay_threads() {
        if now == n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{why}: {now} delay threads, not {n}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn delay_changes_latency_never_results() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (items, customers) = (20u32, 40u32);
    let cluster = Cluster::start(
        shop::app().expect("app"),
        delayed(2, 64, 2000),
        shop::load(items, 30, customers),
    )
    .expect("start");
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let client = cluster.client();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                for i in 0..100u64 {
                    let customer = rng.random_range(0..customers);
                    let item = rng.random_range(0..items);
                    match rng.random_range(0..100) {
                        0..70 => client.submit(
                            "checkout",
                            &PlaceOrder {
                                order_id: t * 1_000_000 + i,
                                customer,
                                item,
                                qty: rng.random_range(1..4),
                            },
                        ),
                        70..80 => client.submit(
                            "restock",
                            &Restock {
                                item,
                                add: rng.random_range(1..5),
                            },
                        ),
                        80..90 => client.submit(
                            "rebalance",
                            &Rebalance {
                                item,
                                customer,
                                amount: 3,
                            },
                        ),
                        _ => client.submit("audit", &Audit { customer }),
                    }
                    .expect("submit");
                }
                collect(&client, 100)
            })
        })
        .collect();
    let completions: Vec<Completion> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    assert_eq!(completions.len(), 400, "every transaction completes");
    for c in &completions {
        assert!(
            committed(c) || (&*c.transaction == "rebalance"),
            "unexpected outcome {c:?}"
        );
    }
    assert!(cluster.wait_idle(Duration::from_secs(20)));
    let stats = cluster.stats();
    assert!(
        stats.coordinator.last_committed_batch > 1,
        "several batches"
    );
    assert_eq!(stats.watermark, 400, "every service applied every commit");
    let inputs = cluster.committed_inputs();
    assert_eq!(inputs.len(), 400);
    let replayed = vmodb::serial_replay(
        &shop::app().expect("app"),
        shop::load(items, 30, customers),
        &inputs,
    )
    .expect("replay");
    assert_eq!(
        cluster.state(),
        replayed,
        "delayed run differs from serial replay"
    );
    let (violations, examples) = cluster.mode_violations();
    assert_eq!(violations, 0, "{examples:?}");
    let mean = completions.iter().map(|c| c.latency).sum::<Duration>() / 400;
    eprintln!("mean latency with link delay ≤ 2 ms: {mean:?}");
}

/// Whoever hears of a commit — on the commit stream, or from its own completion — and then
/// queries any service sees that commit, even while the services' copies of it are still held
/// in the delay line.
#[test]
fn a_query_after_a_commit_notice_sees_the_commit() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (cluster, _) = start(delayed(1, 64, 3000));
    let (watch, commits) = crossbeam_channel::unbounded();
    cluster.watch_commits(watch);
    let client = cluster.client();
    for value in 1..=40i64 {
        let tid = client.submit("pipe", &kv::fwd(7, value)).expect("submit");
        // The commit stream says a batch up to `tid` committed: both services show it.
        loop {
            let (_, max_tid) = commits
                .recv_timeout(Duration::from_secs(10))
                .expect("a commit notice");
            if max_tid >= tid {
                break;
            }
        }
        assert_eq!(
            get(&cluster, "a", 7),
            Some(value),
            "a, after notice {value}"
        );
        assert_eq!(
            get(&cluster, "b", 7),
            Some(value),
            "b, after notice {value}"
        );
        let done = collect(&client, 1);
        assert!(committed(&done[0]));
    }
}

#[test]
fn wait_idle_waits_for_commits_held_in_the_delay_line() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Up to 150 ms per hop: the commit usually reaches the client before the service.
    let hooks = kv::Hooks::new();
    let cluster =
        Cluster::start(kv::app(hooks), delayed(1, 10_000, 150_000), kv::load).expect("start");
    let client = cluster.client();
    for i in 0..5u32 {
        client
            .submit("set", &set(i, 40 + i64::from(i)))
            .expect("submit");
    }
    assert!(collect(&client, 5).iter().all(committed));
    assert!(cluster.wait_idle(Duration::from_secs(20)));
    assert_eq!(cluster.stats().watermark, 5, "every commit applied");
    for i in 0..5u32 {
        assert_eq!(get(&cluster, "a", i), Some(40 + i64::from(i)));
    }
}

#[test]
fn dropping_the_cluster_stops_its_delay_line() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = delay_threads();
    let (cluster, hooks) = start(delayed(1, 10_000, 30_000_000)); // up to 30 s per hop
    let services = cluster.app().service_names().count();
    assert!(services >= 2);
    if let Some(before) = before {
        // One line per receiving service: no single thread delivers every service's messages.
        expect_delay_threads(before + services, "one delay line per service");
    }
    let client = cluster.client();
    for i in 0..20u32 {
        client.submit("set", &set(i, 1)).expect("submit");
    }
    assert!(
        !cluster.wait_idle(Duration::from_millis(20)),
        "messages are held"
    );
    // Dropping must not wait for held messages; the client (which keeps the coordinator, and
    // so the transport) outlives the cluster.
    drop(cluster);
    if let Some(before) = before {
        expect_delay_threads(before, "the delay line threads ended with the cluster");
    }
    drop(client);
    // Nothing keeps the application alive: no cycle through the delay line.
    let t0 = std::time::Instant::now();
    while std::sync::Arc::strong_count(&hooks) > 1 {
        assert!(t0.elapsed() < Duration::from_secs(10), "the app leaked");
        std::thread::sleep(Duration::from_millis(5));
    }
}
