//! `ClusterConfig::data_dir`: every commit is logged and synced before clients hear of it,
//! services checkpoint at batch boundaries, the log is truncated behind checkpoints, and a
//! restart restores the last checkpoint and re-executes the log after it — reaching exactly
//! the state of the last commit, which then equals the serial replay of every committed input.
//! Request ids make resubmission idempotent across restarts (`ids.rs`: for the configured
//! retention, also across the checkpoint right after a restart), and TIDs are never reused
//! (`ids.rs`). Damaged, foreign or other-build directories are refused (`refusals.rs`).

#[path = "../support/mod.rs"]
mod support;

mod ids;
mod refusals;

use std::path::{Path, PathBuf};
use std::time::Duration;
use support::shop::{self, PlaceOrder, Restock};
use vmodb::durability::{LogRecord, RecoveryPlan};
use vmodb::wal::Wal;
use vmodb::{Cluster, ClusterConfig, CoordinatorConfig, Outcome, Request, serial_replay};

/// Checkpoints every 20 ms, 2 KiB log segments; request ids remembered for 10 ms of running
/// time only, so truncation is not held back by them (see `ids.rs` for long retention).
fn config(dir: &Path, keep_all: bool) -> ClusterConfig {
    config_with(dir, keep_all, Duration::from_millis(10))
}

fn config_with(dir: &Path, keep_all: bool, retention: Duration) -> ClusterConfig {
    ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(2),
            record_inputs: keep_all,
            checkpoint_every: Duration::from_millis(20),
            log_segment_bytes: 2048,
            request_retention: retention,
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: false,
        link_delay: None,
        data_dir: Some(dir.to_path_buf()),
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmodb-durability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `app` on `config`, with the data every test here loads.
fn cluster_of(app: vmodb::App, config: ClusterConfig) -> Result<Cluster, vmodb::BootstrapError> {
    Cluster::start(app, config, shop::load(10, 50, 20))
}

/// The shop on `config`.
fn shop_cluster(config: ClusterConfig) -> Result<Cluster, vmodb::BootstrapError> {
    cluster_of(shop::app().expect("app"), config)
}

fn start(dir: &Path, keep_all: bool) -> Cluster {
    shop_cluster(config(dir, keep_all)).expect("start")
}

/// `n` inputs, order ids from `first`: checkouts (every 11th aborts: unknown item) and
/// restocks.
fn inputs(first: u64, n: u64) -> Vec<(String, Vec<u8>)> {
    (first..first + n)
        .map(|i| {
            if i % 7 == 0 {
                let r = Restock {
                    item: (i % 10) as u32,
                    add: 3,
                };
                support::util::input("restock", &r)
            } else {
                let o = PlaceOrder {
                    order_id: i,
                    customer: (i % 20) as u32,
                    item: if i % 11 == 0 { 99 } else { (i % 10) as u32 },
                    qty: 1 + (i % 4) as u32,
                };
                support::util::input("checkout", &o)
            }
        })
        .collect()
}

/// Submits `n` inputs in rounds with pauses (so checkpoints happen between them), the last
/// round right before returning (so it lies after the last checkpoint).
fn drive(cluster: &Cluster, first: u64, n: u64) {
    let client = cluster.client();
    for (i, chunk) in inputs(first, n).chunks(40).enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
        client.submit_all(chunk.to_vec()).expect("submit");
    }
    assert_eq!(
        support::util::collect(&client, n as usize).len(),
        n as usize
    );
    assert!(cluster.wait_idle(Duration::from_secs(10)));
}

