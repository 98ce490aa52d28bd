//! The checker on states made consistent by construction (a miniature of the five transactions'
//! effects on the tables the conditions read), then one planted violation per condition: each test
//! asserts exactly which conditions fire.

use super::*;

mod cases;

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
