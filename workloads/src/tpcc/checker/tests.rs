//! The checker on states made consistent by construction (a miniature of the five transactions'
//! effects on the tables the conditions read), then one planted violation per condition: each test
//! asserts exactly which conditions fire.

use super::*;

// ---------------------------------------------------------------- fixture

/// Dollars from cents (amounts are rounded to cents).
fn cents(c: u64) -> f64 {
    c as f64 / 100.0
}

/// An amount for order line `n` of order `o` (non-zero).
fn line_amount(o: OrderId, n: u8) -> f64 {
    cents((u64::from(o) * 7_919 + u64::from(n) * 104_729) % 999_900 + 1)
}

/// The state after a load: per district, `orders` orders (the customer of order `o` is
/// `(o − 1) % customers + 1`, with `o % 11 + 5` lines) of which the first `orders − undelivered`
/// are delivered (lines of amount 0.00, as clause 4.3.3.1 loads them); one history row of 10.00
/// per customer, whose balance is −10.00 and year-to-date payment 10.00.
fn load(
    warehouses: u32,
    districts: u8,
    customers: u32,
    orders: u32,
    undelivered: u32,
) -> TpccState {
    let mut s = TpccState::default();
    let per_district = 10.0 * f64::from(customers);
    for w in 1..=warehouses {
        s.warehouses.push(Warehouse {
            w_id: w,
            w_ytd: per_district * f64::from(districts),
            ..Warehouse::default()
        });
        for d in 1..=districts {
            s.districts.push(District {
                d_id: d,
                d_w_id: w,
                d_ytd: per_district,
                d_next_o_id: orders + 1,
                ..District::default()
            });
            for c in 1..=customers {
                s.customers.push(Customer {
                    c_id: c,
                    c_d_id: d,
                    c_w_id: w,
                    c_balance: -10.0,
                    c_ytd_payment: 10.0,
                    c_payment_cnt: 1,
                    ..Customer::default()
                });
                s.history.push(History {
                    h_id: s.history.len() as u64 + 1,
                    h_c_id: c,
                    h_c_d_id: d,
                    h_c_w_id: w,
                    h_d_id: d,
                    h_w_id: w,
                    h_amount: 10.0,
                    ..History::default()
                });
            }
            for o in 1..=orders {
                let delivered = o <= orders - undelivered;
                let ol_cnt = (o % 11 + 5) as u8;
                s.orders.push(Order {
                    o_id: o,
                    o_d_id: d,
                    o_w_id: w,
                    o_c_id: (o - 1) % customers + 1,
                    o_entry_d: u64::from(o),
                    o_carrier_id: delivered.then_some((o % 10 + 1) as u8),
                    o_ol_cnt: ol_cnt,
                    o_all_local: 1,
                });
                if !delivered {
                    s.new_orders.push(NewOrder {
                        no_o_id: o,
                        no_d_id: d,
                        no_w_id: w,
                    });
                }
                for n in 1..=ol_cnt {
                    s.order_lines.push(OrderLine {
                        ol_o_id: o,
                        ol_d_id: d,
                        ol_w_id: w,
                        ol_number: n,
                        ol_i_id: u32::from(n),
                        ol_supply_w_id: w,
                        ol_delivery_d: delivered.then_some(u64::from(o)),
                        ol_quantity: 5,
                        ol_amount: if delivered { 0.0 } else { line_amount(o, n) },
                        ..OrderLine::default()
                    });
                }
            }
        }
    }
    s
}

fn customer(s: &mut TpccState, w: WarehouseId, d: DistrictId, c: CustomerId) -> &mut Customer {
    s.customers
        .iter_mut()
        .find(|x| (x.c_w_id, x.c_d_id, x.c_id) == (w, d, c))
        .expect("customer")
}

fn district(s: &mut TpccState, w: WarehouseId, d: DistrictId) -> &mut District {
    s.districts
        .iter_mut()
        .find(|x| (x.d_w_id, x.d_id) == (w, d))
        .expect("district")
}

