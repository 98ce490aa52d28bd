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

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;
use vmodb::{Client, ClusterConfig, CoordinatorConfig, Entity, Outcome, Tid, TxError};
use workloads::tpcc::TpccState;
use workloads::tpcc::driver::TpccSystem;
use workloads::tpcc::model::*;
use workloads::tpcc::services::ItemCheck;
use workloads::tpcc::services::{
    DELIVERY, HISTORY_RUN_BASE, NEW_ORDER, ORDER_STATUS, PAYMENT, STOCK_LEVEL,
};
use workloads::tpcc::vmodb_system::VmodbTpcc;

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
                .expect("replay"),
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

// ---------------------------------------------------------------- New-Order (clause 2.4.2.2)

/// Clause 2.4.2.2, all lines supplied by the home warehouse: D_NEXT_O_ID is taken and
/// incremented; the order (O_ALL_LOCAL 1, O_CARRIER_ID null), its NEW-ORDER row and its lines
/// numbered 1..n are inserted; each stock row is decreased by the quantity when at least
/// quantity + 10 remain (item 1: 50 − 5; item 2: 13 − 3, the boundary) and otherwise refilled by
/// 91 (item 5: 15 − 6 + 91), with S_YTD += quantity and S_ORDER_CNT += 1 but S_REMOTE_CNT kept.
#[test]
fn new_order_with_local_lines() {
    let mut t = Tpcc::start(population());
    let input = NewOrderInput {
        w_id: 1,
        d_id: 1,
        c_id: 1,
        lines: vec![line(1, 1, 5), line(2, 1, 3), line(5, 1, 6)],
    };
    let (_, result): (_, NewOrderResult) = t.commit(NEW_ORDER, &input);
    // Σ OL_AMOUNT = 5 × 10.00 + 3 × 2.50 + 6 × 5.00 = 87.50;
    // 87.50 × (1 − 0.10) × (1 + 0.10 + 0.05) = 90.5625.
    assert_eq!(
        result,
        NewOrderResult {
            w_id: 1,
            d_id: 1,
            o_id: 5,
            c_id: 1,
            ol_cnt: 3,
            total_amount: 90.56,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    row(&mut expected.districts, (1, 1)).d_next_o_id = 6;
    let entry = get(&actual.orders, (1, 1, 5)).o_entry_d;
    assert!(entry > 0, "o_entry_d is the transaction's time");
    expected.orders.push(Order {
        o_id: 5,
        o_d_id: 1,
        o_w_id: 1,
        o_c_id: 1,
        o_entry_d: entry,
        o_carrier_id: None,
        o_ol_cnt: 3,
        o_all_local: 1,
    });
    expected.new_orders.push(NewOrder {
        no_o_id: 5,
        no_d_id: 1,
        no_w_id: 1,
    });
    for (n, (i, q, amount)) in [(1, 5, 50.00), (2, 3, 7.50), (5, 6, 30.00)]
        .into_iter()
        .enumerate()
    {
        expected.order_lines.push(OrderLine {
            ol_o_id: 5,
            ol_d_id: 1,
            ol_w_id: 1,
            ol_number: n as u8 + 1,
            ol_i_id: i,
            ol_supply_w_id: 1,
            ol_delivery_d: None,
            ol_quantity: q,
            ol_amount: amount,
            ol_dist_info: text(format!("stock w1 i{i} dist 01")),
        });
    }
    for (i, quantity, ytd) in [(1, 45, 105), (2, 10, 103), (5, 100, 106)] {
        let s = row(&mut expected.stock, (1, i));
        s.s_quantity = quantity;
        s.s_ytd = ytd;
        s.s_order_cnt = 11;
    }
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.4.2.2 with a line supplied by another warehouse: O_ALL_LOCAL is 0, that stock row
/// (of the supplying warehouse) also gets S_REMOTE_CNT += 1 and the line takes its S_DIST_xx for
/// the ordering district (here 02); the local line's stock is refilled (8 − 2 + 91).
#[test]
fn new_order_with_a_remote_supply_warehouse() {
    let mut t = Tpcc::start(population());
    let input = NewOrderInput {
        w_id: 1,
        d_id: 2,
        c_id: 1,
        lines: vec![line(1, 2, 4), line(3, 1, 2)],
    };
    let (_, result): (_, NewOrderResult) = t.commit(NEW_ORDER, &input);
    // Σ OL_AMOUNT = 4 × 10.00 + 2 × 1.10 = 42.20;
    // 42.20 × (1 − 0.20) × (1 + 0.10 + 0.02) = 37.8112.
    assert_eq!(
        result,
        NewOrderResult {
            w_id: 1,
            d_id: 2,
            o_id: 2,
            c_id: 1,
            ol_cnt: 2,
            total_amount: 37.81,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    row(&mut expected.districts, (1, 2)).d_next_o_id = 3;
    let entry = get(&actual.orders, (1, 2, 2)).o_entry_d;
    expected.orders.push(Order {
        o_id: 2,
        o_d_id: 2,
        o_w_id: 1,
        o_c_id: 1,
        o_entry_d: entry,
        o_carrier_id: None,
        o_ol_cnt: 2,
        o_all_local: 0,
    });
    expected.new_orders.push(NewOrder {
        no_o_id: 2,
        no_d_id: 2,
        no_w_id: 1,
    });
    expected.order_lines.push(OrderLine {
        ol_o_id: 2,
        ol_d_id: 2,
        ol_w_id: 1,
        ol_number: 1,
        ol_i_id: 1,
        ol_supply_w_id: 2,
        ol_delivery_d: None,
        ol_quantity: 4,
        ol_amount: 40.00,
        ol_dist_info: "stock w2 i1 dist 02".into(),
    });
    expected.order_lines.push(OrderLine {
        ol_o_id: 2,
        ol_d_id: 2,
        ol_w_id: 1,
        ol_number: 2,
        ol_i_id: 3,
        ol_supply_w_id: 1,
        ol_delivery_d: None,
        ol_quantity: 2,
        ol_amount: 2.20,
        ol_dist_info: "stock w1 i3 dist 02".into(),
    });
    let remote = row(&mut expected.stock, (2, 1));
    remote.s_quantity = 36;
    remote.s_ytd = 104;
    remote.s_order_cnt = 11;
    remote.s_remote_cnt = 2;
    let local = row(&mut expected.stock, (1, 3));
    local.s_quantity = 97;
    local.s_ytd = 102;
    local.s_order_cnt = 11;
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.4.2.3: a New-Order whose last item is unused rolls back entirely: no stock row, no
/// order row, and D_NEXT_O_ID stays 5, so the district's next New-Order gets order id 5. With
/// the item check at the entry (the default) the warehouse service refuses it before taking the
/// order id; with the check only at inventory, the warehouse step already ran and a rollback
/// round undoes it.
#[test]
fn new_order_with_an_unused_item_rolls_back_entirely() {
    for (items, at) in [
        (ItemCheck::AtEntry, "warehouse"),
        (ItemCheck::AtInventory, "inventory"),
    ] {
        let mut t = Tpcc::start_with(population(), items);
        let input = NewOrderInput {
            w_id: 1,
            d_id: 1,
            c_id: 1,
            lines: vec![line(1, 1, 5), line(999, 1, 1)],
        };
        let (service, error) = t.fail(NEW_ORDER, &input);
        assert_eq!(service, at);
        assert!(
            error.to_string().contains("item number 999 is not valid"),
            "unexpected error: {error}"
        );
        assert_state(&t.state(), &t.initial);

        let next = NewOrderInput {
            lines: vec![line(1, 1, 5)],
            ..input
        };
        let (_, result): (_, NewOrderResult) = t.commit(NEW_ORDER, &next);
        assert_eq!(result.o_id, 5, "the rolled-back New-Order took no order id");
        t.finish();
    }
}

// ---------------------------------------------------------------- Payment (clause 2.5.2.2)

/// The expected effect of a Payment of `amount` by district `(w, d)` on customer `c`, apart
/// from C_DATA; returns the customer's new balance.
fn pay(
    expected: &mut TpccState,
    (w, d): (WarehouseId, DistrictId),
    c: (WarehouseId, DistrictId, CustomerId),
    amount: f64,
    tid: Tid,
    h_date: u64,
) -> f64 {
    let wh = row(&mut expected.warehouses, w);
    wh.w_ytd = cents(wh.w_ytd + amount);
    let w_name = wh.w_name.to_string();
    let di = row(&mut expected.districts, (w, d));
    di.d_ytd = cents(di.d_ytd + amount);
    let d_name = di.d_name.to_string();
    let cu = row(&mut expected.customers, c);
    cu.c_balance = cents(cu.c_balance - amount);
    cu.c_ytd_payment = cents(cu.c_ytd_payment + amount);
    cu.c_payment_cnt += 1;
    let balance = cu.c_balance;
    expected.history.push(History {
        h_id: HISTORY_RUN_BASE + tid,
        h_c_id: c.2,
        h_c_d_id: c.1,
        h_c_w_id: c.0,
        h_d_id: d,
        h_w_id: w,
        h_date,
        h_amount: amount,
        h_data: format!("{w_name}    {d_name}"),
    });
    balance
}

fn h_date(s: &TpccState, tid: Tid) -> u64 {
    let h = get(&s.history, HISTORY_RUN_BASE + tid);
    assert!(h.h_date > 0, "h_date is the transaction's time");
    h.h_date
}

/// Clause 2.5.2.2, customer by id, good credit: W_YTD and D_YTD += H_AMOUNT, C_BALANCE −=,
/// C_YTD_PAYMENT +=, C_PAYMENT_CNT += 1, C_DATA unchanged ("GC"); a history row with
/// H_DATA = W_NAME + 4 spaces + D_NAME.
#[test]
fn payment_by_id_of_a_good_credit_customer() {
    let mut t = Tpcc::start(population());
    let input = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(1),
        h_amount: 100.00,
    };
    let (tid, result): (_, PaymentResult) = t.commit(PAYMENT, &input);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 1,
            c_d_id: 1,
            c_id: 1,
            c_balance: -110.00,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 1), (1, 1, 1), 100.00, tid, date);
    // Spelled out once, independently of `pay`.
    assert_eq!(get(&expected.warehouses, 1).w_ytd, 300_100.00);
    assert_eq!(get(&expected.districts, (1, 1)).d_ytd, 30_100.00);
    let c = get(&expected.customers, (1, 1, 1));
    assert_eq!(
        (c.c_balance, c.c_ytd_payment, c.c_payment_cnt),
        (-110.00, 110.00, 2)
    );
    assert_eq!(
        &*get(&expected.history, HISTORY_RUN_BASE + tid).h_data,
        "Alpha    North"
    );
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.5.2.2, customer by last name: of the customers of the district with the
/// last name, sorted by C_FIRST, the one at position ⌈n/2⌉ pays. Two ABLEABLE (Zoe c3, Amy c4):
/// position 1, Amy (not c3, the first by id). Three PRIPRI in 1/1 (Carl c5, Alice c6, Bea c7;
/// Aaron PRIPRI of district 1/2 does not count): position 2, Bea — a "BC" customer, whose C_DATA
/// gets "C_ID C_D_ID C_W_ID D_ID W_ID H_AMOUNT | " in front.
#[test]
fn payment_by_last_name_takes_the_middle_customer_by_first_name() {
    let mut t = Tpcc::start(population());
    let two = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::LastName("ABLEABLE".into()),
        h_amount: 42.42,
    };
    let (tid_two, result): (_, PaymentResult) = t.commit(PAYMENT, &two);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 1,
            c_d_id: 1,
            c_id: 4,
            c_balance: -52.42,
        }
    );
    let three = PaymentInput {
        customer: CustomerSelector::LastName("PRIPRI".into()),
        h_amount: 12.34,
        ..two
    };
    let (tid_three, result): (_, PaymentResult) = t.commit(PAYMENT, &three);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 1,
            c_d_id: 1,
            c_id: 7,
            c_balance: -22.34,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid_two);
    pay(&mut expected, (1, 1), (1, 1, 4), 42.42, tid_two, date);
    let date = h_date(&actual, tid_three);
    pay(&mut expected, (1, 1), (1, 1, 7), 12.34, tid_three, date);
    row(&mut expected.customers, (1, 1, 7)).c_data = "7 1 1 1 1 12.34 | data of Bea PRIPRI".into();
    assert_eq!(get(&expected.warehouses, 1).w_ytd, 300_054.76);
    assert_eq!(get(&expected.districts, (1, 1)).d_ytd, 30_054.76);
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.5.2.2, "BC" customer: the new C_DATA is the history information followed by the old
/// C_DATA, cut at 500 characters (495 + 17 → 500: the old data loses its last 12 characters).
#[test]
fn payment_of_a_bad_credit_customer_truncates_c_data_to_500() {
    let mut t = Tpcc::start(population());
    let input = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(2),
        h_amount: 5.50,
    };
    let (tid, result): (_, PaymentResult) = t.commit(PAYMENT, &input);
    assert_eq!(result.c_id, 2);
    assert_eq!(result.c_balance, -15.50);

    let actual = t.state();
    let c_data = get(&actual.customers, (1, 1, 2)).c_data.to_string();
    let old = bob_data();
    assert_eq!(c_data.len(), 500);
    assert_eq!(&c_data[..17], "2 1 1 1 1 5.50 | ");
    assert_eq!(&c_data[17..], &old[..483]);

    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 1), (1, 1, 2), 5.50, tid, date);
    row(&mut expected.customers, (1, 1, 2)).c_data =
        text(format!("2 1 1 1 1 5.50 | {}", &old[..483]));
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.5.2.2, remote customer (C_W_ID ≠ W_ID): the paying warehouse and district (1/2)
/// get the YTD, the customer of warehouse 2 (found by last name in 2/1) the payment; warehouse 2
/// and its district are untouched; C_DATA and the history row name both: C_D_ID 1, C_W_ID 2,
/// D_ID 2, W_ID 1.
#[test]
fn payment_of_a_remote_customer() {
    let mut t = Tpcc::start(population());
    let input = PaymentInput {
        w_id: 1,
        d_id: 2,
        c_w_id: 2,
        c_d_id: 1,
        customer: CustomerSelector::LastName("ESEESE".into()),
        h_amount: 250.00,
    };
    let (tid, result): (_, PaymentResult) = t.commit(PAYMENT, &input);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 2,
            c_d_id: 1,
            c_id: 1,
            c_balance: -260.00,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 2), (2, 1, 1), 250.00, tid, date);
    row(&mut expected.customers, (2, 1, 1)).c_data =
        "1 1 2 2 1 250.00 | data of Dora ESEESE".into();
    let h = get(&expected.history, HISTORY_RUN_BASE + tid);
    assert_eq!(
        (h.h_c_id, h.h_c_d_id, h.h_c_w_id, h.h_d_id, h.h_w_id),
        (1, 1, 2, 2, 1)
    );
    assert_eq!(&*h.h_data, "Alpha    South");
    assert_eq!(get(&expected.warehouses, 1).w_ytd, 300_250.00);
    assert_eq!(get(&expected.warehouses, 2).w_ytd, 300_000.00);
    assert_eq!(get(&expected.districts, (1, 2)).d_ytd, 30_250.00);
    assert_state(&actual, &expected);
    t.finish();
}

