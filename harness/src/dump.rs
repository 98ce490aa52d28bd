//! `--dump-state DIR`: every table of every service as CSV with a header row,
//! `DIR/<service>/<table>.csv`, columns named as the entity fields (snake_case).

use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use workloads::marketplace::MarketplaceState;

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
