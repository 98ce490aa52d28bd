//! Each TPC-C transaction on vMODB against the specification (v5.11, clause 2), on a tiny
//! hand-built database: one transaction at a time, then the exact output and the exact final
//! state (every row of every table: the expected state is the initial one with the changes the
//! clause prescribes; only the transaction timestamps are taken from the run).
//!
//! The population ([`population`]):
//! - warehouses 1 "Alpha" (w_tax 0.10) and 2 "Beta" (w_tax 0.05);
//! - districts 1/1 "North" (d_tax 0.05, next order 5), 1/2 "South" (0.02, next 2),
//!   2/1 "East" (0.08, next 2);
//! - customers of 1/1: 1 Ann BARBARBAR (GC, discount 0.10), 2 Bob OUGHTABLE (BC, 495 chars of
//!   c_data), 3 Zoe and 4 Amy ABLEABLE, 5 Carl, 6 Alice and 7 Bea (BC) PRIPRI; of 1/2: 1 Aaron
//!   PRIPRI (discount 0.20); of 2/1: 1 Dora ESEESE (BC);
//! - items 1..=5 at 10.00, 2.50, 1.10, 99.99, 5.00; stock at warehouse 1 of all five, at
//!   warehouse 2 of items 1 and 3;
//! - orders of 1/1: 1 (Ann, delivered by carrier 7), 2 (Bob, carrier 4), 3 (Ann) and 4 (Bea, one
//!   line supplied by warehouse 2) undelivered; of 1/2: 1 (Aaron) undelivered; of 2/1: 1 (Dora)
//!   undelivered.
//!
//! This file holds the harness and the population; each transaction's tests are in its module
//! (`new_order`, `payment`, `order_status`, `delivery`, `stock_level`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;
use vmodb::{Client, ClusterConfig, CoordinatorConfig, Entity, Outcome, Tid, TxError};
use workloads::tpcc::TpccState;
use workloads::tpcc::driver::TpccSystem;
use workloads::tpcc::logic::HISTORY_RUN_BASE;
use workloads::tpcc::model::*;
use workloads::tpcc::services::ItemCheck;
use workloads::tpcc::services::{DELIVERY, NEW_ORDER, ORDER_STATUS, PAYMENT, STOCK_LEVEL};
use workloads::tpcc::vmodb_system::VmodbTpcc;

mod delivery;
mod new_order;
mod order_status;
mod payment;
mod stock_level;

const TIMEOUT: Duration = Duration::from_secs(20);
/// o_entry_d (and ol_delivery_d of delivered lines) of the loaded orders.
const LOADED_AT: u64 = 1_600_000_000_000_000;

// ---------------------------------------------------------------- the harness

struct Tpcc {
    initial: TpccState,
    system: VmodbTpcc,
    client: Client,
}

impl Tpcc {
    fn start(initial: TpccState) -> Self {
        Self::start_with(initial, ItemCheck::default())
    }