// ---------------------------------------------------------------- Order-Status (clause 2.6.2.2)

/// Clause 2.6.2.2: the customer's balance, the order with the largest O_ID of the customer, its
/// carrier and its lines (all columns); read-only.
#[test]
fn order_status_returns_the_latest_order_of_the_customer() {
    let mut t = Tpcc::start(population());
    let status = |t: &Tpcc, customer: CustomerSelector| -> OrderStatusResult {
        let input = OrderStatusInput {
            w_id: 1,
            d_id: 1,
            customer,
        };
        t.commit(ORDER_STATUS, &input).1
    };
    let lines = |o| lines_of(&t.initial.order_lines, 1, 1, o);

    // Ann has orders 1 (delivered) and 3 (not): 3.
    assert_eq!(
        status(&t, CustomerSelector::Id(1)),
        OrderStatusResult {
            c_id: 1,
            c_balance: -10.0,
            o_id: Some(3),
            o_carrier_id: None,
            lines: lines(3),
        }
    );
    assert_eq!(lines(3).len(), 3);
    // Bob's only order is delivered by carrier 4.
    assert_eq!(
        status(&t, CustomerSelector::Id(2)),
        OrderStatusResult {
            c_id: 2,
            c_balance: -10.0,
            o_id: Some(2),
            o_carrier_id: Some(4),
            lines: lines(2),
        }
    );
    // By last name: Bea (c7, the 2nd of 3 PRIPRI by first name), order 4 with a remote line.
    assert_eq!(
        status(&t, CustomerSelector::LastName("PRIPRI".into())),
        OrderStatusResult {
            c_id: 7,
            c_balance: -10.0,
            o_id: Some(4),
            o_carrier_id: None,
            lines: lines(4),
        }
    );
    // Customers without orders: Zoe by id, Amy (1st of 2 ABLEABLE) by last name.
    assert_eq!(
        status(&t, CustomerSelector::Id(3)),
        OrderStatusResult {
            c_id: 3,
            c_balance: -10.0,
            o_id: None,
            o_carrier_id: None,
            lines: Vec::new(),
        }
    );
    assert_eq!(
        status(&t, CustomerSelector::LastName("ABLEABLE".into())),
        OrderStatusResult {
            c_id: 4,
            c_balance: -10.0,
            o_id: None,
            o_carrier_id: None,
            lines: Vec::new(),
        }
    );
    // The balance is read, not recomputed: after a payment it shows.
    let payment = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(3),
        h_amount: 1.25,
    };
    let (tid, _): (_, PaymentResult) = t.commit(PAYMENT, &payment);
    assert_eq!(status(&t, CustomerSelector::Id(3)).c_balance, -11.25);

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 1), (1, 1, 3), 1.25, tid, date);
    assert_state(&actual, &expected);
    t.finish();
}

