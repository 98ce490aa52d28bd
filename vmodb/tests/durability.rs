//! `ClusterConfig::wal_dir`: every commit is logged and synced before clients hear of it, so
//! the log alone reproduces the state (serial replay of its inputs); a directory that already
//! holds commits is refused (recovery from it is not implemented yet), as is one written for
//! another application.

mod support;

use std::time::Duration;
use support::shop::{self, PlaceOrder, Restock};
use vmodb::wal::Wal;
use vmodb::{Cluster, ClusterConfig, CoordinatorConfig, LoggedCommit, serial_replay};

fn config(dir: &std::path::Path) -> ClusterConfig {
    ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(2),
            record_inputs: true,
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: false,
        link_delay: None,
        wal_dir: Some(dir.to_path_buf()),
    }
}

#[test]
fn the_log_reproduces_every_commit_and_a_used_log_is_refused() {
    let dir = std::env::temp_dir().join(format!("vmodb-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let app = shop::app().expect("app");
    let cluster = Cluster::start(app, config(&dir), shop::load(10, 50, 20)).expect("start");
    let client = cluster.client();
    let mut inputs = Vec::new();
    for i in 0..300u64 {
        if i % 7 == 0 {
            let r = Restock {
                item: (i % 10) as u32,
                add: 5,
            };
            inputs.push(support::util::input("restock", &r));
        } else {
            let o = PlaceOrder {
                order_id: i,
                customer: (i % 20) as u32,
                item: (i % 10) as u32,
                qty: 1 + (i % 3) as u32,
            };
            inputs.push(support::util::input("checkout", &o));
        }
    }
    for chunk in inputs.chunks(25) {
        client.submit_all(chunk.to_vec()).expect("submit");
    }
    let done = support::util::collect(&client, inputs.len());
    assert_eq!(done.len(), inputs.len());
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    let state = cluster.state();
    let committed = cluster.committed_inputs();
    drop(client);
    drop(cluster);

    // Every committed input is in the log, in TID order, batch by batch.
    let (_, found) = Wal::open::<LoggedCommit>(
        &dir,
        &format!(
            "vmodb coordinator, application {:016x}",
            shop::app().expect("app").fingerprint()
        ),
        64 << 20,
    )
    .expect("the log opens");
    assert_eq!(found.cut_bytes, 0);
    let logged: Vec<_> = found
        .records
        .iter()
        .flat_map(|(_, c)| c.inputs.clone())
        .collect();
    assert_eq!(logged, committed);
    let batches: Vec<u64> = found
        .records
        .iter()
        .flat_map(|(_, c)| c.batches.iter().map(|b| b.0))
        .collect();
    assert!(batches.windows(2).all(|w| w[1] == w[0] + 1), "{batches:?}");
    // The log alone reproduces the state.
    let replayed =
        serial_replay(&shop::app().expect("app"), shop::load(10, 50, 20), &logged).expect("replay");
    assert_eq!(replayed, state);

    // A directory that holds commits is refused, not silently ignored.
    let e = Cluster::start(
        shop::app().expect("app"),
        config(&dir),
        shop::load(10, 50, 20),
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("not implemented yet"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
