//! Replica tables: bootstrap checks on their declaration, and undeclared writes at run time.

use crate::TIMEOUT;
use crate::bootstrap::refused;
use crate::support;
use crate::support::util::config_ms;
use serde::{Deserialize, Serialize};
use vmodb::{
    App, AppBuilder, Cluster, Entity, Handler, HandlerDef, Outcome, Service, TableDef,
    TransactionDef, TxError,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Item {
    pub(crate) id: u32,
    price: i64,
    stock: i64,
}
impl Entity for Item {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Price {
    id: u32,
    price: i64,
}
impl Entity for Price {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tinted {
    id: u32,
    colour: String,
}
impl Entity for Tinted {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Note {
    id: u32,
    text: String,
}
impl Entity for Note {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Reprice {
    id: u32,
    price: i64,
}
/// catalog: items; `set_price` updates an item and emits `price_changed`.
pub(crate) fn catalog() -> Service {
    Service::new("catalog")
        .table(TableDef::<Item>::new("items", &["id"]))
        .handler(
            Handler::on::<Reprice>("set_price")
                .emits::<Reprice>("price_changed")
                .run(|ctx, e| {
                    let items = ctx.table::<Item>()?;
                    let mut item = items.get(&e.id).ok_or_else(|| TxError::app("no item"))?;
                    item.price = e.price;
                    items.update(item)?;
                    Ok(e)
                }),
        )
}

fn replicate() -> HandlerDef {
    Handler::on::<Reprice>("price_changed")
        .replicates("prices")
        .run(|ctx, e| {
            ctx.table::<Price>()?.upsert(Price {
                id: e.id,
                price: e.price,
            })
        })
}

fn rogue() -> HandlerDef {
    Handler::on::<Reprice>("rogue").run(|ctx, e| {
        ctx.table::<Price>()?.upsert(Price {
            id: e.id,
            price: e.price,
        })
    })
}

/// front: a replica of catalog.items (id, price), a local table, the replicating handler, and a
/// handler that writes the replica without declaring it.
pub(crate) fn replica_front() -> Service {
    Service::new("front")
        .table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"))
        .table(TableDef::<Note>::new("notes", &["id"]))
        .handler(replicate())
        .handler(rogue())
}

pub(crate) fn replica_app(front: Service, catalog: Service) -> AppBuilder {
    App::builder()
        .service(catalog)
        .service(front)
        .transaction(
            TransactionDef::new("reprice", "catalog", "set_price").then("front", "price_changed"),
        )
        .transaction(TransactionDef::new("rogue", "front", "rogue"))
}

#[test]
fn bootstrap_refuses_inconsistent_replicas() {
    let front =
        |replica: TableDef<Price>| Service::new("front").table(replica).handler(replicate());
    refused(
        replica_app(
            front(TableDef::new("prices", &["id"]).replica_of("warehouse", "items")),
            catalog(),
        ),
        &["front", "prices", "warehouse"],
    );
    refused(
        replica_app(
            front(TableDef::new("prices", &["id"]).replica_of("catalog", "goods")),
            catalog(),
        ),
        &["front", "prices", "catalog", "goods"],
    );
    // A column the source table lacks.
    let tinted = Service::new("front")
        .table(TableDef::<Tinted>::new("prices", &["id"]).replica_of("catalog", "items"))
        .handler(
            Handler::on::<Reprice>("price_changed")
                .replicates("prices")
                .run(|_, _| Ok(())),
        );
    refused(
        replica_app(tinted, catalog()),
        &["front", "prices", "colour"],
    );
    // Nobody declared to maintain the replica.
    let unfed = Service::new("front")
        .table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"))
        .handler(Handler::on::<Reprice>("price_changed").run(|_, _| Ok(())));
    refused(
        replica_app(unfed, catalog()),
        &["front", "prices", "catalog"],
    );
    // The replicating handler consumes an event the source service does not emit.
    let elsewhere = Service::new("front")
        .table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"))
        .handler(Handler::on::<Reprice>("price_changed").run(|_, _| Ok(())))
        .handler(
            Handler::on::<Reprice>("rumour")
                .replicates("prices")
                .run(|_, _| Ok(())),
        );
    refused(
        replica_app(elsewhere, catalog()),
        &["front", "prices", "catalog"],
    );
    // A replica of the service's own table.
    let own =
        catalog().table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"));
    let plain_front =
        Service::new("front").handler(Handler::on::<Reprice>("price_changed").run(|_, _| Ok(())));
    refused(
        App::builder().service(own).service(plain_front),
        &["catalog", "prices"],
    );
}

#[test]
fn bootstrap_refuses_replicating_a_table_that_is_not_a_replica() {
    let front = replica_front().handler(
        Handler::on::<Reprice>("jot")
            .replicates("notes")
            .run(|_, _| Ok(())),
    );
    refused(
        replica_app(front, catalog()),
        &["front", "jot", "notes", "not a replica"],
    );
    let front = replica_front().handler(
        Handler::on::<Reprice>("jot")
            .replicates("ghost_table")
            .run(|_, _| Ok(())),
    );
    refused(
        replica_app(front, catalog()),
        &["front", "jot", "ghost_table"],
    );
}

#[test]
fn writing_a_replica_without_declaring_it_fails_at_run_time() {
    let app = replica_app(replica_front(), catalog())
        .build()
        .expect("app");
    let cluster = Cluster::start(app, config_ms(1, 10_000), |l| {
        l.insert(
            "catalog",
            (0..3).map(|id| Item {
                id,
                price: 10,
                stock: 5,
            }),
        )?;
        l.insert("front", (0..3).map(|id| Price { id, price: 10 }))
    })
    .expect("start");
    let client = cluster.client();
    let c = client
        .submit_and_wait("rogue", &Reprice { id: 1, price: 99 }, TIMEOUT)
        .expect("submit");
    assert_eq!(
        c.outcome,
        Outcome::Aborted {
            service: "front".into(),
            error: TxError::ReplicaWrite {
                table: "prices".into()
            }
        }
    );
    // The declared replication path works, and the rogue write left nothing.
    let c = client
        .submit_and_wait("reprice", &Reprice { id: 2, price: 42 }, TIMEOUT)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    assert!(cluster.wait_idle(TIMEOUT));
    let state = cluster.state();
    let prices = support::util::pairs(&state, "front", "prices", "price");
    assert_eq!(prices, vec![(0, 10), (1, 10), (2, 42)]);
    let items = support::util::pairs(&state, "catalog", "items", "price");
    assert_eq!(items, vec![(0, 10), (1, 10), (2, 42)]);
}