/// A New-Order of `lines` lines by customer `c` at district `(w, d)`; returns its id.
fn new_order(s: &mut TpccState, w: WarehouseId, d: DistrictId, c: CustomerId, lines: u8) -> u32 {
    let district = district(s, w, d);
    let o = district.d_next_o_id;
    district.d_next_o_id += 1;
    s.orders.push(Order {
        o_id: o,
        o_d_id: d,
        o_w_id: w,
        o_c_id: c,
        o_entry_d: 1_000 + u64::from(o),
        o_carrier_id: None,
        o_ol_cnt: lines,
        o_all_local: 1,
    });
    s.new_orders.push(NewOrder {
        no_o_id: o,
        no_d_id: d,
        no_w_id: w,
    });
    for n in 1..=lines {
        s.order_lines.push(OrderLine {
            ol_o_id: o,
            ol_d_id: d,
            ol_w_id: w,
            ol_number: n,
            ol_i_id: u32::from(n) + 7,
            ol_supply_w_id: w,
            ol_delivery_d: None,
            ol_quantity: 3,
            ol_amount: line_amount(o, n),
            ..OrderLine::default()
        });
    }
    o
}

/// A Payment of `amount` at district `(w, d)` by customer `(c_w, c_d, c)`.
fn payment(
    s: &mut TpccState,
    (w, d): (WarehouseId, DistrictId),
    (c_w, c_d, c): (WarehouseId, DistrictId, CustomerId),
    amount: f64,
) {
    s.warehouses
        .iter_mut()
        .find(|x| x.w_id == w)
        .expect("warehouse")
        .w_ytd += amount;
    district(s, w, d).d_ytd += amount;
    let customer = customer(s, c_w, c_d, c);
    customer.c_balance -= amount;
    customer.c_ytd_payment += amount;
    customer.c_payment_cnt += 1;
    s.history.push(History {
        h_id: s.history.len() as u64 + 1,
        h_c_id: c,
        h_c_d_id: c_d,
        h_c_w_id: c_w,
        h_d_id: d,
        h_w_id: w,
        h_date: 2_000,
        h_amount: amount,
        ..History::default()
    });
}

/// A Delivery's work on district `(w, d)`: its oldest new order, delivered; returns its id.
fn deliver(s: &mut TpccState, w: WarehouseId, d: DistrictId, carrier: u8) -> OrderId {
    let (i, no) = s
        .new_orders
        .iter()
        .enumerate()
        .filter(|(_, no)| (no.no_w_id, no.no_d_id) == (w, d))
        .min_by_key(|(_, no)| no.no_o_id)
        .expect("a new order");
    let o = no.no_o_id;
    s.new_orders.remove(i);
    let order = s
        .orders
        .iter_mut()
        .find(|x| (x.o_w_id, x.o_d_id, x.o_id) == (w, d, o))
        .expect("order");
    order.o_carrier_id = Some(carrier);
    let c = order.o_c_id;
    let mut total = 0.0;
    for ol in s
        .order_lines
        .iter_mut()
        .filter(|ol| (ol.ol_w_id, ol.ol_d_id, ol.ol_o_id) == (w, d, o))
    {
        ol.ol_delivery_d = Some(3_000);
        total += ol.ol_amount;
    }
    let customer = customer(s, w, d, c);
    customer.c_balance += total;
    customer.c_delivery_cnt += 1;
    o
}

/// Per district of `loaded()`, the orders delivered at load.
const LOADED_DELIVERED: u32 = 2;

/// Two warehouses of two districts of three customers; five orders per district, the last three
/// undelivered.
fn loaded() -> TpccState {
    load(2, 2, 3, 5, 3)
}

/// `loaded()` after a mix: per district one New-Order and one Delivery (of order 3: orders 4, 5
/// and 6 stay new), and payments, two of them by customers of the other warehouse.
fn after_mix() -> TpccState {
    let mut s = loaded();
    for w in 1..=2 {
        for d in 1..=2 {
            new_order(&mut s, w, d, u32::from(d), 4);
            assert_eq!(deliver(&mut s, w, d, 7), 3);
            payment(&mut s, (w, d), (w, d, 3), 1_234.56);
        }
    }
    payment(&mut s, (1, 2), (2, 1, 2), 17.05);
    payment(&mut s, (2, 1), (1, 1, 1), 4_999.99);
    s
}

const AFTER_MIX: CheckOptions = CheckOptions {
    deliveries_ran: true,
    initial_delivered_per_district: LOADED_DELIVERED,
};

const AFTER_LOAD: CheckOptions = CheckOptions {
    deliveries_ran: false,
    initial_delivered_per_district: LOADED_DELIVERED,
};

/// The conditions that fired.
fn fired(report: &TpccReport) -> Vec<&'static str> {
    CONDITIONS
        .iter()
        .copied()
        .filter(|c| report.count(c) > 0)
        .collect()
}

