//! Foreign keys: children need a visible parent, and referenced parents cannot go.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vmodb::internals::{self, Store};
use vmodb::{Entity, Repo, Service, TableDef, Tid, TxError};

// --- foreign keys -----------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Customer {
    id: u32,
    name: String,
}

impl Entity for Customer {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
    customer: u32,
    /// A nullable reference: `None` needs no parent.
    gift_for: Option<u32>,
}

impl Entity for Order {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

fn customer(id: u32) -> Customer {
    Customer {
        id,
        name: format!("c{id}"),
    }
}

fn order(id: u32, customer: u32, gift_for: Option<u32>) -> Order {
    Order {
        id,
        customer,
        gift_for,
    }
}

fn fk_store() -> Arc<Store> {
    let service = Service::new("shop")
        .table(TableDef::<Customer>::new("customers", &["id"]))
        .table(
            TableDef::<Order>::new("orders", &["id"])
                .index("by_customer", &["customer"])
                .foreign_key::<Customer>("order_customer", "customers", |o: &Order| {
                    Some(o.customer)
                })
                .foreign_key::<Customer>("order_gift", "customers", |o: &Order| o.gift_for),
        );
    internals::multi_table_store(&service).expect("store")
}

fn fk_name(r: Result<impl std::fmt::Debug, TxError>) -> String {
    match r {
        Err(TxError::ForeignKey { fk, .. }) => fk,
        other => panic!("expected a foreign-key error, got {other:?}"),
    }
}

#[test]
fn foreign_keys_need_a_visible_parent() {
    let store = fk_store();
    let ctx = internals::write_ctx(&store, 1);
    {
        let orders = ctx.table::<Order>().expect("orders");
        assert_eq!(fk_name(orders.insert(order(1, 7, None))), "order_customer");
        assert_eq!(fk_name(orders.upsert(order(1, 7, None))), "order_customer");
        assert_eq!(store.version_count(), 0);
        assert_eq!(store.index_entry_count(), 0);
        // The parent inserted by the same task is visible to it.
        ctx.table::<Customer>()
            .expect("customers")
            .insert(customer(7))
            .expect("insert parent");
        orders.insert(order(1, 7, None)).expect("child with parent");
        assert_eq!(fk_name(orders.insert(order(2, 7, Some(8)))), "order_gift");
        assert_eq!(fk_name(orders.update(order(1, 8, None))), "order_customer");
        assert_eq!(orders.get(&1), Some(order(1, 7, None)));
    }
    drop(ctx);
    // A parent written at a later TID is not visible to an earlier one.
    task_on::<Customer, _>(&store, 5, |c| c.insert(customer(8))).expect("insert parent");
    let r = task_on::<Order, _>(&store, 4, |o| o.insert(order(2, 8, None)));
    assert_eq!(fk_name(r), "order_customer");
    task_on::<Order, _>(&store, 6, |o| o.insert(order(2, 8, Some(7)))).expect("both parents");
    assert_eq!(store.version_count(), 4);
}

/// Runs `f` on table `E` as a task at `tid`.
fn task_on<E: Entity, T>(store: &Store, tid: Tid, f: impl FnOnce(&Repo<'_, E>) -> T) -> T {
    let ctx = internals::write_ctx(store, tid);
    let repo = ctx.table::<E>().expect("table");
    f(&repo)
}

#[test]
fn foreign_keys_protect_referenced_parents() {
    let store = fk_store();
    let ctx = internals::write_ctx(&store, 1);
    {
        let customers = ctx.table::<Customer>().expect("customers");
        let orders = ctx.table::<Order>().expect("orders");
        for c in 1..=3 {
            customers.insert(customer(c)).expect("parent");
        }
        orders.insert(order(10, 1, None)).expect("child");
        orders.insert(order(11, 2, Some(3))).expect("child");
    }
    drop(ctx);
    internals::commit(&store, 1);
    let pin = internals::pin(&store);

    // Referenced through either foreign key: refused, and nothing changes.
    for c in 1..=3 {
        let r = task_on::<Customer, _>(&store, 2, |t| t.delete(&c));
        assert!(
            matches!(&r, Err(TxError::ForeignKey { table, .. }) if table == "customers"),
            "delete customer {c}: {r:?}"
        );
    }
    assert_eq!(store.version_count(), 5);
    // Updating a parent is fine.
    task_on::<Customer, _>(&store, 2, |t| {
        t.update(Customer {
            id: 1,
            name: "renamed".into(),
        })
    })
    .expect("update parent");

    // Task 3 moves order 10 to customer 2; customer 1 is then free to go (in the same task).
    let ctx = internals::write_ctx(&store, 3);
    {
        let orders = ctx.table::<Order>().expect("orders");
        orders.update(order(10, 2, None)).expect("move child");
        let customers = ctx.table::<Customer>().expect("customers");
        assert!(
            customers.delete(&1).expect("unreferenced now").is_some(),
            "deleted"
        );
        // The old child version (customer 1) is still retained for the pinned snapshot, but a
        // reader at TID 3 does not see it.
        assert_eq!(fk_name(customers.delete(&2)), "(referencing rows)");
    }
    drop(ctx);
    // Undone child delete makes the parent referenced again.
    let ctx = internals::write_ctx(&store, 4);
    {
        let orders = ctx.table::<Order>().expect("orders");
        assert!(orders.delete(&11).expect("delete child").is_some());
        ctx.table::<Customer>()
            .expect("customers")
            .delete(&3)
            .expect("gift parent unreferenced after the child is gone");
    }
    internals::undo(&ctx);
    drop(ctx);
    assert!(
        task_on::<Customer, _>(&store, 5, |t| t.delete(&3)).is_err(),
        "after the undo order 11 references customer 3 again"
    );
    // Once every child is gone, the parents can go.
    task_on::<Order, _>(&store, 6, |t| {
        t.delete(&10).expect("delete");
        t.delete(&11).expect("delete");
    });
    internals::commit(&store, 6);
    // The pinned snapshot still shows the original rows.
    assert_eq!(
        task_on::<Order, _>(&store, 1, |t| ids_of(t.all().rows().expect("scan"))),
        vec![10, 11]
    );
    assert_eq!(
        task_on::<Order, _>(&store, 1, |t| t
            .by_index("by_customer", (1u32,))
            .count()
            .expect("count")),
        1
    );
    drop(pin);
    task_on::<Customer, _>(&store, 7, |t| {
        t.delete(&2).expect("delete");
        t.delete(&3).expect("delete");
    });
    internals::commit(&store, 7);
    assert_eq!(store.version_count(), 0);
    assert_eq!(store.index_entry_count(), 0);
}

fn ids_of(orders: Vec<Order>) -> Vec<u32> {
    orders.into_iter().map(|o| o.id).collect()
}

#[test]
fn foreign_keys_survive_gc_and_undo_of_the_parent() {
    let store = fk_store();
    let ctx = internals::write_ctx(&store, 1);
    ctx.table::<Customer>()
        .expect("customers")
        .insert(customer(1))
        .expect("parent");
    internals::undo(&ctx);
    drop(ctx);
    let r = task_on::<Order, _>(&store, 2, |t| t.insert(order(1, 1, None)));
    assert_eq!(fk_name(r), "order_customer");
    task_on::<Customer, _>(&store, 3, |t| t.insert(customer(1))).expect("parent");
    task_on::<Order, _>(&store, 4, |t| t.insert(order(1, 1, None))).expect("child");
    internals::commit(&store, 4);
    // After GC the child still protects its parent and finds it.
    assert!(task_on::<Customer, _>(&store, 5, |t| t.delete(&1)).is_err());
    task_on::<Order, _>(&store, 6, |t| t.update(order(1, 1, None))).expect("update child");
    assert_eq!(store.version_count(), 3);
    internals::commit(&store, 6);
    assert_eq!(store.version_count(), 2);
}
