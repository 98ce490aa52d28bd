//! Foreign-key checks read rows that no execution mode declares: inserting a child reads its
//! parent, deleting a parent reads its referrers. Two tasks the modes let run together (a
//! child of P inserted, P deleted, partitioned by different keys) must still end as serial
//! execution would: the engine runs a task again whose check read what an earlier running
//! task may change (`node::fk_guard`), so no dangling reference ever commits.

use crate::support::util::{collect, config_ms, input};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vmodb::{App, Cluster, Entity, Handler, Outcome, Service, TableDef, TransactionDef};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Parent {
    id: u32,
}
impl Entity for Parent {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Child {
    id: u32,
    parent: u32,
}
impl Entity for Child {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

/// An input; `pause_ms` makes the handler sleep before it writes (so the other task runs
/// meanwhile).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Op {
    id: u32,
    parent: u32,
    pause_ms: u32,
}

fn app() -> App {
    let pause = |e: &Op| std::thread::sleep(Duration::from_millis(e.pause_ms.into()));
    let service = Service::new("tree")
        .table(TableDef::<Parent>::new("parents", &["id"]))
        .table(
            TableDef::<Child>::new("children", &["id"]).foreign_key::<Parent>(
                "parent",
                "parents",
                |c: &Child| Some(c.parent),
            ),
        )
        .handler(
            // Partitioned by the child: the parent it reads is not declared.
            Handler::on::<Op>("add_child")
                .read_write()
                .partition_by(|e: &Op| e.id)
                .run(move |ctx, e| {
                    pause(&e);
                    ctx.table::<Child>()?.insert(Child {
                        id: e.id,
                        parent: e.parent,
                    })
                }),
        )
        .handler(
            // Partitioned by the parent: its referrers are not declared.
            Handler::on::<Op>("drop_parent")
                .read_write()
                .partition_by(|e: &Op| e.parent + 1_000_000)
                .run(move |ctx, e| {
                    pause(&e);
                    ctx.table::<Parent>()?.delete(&e.parent).map(|_| ())
                }),
        );
    App::builder()
        .service(service)
        .transaction(TransactionDef::new("add_child", "tree", "add_child"))
        .transaction(TransactionDef::new("drop_parent", "tree", "drop_parent"))
        .build()
        .expect("app")
}

fn load(l: &vmodb::Loader) -> Result<(), vmodb::BootstrapError> {
    l.insert("tree", (0..20).map(|id| Parent { id }))
}

fn op(id: u32, parent: u32, pause_ms: u32) -> Op {
    Op {
        id,
        parent,
        pause_ms,
    }
}

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