/// `after_mix()` changed by `plant`, checked: exactly `expected` fire.
fn assert_fires(expected: &[&str], plant: impl FnOnce(&mut TpccState)) {
    assert_fires_on(after_mix(), AFTER_MIX, expected, plant);
}

fn assert_fires_on(
    mut state: TpccState,
    options: CheckOptions,
    expected: &[&str],
    plant: impl FnOnce(&mut TpccState),
) {
    assert!(check(&state, options).is_clean(), "fixture not clean");
    plant(&mut state);
    let report = check(&state, options);
    assert_eq!(fired(&report), expected, "{report} {:#?}", report.examples);
    assert_eq!(
        report.examples.len() as u64,
        report.total().min(MAX_EXAMPLES as u64)
    );
}

fn order_line(s: &mut TpccState, key: OrderKey, n: u8) -> &mut OrderLine {
    s.order_lines
        .iter_mut()
        .find(|x| (x.ol_w_id, x.ol_d_id, x.ol_o_id, x.ol_number) == (key.0, key.1, key.2, n))
        .expect("order line")
}

fn order(s: &mut TpccState, key: OrderKey) -> &mut Order {
    s.orders
        .iter_mut()
        .find(|x| (x.o_w_id, x.o_d_id, x.o_id) == key)
        .expect("order")
}

fn remove_new_order(s: &mut TpccState, key: OrderKey) {
    let before = s.new_orders.len();
    s.new_orders
        .retain(|x| (x.no_w_id, x.no_d_id, x.no_o_id) != key);
    assert_eq!(s.new_orders.len(), before - 1);
}

// ---------------------------------------------------------------- clean states

#[test]
fn loaded_state_is_clean() {
    let report = check(&loaded(), AFTER_LOAD);
    assert_eq!(report.counts.len(), CONDITIONS.len());
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    assert!(report.examples.is_empty());
}

#[test]
fn state_after_mix_is_clean() {
    let report = check(&after_mix(), AFTER_MIX);
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    assert_eq!(report.total(), 0);
}

#[test]
fn empty_state_is_clean() {
    assert!(check(&TpccState::default(), CheckOptions::spec_scale(false)).is_clean());
}

/// One warehouse at the specification's scale: 30,000 customers and orders, about 300,000 order
/// lines; the history sums add 3,000 rows per district. Linear: this runs in well under a second.
#[test]
fn spec_scale_warehouse_is_clean() {
    let mut s = load(
        1,
        DISTRICTS,
        CUSTOMERS_PER_DISTRICT,
        ORDERS_PER_DISTRICT,
        900,
    );
    assert!(s.order_lines.len() > 290_000);
    let report = check(&s, CheckOptions::spec_scale(false));
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    for d in 1..=DISTRICTS {
        deliver(&mut s, 1, d, 1);
        payment(&mut s, (1, d), (1, d, 2_999), 2_500.01);
    }
    let report = check(&s, CheckOptions::spec_scale(true));
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    // A dollar at one customer is seen (amounts are ≥ 1.00 but for the load's 0.00).
    customer(&mut s, 1, 4, 17).c_balance += 1.0;
    let report = check(&s, CheckOptions::spec_scale(true));
    assert_eq!(fired(&report), [CC10, CC12]);
    assert_eq!(report.count(CC10), 1);
}

// ---------------------------------------------------------------- one condition at a time

#[test]
fn cc1_district_ytd_bumped() {
    // W_YTD ≠ Σ D_YTD, and the district's D_YTD ≠ its history.
    assert_fires(&[CC1, CC9], |s| district(s, 2, 1).d_ytd += 50.0);
}

#[test]
fn cc1_warehouse_ytd_bumped() {
    assert_fires(&[CC1, CC8], |s| s.warehouses[0].w_ytd -= 0.5);
}

#[test]
fn cc2_next_order_id_bumped() {
    assert_fires(&[CC2], |s| district(s, 1, 2).d_next_o_id += 1);
}

#[test]
fn cc2_last_order_lost() {
    // Order 6 of (2, 2) vanishes with its lines and NEW_ORDER row: every other condition holds.
    assert_fires(&[CC2], |s| {
        s.orders
            .retain(|o| (o.o_w_id, o.o_d_id, o.o_id) != (2, 2, 6));
        s.order_lines
            .retain(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) != (2, 2, 6));
        remove_new_order(s, (2, 2, 6));
    });
}

#[test]
fn cc2_last_new_order_lost() {
    // max(NO_O_ID) = 5 ≠ D_NEXT_O_ID − 1; the range 4..=5 stays contiguous.
    assert_fires(&[CC2, CC5], |s| remove_new_order(s, (1, 1, 6)));
}