// ---------------------------------------------------------------- Delivery (clause 2.7.4.2)

/// The expected effect of delivering order `(w, d, o)` by `carrier` at `now`.
fn deliver(
    expected: &mut TpccState,
    (w, d, o): (WarehouseId, DistrictId, OrderId),
    carrier: u8,
    now: u64,
) {
    expected
        .new_orders
        .retain(|n| (n.no_w_id, n.no_d_id, n.no_o_id) != (w, d, o));
    let order = row(&mut expected.orders, (w, d, o));
    order.o_carrier_id = Some(carrier);
    let c_id = order.o_c_id;
    let mut amount = 0.0;
    for l in expected
        .order_lines
        .iter_mut()
        .filter(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) == (w, d, o))
    {
        l.ol_delivery_d = Some(now);
        amount += l.ol_amount;
    }
    let c = row(&mut expected.customers, (w, d, c_id));
    c.c_balance = cents(c.c_balance + amount);
    c.c_delivery_cnt += 1;
}

/// The delivery time of a delivered order's lines (all the same, the transaction's time).
fn delivered_at(s: &TpccState, (w, d, o): (WarehouseId, DistrictId, OrderId)) -> u64 {
    let lines = lines_of(&s.order_lines, w, d, o);
    let now = lines[0].ol_delivery_d.expect("delivered");
    assert!(now > LOADED_AT);
    now
}