    fn start_with(initial: TpccState, items: ItemCheck) -> Self {
        let config = ClusterConfig {
            workers: 2,
            check_modes: true,
            coordinator: CoordinatorConfig {
                record_inputs: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let system = VmodbTpcc::start_with(&initial, config, items).expect("start");
        let client = system.cluster().client();
        Tpcc {
            initial,
            system,
            client,
        }
    }

    /// Runs one transaction alone and returns its TID and its decoded output.
    fn commit<I: Serialize, O: DeserializeOwned>(&self, transaction: &str, input: &I) -> (Tid, O) {
        let c = self
            .client
            .submit_and_wait(transaction, input, TIMEOUT)
            .expect("submit");
        match c.outcome {
            Outcome::Committed { output: Some(out) } => (c.tid, out.decode().expect("decode")),
            other => panic!("{transaction} {c_tid}: {other:?}", c_tid = c.tid),
        }
    }

    /// Runs one transaction alone, which must fail: the failing service and its error.
    fn fail<I: Serialize>(&self, transaction: &str, input: &I) -> (String, TxError) {
        let c = self
            .client
            .submit_and_wait(transaction, input, TIMEOUT)
            .expect("submit");
        match c.outcome {
            Outcome::Aborted { service, error } => (service, error),
            other => panic!("{transaction} should fail: {other:?}"),
        }
    }

    /// Every table, once nothing is in flight.
    fn state(&mut self) -> TpccState {
        assert!(self.system.quiesce(TIMEOUT), "quiesce");
        self.system.state().expect("state")
    }

    /// The execution-mode declarations held and the state is the serial replay's.
    fn finish(mut self) {
        assert!(self.system.quiesce(TIMEOUT), "quiesce");
        let (violations, examples) = self.system.cluster().mode_violations();
        assert_eq!(violations, 0, "mode violations: {examples:?}");
        assert!(
            self.system
                .matches_serial_replay(&self.initial)
                .expect("replay")
                .equal,
            "state differs from serial replay"
        );
    }
}

fn diff<E: Entity + PartialEq>(table: &str, actual: &[E], expected: &[E], out: &mut Vec<String>) {
    let a: BTreeMap<_, _> = actual.iter().map(|r| (r.key(), r)).collect();
    let e: BTreeMap<_, _> = expected.iter().map(|r| (r.key(), r)).collect();
    for (k, want) in &e {
        match a.get(k) {
            None => out.push(format!("{table} {k:?} missing; expected {want:?}")),
            Some(got) if got != want => out.push(format!(
                "{table} {k:?}:\n    actual   {got:?}\n    expected {want:?}"
            )),
            Some(_) => {}
        }
    }
    for (k, got) in &a {
        if !e.contains_key(k) {
            out.push(format!("{table} {k:?} unexpected: {got:?}"));
        }
    }
}

/// Every row of every table as expected (keyed, so a difference names its row).
fn assert_state(actual: &TpccState, expected: &TpccState) {
    let mut out = Vec::new();
    diff(
        "warehouse",
        &actual.warehouses,
        &expected.warehouses,
        &mut out,
    );
    diff("district", &actual.districts, &expected.districts, &mut out);
    diff("customer", &actual.customers, &expected.customers, &mut out);
    diff("history", &actual.history, &expected.history, &mut out);
    diff("item", &actual.items, &expected.items, &mut out);
    diff("stock", &actual.stock, &expected.stock, &mut out);
    diff("orders", &actual.orders, &expected.orders, &mut out);
    diff(
        "new_order",
        &actual.new_orders,
        &expected.new_orders,
        &mut out,
    );
    diff(
        "order_line",
        &actual.order_lines,
        &expected.order_lines,
        &mut out,
    );
    assert!(out.is_empty(), "unexpected state:\n{}", out.join("\n"));
}

fn get<E: Entity>(rows: &[E], key: E::Key) -> &E {
    rows.iter()
        .find(|r| r.key() == key)
        .unwrap_or_else(|| panic!("no row {key:?}"))
}

fn row<E: Entity>(rows: &mut [E], key: E::Key) -> &mut E {
    rows.iter_mut()
        .find(|r| r.key() == key)
        .unwrap_or_else(|| panic!("no row {key:?}"))
}

fn lines_of(rows: &[OrderLine], w: WarehouseId, d: DistrictId, o: OrderId) -> Vec<OrderLine> {
    rows.iter()
        .filter(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) == (w, d, o))
        .cloned()
        .collect()
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A text column from a `String`, whether the model stores it as `String` or as a shared
/// `Arc<str>`.
fn text<T: for<'a> From<&'a str>>(s: String) -> T {
    T::from(s.as_str())
}

fn line(ol_i_id: ItemId, ol_supply_w_id: WarehouseId, ol_quantity: u8) -> NewOrderLineInput {
    NewOrderLineInput {
        ol_i_id,
        ol_supply_w_id,
        ol_quantity,
    }
}

// ---------------------------------------------------------------- the population

fn warehouse(w_id: WarehouseId, name: &str, w_tax: f64) -> Warehouse {
    Warehouse {
        w_id,
        w_name: name.into(),
        w_tax,
        w_ytd: 300_000.0,
        ..Default::default()
    }
}

fn district(w: WarehouseId, d: DistrictId, name: &str, d_tax: f64, next: OrderId) -> District {
    District {
        d_id: d,
        d_w_id: w,
        d_name: name.into(),
        d_tax,
        d_ytd: 30_000.0,
        d_next_o_id: next,
        ..Default::default()
    }
}

fn customer(
    (w, d, c): (WarehouseId, DistrictId, CustomerId),
    first: &str,
    last: &str,
    credit: &str,
    c_discount: f64,
) -> Customer {
    Customer {
        c_id: c,
        c_d_id: d,
        c_w_id: w,
        c_first: first.into(),
        c_middle: "OE".into(),
        c_last: last.into(),
        c_since: LOADED_AT,
        c_credit: credit.into(),
        c_credit_lim: 50_000.0,
        c_discount,
        c_balance: -10.0,
        c_ytd_payment: 10.0,
        c_payment_cnt: 1,
        c_delivery_cnt: 0,
        c_data: text(format!("data of {first} {last}")),
        ..Default::default()
    }
}

fn item(i_id: ItemId, i_price: f64) -> Item {
    Item {
        i_id,
        i_im_id: i_id,
        i_name: text(format!("item {i_id}")),
        i_price,
        i_data: "item data".into(),
    }
}

fn stock(w: WarehouseId, i: ItemId, s_quantity: i32) -> Stock {
    let dist = |d: u32| -> String { format!("stock w{w} i{i} dist {d:02}") };
    Stock {
        s_i_id: i,
        s_w_id: w,
        s_quantity,
        s_dist_01: text(dist(1)),
        s_dist_02: text(dist(2)),
        s_dist_03: text(dist(3)),
        s_dist_04: text(dist(4)),
        s_dist_05: text(dist(5)),
        s_dist_06: text(dist(6)),
        s_dist_07: text(dist(7)),
        s_dist_08: text(dist(8)),
        s_dist_09: text(dist(9)),
        s_dist_10: text(dist(10)),
        s_ytd: 100,
        s_order_cnt: 10,
        s_remote_cnt: 1,
        s_data: "stock data".into(),
    }
}

/// Adds an order with its lines (quantity × price, dist info of the supplying stock row) and,
/// when undelivered, its new-order row.
fn add_order(
    s: &mut TpccState,
    (w, d, o): (WarehouseId, DistrictId, OrderId),
    c: CustomerId,
    carrier: Option<u8>,
    lines: &[(ItemId, WarehouseId, u8)],
) {
    s.orders.push(Order {
        o_id: o,
        o_d_id: d,
        o_w_id: w,
        o_c_id: c,
        o_entry_d: LOADED_AT,
        o_carrier_id: carrier,
        o_ol_cnt: lines.len() as u8,
        o_all_local: u8::from(lines.iter().all(|l| l.1 == w)),
    });
    if carrier.is_none() {
        s.new_orders.push(NewOrder {
            no_o_id: o,
            no_d_id: d,
            no_w_id: w,
        });
    }
    for (n, &(i, supply, q)) in lines.iter().enumerate() {
        let price = get(&s.items, i).i_price;
        let dist_info = get(&s.stock, (supply, i)).dist_info(d).to_string();
        s.order_lines.push(OrderLine {
            ol_o_id: o,
            ol_d_id: d,
            ol_w_id: w,
            ol_number: n as u8 + 1,
            ol_i_id: i,
            ol_supply_w_id: supply,
            ol_delivery_d: carrier.map(|_| LOADED_AT),
            ol_quantity: q,
            ol_amount: cents(f64::from(q) * price),
            ol_dist_info: text(dist_info),
        });
    }
}

fn bob_data() -> String {
    (0..495u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn population() -> TpccState {
    let mut s = TpccState {
        warehouses: vec![warehouse(1, "Alpha", 0.10), warehouse(2, "Beta", 0.05)],
        districts: vec![
            district(1, 1, "North", 0.05, 5),
            district(1, 2, "South", 0.02, 2),
            district(2, 1, "East", 0.08, 2),
        ],
        customers: vec![
            customer((1, 1, 1), "Ann", "BARBARBAR", "GC", 0.10),
            Customer {
                c_data: text(bob_data()),
                ..customer((1, 1, 2), "Bob", "OUGHTABLE", "BC", 0.05)
            },
            customer((1, 1, 3), "Zoe", "ABLEABLE", "GC", 0.0),
            customer((1, 1, 4), "Amy", "ABLEABLE", "GC", 0.0),
            customer((1, 1, 5), "Carl", "PRIPRI", "GC", 0.0),
            customer((1, 1, 6), "Alice", "PRIPRI", "GC", 0.0),
            customer((1, 1, 7), "Bea", "PRIPRI", "BC", 0.0),
            // Would come first among the PRIPRI of 1/1 if the district were not respected.
            customer((1, 2, 1), "Aaron", "PRIPRI", "GC", 0.20),
            customer((2, 1, 1), "Dora", "ESEESE", "BC", 0.0),
        ],
        history: vec![History {
            h_id: 1,
            h_c_id: 1,
            h_c_d_id: 1,
            h_c_w_id: 1,
            h_d_id: 1,
            h_w_id: 1,
            h_date: LOADED_AT,
            h_amount: 10.0,
            h_data: "loaded".into(),
        }],
        items: vec![
            item(1, 10.00),
            item(2, 2.50),
            item(3, 1.10),
            item(4, 99.99),
            item(5, 5.00),
        ],
        stock: vec![
            stock(1, 1, 50),
            stock(1, 2, 13),
            stock(1, 3, 8),
            stock(1, 4, 30),
            stock(1, 5, 15),
            stock(2, 1, 40),
            stock(2, 3, 20),
        ],
        ..Default::default()
    };
    add_order(&mut s, (1, 1, 1), 1, Some(7), &[(4, 1, 1), (3, 1, 3)]);
    add_order(&mut s, (1, 1, 2), 2, Some(4), &[(2, 1, 2)]);
    // 20.00 + 2.50 + 11.00 = 33.50.
    add_order(
        &mut s,
        (1, 1, 3),
        1,
        None,
        &[(1, 1, 2), (2, 1, 1), (3, 1, 10)],
    );
    // 20.00 + 10.00 = 30.00.
    add_order(&mut s, (1, 1, 4), 7, None, &[(5, 1, 4), (1, 2, 1)]);
    // 199.98.
    add_order(&mut s, (1, 2, 1), 1, None, &[(4, 1, 2)]);
    // 5.50.
    add_order(&mut s, (2, 1, 1), 1, None, &[(3, 2, 5)]);
    s
}

/// The population is what the comments above say (the expected values below rely on it).
#[test]
fn the_population_is_as_described() {
    let s = population();
    let amount = |w, d, o| -> f64 {
        lines_of(&s.order_lines, w, d, o)
            .iter()
            .map(|l| l.ol_amount)
            .sum()
    };
    assert_eq!(amount(1, 1, 1), 99.99 + 3.30);
    assert_eq!(amount(1, 1, 3), 33.50);
    assert_eq!(amount(1, 1, 4), 30.00);
    assert_eq!(amount(1, 2, 1), 199.98);
    assert_eq!(amount(2, 1, 1), 5.50);
    assert_eq!(get(&s.orders, (1, 1, 4)).o_all_local, 0);
    assert_eq!(s.new_orders.len(), 4);
    assert_eq!(get(&s.customers, (1, 1, 2)).c_data.len(), 495);
}