#[test]
fn cc3_middle_new_order_lost() {
    // New orders 4 and 6 of (1, 2) remain: a gap, and order 5 undelivered without its row.
    let mut s = after_mix();
    remove_new_order(&mut s, (1, 2, 5));
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC3, CC5]);
    assert_eq!((report.count(CC3), report.count(CC5)), (1, 1));
}

#[test]
fn cc4_and_cc6_order_line_count_changed() {
    assert_fires(&[CC4, CC6], |s| order(s, (2, 1, 4)).o_ol_cnt += 1);
}

#[test]
fn cc4_and_cc7_orphan_order_line() {
    // A line of an order that does not exist: the district's total is off, and it has no order.
    assert_fires(&[CC4, CC7], |s| {
        let mut ol = order_line(s, (1, 1, 5), 1).clone();
        ol.ol_o_id = 99;
        s.order_lines.push(ol);
    });
}

#[test]
fn cc5_delivered_order_back_in_new_order() {
    // Order 3 (delivered by the mix) regains its NEW_ORDER row: 3..=6 stays contiguous.
    assert_fires(&[CC5], |s| {
        s.new_orders.push(NewOrder {
            no_o_id: 3,
            no_d_id: 2,
            no_w_id: 1,
        })
    });
}

#[test]
fn cc5_carrier_set_on_undelivered_order() {
    // Its lines' null delivery dates now disagree with the carrier.
    let mut s = after_mix();
    order(&mut s, (2, 2, 5)).o_carrier_id = Some(3);
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC5, CC7]);
    assert_eq!(report.count(CC5), 1);
    // Order 5 has 5 % 11 + 5 = 10 lines.
    assert_eq!(report.count(CC7), 10);
}

#[test]
fn cc5_orphan_new_order() {
    // A NEW_ORDER row past the last order: no order, and max(NO_O_ID) ≠ D_NEXT_O_ID − 1.
    assert_fires(&[CC2, CC5], |s| {
        s.new_orders.push(NewOrder {
            no_o_id: 7,
            no_d_id: 1,
            no_w_id: 2,
        })
    });
}

#[test]
fn cc6_line_moved_between_orders() {
    // The district's total is unchanged; two orders' counts are off.
    let mut s = after_mix();
    let ol = order_line(&mut s, (1, 1, 5), 1);
    ol.ol_o_id = 6;
    ol.ol_number = 50;
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC6]);
    assert_eq!(report.count(CC6), 2);
}

#[test]
fn cc7_delivery_date_cleared_on_load_delivered_line() {
    // A line delivered at load has amount 0.00: only the null date shows.
    assert_fires(&[CC7], |s| order_line(s, (1, 2, 1), 3).ol_delivery_d = None);
}

#[test]
fn cc7_delivery_date_cleared_on_mix_delivered_line() {
    // Its amount leaves the customer's delivered total.
    assert_fires(&[CC7, CC10, CC12], |s| {
        order_line(s, (2, 1, 3), 2).ol_delivery_d = None
    });
}

#[test]
fn cc7_delivery_date_set_on_undelivered_line() {
    assert_fires(&[CC7, CC10, CC12], |s| {
        order_line(s, (1, 1, 4), 1).ol_delivery_d = Some(5)
    });
}

#[test]
fn cc8_history_amount_changed() {
    // The paying warehouse, district and customer all disagree with the changed row.
    assert_fires(&[CC8, CC9, CC10], |s| {
        let h = s.history.last_mut().expect("history");
        h.h_amount += 1.0;
    });
}

#[test]
fn cc8_history_row_lost() {
    assert_fires(&[CC8, CC9, CC10], |s| {
        s.history.retain(|h| h.h_amount != 17.05);
    });
}

#[test]
fn cc9_history_moved_between_districts() {
    // W_YTD still adds up; two districts do not.
    let mut s = after_mix();
    let h = s.history.iter_mut().find(|h| h.h_amount == 17.05).unwrap();
    assert_eq!((h.h_w_id, h.h_d_id), (1, 2));
    h.h_d_id = 1;
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC9]);
    assert_eq!(report.count(CC9), 2);
}

#[test]
fn cc10_and_cc12_balance_changed() {
    assert_fires(&[CC10, CC12], |s| customer(s, 2, 1, 2).c_balance -= 1.0);
}