/// Clause 2.7.4.2: per district of the warehouse, the undelivered order with the lowest O_ID:
/// its NEW-ORDER row deleted, O_CARRIER_ID set, every line's OL_DELIVERY_D set, the customer's
/// C_BALANCE += Σ OL_AMOUNT and C_DELIVERY_CNT += 1; a district without undelivered orders is
/// skipped; the result lists (D_ID, O_ID) of the delivered ones. Other warehouses untouched.
#[test]
fn delivery_delivers_the_oldest_new_order_of_each_district() {
    let mut t = Tpcc::start(population());
    let run = |t: &Tpcc, w_id, o_carrier_id| -> DeliveryResult {
        t.commit(DELIVERY, &DeliveryInput { w_id, o_carrier_id }).1
    };

    // 1/1 has new orders 3 and 4: 3 (Ann, 33.50); 1/2 has 1 (Aaron, 199.98).
    assert_eq!(
        run(&t, 1, 9),
        DeliveryResult {
            w_id: 1,
            delivered: vec![(1, 3), (2, 1)],
        }
    );
    let actual = t.state();
    let mut expected = t.initial.clone();
    deliver(
        &mut expected,
        (1, 1, 3),
        9,
        delivered_at(&actual, (1, 1, 3)),
    );
    deliver(
        &mut expected,
        (1, 2, 1),
        9,
        delivered_at(&actual, (1, 2, 1)),
    );
    let ann = get(&expected.customers, (1, 1, 1));
    assert_eq!((ann.c_balance, ann.c_delivery_cnt), (23.50, 1));
    let aaron = get(&expected.customers, (1, 2, 1));
    assert_eq!((aaron.c_balance, aaron.c_delivery_cnt), (189.98, 1));
    assert_eq!(expected.new_orders.len(), 2);
    assert_state(&actual, &expected);

    // 1/1 has order 4 (Bea, 30.00) left; 1/2 has none: skipped.
    assert_eq!(
        run(&t, 1, 2),
        DeliveryResult {
            w_id: 1,
            delivered: vec![(1, 4)],
        }
    );
    let actual = t.state();
    deliver(
        &mut expected,
        (1, 1, 4),
        2,
        delivered_at(&actual, (1, 1, 4)),
    );
    assert_eq!(get(&expected.customers, (1, 1, 7)).c_balance, 20.00);
    assert_state(&actual, &expected);

    // Nothing left at warehouse 1: every district skipped, nothing changes.
    assert_eq!(
        run(&t, 1, 3),
        DeliveryResult {
            w_id: 1,
            delivered: Vec::new(),
        }
    );
    assert_state(&t.state(), &expected);

    // Warehouse 2's order was left alone until now.
    assert_eq!(
        run(&t, 2, 1),
        DeliveryResult {
            w_id: 2,
            delivered: vec![(1, 1)],
        }
    );
    let actual = t.state();
    deliver(
        &mut expected,
        (2, 1, 1),
        1,
        delivered_at(&actual, (2, 1, 1)),
    );
    assert_eq!(get(&expected.customers, (2, 1, 1)).c_balance, -4.50);
    assert!(expected.new_orders.is_empty());
    assert_state(&actual, &expected);
    t.finish();
}

