//! TPC-C's business rules (clause 2) as pure functions over the rows of `model`, shared by both
//! systems that run the workload: the vMODB services and the baseline's grains. The two differ in
//! where the rows live and how they are kept consistent, never in what a transaction computes, so
//! that the same inputs applied in the same order leave the same rows in either.
//!
//! Amounts are rounded with [`cents`] exactly where the rules below round them; the order of
//! every floating-point operation is part of the rule (dumps and the serial replay compare rows
//! bit for bit).

use super::model::*;
use std::cmp::Ordering;
use std::ops::Range;

/// Payment's history rows take this base plus the paying transaction's id as their key (vMODB's
/// TID, a point on the baseline's clock); loaded rows are numbered from 1.
pub const HISTORY_RUN_BASE: u64 = 1 << 40;

/// How many of a district's last orders Stock-Level looks at (clause 2.8.2.2).
pub const STOCK_LEVEL_ORDERS: OrderId = 20;

/// Money is rounded to cents at every step that writes an amount.
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---------------------------------------------------------------- New-Order (clause 2.4.2)

/// Clause 2.4.2.3: why a New-Order naming an unused item number is rolled back.
pub fn invalid_item(i_id: ItemId) -> String {
    format!("item number {i_id} is not valid")
}

/// Clause 2.4.2.3: the order's lines name only items that exist (`exists`), or the first one
/// that does not rolls the order back.
pub fn check_items(
    lines: &[NewOrderLineInput],
    exists: impl Fn(ItemId) -> bool,
) -> Result<(), String> {
    match lines.iter().find(|l| !exists(l.ol_i_id)) {
        Some(l) => Err(invalid_item(l.ol_i_id)),
        None => Ok(()),
    }
}

/// Clause 2.4.2.2: a new order takes the district's next order id.
pub fn take_order_id(d: &mut District) -> OrderId {
    let o_id = d.d_next_o_id;
    d.d_next_o_id += 1;
    o_id
}

/// Clause 2.4.2.2: the stock row of an ordered line gives `quantity` units, refilled by 91 when
/// fewer than `quantity + 10` would remain; it counts the units, the order and, for a line
/// supplied by another warehouse than the ordering one (`remote`), the remote order.
pub fn take_stock(s: &mut Stock, quantity: u8, remote: bool) {
    let q = i32::from(quantity);
    s.s_quantity = if s.s_quantity >= q + 10 {
        s.s_quantity - q
    } else {
        s.s_quantity - q + 91
    };
    s.s_ytd += u32::from(quantity);
    s.s_order_cnt += 1;
    if remote {
        s.s_remote_cnt += 1;
    }
}

/// Clause 2.4.2.2: line `l` of a New-Order of district `d_id` of warehouse `w_id`, at its stock
/// row `s` (updated by [`take_stock`]) and at the item's price: `ol_amount = ol_quantity ×
/// i_price` and the stock's `s_dist_xx` of the ordering district.
pub fn stock_line(
    s: &mut Stock,
    l: &NewOrderLineInput,
    w_id: WarehouseId,
    d_id: DistrictId,
    i_price: f64,
) -> PricedLine {
    take_stock(s, l.ol_quantity, l.ol_supply_w_id != w_id);
    PricedLine {
        ol_i_id: l.ol_i_id,
        ol_supply_w_id: l.ol_supply_w_id,
        ol_quantity: l.ol_quantity,
        ol_amount: cents(f64::from(l.ol_quantity) * i_price),
        ol_dist_info: *s.dist_info(d_id),
    }
}

