//! Exactly once across restarts: a request id is answered with its first outcome for the
//! configured retention of running time (also after the checkpoint a restart forces at once),
//! and a TID or batch id handed out before a crash is never handed out again.

use super::support::shop::Restock;
use super::support::util::{collect, input};
use super::*;
use vmodb::{Client, Completion, SubmitError};

/// Long enough that no id is forgotten during a test.
const RETENTION: Duration = Duration::from_secs(600);

fn start_keeping_ids(dir: &Path) -> Cluster {
    let config = config_with(dir, false, RETENTION);
    shop_cluster(config).expect("start")
}

fn requests(ids: std::ops::Range<u64>) -> Vec<Request> {
    ids.map(|i| {
        let (transaction, payload) = inputs(i, 1).remove(0);
        Request {
            transaction,
            payload,
            id: Some(format!("client-1/{i}").into()),
        }
    })
    .collect()
}

/// A restock of item 3 carrying request id `id`.
fn restock(id: &str) -> Request {
    let (transaction, payload) = input("restock", &Restock { item: 3, add: 1 });
    Request {
        transaction,
        payload,
        id: Some(id.into()),
    }
}

fn submit_one(client: &Client, r: Request) -> Result<Completion, SubmitError> {
    let tids = client.submit_requests(vec![r])?;
    Ok(collect(client, tids.len()).remove(0))
}

/// Waits (up to a minute) until `cond` holds of the cluster's stats, submitting a little
/// work meanwhile so that batches commit and checkpoints come due.
fn drive_until(cluster: &Cluster, first: u64, cond: impl Fn(&vmodb::CoordinatorStats) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut next = first;
    while !cond(&cluster.stats().coordinator) {
        assert!(
            std::time::Instant::now() < deadline,
            "the condition never held"
        );
        drive(cluster, next, 10);
        next += 10;
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_resubmitted_request_id_gets_its_first_outcome_even_after_a_restart() {
    let dir = temp("ids");
    let cluster = start_keeping_ids(&dir);
    let client = cluster.client();
    let tids = client.submit_requests(requests(1..60)).expect("submit");
    let mut first = collect(&client, tids.len());
    first.sort_by_key(|c| c.tid);
    assert!(
        first
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Aborted { .. }))
    );
    let sequenced = cluster.stats().coordinator.sequenced;
    // Again: nothing new is sequenced, and each id answers with its first TID and outcome.
    let again = client.submit_requests(requests(1..60)).expect("resubmit");
    assert_eq!(again, tids);
    let mut second = collect(&client, tids.len());
    second.sort_by_key(|c| c.tid);
    assert_eq!(cluster.stats().coordinator.sequenced, sequenced);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((a.tid, &a.outcome), (b.tid, &b.outcome));
    }
    drive_until(&cluster, 100, |s| s.last_checkpoint > 0);
    drive(&cluster, 1000, 40);
    let before = cluster.state();
    drop(client);
    drop(cluster);

    // After a restart: still no re-run; outcomes and outputs survive (logged with the ids).
    let cluster = start_keeping_ids(&dir);
    let client = cluster.client();
    let again = client.submit_requests(requests(1..60)).expect("resubmit");
    assert_eq!(again, tids);
    let mut third = collect(&client, tids.len());
    third.sort_by_key(|c| c.tid);
    for (a, b) in first.iter().zip(&third) {
        assert_eq!(
            (a.tid, &a.outcome),
            (b.tid, &b.outcome),
            "outputs survive too"
        );
    }
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.state(), before);
    drop(client);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scenario that lost exactly once: a client sends `[r1, r2]`; r1 commits, and the