// ---------------------------------------------------------------- Stock-Level (clause 2.8.2.2)

/// District 1/1 with orders 1..=22 (D_NEXT_O_ID 23, so the last 20 are 3..=22). Stock at
/// warehouse 1: item 1: 5, 2: 9, 3: 10, 4: 50, 5: 3, 6: 80, 7: 1, 8: 2, 9: 60, 10: 0; at
/// warehouse 2: item 5: 90, item 6: 1.
fn stock_level_population() -> TpccState {
    let mut s = TpccState {
        warehouses: vec![warehouse(1, "Alpha", 0.10), warehouse(2, "Beta", 0.05)],
        districts: vec![
            district(1, 1, "North", 0.05, 23),
            district(1, 2, "South", 0.02, 2),
        ],
        customers: vec![
            customer((1, 1, 1), "Ann", "BARBARBAR", "GC", 0.0),
            customer((1, 2, 1), "Aaron", "PRIPRI", "GC", 0.0),
        ],
        items: (1..=10).map(|i| item(i, 1.00)).collect(),
        ..Default::default()
    };
    for (i, q) in [
        (1, 5),
        (2, 9),
        (3, 10),
        (4, 50),
        (5, 3),
        (6, 80),
        (7, 1),
        (8, 2),
        (9, 60),
        (10, 0),
    ] {
        s.stock.push(stock(1, i, q));
    }
    s.stock.push(stock(2, 5, 90));
    s.stock.push(stock(2, 6, 1));
    for o in 1..=22 {
        let lines: Vec<(ItemId, WarehouseId, u8)> = match o {
            // Older than the last 20: item 10 (0 left) does not count.
            1 => vec![(10, 1, 1), (4, 1, 1)],
            2 => vec![(10, 1, 1)],
            // The oldest of the last 20: item 8 (2 left) counts.
            3 => vec![(8, 1, 1), (1, 1, 1)],
            10 => vec![(2, 1, 1), (4, 1, 1)],
            15 => vec![(3, 1, 1)],
            // Supplied by warehouse 2, but the stock of warehouse 1 is what counts: item 5
            // (3 at warehouse 1) counts, item 6 (80 at warehouse 1) does not.
            17 => vec![(5, 2, 1)],
            18 => vec![(6, 2, 1)],
            // Item 1 again: counted once.
            22 => vec![(1, 1, 1), (9, 1, 1)],
            _ => vec![(4, 1, 1)],
        };
        add_order(&mut s, (1, 1, o), 1, Some(1), &lines);
    }
    // Another district's order: item 7 (1 left) does not count for 1/1.
    add_order(&mut s, (1, 2, 1), 1, None, &[(7, 1, 1)]);
    s
}

