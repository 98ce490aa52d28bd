//! Directories that must not be recovered from: another application's, a damaged checkpoint,
//! checkpoints without their log, damage in the log (before its last segment, or followed by
//! intact records), and a log with work to re-execute written by another build.

use super::support::shop::Restock;
use super::support::util::input;
use super::*;

#[test]
fn foreign_or_damaged_data_directories_are_refused() {
    let dir = temp("refuse");
    let cluster = start(&dir, false);
    drive(&cluster, 1, 200);
    drop(cluster);

    // Another application's directory.
    let kv = Cluster::start(
        super::support::kv::app(super::support::kv::Hooks::new()),
        config(&dir, false),
        super::support::kv::load,
    );
    let e = kv.err().expect("refused");
    assert!(e.to_string().contains("refusing"), "{e}");

    // A damaged checkpoint: named, and the cluster does not start.
    let p = plan(&dir);
    let ckpt = dir
        .join("inventory")
        .join(format!("checkpoint-{:020}.ckpt", p.checkpoint.0));
    let mut bytes = std::fs::read(&ckpt).expect("checkpoint");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&ckpt, &bytes).expect("damage");
    let e = shop_cluster(config(&dir, false)).err().expect("refused");
    assert!(
        e.to_string().contains("inventory") && e.to_string().contains("checksum"),
        "{e}"
    );
    bytes[mid] ^= 0x10;
    std::fs::write(&ckpt, &bytes).expect("repair");

    // Checkpoints without the log that names them: refused, not restarted from scratch.
    let moved = dir.join("coordinator-moved");
    std::fs::rename(dir.join("coordinator"), &moved).expect("hide the log");
    let e = shop_cluster(config(&dir, false)).err().expect("refused");
    assert!(e.to_string().contains("log is missing"), "{e}");
    let _ = std::fs::remove_dir_all(dir.join("coordinator"));
    std::fs::rename(&moved, dir.join("coordinator")).expect("restore the log");

    // Damage before the last log segment: acknowledged commits would be lost, so refuse.
    let segments = files(&dir.join("coordinator"), "wal-");
    assert!(segments.len() >= 2, "{segments:?}");
    let first = dir.join("coordinator").join(&segments[0]);
    let mut bytes = std::fs::read(&first).expect("segment");
    bytes[12] ^= 0x01;
    std::fs::write(&first, &bytes).expect("damage");
    let e = shop_cluster(config(&dir, false)).err().expect("refused");
    assert!(e.to_string().contains("corrupt"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Damage in the middle of the last log segment with intact, acknowledged records after it is
/// corruption: the cluster refuses to start and names the file and offset, instead of cutting
/// the commits after it (which a resubmission would then run again).
#[test]
fn damage_followed_by_acknowledged_commits_is_refused() {
    let dir = temp("mid-damage");
    let mut config = config(&dir, false);
    config.coordinator.checkpoint_every = Duration::from_secs(3600);
    config.coordinator.log_segment_bytes = 64 << 20;
    config.coordinator.request_retention = Duration::from_secs(600);
    let cluster = shop_cluster(config.clone()).expect("start");
    let client = cluster.client();
    for i in 1..=5 {
        let (transaction, payload) = input("restock", &Restock { item: 1, add: 1 });
        let request = Request {
            transaction,
            payload,
            id: Some(format!("p{i}").into()),
        };
        client.submit_requests(vec![request]).expect("submit");
        super::support::util::collect(&client, 1);
    }
    drop(client);
    drop(cluster);
    let segments = files(&dir.join("coordinator"), "wal-");
    let first = dir.join("coordinator").join(&segments[0]);
    let mut bytes = std::fs::read(&first).expect("segment");
    bytes[101] ^= 0x01;
    std::fs::write(&first, &bytes).expect("damage");
    let e = shop_cluster(config).err().expect("refused").to_string();
    assert!(
        e.contains(&segments[0]) && e.contains("corrupt at byte"),
        "{e}"
    );
    assert!(e.contains("intact"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Handler code is part of what recovery re-executes: a log with work to re-execute, written
/// by another build or another declared version, is refused (unless a new build is allowed,
/// with a warning); builds that declare one version count as one.
#[test]
fn a_log_written_by_another_build_is_refused() {
    let dir = temp("build");
    let mut config = config(&dir, false);
    config.coordinator.checkpoint_every = Duration::from_secs(3600); // all of it to re-execute
    let app = |build: u64| shop::builder().build_id(build).build().expect("app");
    let cluster = cluster_of(app(1), config.clone()).expect("start");
    drive(&cluster, 1, 50);
    let before = cluster.state();
    drop(cluster);

    let e = cluster_of(app(2), config.clone())
        .err()
        .expect("another build is refused")
        .to_string();
    assert!(e.contains("build") && e.contains("re-execute"), "{e}");
    assert!(
        e.contains(&format!("{:016x}", 1)) && e.contains(&format!("{:016x}", 2)),
        "{e}"
    );
    // The same build recovers.
    let cluster = cluster_of(app(1), config.clone()).expect("same build");
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.state(), before);
    drop(cluster);
    // Allowed: it recovers (here the handlers are the same, so the state is too).
    config.coordinator.allow_new_build = true;
    let cluster = cluster_of(app(2), config.clone()).expect("allowed");
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.state(), before);
    drop(cluster);
    // A declared version is the build: two builds of version "2" are one, "3" is another.
    let version = |v: &str| shop::builder().version(v).build().expect("app");
    let cluster = cluster_of(version("2"), config.clone()).expect("allowed");
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    drop(cluster);
    config.coordinator.allow_new_build = false;
    let cluster = cluster_of(version("2"), config.clone()).expect("the same version");
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    assert_eq!(cluster.state(), before);
    drop(cluster);
    let e = cluster_of(version("3"), config)
        .err()
        .expect("another version is refused")
        .to_string();
    assert!(e.contains("build") && e.contains("re-execute"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