#[test]
fn cc10_history_moved_between_customers() {
    // The remote payment credited to another customer of the same district.
    let mut s = after_mix();
    let h = s.history.iter_mut().find(|h| h.h_amount == 17.05).unwrap();
    assert_eq!((h.h_c_w_id, h.h_c_d_id, h.h_c_id), (2, 1, 2));
    h.h_c_id = 1;
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC10]);
    assert_eq!(report.count(CC10), 2);
}

#[test]
fn cc10_history_keyed_by_paying_customer_not_district() {
    // A remote payment's history row belongs to the customer's warehouse and district: keyed by
    // the paying district instead, it is another customer's.
    assert_fires(&[CC10], |s| {
        let h = s
            .history
            .iter_mut()
            .find(|h| h.h_amount == 4_999.99)
            .unwrap();
        (h.h_c_w_id, h.h_c_d_id) = (h.h_w_id, h.h_d_id);
    });
}

#[test]
fn cc11_delivered_order_lost_before_any_delivery() {
    // Order 1 of (2, 1), delivered at load (amounts 0.00), vanishes with its lines.
    assert_fires_on(loaded(), AFTER_LOAD, &[CC11], |s| {
        s.orders
            .retain(|o| (o.o_w_id, o.o_d_id, o.o_id) != (2, 1, 1));
        s.order_lines
            .retain(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) != (2, 1, 1));
    });
}

#[test]
fn cc11_is_skipped_when_deliveries_ran() {
    let mut s = loaded();
    deliver(&mut s, 1, 2, 4);
    // Every condition but 11 holds after a Delivery; 11 holds only before the first.
    let report = check(&s, AFTER_LOAD);
    assert_eq!(fired(&report), [CC11]);
    assert_eq!(report.count(CC11), 1);
    assert!(check(&s, AFTER_MIX).is_clean());
    let report = check(&after_mix(), AFTER_LOAD);
    assert_eq!(fired(&report), [CC11]);
    assert_eq!(report.count(CC11), 4);
}

#[test]
fn cc12_ytd_payment_changed() {
    assert_fires(&[CC12], |s| customer(s, 1, 1, 1).c_ytd_payment += 1.0);
}

// ---------------------------------------------------------------- the report

#[test]
fn money_tolerance_is_half_a_cent_plus_summation_error() {
    assert!(money_eq(10.0, 10.005, 1));
    assert!(!money_eq(10.0, 10.02, 1));
    // Amounts are whole cents: many terms do not excuse a missing cent...
    assert!(!money_eq(10.0, 10.02, 4));
    assert!(!money_eq(5_688_344.40, 5_688_339.40, 3_000));
    // ...but the floating-point error of a long sum is tolerated.
    let sum: f64 = (0..3_000).map(|_| 1_896.11).sum();
    assert!(money_eq(sum, 1_896.11 * 3_000.0, 3_000));
    assert!(!money_eq(-10.0, 10.0, 1_000));
}

#[test]
fn report_counts_all_and_describes_a_few() {
    let mut s = after_mix();
    for c in &mut s.customers {
        c.c_ytd_payment += 1.0;
    }
    let report = check(&s, AFTER_MIX);
    assert_eq!(report.count(CC12), s.customers.len() as u64);
    assert_eq!(report.total(), 12);
    assert!(!report.is_clean());
    assert_eq!(report.examples.len(), 12);
    assert!(report.examples[0].starts_with("cc12_customer_payments: customer (1, 1, 1)"));
    assert_eq!(report.count("no_such_condition"), 0);

    for o in &mut s.orders {
        o.o_ol_cnt += 1;
    }
    let report = check(&s, AFTER_MIX);
    assert_eq!(report.examples.len(), MAX_EXAMPLES);
    assert_eq!(report.count(CC6), s.orders.len() as u64);
    assert_eq!(report.count(CC4), 4);
}

#[test]
fn report_displays_every_condition_in_order() {
    let mut s = after_mix();
    district(&mut s, 1, 1).d_next_o_id = 100;
    let shown = check(&s, AFTER_MIX).to_string();
    assert_eq!(
        shown,
        "cc1_warehouse_ytd=0 cc2_next_order_id=1 cc3_new_order_range=0 \
         cc4_district_order_lines=0 cc5_carrier_new_order=0 cc6_order_line_count=0 \
         cc7_delivery_date=0 cc8_warehouse_history=0 cc9_district_history=0 \
         cc10_customer_balance=0 cc11_delivered_orders=0 cc12_customer_payments=0"
    );
}
