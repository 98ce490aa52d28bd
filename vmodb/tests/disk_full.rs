//! A commit log that cannot sync (a full disk) stops the coordinator: clients waiting for those
//! commits hear 503, and `/status` counts only what became durable, never a commit it could not
//! log. The full disk is process-wide (`wal::simulate_full_disk`), so this test has a process of
//! its own.

mod support;

use serde_json::{Value as Json, json};
use std::time::{Duration, Instant};
use support::door::Server;
use support::watch::watchdog;
use vmodb::{ClusterConfig, CoordinatorConfig};

fn checkout(order_id: u64) -> Json {
    json!({
        "transaction": "checkout",
        "input": {"order_id": order_id, "customer": 1, "item": 1, "qty": 1},
    })
}

#[test]
fn a_commit_that_never_became_durable_is_never_counted() {
    watchdog(Duration::from_secs(60), || {
        let dir = std::env::temp_dir().join(format!("vmodb-disk-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = ClusterConfig {
            coordinator: CoordinatorConfig {
                batch_window: Duration::from_millis(2),
                // No checkpoint during the test: only the log writes.
                checkpoint_every: Duration::from_secs(3600),
                ..CoordinatorConfig::default()
            },
            workers: 2,
            check_modes: false,
            link_delay: None,
            data_dir: Some(dir.clone()),
        };
        let server = Server::start_with(config);
        for i in 0..5 {
            let r = server.post_json("/transactions", &checkout(i));
            assert_eq!(r.status, 200, "{r:?}");
        }
        assert_eq!(server.status()["committed"], 5);

        vmodb::wal::simulate_full_disk(true);
        let r = server.post_json("/transactions", &checkout(99));
        assert_eq!(r.status, 503, "{r:?}");
        assert!(r.error().contains("commit log"), "{r:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            let r = server.get("/status");
            assert_eq!(r.status, 200, "{r:?}");
            let status = r.json();
            if !status["failure"].is_null() {
                break status;
            }
            assert!(Instant::now() < deadline, "the failure was not reported");
            std::thread::sleep(Duration::from_millis(20));
        };
        vmodb::wal::simulate_full_disk(false);
        assert_eq!(status["submitted"], 6, "{status}");
        assert_eq!(
            status["committed"], 5,
            "a commit that never became durable: {status}"
        );
        assert_eq!(status["in_flight"], 1, "{status}");
        let _ = std::fs::remove_dir_all(&dir);
    });
}
