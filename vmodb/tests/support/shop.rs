//! A small three-service application used by the engine's end-to-end tests and benchmarks.
//!
//! - `orders`: records orders (parallel: every order id is new), emits `reserve`.
//! - `inventory`: reserves stock (partitioned by item), emits `reserved`; `restock` runs alone.
//! - `billing`: charges the customer (partitioned by customer), the transaction's last step.
//!
//! Transactions: `checkout` = orders → inventory → billing; `restock` = inventory alone;
//! `audit` = billing alone, read-only. Query `summary` at billing reads a committed snapshot.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use vmodb::{
    App, BootstrapError, Check, Entity, Handler, Loader, Service, TableDef, TransactionDef, TxError,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub customer: u32,
    pub item: u32,
    pub qty: u32,
    pub placed_us: u64,
}
impl Entity for Order {
    type Key = u64;
    fn key(&self) -> u64 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: u32,
    pub price: i64,
    pub stock: i64,
    pub sold: i64,
}
impl Entity for Item {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub customer: u32,
    pub balance: i64,
    pub paid_orders: u32,
}
impl Entity for Account {
    type Key = u32;
    fn key(&self) -> u32 {
        self.customer
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub order_id: u64,
    pub customer: u32,
    pub amount: i64,
    /// From the transaction's deterministic randomness: replay must reproduce it.
    pub reference: u64,
    pub status: String,
}
impl Entity for Payment {
    type Key = u64;
    fn key(&self) -> u64 {
        self.order_id
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub order_id: u64,
    pub customer: u32,
    pub item: u32,
    pub qty: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reserve {
    pub order_id: u64,
    pub customer: u32,
    pub item: u32,
    pub qty: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reserved {
    pub order_id: u64,
    pub customer: u32,
    pub amount: i64,
    pub ok: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub order_id: u64,
    pub charged: i64,
    pub ok: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Restock {
    pub item: u32,
    pub add: i64,
}

/// Moves stock and money without adding rows (the constant-data workload of the soak test).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rebalance {
    pub item: u32,
    pub customer: u32,
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rebalanced {
    pub customer: u32,
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Audit {
    pub customer: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub customer: u32,
    pub balance: i64,
    pub payments: usize,
    pub paid_total: i64,
}

fn orders() -> Service {
    Service::new("orders")
        .table(
            TableDef::<Order>::new("orders", &["id"])
                .index("by_customer", &["customer"])
                .check("qty", Check::Positive),
        )
        .handler(
            Handler::on::<PlaceOrder>("place_order")
                .emits::<Reserve>("reserve")
                .write_only()
                // Safe: every order id is inserted once and never read by another checkout.
                .parallel()
                .run(|ctx, e| {
                    ctx.table::<Order>()?.insert(Order {
                        id: e.order_id,
                        customer: e.customer,
                        item: e.item,
                        qty: e.qty,
                        placed_us: ctx.now_us(),
                    })?;
                    Ok(Reserve {
                        order_id: e.order_id,
                        customer: e.customer,
                        item: e.item,
                        qty: e.qty,
                    })
                }),
        )
}

fn inventory() -> Service {
    Service::new("inventory")
        .table(
            TableDef::<Item>::new("items", &["id"])
                .check("stock", Check::NonNegative)
                .check("price", Check::Positive),
        )
        .handler(
            Handler::on::<Reserve>("reserve")
                .emits::<Reserved>("reserved")
                .read_write()
                // Safe: a reservation touches only its own item's row.
                .partition_by(|e: &Reserve| e.item)
                .run(|ctx, e| {
                    let items = ctx.table::<Item>()?;
                    let mut item = items
                        .get(&e.item)
                        .ok_or_else(|| TxError::app(format!("unknown item {}", e.item)))?;
                    let qty = i64::from(e.qty);
                    let ok = item.stock >= qty;
                    if ok {
                        item.stock -= qty;
                        item.sold += qty;
                        items.update(item.clone())?;
                    }
                    Ok(Reserved {
                        order_id: e.order_id,
                        customer: e.customer,
                        amount: item.price * qty,
                        ok,
                    })
                }),
        )
        .handler(
            Handler::on::<Rebalance>("rebalance")
                .emits::<Rebalanced>("rebalanced")
                .read_write()
                // Safe: touches only its own item's row.
                .partition_by(|e: &Rebalance| e.item)
                .run(|ctx, e| {
                    let items = ctx.table::<Item>()?;
                    let mut item = items
                        .get(&e.item)
                        .ok_or_else(|| TxError::app("unknown item"))?;
                    item.stock += 1;
                    item.sold -= 1;
                    items.update(item)?;
                    Ok(Rebalanced {
                        customer: e.customer,
                        amount: e.amount,
                    })
                }),
        )
        .handler(
            Handler::on::<Restock>("restock")
                .read_write()
                .single()
                .run(|ctx, e| {
                    let items = ctx.table::<Item>()?;
                    let mut item = items
                        .get(&e.item)
                        .ok_or_else(|| TxError::app("unknown item"))?;
                    item.stock += e.add;
                    items.update(item)
                }),
        )
}

fn billing() -> Service {
    Service::new("billing")
        .table(TableDef::<Account>::new("accounts", &["customer"]))
        .table(
            TableDef::<Payment>::new("payments", &["order_id"])
                .index("by_customer", &["customer"])
                .partial_index("declined", "status", "declined", &[])
                .foreign_key::<Account>("payer", "accounts", |p: &Payment| Some(p.customer)),
        )
        .handler(
            Handler::on::<Reserved>("reserved")
                .emits::<Receipt>("receipt")
                .read_write()
                // Safe: a charge touches only its customer's account and a new payment row.
                .partition_by(|e: &Reserved| e.customer)
                .run(|ctx, e| {
                    let accounts = ctx.table::<Account>()?;
                    let mut account = accounts
                        .get(&e.customer)
                        .ok_or_else(|| TxError::app("unknown customer"))?;
                    let status = if e.ok { "paid" } else { "declined" };
                    let charged = if e.ok { e.amount } else { 0 };
                    let reference = rand::Rng::next_u64(&mut *ctx.rng());
                    ctx.table::<Payment>()?.insert(Payment {
                        order_id: e.order_id,
                        customer: e.customer,
                        amount: charged,
                        reference,
                        status: status.into(),
                    })?;
                    if e.ok {
                        account.balance -= charged;
                        account.paid_orders += 1;
                        accounts.update(account)?;
                    }
                    Ok(Receipt {
                        order_id: e.order_id,
                        charged,
                        ok: e.ok,
                    })
                }),
        )
        .handler(
            Handler::on::<Audit>("audit")
                .emits::<Summary>("audited")
                .read_only()
                .partition_by(|e: &Audit| e.customer)
                .run(|ctx, e| summary(ctx, e.customer)),
        )
        .handler(
            Handler::on::<Rebalanced>("rebalanced")
                .read_write()
                // Safe: touches only its customer's account.
                .partition_by(|e: &Rebalanced| e.customer)
                .run(|ctx, e| {
                    let accounts = ctx.table::<Account>()?;
                    let mut a = accounts
                        .get(&e.customer)
                        .ok_or_else(|| TxError::app("unknown customer"))?;
                    a.balance += e.amount;
                    accounts.update(a)
                }),
        )
        .query("summary", |ctx, customer: u32| summary(ctx, customer))
}

fn summary(ctx: &vmodb::TxCtx, customer: u32) -> Result<Summary, TxError> {
    let balance = ctx
        .table::<Account>()?
        .get(&customer)
        .map_or(0, |a| a.balance);
    let payments = ctx.table::<Payment>()?;
    let paid = payments
        .by_index("by_customer", (customer,))
        .filter(|p| p.status == "paid");
    let paid_total = paid.sum(|p| p.amount)?;
    let count = payments.by_index("by_customer", (customer,)).count()?;
    Ok(Summary {
        customer,
        balance,
        payments: count,
        paid_total,
    })
}

pub fn app() -> Result<App, BootstrapError> {
    builder().build()
}

/// The shop's services and transactions, to build (with a version or build id, say).
pub fn builder() -> vmodb::AppBuilder {
    App::builder()
        .service(orders())
        .service(inventory())
        .service(billing())
        .transaction(
            TransactionDef::new("checkout", "orders", "place_order")
                .then("inventory", "reserve")
                .then("billing", "reserved"),
        )
        .transaction(TransactionDef::new("restock", "inventory", "restock"))
        .transaction(
            TransactionDef::new("rebalance", "inventory", "rebalance")
                .then("billing", "rebalanced"),
        )
        .transaction(TransactionDef::new("audit", "billing", "audit"))
}

pub const START_BALANCE: i64 = 1_000_000_000;

/// `items` items with `stock` units each (price = id % 50 + 1) and `customers` accounts.
pub fn load(
    items: u32,
    stock: i64,
    customers: u32,
) -> impl FnOnce(&Loader) -> Result<(), BootstrapError> {
    move |l: &Loader| {
        l.insert(
            "inventory",
            (0..items).map(|id| Item {
                id,
                price: i64::from(id % 50 + 1),
                stock,
                sold: 0,
            }),
        )?;
        l.insert(
            "billing",
            (0..customers).map(|customer| Account {
                customer,
                balance: START_BALANCE,
                paid_orders: 0,
            }),
        )
    }
}