/// cluster crashes before r2 does. After the restart, other clients' traffic completes the
/// checkpoint the restart forces at once; only then does the first client resubmit
/// `[r1, r2]`. r1 must answer with its first outcome (not run again), r2 runs once.
#[test]
fn a_request_id_outlives_the_checkpoint_after_a_restart() {
    let dir = temp("late-resubmit");
    let cluster = start_keeping_ids(&dir);
    let client = cluster.client();
    let r1 = submit_one(&client, restock("late/r1")).expect("r1");
    assert!(matches!(r1.outcome, Outcome::Committed { .. }), "{r1:?}");
    // Checkpoints after r1 (so the restart recovers from one that covers it), and work after
    // them (so the restart re-executes something and forces a checkpoint at once).
    drive_until(&cluster, 100, |s| s.last_checkpoint > r1.batch);
    drive(&cluster, 2000, 40);
    drop(client);
    drop(cluster); // r2 was never sent: the crash came first

    let cluster = start_keeping_ids(&dir);
    let recovered = cluster.stats().coordinator.recovered;
    let (from, replayed) = recovered.expect("recovered from a checkpoint");
    assert!(from >= r1.batch && replayed > 0, "{recovered:?}");
    // Another client's traffic until the checkpoint after the restart completed.
    drive_until(&cluster, 3000, |s| s.last_checkpoint > from);
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    let sequenced = cluster.stats().coordinator.sequenced;
    let stock_before = stock_of_item_3(&cluster);
    let client = cluster.client();
    let tids = client
        .submit_requests(vec![restock("late/r1"), restock("late/r2")])
        .expect("resubmit");
    let answers = collect(&client, 2);
    assert_eq!(tids[0], r1.tid, "r1 ran again after the restart");
    let again = answers
        .iter()
        .find(|c| c.tid == r1.tid)
        .expect("r1's answer");
    assert_eq!(again.outcome, r1.outcome);
    assert_eq!(
        cluster.stats().coordinator.sequenced,
        sequenced + 1,
        "only r2 ran"
    );
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(
        stock_of_item_3(&cluster),
        stock_before + 1,
        "r1 and r2 add one unit in all"
    );
    drop(client);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

fn stock_of_item_3(cluster: &Cluster) -> i64 {
    let items: Vec<super::support::shop::Item> = cluster.read_table("inventory").expect("items");
    items.iter().find(|i| i.id == 3).expect("item 3").stock
}

/// A TID returned at submission (`?wait=false` style) for a transaction that never committed
/// is never handed out again after a restart, nor is a batch id: numbering resumes above
/// every reserved one, and the lost range is reported.
#[test]
fn tids_handed_out_before_a_crash_are_never_reused() {
    let dir = temp("tids");
    let mut config = config_with(&dir, false, RETENTION);
    let cluster = shop_cluster(config.clone()).expect("start");
    let client = cluster.client();
    let committed = submit_one(&client, restock("tids/1")).expect("a commit");
    // A batch that stays open: its TID is handed out, and it never commits.
    drop(cluster);
    config.coordinator.batch_window = Duration::from_secs(3600);
    let cluster = shop_cluster(config.clone()).expect("restart");
    let restock_1 = input("restock", &Restock { item: 1, add: 1 });
    let lost = cluster
        .client()
        .submit_detached(vec![restock_1])
        .expect("submitted")[0];
    assert!(lost > committed.tid);
    drop(cluster); // crash: the open batch never committed

    config.coordinator.batch_window = Duration::from_millis(2);
    let cluster = shop_cluster(config).expect("restart again");
    let client = cluster.client();
    let after = submit_one(&client, restock("tids/2")).expect("a commit after the restart");
    assert!(
        after.tid > lost,
        "TID {} handed out again (lost: {lost})",
        after.tid
    );
    assert!(
        after.batch > committed.batch + 1,
        "batch {} may have been handed out before",
        after.batch
    );
    let ranges = cluster.stats().coordinator.lost_tids;
    assert!(
        ranges.iter().any(|(a, b)| *a <= lost && lost <= *b),
        "{lost} not reported lost: {ranges:?}"
    );
    drop(client);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two restarts with commits between them and no checkpoint after the first: the log then
/// holds a jump in numbering (the first restart's) inside what the second restart re-executes,
/// and recovery must jump there too: the cluster restarts, reaches the same state, goes on.
#[test]
fn two_restarts_without_a_checkpoint_between_recover() {
    let dir = temp("double-restart");
    let mut config = config_with(&dir, true, RETENTION);
    config.coordinator.checkpoint_every = Duration::MAX; // never
    let start = || shop_cluster(config.clone()).expect("start");
    let cluster = start();
    drive(&cluster, 1, 30);
    drop(cluster);
    let cluster = start();
    drive(&cluster, 100, 30);
    assert_eq!(cluster.stats().coordinator.last_checkpoint, 0);
    let before = cluster.state();
    drop(cluster);
    let cluster = start();
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.state(), before);
    drive(&cluster, 200, 30);
    let inputs = cluster.committed_inputs();
    assert_eq!(inputs.len(), 90);
    let replayed =
        serial_replay(&shop::app().expect("app"), shop::load(10, 50, 20), &inputs).expect("replay");
    assert_eq!(replayed, cluster.state());
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