fn plan(dir: &Path) -> RecoveryPlan {
    let identity =
        vmodb::durability::coordinator_identity(shop::app().expect("app").fingerprint(), "");
    let (_, found) =
        Wal::open::<LogRecord>(&dir.join("coordinator"), &identity, 2048).expect("log opens");
    RecoveryPlan::from_records(found.records).expect("consistent log")
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn restart_restores_the_checkpoint_and_reexecutes_the_log_after_it() {
    let dir = temp("restart");
    let cluster = start(&dir, false);
    drive(&cluster, 1, 400);
    let before = cluster.state();
    let last_batch = cluster.stats().coordinator.last_committed_batch;
    drop(cluster);

    // Checkpoints happened, the log was truncated behind them, and work follows the last one.
    let p = plan(&dir);
    assert!(p.checkpoint.0 > 0, "no checkpoint completed");
    assert!(
        !p.replay.is_empty(),
        "nothing logged after the last checkpoint"
    );
    assert_eq!(p.last_batch, last_batch);
    let segments = files(&dir.join("coordinator"), "wal-");
    assert!(
        !segments.contains(&format!("wal-{:020}.log", 0)),
        "the first segment survived truncation: {segments:?}"
    );
    // Each service keeps the chain of the last complete checkpoint (a full one and the
    // incremental ones over it) and, if newer, the chain of the one written after it.
    let fingerprint = shop::app().expect("app").fingerprint();
    let mut restored_through_increments = false;
    for service in ["orders", "inventory", "billing"] {
        let ckpts = files(&dir.join(service), "checkpoint-");
        let identity = vmodb::durability::service_identity(service, fingerprint, "");
        let held = vmodb::durability::CheckpointDir::open(&dir.join(service), &identity)
            .expect("checkpoint directory");
        let batches = held.batches().expect("list");
        let newest = *batches.last().expect("a checkpoint");
        let in_chain = |batch| -> Vec<u64> {
            let chain = held.read_chain(batch).expect("chain");
            assert!(
                chain[0].base.is_none(),
                "{service}: a chain starts with a full one"
            );
            chain.iter().map(|c| c.batch).collect()
        };
        let newest = in_chain(newest);
        let older: Vec<u64> = batches
            .iter()
            .filter(|b| !newest.contains(b))
            .copied()
            .collect();
        if let Some(&last) = older.last() {
            assert_eq!(in_chain(last), older, "{service} keeps {ckpts:?}");
        }
        restored_through_increments |= in_chain(p.checkpoint.0).len() > 1;
    }
    assert!(
        restored_through_increments,
        "no service's recovery point is an incremental checkpoint"
    );

    // A torn tail (a crash mid-append) is cut, never replayed.
    let last = dir
        .join("coordinator")
        .join(segments.last().expect("a segment"));
    let mut bytes = std::fs::read(&last).expect("segment");
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    std::fs::write(&last, &bytes).expect("tear the tail");

    let cluster = start(&dir, false);
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.stats().coordinator.last_committed_batch, last_batch);
    assert_eq!(cluster.state(), before, "recovered state differs");
    // It goes on, and recovers again.
    drive(&cluster, 1000, 120);
    let after = cluster.state();
    drop(cluster);
    let cluster = start(&dir, false);
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.state(), after);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restarts_reach_the_serial_replay_of_every_committed_input() {
    let dir = temp("replay");
    let cluster = start(&dir, true);
    drive(&cluster, 1, 200);
    let first = cluster.committed_inputs();
    drop(cluster);
    let cluster = start(&dir, true);
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(
        cluster.committed_inputs(),
        first,
        "the kept log lost inputs"
    );
    drive(&cluster, 500, 200);
    drop(cluster);
    let cluster = start(&dir, true);
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    let all = cluster.committed_inputs();
    assert_eq!(all.len(), 400);
    // TIDs rise; each restart resumed numbering above a reserved range, which the cluster
    // reports as lost (never committed); nothing else is missing.
    let lost = cluster.stats().coordinator.lost_tids;
    assert!(all.windows(2).all(|w| {
        let (a, b) = (w[0].env.tid, w[1].env.tid);
        b == a + 1 || lost.contains(&(a + 1, b - 1))
    }));
    let replayed =
        serial_replay(&shop::app().expect("app"), shop::load(10, 50, 20), &all).expect("replay");
    assert_eq!(replayed, cluster.state());
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A read right after a restart sees every commit made before it: until the log's commits are
/// re-executed (here all of them: no checkpoint), queries and table reads wait for them rather
/// than answer from the older state.
#[test]
fn reads_right_after_a_restart_see_every_commit_before_it() {
    let dir = temp("read-after-restart");
    let mut no_checkpoint = config(&dir, false);
    no_checkpoint.coordinator.checkpoint_every = Duration::from_secs(3600);
    let summaries = |cluster: &Cluster| -> Vec<shop::Summary> {
        (0..20u32)
            .map(|c| cluster.query("billing", "summary", &c).expect("query"))
            .collect()
    };
    let cluster = shop_cluster(no_checkpoint.clone()).expect("start");
    drive(&cluster, 1, 1200);
    let before = summaries(&cluster);
    let orders: Vec<shop::Order> = cluster.read_table("orders").expect("orders");
    drop(cluster);
    let cluster = shop_cluster(no_checkpoint).expect("restart");
    // No wait_idle: the reads themselves must wait for the re-execution.
    assert_eq!(
        summaries(&cluster),
        before,
        "a query read a state before the crash's"
    );
    let after: Vec<shop::Order> = cluster.read_table("orders").expect("orders");
    assert_eq!(after.len(), orders.len());
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