/// Clause 2.4.2.2: the ORDER row of a new order of customer `c_id` with these lines, entered at
/// `now_us`: no carrier yet, `o_all_local` when the home warehouse supplies every line.
pub fn new_order_row(
    w_id: WarehouseId,
    d_id: DistrictId,
    o_id: OrderId,
    c_id: CustomerId,
    now_us: u64,
    lines: &[PricedLine],
) -> Order {
    let all_local = lines.iter().all(|l| l.ol_supply_w_id == w_id);
    Order {
        o_id,
        o_d_id: d_id,
        o_w_id: w_id,
        o_c_id: c_id,
        o_entry_d: now_us,
        o_carrier_id: None,
        o_ol_cnt: lines.len() as u8,
        o_all_local: u8::from(all_local),
    }
}

/// Clause 2.4.2.2: the ORDER-LINE row of the `n`th line (from 0) of a new order: numbered from 1,
/// not delivered yet.
pub fn order_line(
    w_id: WarehouseId,
    d_id: DistrictId,
    o_id: OrderId,
    n: usize,
    l: &PricedLine,
) -> OrderLine {
    OrderLine {
        ol_o_id: o_id,
        ol_d_id: d_id,
        ol_w_id: w_id,
        ol_number: n as u8 + 1,
        ol_i_id: l.ol_i_id,
        ol_supply_w_id: l.ol_supply_w_id,
        ol_delivery_d: None,
        ol_quantity: l.ol_quantity,
        ol_amount: l.ol_amount,
        ol_dist_info: l.ol_dist_info,
    }
}

/// Clause 2.4.2.2: the order's total, `Σ ol_amount × (1 − c_discount) × (1 + w_tax + d_tax)`, in
/// cents.
pub fn order_total(lines: &[PricedLine], c_discount: f64, w_tax: f64, d_tax: f64) -> f64 {
    let total: f64 = lines.iter().map(|l| l.ol_amount).sum();
    cents(total * (1.0 - c_discount) * (1.0 + w_tax + d_tax))
}

// ---------------------------------------------------------------- Payment (clause 2.5.2)

/// Clause 2.5.2.2: the paying warehouse's year-to-date total grows by the payment.
pub fn pay_warehouse(w: &mut Warehouse, h_amount: f64) {
    w.w_ytd = cents(w.w_ytd + h_amount);
}

/// Clause 2.5.2.2: the paying district's year-to-date total grows by the payment.
pub fn pay_district(d: &mut District, h_amount: f64) {
    d.d_ytd = cents(d.d_ytd + h_amount);
}

/// Clause 2.5.2.2: the customer pays `h_amount` at district `d_id` of warehouse `w_id`: the
/// balance falls, the year-to-date payment and the payment count grow, and a bad-credit ("BC")
/// customer's `c_data` takes `c_id c_d_id c_w_id d_id w_id h_amount | ` in front, kept to its
/// 500 bytes. Returns what the terminal shows.
pub fn pay_customer(
    c: &mut Customer,
    w_id: WarehouseId,
    d_id: DistrictId,
    h_amount: f64,
) -> PaymentResult {
    c.c_balance = cents(c.c_balance - h_amount);
    c.c_ytd_payment = cents(c.c_ytd_payment + h_amount);
    c.c_payment_cnt += 1;
    if c.c_credit == "BC" {
        let data = format!(
            "{} {} {} {} {} {:.2} | {}",
            c.c_id, c.c_d_id, c.c_w_id, d_id, w_id, h_amount, c.c_data
        );
        c.c_data = prefix_within(&data, 500).into();
    }
    PaymentResult {
        c_w_id: c.c_w_id,
        c_d_id: c.c_d_id,
        c_id: c.c_id,
        c_balance: c.c_balance,
    }
}

/// Clause 2.5.2.2: `h_data` is the paying warehouse's and district's names, four spaces apart.
pub fn history_data(w_name: &str, d_name: &str) -> Chars<24> {
    format!("{w_name}    {d_name}").into()
}

