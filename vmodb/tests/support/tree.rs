//! A one-service application whose foreign-key checks read rows no execution mode declares:
//! `add_child` (partitioned by the child) reads its parent, `drop_parent` and `add_parent`
//! (partitioned by the parent) read or make its referrers' parent. Parents 0..20 at the start.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vmodb::{App, Entity, Handler, Service, TableDef, TransactionDef};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parent {
    pub id: u32,
}
impl Entity for Parent {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Child {
    pub id: u32,
    pub parent: u32,
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
pub struct Op {
    pub id: u32,
    pub parent: u32,
    pub pause_ms: u32,
}

pub fn app() -> App {
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
        )
        .handler(
            // Partitioned by the parent, like `drop_parent` (a parent that exists is a
            // duplicate key).
            Handler::on::<Op>("add_parent")
                .read_write()
                .partition_by(|e: &Op| e.parent + 1_000_000)
                .run(move |ctx, e| {
                    pause(&e);
                    ctx.table::<Parent>()?.insert(Parent { id: e.parent })
                }),
        );
    App::builder()
        .service(service)
        .transaction(TransactionDef::new("add_child", "tree", "add_child"))
        .transaction(TransactionDef::new("drop_parent", "tree", "drop_parent"))
        .transaction(TransactionDef::new("add_parent", "tree", "add_parent"))
        .build()
        .expect("app")
}

pub fn load(l: &vmodb::Loader) -> Result<(), vmodb::BootstrapError> {
    l.insert("tree", (0..20).map(|id| Parent { id }))
}

pub fn op(id: u32, parent: u32, pause_ms: u32) -> Op {
    Op {
        id,
        parent,
        pause_ms,
    }
}
