//! Shop-specific helpers for the distributed tests: the summary query recomputed from a state
//! dump, and an impostor application with the shop's service names but other tables.
#![allow(dead_code)]

use super::shop::{Item, Restock, Summary};
use super::util::{column, int};
use vmodb::{App, ClusterState, Handler, Service, TableDef, TransactionDef, Value};

/// The summary query's answer for `customer`, computed from a state dump.
pub fn summary_from_state(state: &ClusterState, customer: u32) -> Summary {
    let customers = column(state, "billing", "accounts", "customer");
    let balances = column(state, "billing", "accounts", "balance");
    let balance = customers
        .iter()
        .zip(&balances)
        .find(|(c, _)| int(c) == i64::from(customer))
        .map_or(0, |(_, b)| int(b));
    let payers = column(state, "billing", "payments", "customer");
    let amounts = column(state, "billing", "payments", "amount");
    let statuses = column(state, "billing", "payments", "status");
    let mine: Vec<usize> = (0..payers.len())
        .filter(|&i| int(&payers[i]) == i64::from(customer))
        .collect();
    let paid_total = mine
        .iter()
        .filter(|&&i| statuses[i] == Value::Str("paid".into()))
        .map(|&i| int(&amounts[i]))
        .sum();
    Summary {
        customer,
        balance,
        payments: mine.len(),
        paid_total,
    }
}

/// Three services named like the shop's but with other tables and handlers.
pub fn impostor_app() -> App {
    let service = |name: &str, event: &str| {
        Service::new(name)
            .table(TableDef::<Item>::new("items", &["id"]))
            .handler(Handler::on::<Restock>(event).run(|ctx, e: Restock| {
                let items = ctx.table::<Item>()?;
                let mut item = items.get(&e.item).unwrap_or_default();
                item.stock += e.add;
                items.upsert(item)
            }))
    };
    App::builder()
        .service(service("orders", "o"))
        .service(service("inventory", "i"))
        .service(service("billing", "b"))
        .transaction(TransactionDef::new("o", "orders", "o"))
        .transaction(TransactionDef::new("i", "inventory", "i"))
        .transaction(TransactionDef::new("b", "billing", "b"))
        .build()
        .expect("the impostor app builds")
}
