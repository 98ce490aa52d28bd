//! `--dump-state DIR`: every table of every service as CSV with a header row,
//! `DIR/<service>/<table>.csv`, columns named as the entity fields (snake_case).

use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use workloads::marketplace::MarketplaceState;
use workloads::tpcc::TpccState;
use workloads::tpcc::model::{
    Customer, District, History, Item, NewOrder, Order, OrderLine, Stock, Warehouse,
};

fn write_table<T: Serialize + Default>(
    dir: &Path,
    service: &str,
    table: &str,
    rows: &[T],
) -> anyhow::Result<()> {
    let folder = dir.join(service);
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let path = folder.join(format!("{table}.csv"));
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // The header comes from the entity's fields, so an empty table still has one.
    let (columns, _) =
        vmodb::to_named_values(&T::default()).map_err(|e| anyhow::anyhow!("{table}: {e}"))?;
    w.write_record(&columns)?;
    for row in rows {
        w.serialize(row)?;
    }
    w.flush()?;
    Ok(())
}

pub fn write_state(dir: &Path, s: &MarketplaceState) -> anyhow::Result<()> {
    write_table(dir, "seller", "sellers", &s.sellers)?;
    write_table(dir, "seller", "order_entries", &s.order_entries)?;
    write_table(dir, "customer", "customers", &s.customers)?;
    write_table(dir, "product", "products", &s.products)?;
    write_table(dir, "stock", "stock_items", &s.stock_items)?;
    write_table(dir, "cart", "cart_items", &s.cart_items)?;
    write_table(dir, "cart", "replica_products", &s.replica_products)?;
    write_table(dir, "order", "orders", &s.orders)?;
    write_table(dir, "order", "order_items", &s.order_items)?;
    write_table(dir, "order", "order_history", &s.order_history)?;
    write_table(dir, "payment", "order_payments", &s.order_payments)?;
    write_table(dir, "shipment", "shipments", &s.shipments)?;
    write_table(dir, "shipment", "packages", &s.packages)?;
    Ok(())
}

/// A HISTORY row as the specification's columns: without the store's surrogate key `h_id`.
#[derive(Serialize)]
struct HistoryColumns<'a> {
    h_c_id: u32,
    h_c_d_id: u8,
    h_c_w_id: u32,
    h_d_id: u8,
    h_w_id: u32,
    h_date: u64,
    h_amount: f64,
    h_data: &'a str,
}

/// TPC-C: one CSV per table directly under `dir` (`warehouse.csv`, …, `stock.csv`), columns named
/// as in the specification in lower case, an empty cell for a null.
pub fn write_tpcc_state(dir: &Path, s: &TpccState) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fn table<T: Serialize>(
        dir: &Path,
        name: &str,
        columns: &[&str],
        rows: &[T],
    ) -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.csv"));
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_path(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        w.write_record(columns)?;
        for row in rows {
            w.serialize(row)?;
        }
        w.flush()?;
        Ok(())
    }
    fn columns<T: Serialize + Default>(skip: &[&str]) -> anyhow::Result<Vec<String>> {
        let (names, _) =
            vmodb::to_named_values(&T::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(names
            .into_iter()
            .map(|n| n.to_string())
            .filter(|n| !skip.contains(&n.as_str()))
            .collect())
    }
    macro_rules! dump {
        ($name:literal, $t:ty, $rows:expr) => {{
            let cols = columns::<$t>(&[])?;
            let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
            table(dir, $name, &cols, $rows)?;
        }};
    }
    dump!("warehouse", Warehouse, &s.warehouses);
    dump!("district", District, &s.districts);
    dump!("customer", Customer, &s.customers);
    dump!("item", Item, &s.items);
    dump!("stock", Stock, &s.stock);
    dump!("orders", Order, &s.orders);
    dump!("new_order", NewOrder, &s.new_orders);
    dump!("order_line", OrderLine, &s.order_lines);
    let cols = columns::<History>(&["h_id"])?;
    let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
    let rows: Vec<HistoryColumns> = s
        .history
        .iter()
        .map(|h| HistoryColumns {
            h_c_id: h.h_c_id,
            h_c_d_id: h.h_c_d_id,
            h_c_w_id: h.h_c_w_id,
            h_d_id: h.h_d_id,
            h_w_id: h.h_w_id,
            h_date: h.h_date,
            h_amount: h.h_amount,
            h_data: &h.h_data,
        })
        .collect();
    table(dir, "history", &cols, &rows)
}
