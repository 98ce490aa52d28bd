//! `--dump-state DIR`: what an independent checker needs to judge a run from the files alone,
//! as CSV with a header row, columns named as the entity fields (snake_case). Marketplace: every
//! table of every service at quiescence (`DIR/<service>/<table>.csv`, with the order service's
//! `customer_orders`), the data set the run started from (`DIR/initial/<service>/<table>.csv`)
//! and the run log (`DIR/log/<kind>.csv`: what committed, with TIDs, and every dashboard answer).
//! TPC-C: one CSV per table (`write_tpcc_state`).

use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use workloads::marketplace::generator::Dataset;
use workloads::marketplace::model::{CustomerId, CustomerOrder, OrderId, OrderRef, SellerId};
use workloads::marketplace::{MarketplaceState, RunLog};
use workloads::tpcc::TpccState;
use workloads::tpcc::model::{
    Customer, District, History, Item, NewOrder, Order, OrderLine, Stock, Warehouse,
};

/// Writes one CSV: a header row (the `prefix` columns, then `T`'s fields, named from
/// `T::default()` so that an empty file has them too), then each row's prefix values and fields.
fn write_csv<'r, T: Serialize + Default + 'r>(
    path: &Path,
    prefix: &[&str],
    rows: impl IntoIterator<Item = (Vec<String>, &'r T)>,
) -> anyhow::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let (columns, _) = vmodb::to_named_values(&T::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    w.write_record(prefix.iter().chain(&columns))?;
    for (head, row) in rows {
        debug_assert_eq!(head.len(), prefix.len());
        for field in &head {
            w.write_field(field)?;
        }
        w.serialize(row)?; // ends the record begun by the prefix
    }
    w.flush()?;
    Ok(())
}

/// `DIR/<service>/<table>.csv`.
fn write_table<T: Serialize + Default>(
    dir: &Path,
    service: &str,
    table: &str,
    rows: &[T],
) -> anyhow::Result<()> {
    let path = dir.join(service).join(format!("{table}.csv"));
    write_csv(&path, &[], rows.iter().map(|r| (Vec::new(), r)))
}

fn write_state(dir: &Path, s: &MarketplaceState) -> anyhow::Result<()> {
    write_table(dir, "seller", "sellers", &s.sellers)?;
    write_table(dir, "seller", "order_entries", &s.order_entries)?;
    write_table(dir, "customer", "customers", &s.customers)?;
    write_table(dir, "product", "products", &s.products)?;
    write_table(dir, "stock", "stock_items", &s.stock_items)?;
    write_table(dir, "cart", "cart_items", &s.cart_items)?;
    write_table(dir, "cart", "replica_products", &s.replica_products)?;
    write_table(dir, "cart", "cart_history", &s.cart_history)?;
    write_table(dir, "order", "orders", &s.orders)?;
    write_table(dir, "order", "order_items", &s.order_items)?;
    write_table(dir, "order", "order_history", &s.order_history)?;
    write_table(dir, "payment", "order_payments", &s.order_payments)?;
    write_table(dir, "shipment", "shipments", &s.shipments)?;
    write_table(dir, "shipment", "packages", &s.packages)?;
    Ok(())
}

/// A marketplace run: the final tables, the order counters (`None`: the system cannot read
/// them, the file is left out), the initial data set and the run log.
pub fn write_marketplace(
    dir: &Path,
    initial: &Dataset,
    state: &MarketplaceState,
    customer_orders: Option<&[CustomerOrder]>,
    log: &RunLog,
) -> anyhow::Result<()> {
    write_state(dir, state)?;
    if let Some(rows) = customer_orders {
        write_table(dir, "order", "customer_orders", rows)?;
    }
    let start = dir.join("initial");
    write_table(&start, "seller", "sellers", &initial.sellers)?;
    write_table(&start, "customer", "customers", &initial.customers)?;
    write_table(&start, "product", "products", &initial.products)?;
    write_table(&start, "stock", "stock_items", &initial.stock_items)?;
    write_log(&dir.join("log"), log)
}

/// A committed checkout; the result columns are empty when it reserved nothing.
#[derive(Serialize, Default)]
struct CheckoutRow {
    tid: u64,
    customer_id: CustomerId,
    order_id: Option<OrderId>,
    shipment_id: Option<u64>,
    items: Option<u32>,
    /// Space-separated.
    sellers: String,
}

/// An order a delivery run moved (started its shipment, or concluded it).
#[derive(Serialize, Default)]
struct OrderStepRow {
    tid: u64,
    customer_id: CustomerId,
    order_id: OrderId,
    /// Every seller of the order's shipment, space-separated.
    sellers: String,
}

/// A dashboard answer's aggregates; its entries are in `dashboard_entries.csv` by `answer`.
#[derive(Serialize, Default)]
struct DashboardRow {
    seller_id: SellerId,
    snapshot_tid: u64,
    count_orders: u64,
    count_items: u64,
    total_amount: f64,
    total_freight: f64,
    total_incentive: f64,
    total_invoice: f64,
    total_items: f64,
}

fn joined(sellers: &[SellerId]) -> String {
    let ids: Vec<String> = sellers.iter().map(u32::to_string).collect();
    ids.join(" ")
}

/// The run log, one file per record kind, in the log's order (commit order on vMODB).
fn write_log(dir: &Path, log: &RunLog) -> anyhow::Result<()> {
    let tid = |t: &u64| vec![t.to_string()];
    let path = |name: &str| dir.join(format!("{name}.csv"));
    let prices = log.price_updates.iter().map(|(t, u)| (tid(t), u));
    write_csv(&path("price_updates"), &["tid"], prices)?;
    let replacements = log.replacements.iter().map(|(t, u)| (tid(t), u));
    write_csv(&path("replacements"), &["tid"], replacements)?;
    let checkouts: Vec<CheckoutRow> = log
        .checkouts
        .iter()
        .map(|(tid, customer_id, done)| CheckoutRow {
            tid: *tid,
            customer_id: *customer_id,
            order_id: done.as_ref().map(|d| d.order_id),
            shipment_id: done.as_ref().map(|d| d.shipment_id),
            items: done.as_ref().map(|d| d.items),
            sellers: done.as_ref().map_or(String::new(), |d| joined(&d.sellers)),
        })
        .collect();
    write_csv(
        &path("checkouts"),
        &[],
        checkouts.iter().map(|r| (vec![], r)),
    )?;
    let delivered = log
        .deliveries
        .iter()
        .flat_map(|(t, d)| d.delivered.iter().map(move |p| (tid(t), p)));
    write_csv(&path("deliveries"), &["tid"], delivered)?;
    let steps = |pick: fn(&(u64, workloads::marketplace::model::Deliveries)) -> &[OrderRef]| {
        log.deliveries
            .iter()
            .flat_map(|run| {
                pick(run).iter().map(|o| OrderStepRow {
                    tid: run.0,
                    customer_id: o.customer_id,
                    order_id: o.order_id,
                    sellers: joined(&o.sellers),
                })
            })
            .collect::<Vec<_>>()
    };
    let in_transit = steps(|(_, d)| &d.in_transit);
    write_csv(
        &path("in_transit"),
        &[],
        in_transit.iter().map(|r| (vec![], r)),
    )?;
    let concluded = steps(|(_, d)| &d.concluded);
    write_csv(
        &path("concluded"),
        &[],
        concluded.iter().map(|r| (vec![], r)),
    )?;
    let answers: Vec<DashboardRow> = log
        .dashboards
        .iter()
        .map(|d| DashboardRow {
            seller_id: d.seller_id,
            snapshot_tid: d.snapshot_tid,
            count_orders: d.count_orders,
            count_items: d.count_items,
            total_amount: d.total_amount,
            total_freight: d.total_freight,
            total_incentive: d.total_incentive,
            total_invoice: d.total_invoice,
            total_items: d.total_items,
        })
        .collect();
    let numbered = answers
        .iter()
        .enumerate()
        .map(|(n, r)| (vec![n.to_string()], r));
    write_csv(&path("dashboards"), &["answer"], numbered)?;
    let entries = log
        .dashboards
        .iter()
        .enumerate()
        .flat_map(|(n, d)| d.entries.iter().map(move |e| (vec![n.to_string()], e)));
    write_csv(&path("dashboard_entries"), &["answer"], entries)
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

#[cfg(test)]
mod tests {
    use super::*;
    use workloads::marketplace::model::{
        CheckoutDone, Dashboard, DeliveredPackage, Deliveries, OrderEntry, PriceUpdated,
    };

    fn read(path: &Path) -> Vec<Vec<String>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        r.records()
            .map(|rec| rec.expect("record").iter().map(str::to_string).collect())
            .collect()
    }

    /// Every file a checker needs, with its header, prefix columns in front of the fields.
    #[test]
    fn marketplace_dump_has_initial_data_counters_and_the_log() {
        let dir = std::env::temp_dir().join(format!("vbench-dump-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let initial = workloads::marketplace::generator::generate(
            &workloads::marketplace::generator::Scale {
                customers: 3,
                sellers: 2,
                products_per_seller: 2,
                stock_per_product: 7,
            },
            1,
        );
        let order = OrderRef {
            customer_id: 1,
            order_id: 1,
            sellers: vec![1, 2],
        };
        let package = DeliveredPackage {
            customer_id: 1,
            order_id: 1,
            seller_id: 2,
            product_id: 1,
            package_id: 2,
        };
        let entry = OrderEntry {
            seller_id: 1,
            product_category: "toys".into(),
            ..OrderEntry::default()
        };
        let log = RunLog {
            price_updates: vec![(4, PriceUpdated::default())],
            replacements: Vec::new(),
            checkouts: vec![
                (
                    5,
                    1,
                    Some(CheckoutDone {
                        customer_id: 1,
                        order_id: 1,
                        shipment_id: 5,
                        items: 2,
                        sellers: vec![1, 2],
                    }),
                ),
                (6, 2, None),
            ],
            deliveries: vec![(
                8,
                Deliveries {
                    delivered: vec![package],
                    in_transit: vec![order.clone()],
                    concluded: vec![order],
                },
            )],
            dashboards: vec![Dashboard {
                seller_id: 1,
                snapshot_tid: 6,
                count_orders: 1,
                count_items: 1,
                total_amount: 0.0,
                total_freight: 0.0,
                total_incentive: 0.0,
                total_invoice: 0.0,
                total_items: 0.0,
                entries: vec![entry],
            }],
        };
        let counters = [CustomerOrder {
            customer_id: 1,
            next_order_id: 2,
        }];
        let state = MarketplaceState::default();
        write_marketplace(&dir, &initial, &state, Some(&counters), &log).expect("dump");

        let stock = read(&dir.join("initial/stock/stock_items.csv"));
        assert_eq!(stock[0][..3], ["seller_id", "product_id", "qty_available"]);
        assert_eq!(stock.len(), 1 + 4);
        assert!(stock[1..].iter().all(|r| r[2] == "7"));
        let counters = read(&dir.join("order/customer_orders.csv"));
        assert_eq!(counters, [["customer_id", "next_order_id"], ["1", "2"]]);
        assert_eq!(read(&dir.join("order/orders.csv")).len(), 1, "header only");
        let checkouts = read(&dir.join("log/checkouts.csv"));
        assert_eq!(checkouts[1], ["5", "1", "1", "5", "2", "1 2"]);
        assert_eq!(checkouts[2], ["6", "2", "", "", "", ""]);
        let delivered = read(&dir.join("log/deliveries.csv"));
        assert_eq!(delivered[0][..2], ["tid", "customer_id"]);
        assert_eq!(delivered[1], ["8", "1", "1", "2", "1", "2"]);
        assert_eq!(
            read(&dir.join("log/concluded.csv"))[1],
            ["8", "1", "1", "1 2"]
        );
        assert_eq!(read(&dir.join("log/in_transit.csv")).len(), 2);
        assert_eq!(read(&dir.join("log/price_updates.csv"))[0][0], "tid");
        assert_eq!(read(&dir.join("log/replacements.csv")).len(), 1);
        let answers = read(&dir.join("log/dashboards.csv"));
        assert_eq!(answers[0][..3], ["answer", "seller_id", "snapshot_tid"]);
        assert_eq!(answers[1][..3], ["0", "1", "6"]);
        let entries = read(&dir.join("log/dashboard_entries.csv"));
        let category = entries[0].iter().position(|c| c == "product_category");
        let category = category.expect("product_category column");
        assert_eq!(
            (entries[1][0].as_str(), entries[1][category].as_str()),
            ("0", "toys")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
