//! Foreign-key checks read rows that no execution mode declares: inserting a child reads its
//! parent, deleting a parent reads its referrers. Two tasks the modes let run together (a
//! child of P inserted, P deleted, partitioned by different keys) must still end as serial
//! execution would: the engine runs a task again whose check read what an earlier running
//! task may change (`node::fk_guard`), so no dangling reference ever commits.

use crate::support::tree::{Child, Parent, app, load, op};
use crate::support::util::{collect, config_ms, input};
use std::time::Duration;
use vmodb::{Cluster, Outcome};

/// Inserting a child of a parent an earlier task deletes, and deleting a parent an earlier
/// task gives a child, each while the other runs: every outcome and the final state are the
/// serial ones, and no child is left without its parent.
#[test]
fn foreign_key_checks_stay_serial_across_partitions() {
    let cluster = Cluster::start(app(), config_ms(20, 64), load).expect("start");
    let client = cluster.client();
    let inputs = vec![
        // Parent 1 goes first (slowly); its child, later, must fail.
        input("drop_parent", &op(0, 1, 30)),
        input("add_child", &op(100, 1, 0)),
        // A child of 2 first (slowly); deleting 2, later, must fail.
        input("add_child", &op(200, 2, 30)),
        input("drop_parent", &op(0, 2, 0)),
        // Unrelated work alongside.
        input("add_child", &op(300, 3, 0)),
        input("drop_parent", &op(0, 4, 0)),
    ];
    let tids = client.submit_all(inputs).expect("submit");
    let mut done = collect(&client, tids.len());
    done.sort_by_key(|c| c.tid);
    let committed: Vec<bool> = done
        .iter()
        .map(|c| matches!(c.outcome, Outcome::Committed { .. }))
        .collect();
    assert_eq!(
        committed,
        vec![true, false, true, false, true, true],
        "{done:?}"
    );
    assert!(cluster.wait_idle(Duration::from_secs(10)));
    let state = cluster.state();
    let replayed = vmodb::serial_replay(&app(), load, &cluster.committed_inputs()).expect("replay");
    assert_eq!(state, replayed, "differs from serial execution");
    let parents: Vec<Parent> = cluster.read_table("tree").expect("parents");
    let children: Vec<Child> = cluster.read_table("tree").expect("children");
    for c in &children {
        assert!(
            parents.iter().any(|p| p.id == c.parent),
            "child {c:?} has no parent"
        );
    }
    let (violations, examples) = cluster.mode_violations();
    assert_eq!(violations, 0, "{examples:?}");
}