/// Clause 2.5.2.2: the HISTORY row of customer `c`'s payment at district `d_id` of warehouse
/// `w_id`, by transaction `id` (see [`HISTORY_RUN_BASE`]) at `now_us`.
pub fn payment_history(
    c: &Customer,
    w_id: WarehouseId,
    d_id: DistrictId,
    h_amount: f64,
    h_data: Chars<24>,
    id: u64,
    now_us: u64,
) -> History {
    History {
        h_id: HISTORY_RUN_BASE + id,
        h_c_id: c.c_id,
        h_c_d_id: c.c_d_id,
        h_c_w_id: c.c_w_id,
        h_d_id: d_id,
        h_w_id: w_id,
        h_date: now_us,
        h_amount,
        h_data,
    }
}

// ---------------------------------------------------------------- Order-Status (clause 2.6.2)

/// Clauses 2.5.2.2 and 2.6.2.2: customers of one last name in order of `c_first` (then `c_id`,
/// so that the order is total).
pub fn by_first_name(a: &Customer, b: &Customer) -> Ordering {
    a.c_first.cmp(&b.c_first).then(a.c_id.cmp(&b.c_id))
}

/// Clauses 2.5.2.2 and 2.6.2.2: of `n` customers of one last name, ordered by [`by_first_name`],
/// the one at position ⌈n/2⌉ (counting from 1) is chosen: its index, `None` when there are none.
pub fn middle(n: usize) -> Option<usize> {
    (n > 0).then(|| n.div_ceil(2) - 1)
}

/// Clause 2.6.2.2: what Order-Status shows: the customer's balance and its last order, if any,
/// with that order's lines.
pub fn order_status(
    c_id: CustomerId,
    c_balance: f64,
    last: Option<(Order, Vec<OrderLine>)>,
) -> OrderStatusResult {
    OrderStatusResult {
        c_id,
        c_balance,
        o_id: last.as_ref().map(|(o, _)| o.o_id),
        o_carrier_id: last.as_ref().and_then(|(o, _)| o.o_carrier_id),
        lines: last.map(|(_, lines)| lines).unwrap_or_default(),
    }
}

// ---------------------------------------------------------------- Delivery (clause 2.7.4)

/// Clause 2.7.4.2: delivering order `o` with its `lines` by carrier `o_carrier_id` at `now_us`
/// stamps the order's carrier and every line's delivery date; the amount to credit to its
/// customer is `Σ ol_amount`, in cents.
pub fn deliver(o: &mut Order, lines: &mut [OrderLine], o_carrier_id: u8, now_us: u64) -> f64 {
    o.o_carrier_id = Some(o_carrier_id);
    let mut amount = 0.0;
    for l in lines {
        amount += l.ol_amount;
        l.ol_delivery_d = Some(now_us);
    }
    cents(amount)
}

/// Clause 2.7.4.2: the customer of a delivered order is credited its amount and counts one more
/// delivery.
pub fn credit_delivery(c: &mut Customer, amount: f64) {
    c.c_balance = cents(c.c_balance + amount);
    c.c_delivery_cnt += 1;
}

// ---------------------------------------------------------------- Stock-Level (clause 2.8.2)

/// Clause 2.8.2.2: the district's last [`STOCK_LEVEL_ORDERS`] orders, the ids below its
/// `d_next_o_id`.
pub fn recent_orders(next_o_id: OrderId) -> Range<OrderId> {
    next_o_id.saturating_sub(STOCK_LEVEL_ORDERS)..next_o_id
}