/// Clause 2.8.2.2: the number of DISTINCT items of the district's order lines with
/// D_NEXT_O_ID − 20 ≤ OL_O_ID < D_NEXT_O_ID whose stock at the warehouse has S_QUANTITY <
/// threshold. Threshold 10: items 1, 2, 5, 8 (not 3: 10 is not < 10). Threshold 11: also 3.
/// After a New-Order (order 23), order 3 leaves the window and item 8 with it.
#[test]
fn stock_level_counts_distinct_low_items_of_the_last_20_orders() {
    let mut t = Tpcc::start(stock_level_population());
    let level = |t: &Tpcc, threshold| -> u32 {
        let input = StockLevelInput {
            w_id: 1,
            d_id: 1,
            threshold,
        };
        let (_, r): (_, StockLevelResult) = t.commit(STOCK_LEVEL, &input);
        r.low_stock
    };
    assert_eq!(level(&t, 10), 4);
    assert_eq!(level(&t, 11), 5);
    assert_eq!(level(&t, 20), 5);
    let other = StockLevelInput {
        w_id: 1,
        d_id: 2,
        threshold: 10,
    };
    let (_, r): (_, StockLevelResult) = t.commit(STOCK_LEVEL, &other);
    assert_eq!(r.low_stock, 1, "district 1/2: item 7");
    // Read-only.
    let initial = t.initial.clone();
    assert_state(&t.state(), &initial);

    let input = NewOrderInput {
        w_id: 1,
        d_id: 1,
        c_id: 1,
        lines: vec![line(4, 1, 1)],
    };
    let (_, r): (_, NewOrderResult) = t.commit(NEW_ORDER, &input);
    assert_eq!(r.o_id, 23);
    assert_eq!(level(&t, 10), 3, "items 1, 2, 5 (order 3 left the window)");
    t.finish();
}