/// Clause 2.8.2.2: the distinct items of those orders' lines, ascending.
pub fn distinct_items(items: impl IntoIterator<Item = ItemId>) -> Vec<ItemId> {
    let mut items: Vec<ItemId> = items.into_iter().collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// Clause 2.8.2.2: how many of these stock quantities are below the threshold.
pub fn count_low(quantities: impl IntoIterator<Item = i32>, threshold: i32) -> u32 {
    quantities.into_iter().filter(|q| *q < threshold).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(s_quantity: i32) -> Stock {
        Stock {
            s_i_id: 7,
            s_w_id: 1,
            s_quantity,
            s_dist_03: "district three".into(),
            s_ytd: 100,
            s_order_cnt: 10,
            s_remote_cnt: 2,
            ..Stock::default()
        }
    }

    fn line(ol_i_id: ItemId, ol_supply_w_id: WarehouseId, ol_quantity: u8) -> NewOrderLineInput {
        NewOrderLineInput {
            ol_i_id,
            ol_supply_w_id,
            ol_quantity,
        }
    }

    fn priced(ol_supply_w_id: WarehouseId, ol_amount: f64) -> PricedLine {
        PricedLine {
            ol_i_id: 7,
            ol_supply_w_id,
            ol_quantity: 3,
            ol_amount,
            ol_dist_info: "info".into(),
        }
    }

    fn customer(c_credit: &str, c_data: &str) -> Customer {
        Customer {
            c_id: 42,
            c_d_id: 3,
            c_w_id: 2,
            c_credit: c_credit.into(),
            c_balance: -10.0,
            c_ytd_payment: 10.0,
            c_payment_cnt: 1,
            c_delivery_cnt: 0,
            c_data: c_data.into(),
            ..Customer::default()
        }
    }

    /// Clause 2.4.2.2: exactly q + 10 left is enough (no refill); one fewer refills by 91.
    #[test]
    fn stock_refills_by_91_only_below_q_plus_10() {
        let mut s = stock(20);
        take_stock(&mut s, 10, false);
        assert_eq!(s.s_quantity, 10);
        let mut s = stock(19);
        take_stock(&mut s, 10, false);
        assert_eq!(s.s_quantity, 100);
        let mut s = stock(10);
        take_stock(&mut s, 1, false);
        assert_eq!(s.s_quantity, 100);
    }

    #[test]
    fn stock_counts_units_orders_and_remote_orders() {
        let mut s = stock(50);
        take_stock(&mut s, 4, false);
        assert_eq!((s.s_ytd, s.s_order_cnt, s.s_remote_cnt), (104, 11, 2));
        take_stock(&mut s, 5, true);
        assert_eq!((s.s_ytd, s.s_order_cnt, s.s_remote_cnt), (109, 12, 3));
    }

    #[test]
    fn a_stock_line_is_priced_in_cents_with_the_district_s_info() {
        let mut s = stock(50);
        let l = stock_line(&mut s, &line(7, 2, 3), 1, 3, 19.99);
        assert_eq!(l.ol_amount, 59.97);
        assert_eq!(l.ol_amount, cents(3.0 * 19.99));
        assert_eq!(l.ol_dist_info.as_str(), "district three");
        assert_eq!((l.ol_i_id, l.ol_supply_w_id, l.ol_quantity), (7, 2, 3));
        // Supplied by warehouse 2 for an order of warehouse 1: a remote line.
        assert_eq!((s.s_quantity, s.s_remote_cnt), (47, 3));
        let local = stock_line(&mut s, &line(7, 1, 1), 1, 3, 0.015);
        assert_eq!((local.ol_amount, s.s_remote_cnt), (cents(0.015), 3));
    }

    #[test]
    fn an_unused_item_is_named_in_the_rollback() {
        let lines = [line(1, 1, 1), line(99, 1, 1), line(100, 1, 1)];
        assert_eq!(check_items(&lines, |i| i < 1000), Ok(()));
        let e = check_items(&lines, |i| i < 99).expect_err("item 99 is unused");
        assert_eq!(e, "item number 99 is not valid");
        assert_eq!(e, invalid_item(99));
    }

    #[test]
    fn a_new_order_takes_the_next_order_id() {
        let mut d = District {
            d_next_o_id: 3001,
            ..District::default()
        };
        assert_eq!(take_order_id(&mut d), 3001);
        assert_eq!(take_order_id(&mut d), 3002);
        assert_eq!(d.d_next_o_id, 3003);
    }

    #[test]
    fn the_order_row_is_all_local_only_when_the_home_warehouse_supplies_every_line() {
        let local = [priced(1, 1.0), priced(1, 2.0)];
        let o = new_order_row(1, 4, 3001, 42, 123, &local);
        assert_eq!(
            o,
            Order {
                o_id: 3001,
                o_d_id: 4,
                o_w_id: 1,
                o_c_id: 42,
                o_entry_d: 123,
                o_carrier_id: None,
                o_ol_cnt: 2,
                o_all_local: 1,
            }
        );
        let remote = [priced(1, 1.0), priced(2, 2.0), priced(1, 3.0)];
        let o = new_order_row(1, 4, 3001, 42, 123, &remote);
        assert_eq!((o.o_ol_cnt, o.o_all_local), (3, 0));
    }

    #[test]
    fn order_lines_are_numbered_from_one_and_undelivered() {
        let l = order_line(1, 4, 3001, 0, &priced(2, 5.5));
        assert_eq!(
            l,
            OrderLine {
                ol_o_id: 3001,
                ol_d_id: 4,
                ol_w_id: 1,
                ol_number: 1,
                ol_i_id: 7,
                ol_supply_w_id: 2,
                ol_delivery_d: None,
                ol_quantity: 3,
                ol_amount: 5.5,
                ol_dist_info: "info".into(),
            }
        );
        assert_eq!(order_line(1, 4, 3001, 14, &priced(1, 1.0)).ol_number, 15);
    }

    #[test]
    fn the_order_total_takes_the_discount_and_both_taxes() {
        let lines = [priced(1, 10.0), priced(1, 20.0), priced(1, 0.01)];
        let total = order_total(&lines, 0.1, 0.05, 0.0825);
        assert_eq!(
            total,
            cents((10.0 + 20.0 + 0.01) * (1.0 - 0.1) * (1.0 + 0.05 + 0.0825))
        );
        assert_eq!(total, 30.59);
        assert_eq!(order_total(&lines, 0.0, 0.0, 0.0), 30.01);
    }

    #[test]
    fn year_to_date_totals_grow_by_the_payment_in_cents() {
        let mut w = Warehouse {
            w_ytd: 0.1,
            ..Warehouse::default()
        };
        pay_warehouse(&mut w, 0.2);
        assert_eq!(w.w_ytd, 0.3);
        let mut d = District {
            d_ytd: 30_000.0,
            ..District::default()
        };
        pay_district(&mut d, 1234.565);
        assert_eq!(d.d_ytd, cents(30_000.0 + 1234.565));
    }

    #[test]
    fn a_good_credit_payment_leaves_c_data_alone() {
        let mut c = customer("GC", "some data");
        let shown = pay_customer(&mut c, 1, 5, 100.5);
        assert_eq!(
            (c.c_balance, c.c_ytd_payment, c.c_payment_cnt),
            (-110.5, 110.5, 2)
        );
        assert_eq!(&*c.c_data, "some data");
        assert_eq!(
            shown,
            PaymentResult {
                c_w_id: 2,
                c_d_id: 3,
                c_id: 42,
                c_balance: -110.5,
            }
        );
    }

    #[test]
    fn a_bad_credit_payment_is_written_in_front_of_c_data_within_500_bytes() {
        let mut c = customer("BC", "old");
        pay_customer(&mut c, 1, 5, 7.0);
        assert_eq!(&*c.c_data, "42 3 2 5 1 7.00 | old");
        // A full c_data loses its end; a character is never split.
        let mut c = customer("BC", &"é".repeat(250));
        pay_customer(&mut c, 1, 5, 1234.5);
        let head = "42 3 2 5 1 1234.50 | ";
        assert_eq!(head.len(), 21);
        assert_eq!(c.c_data.len(), 499);
        assert!(c.c_data.starts_with(head));
        assert_eq!(&c.c_data[head.len()..], "é".repeat(239));
        let mut c = customer("BC", &"x".repeat(500));
        pay_customer(&mut c, 1, 5, 1.0);
        assert_eq!(c.c_data.len(), 500);
        assert!(c.c_data.starts_with("42 3 2 5 1 1.00 | xxx"));
    }

    #[test]
    fn the_history_row_names_the_paying_district_and_the_customer() {
        let c = customer("GC", "");
        let h_data = history_data("warehouse1", "district1");
        assert_eq!(h_data.as_str(), "warehouse1    district1");
        // Two ten-byte names and four spaces: the column's 24 bytes.
        assert_eq!(history_data("abcdefghij", "0123456789").len(), 24);
        let h = payment_history(&c, 1, 5, 12.5, h_data, 9, 77);
        assert_eq!(
            h,
            History {
                h_id: HISTORY_RUN_BASE + 9,
                h_c_id: 42,
                h_c_d_id: 3,
                h_c_w_id: 2,
                h_d_id: 5,
                h_w_id: 1,
                h_date: 77,
                h_amount: 12.5,
                h_data,
            }
        );
    }

    #[test]
    fn the_customer_chosen_by_last_name_is_the_middle_one_by_first_name() {
        assert_eq!(middle(0), None);
        let chosen: Vec<_> = (1..=6).map(|n| middle(n).unwrap_or(99)).collect();
        assert_eq!(chosen, [0, 0, 1, 1, 2, 2]);
        let named = |c_id, first: &str| Customer {
            c_id,
            c_first: first.into(),
            ..Customer::default()
        };
        let mut found = [named(3, "b"), named(1, "c"), named(2, "b"), named(4, "a")];
        found.sort_by(by_first_name);
        let ids: Vec<_> = found.iter().map(|c| c.c_id).collect();
        assert_eq!(ids, [4, 2, 3, 1]);
    }

    #[test]
    fn order_status_shows_the_last_order_or_none() {
        let none = order_status(42, -10.0, None);
        assert_eq!((none.o_id, none.o_carrier_id), (None, None));
        assert!(none.lines.is_empty());
        let o = Order {
            o_id: 9,
            o_carrier_id: Some(4),
            ..Order::default()
        };
        let lines = vec![order_line(1, 4, 9, 0, &priced(1, 1.0))];
        let shown = order_status(42, -10.0, Some((o, lines.clone())));
        assert_eq!((shown.c_id, shown.c_balance), (42, -10.0));
        assert_eq!((shown.o_id, shown.o_carrier_id), (Some(9), Some(4)));
        assert_eq!(shown.lines, lines);
    }

    #[test]
    fn delivery_stamps_the_order_and_its_lines_and_credits_their_sum() {
        let mut o = Order::default();
        let mut lines = vec![
            order_line(1, 4, 9, 0, &priced(1, 0.1)),
            order_line(1, 4, 9, 1, &priced(1, 0.2)),
        ];
        let amount = deliver(&mut o, &mut lines, 7, 555);
        assert_eq!(amount, 0.3);
        assert_eq!(o.o_carrier_id, Some(7));
        assert!(lines.iter().all(|l| l.ol_delivery_d == Some(555)));
        assert_eq!(deliver(&mut o, &mut [], 7, 555), 0.0);
        let mut c = customer("GC", "");
        credit_delivery(&mut c, 0.3);
        assert_eq!((c.c_balance, c.c_delivery_cnt), (cents(-10.0 + 0.3), 1));
    }

    #[test]
    fn stock_level_counts_distinct_recent_items_below_the_threshold() {
        assert_eq!(recent_orders(3001), 2981..3001);
        assert_eq!(recent_orders(5), 0..5);
        assert_eq!(distinct_items([5, 3, 5, 1, 3]), [1, 3, 5]);
        assert_eq!(count_low([9, 10, 11, 20], 11), 2);
        assert_eq!(count_low([], 20), 0);
    }
}
