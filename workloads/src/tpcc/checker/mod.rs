//! The TPC-C consistency checker: the twelve consistency conditions of clause 3.3.2 (TPC-C v5.11),
//! judged on a final state alone. Each condition counts its violations as the condition is stated:
//! one per violating warehouse (1, 8), district (2, 3, 4, 9, 11), order (5, 6), order line (7) or
//! customer (10, 12). Every table is read once into hash indexes, so a spec-scale state (300,000
//! order lines per warehouse) is checked in linear time.
//!
//! Rows that reference a missing parent are counted where the condition cannot hold for them: a
//! NEW_ORDER row without its ORDER row under condition 5, an ORDER_LINE row without its ORDER row
//! under condition 7 (condition 4 sees both at district level).

use super::TpccState;
use super::model::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Counts one violation of a condition; formats its description only while examples are wanted.
macro_rules! flag {
    ($report:expr, $condition:expr, $($description:tt)+) => {
        $report.flag($condition, || format!($($description)+))
    };
}

#[cfg(test)]
mod tests;

/// Every consistency condition (clause 3.3.2.1 to 3.3.2.12), in report order.
pub const CONDITIONS: [&str; 12] = [
    CC1, CC2, CC3, CC4, CC5, CC6, CC7, CC8, CC9, CC10, CC11, CC12,
];

/// 3.3.2.1: W_YTD = Σ D_YTD, per warehouse.
pub const CC1: &str = "cc1_warehouse_ytd";
/// 3.3.2.2: D_NEXT_O_ID − 1 = max(O_ID) = max(NO_O_ID), per district.
pub const CC2: &str = "cc2_next_order_id";
/// 3.3.2.3: max(NO_O_ID) − min(NO_O_ID) + 1 = count(NEW_ORDER), per district with new orders.
pub const CC3: &str = "cc3_new_order_range";
/// 3.3.2.4: Σ O_OL_CNT = count(ORDER_LINE), per district.
pub const CC4: &str = "cc4_district_order_lines";
/// 3.3.2.5: O_CARRIER_ID is null iff a NEW_ORDER row exists, per order.
pub const CC5: &str = "cc5_carrier_new_order";
/// 3.3.2.6: O_OL_CNT = count(ORDER_LINE), per order.
pub const CC6: &str = "cc6_order_line_count";
/// 3.3.2.7: OL_DELIVERY_D is null iff its order's O_CARRIER_ID is null, per order line.
pub const CC7: &str = "cc7_delivery_date";
/// 3.3.2.8: W_YTD = Σ H_AMOUNT by H_W_ID, per warehouse.
pub const CC8: &str = "cc8_warehouse_history";
/// 3.3.2.9: D_YTD = Σ H_AMOUNT by (H_W_ID, H_D_ID), per district.
pub const CC9: &str = "cc9_district_history";
/// 3.3.2.10: C_BALANCE = Σ delivered OL_AMOUNT − Σ H_AMOUNT, per customer.
pub const CC10: &str = "cc10_customer_balance";
/// 3.3.2.11: count(ORDER) − count(NEW_ORDER) = its value at load, per district (before any
/// Delivery).
pub const CC11: &str = "cc11_delivered_orders";
/// 3.3.2.12: C_BALANCE + C_YTD_PAYMENT = Σ delivered OL_AMOUNT, per customer.
pub const CC12: &str = "cc12_customer_payments";

/// The rounding error of one money value (amounts are rounded to cents).
const HALF_CENT: f64 = 0.005;
/// How many violations are described in `examples`.
const MAX_EXAMPLES: usize = 20;

/// Violation counts per condition (an entry for each of `CONDITIONS`) and the first few,
/// described.
#[derive(Clone, Debug, PartialEq)]
pub struct TpccReport {
    pub counts: BTreeMap<&'static str, u64>,
    pub examples: Vec<String>,
}

impl Default for TpccReport {
    fn default() -> Self {
        TpccReport {
            counts: CONDITIONS.iter().map(|c| (*c, 0)).collect(),
            examples: Vec::new(),
        }
    }
}

impl TpccReport {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_clean(&self) -> bool {
        self.total() == 0
    }

    /// The count of one condition (0 for an unknown name).
    pub fn count(&self, condition: &str) -> u64 {
        self.counts.get(condition).copied().unwrap_or(0)
    }

    /// Counts one violation of `condition`; `what` describes it if examples are still wanted.
    fn flag(&mut self, condition: &'static str, what: impl FnOnce() -> String) {
        debug_assert!(
            CONDITIONS.contains(&condition),
            "unknown condition {condition}"
        );
        *self.counts.entry(condition).or_insert(0) += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(format!("{condition}: {}", what()));
        }
    }
}

impl fmt::Display for TpccReport {
    /// `condition=count` for every condition, in report order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = CONDITIONS
            .iter()
            .map(|c| format!("{c}={}", self.count(c)))
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

/// What the state alone cannot tell the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Whether any Delivery transaction ran since the load (any run of the standard mix does).
    /// Condition 11 holds only until the first Delivery, so it is checked only when this is false.
    pub deliveries_ran: bool,
    /// Per district, count(ORDER) − count(NEW_ORDER) at load: the delivered initial orders,
    /// `ORDERS_PER_DISTRICT − NEW_ORDERS_PER_DISTRICT` (2,100) at the specification's scale.
    pub initial_delivered_per_district: u32,
}

impl CheckOptions {
    /// A database populated at the specification's scale (2,100 delivered orders per district).
    pub const fn spec_scale(deliveries_ran: bool) -> Self {
        CheckOptions {
            deliveries_ran,
            initial_delivered_per_district: ORDERS_PER_DISTRICT - NEW_ORDERS_PER_DISTRICT,
        }
    }
}

/// Checks the consistency conditions of clause 3.3.2 on `state`; see `CONDITIONS`. Money is
/// compared with a tolerance of half a cent per value compared or summed.
pub fn check(state: &TpccState, options: CheckOptions) -> TpccReport {
    let ix = Index::new(state);
    let mut r = TpccReport::default();
    cc1_warehouse_ytd(&ix, &mut r);
    cc2_next_order_id(&ix, &mut r);
    cc3_new_order_range(&ix, &mut r);
    cc4_district_order_lines(&ix, &mut r);
    cc5_carrier_new_order(&ix, &mut r);
    cc6_order_line_count(&ix, &mut r);
    cc7_delivery_date(&ix, &mut r);
    cc8_warehouse_history(&ix, &mut r);
    cc9_district_history(&ix, &mut r);
    cc10_customer_balance(&ix, &mut r);
    if !options.deliveries_ran {
        cc11_delivered_orders(&ix, options.initial_delivered_per_district, &mut r);
    }
    cc12_customer_payments(&ix, &mut r);
    r
}

// ---------------------------------------------------------------- indexes

type DistrictKey = (WarehouseId, DistrictId);
type OrderKey = (WarehouseId, DistrictId, OrderId);
type CustomerKey = (WarehouseId, DistrictId, CustomerId);

/// A sum of money and how many amounts it adds.
#[derive(Clone, Copy, Debug, Default)]
struct Sum {
    total: f64,
    n: usize,
}

impl Sum {
    fn add(&mut self, amount: f64) {
        self.total += amount;
        self.n += 1;
    }
}

/// Whether two money values agree, `terms` values summed into them in all. Every amount the
/// transactions write is rounded to whole cents, so only floating-point error separates two
/// correct sums: half a cent, plus a relative bound of the summation error.
fn money_eq(a: f64, b: f64, terms: usize) -> bool {
    let magnitude = a.abs().max(b.abs()).max(1.0);
    (a - b).abs() <= HALF_CENT + 1e-12 * terms.max(1) as f64 * magnitude
}

/// Per district, what the ORDER, NEW_ORDER and ORDER_LINE tables hold.
#[derive(Clone, Copy, Debug, Default)]
struct DistrictStats {
    orders: u64,
    max_o_id: Option<OrderId>,
    ol_cnt_sum: u64,
    new_orders: u64,
    min_no_o_id: Option<OrderId>,
    max_no_o_id: Option<OrderId>,
    order_lines: u64,
}

/// One pass over each table.
struct Index<'a> {
    state: &'a TpccState,
    /// Σ D_YTD per warehouse.
    district_ytd: BTreeMap<WarehouseId, Sum>,
    /// Every district seen in DISTRICT, ORDER, NEW_ORDER or ORDER_LINE.
    districts: BTreeMap<DistrictKey, DistrictStats>,
    orders: HashMap<OrderKey, &'a Order>,
    new_orders: HashSet<OrderKey>,
    lines_per_order: HashMap<OrderKey, u32>,
    /// Σ OL_AMOUNT of each customer's delivered order lines.
    delivered: HashMap<CustomerKey, Sum>,
    history_by_warehouse: BTreeMap<WarehouseId, Sum>,
    history_by_district: BTreeMap<DistrictKey, Sum>,
    history_by_customer: HashMap<CustomerKey, Sum>,
}

impl<'a> Index<'a> {
    fn new(state: &'a TpccState) -> Self {
        let mut district_ytd: BTreeMap<WarehouseId, Sum> = BTreeMap::new();
        let mut districts: BTreeMap<DistrictKey, DistrictStats> = BTreeMap::new();
        for d in &state.districts {
            district_ytd.entry(d.d_w_id).or_default().add(d.d_ytd);
            districts.entry((d.d_w_id, d.d_id)).or_default();
        }

        let mut orders = HashMap::with_capacity(state.orders.len());
        for o in &state.orders {
            orders.insert((o.o_w_id, o.o_d_id, o.o_id), o);
            let s = districts.entry((o.o_w_id, o.o_d_id)).or_default();
            s.orders += 1;
            s.max_o_id = s.max_o_id.max(Some(o.o_id));
            s.ol_cnt_sum += u64::from(o.o_ol_cnt);
        }

        let mut new_orders = HashSet::with_capacity(state.new_orders.len());
        for no in &state.new_orders {
            new_orders.insert((no.no_w_id, no.no_d_id, no.no_o_id));
            let s = districts.entry((no.no_w_id, no.no_d_id)).or_default();
            s.new_orders += 1;
            s.min_no_o_id = Some(s.min_no_o_id.map_or(no.no_o_id, |m| m.min(no.no_o_id)));
            s.max_no_o_id = s.max_no_o_id.max(Some(no.no_o_id));
        }

        let mut lines_per_order: HashMap<OrderKey, u32> = HashMap::with_capacity(orders.len());
        let mut delivered: HashMap<CustomerKey, Sum> = HashMap::new();
        for ol in &state.order_lines {
            let key = (ol.ol_w_id, ol.ol_d_id, ol.ol_o_id);
            *lines_per_order.entry(key).or_insert(0) += 1;
            districts
                .entry((ol.ol_w_id, ol.ol_d_id))
                .or_default()
                .order_lines += 1;
            if ol.ol_delivery_d.is_some()
                && let Some(o) = orders.get(&key)
            {
                let customer = (o.o_w_id, o.o_d_id, o.o_c_id);
                delivered.entry(customer).or_default().add(ol.ol_amount);
            }
        }

        let mut history_by_warehouse: BTreeMap<WarehouseId, Sum> = BTreeMap::new();
        let mut history_by_district: BTreeMap<DistrictKey, Sum> = BTreeMap::new();
        let mut history_by_customer: HashMap<CustomerKey, Sum> = HashMap::new();
        for h in &state.history {
            history_by_warehouse
                .entry(h.h_w_id)
                .or_default()
                .add(h.h_amount);
            history_by_district
                .entry((h.h_w_id, h.h_d_id))
                .or_default()
                .add(h.h_amount);
            history_by_customer
                .entry((h.h_c_w_id, h.h_c_d_id, h.h_c_id))
                .or_default()
                .add(h.h_amount);
        }

        Index {
            state,
            district_ytd,
            districts,
            orders,
            new_orders,
            lines_per_order,
            delivered,
            history_by_warehouse,
            history_by_district,
            history_by_customer,
        }
    }

    fn stats(&self, key: &DistrictKey) -> DistrictStats {
        self.districts.get(key).copied().unwrap_or_default()
    }
}

/// The sum under `key` (zero amounts if absent).
fn sum_of<K: Ord>(map: &BTreeMap<K, Sum>, key: &K) -> Sum {
    map.get(key).copied().unwrap_or_default()
}

/// The sum under `key` (zero amounts if absent).
fn hashed_sum_of(map: &HashMap<CustomerKey, Sum>, key: &CustomerKey) -> Sum {
    map.get(key).copied().unwrap_or_default()
}

// ---------------------------------------------------------------- conditions

/// 3.3.2.1: W_YTD = Σ D_YTD for each warehouse.
fn cc1_warehouse_ytd(ix: &Index, r: &mut TpccReport) {
    for w in &ix.state.warehouses {
        let d = sum_of(&ix.district_ytd, &w.w_id);
        if !money_eq(w.w_ytd, d.total, d.n + 1) {
            flag!(
                r,
                CC1,
                "warehouse {}: w_ytd {:.2}, Σ d_ytd {:.2} over {} districts",
                w.w_id,
                w.w_ytd,
                d.total,
                d.n
            );
        }
    }
}

/// 3.3.2.2: D_NEXT_O_ID − 1 = max(O_ID) = max(NO_O_ID) for each district; the NEW_ORDER part
/// only if the district has new orders. A district without orders must have D_NEXT_O_ID = 1.
fn cc2_next_order_id(ix: &Index, r: &mut TpccReport) {
    for d in &ix.state.districts {
        let s = ix.stats(&(d.d_w_id, d.d_id));
        let last = i64::from(d.d_next_o_id) - 1;
        let orders_ok = i64::from(s.max_o_id.unwrap_or(0)) == last;
        let new_orders_ok = s.max_no_o_id.is_none_or(|m| i64::from(m) == last);
        if !(orders_ok && new_orders_ok) {
            flag!(
                r,
                CC2,
                "district ({}, {}): d_next_o_id {}, max(o_id) {:?}, max(no_o_id) {:?}",
                d.d_w_id,
                d.d_id,
                d.d_next_o_id,
                s.max_o_id,
                s.max_no_o_id
            );
        }
    }
}

/// 3.3.2.3: max(NO_O_ID) − min(NO_O_ID) + 1 = count(NEW_ORDER) for each district with new orders.
fn cc3_new_order_range(ix: &Index, r: &mut TpccReport) {
    for (&(w, d), s) in &ix.districts {
        let (Some(min), Some(max)) = (s.min_no_o_id, s.max_no_o_id) else {
            continue;
        };
        let range = u64::from(max - min) + 1;
        if range != s.new_orders {
            flag!(
                r,
                CC3,
                "district ({w}, {d}): new orders {min}..={max} ({range} ids), {} rows",
                s.new_orders
            );
        }
    }
}

/// 3.3.2.4: Σ O_OL_CNT = count(ORDER_LINE) for each district.
fn cc4_district_order_lines(ix: &Index, r: &mut TpccReport) {
    for (&(w, d), s) in &ix.districts {
        if s.ol_cnt_sum != s.order_lines {
            flag!(
                r,
                CC4,
                "district ({w}, {d}): Σ o_ol_cnt {}, {} order lines",
                s.ol_cnt_sum,
                s.order_lines
            );
        }
    }
}

/// 3.3.2.5: for each order, O_CARRIER_ID is null iff the order has a NEW_ORDER row. A NEW_ORDER
/// row without its order is counted too.
fn cc5_carrier_new_order(ix: &Index, r: &mut TpccReport) {
    for o in &ix.state.orders {
        let key = (o.o_w_id, o.o_d_id, o.o_id);
        let pending = ix.new_orders.contains(&key);
        if o.o_carrier_id.is_none() != pending {
            flag!(
                r,
                CC5,
                "order {key:?}: o_carrier_id {:?}, {} NEW_ORDER row",
                o.o_carrier_id,
                if pending { "a" } else { "no" }
            );
        }
    }
    for no in &ix.state.new_orders {
        let key = (no.no_w_id, no.no_d_id, no.no_o_id);
        if !ix.orders.contains_key(&key) {
            flag!(r, CC5, "NEW_ORDER row {key:?} has no order");
        }
    }
}

/// 3.3.2.6: for each order, O_OL_CNT = its number of ORDER_LINE rows.
fn cc6_order_line_count(ix: &Index, r: &mut TpccReport) {
    for o in &ix.state.orders {
        let key = (o.o_w_id, o.o_d_id, o.o_id);
        let lines = ix.lines_per_order.get(&key).copied().unwrap_or(0);
        if lines != u32::from(o.o_ol_cnt) {
            flag!(
                r,
                CC6,
                "order {key:?}: o_ol_cnt {}, {lines} order lines",
                o.o_ol_cnt
            );
        }
    }
}

/// 3.3.2.7: for each order line, OL_DELIVERY_D is null iff its order's O_CARRIER_ID is null. An
/// order line without its order is counted too.
fn cc7_delivery_date(ix: &Index, r: &mut TpccReport) {
    for ol in &ix.state.order_lines {
        let key = (ol.ol_w_id, ol.ol_d_id, ol.ol_o_id, ol.ol_number);
        match ix.orders.get(&(ol.ol_w_id, ol.ol_d_id, ol.ol_o_id)) {
            None => flag!(r, CC7, "order line {key:?} has no order"),
            Some(o) if o.o_carrier_id.is_none() != ol.ol_delivery_d.is_none() => flag!(
                r,
                CC7,
                "order line {key:?}: ol_delivery_d {:?}, o_carrier_id {:?}",
                ol.ol_delivery_d,
                o.o_carrier_id
            ),
            Some(_) => {}
        }
    }
}

/// 3.3.2.8: W_YTD = Σ H_AMOUNT of the history rows with H_W_ID = W_ID, for each warehouse.
fn cc8_warehouse_history(ix: &Index, r: &mut TpccReport) {
    for w in &ix.state.warehouses {
        let h = sum_of(&ix.history_by_warehouse, &w.w_id);
        if !money_eq(w.w_ytd, h.total, h.n + 1) {
            flag!(
                r,
                CC8,
                "warehouse {}: w_ytd {:.2}, Σ h_amount {:.2} over {} rows",
                w.w_id,
                w.w_ytd,
                h.total,
                h.n
            );
        }
    }
}

/// 3.3.2.9: D_YTD = Σ H_AMOUNT of the history rows with (H_W_ID, H_D_ID) = (D_W_ID, D_ID), for
/// each district.
fn cc9_district_history(ix: &Index, r: &mut TpccReport) {
    for d in &ix.state.districts {
        let h = sum_of(&ix.history_by_district, &(d.d_w_id, d.d_id));
        if !money_eq(d.d_ytd, h.total, h.n + 1) {
            flag!(
                r,
                CC9,
                "district ({}, {}): d_ytd {:.2}, Σ h_amount {:.2} over {} rows",
                d.d_w_id,
                d.d_id,
                d.d_ytd,
                h.total,
                h.n
            );
        }
    }
}

/// 3.3.2.10: C_BALANCE = Σ OL_AMOUNT of the customer's delivered order lines − Σ H_AMOUNT of the
/// history rows with (H_C_W_ID, H_C_D_ID, H_C_ID) = the customer, for each customer.
fn cc10_customer_balance(ix: &Index, r: &mut TpccReport) {
    for c in &ix.state.customers {
        let key = (c.c_w_id, c.c_d_id, c.c_id);
        let ol = hashed_sum_of(&ix.delivered, &key);
        let h = hashed_sum_of(&ix.history_by_customer, &key);
        let expected = ol.total - h.total;
        if !money_eq(c.c_balance, expected, ol.n + h.n + 1) {
            flag!(
                r,
                CC10,
                "customer {key:?}: c_balance {:.2}, Σ delivered ol_amount {:.2} − Σ h_amount {:.2} \
                 = {expected:.2}",
                c.c_balance,
                ol.total,
                h.total
            );
        }
    }
}

/// 3.3.2.11: count(ORDER) − count(NEW_ORDER) = `initial` (2,100 at spec scale) for each district.
/// Holds only until the first Delivery.
fn cc11_delivered_orders(ix: &Index, initial: u32, r: &mut TpccReport) {
    for d in &ix.state.districts {
        let s = ix.stats(&(d.d_w_id, d.d_id));
        let difference = s.orders as i64 - s.new_orders as i64;
        if difference != i64::from(initial) {
            flag!(
                r,
                CC11,
                "district ({}, {}): {} orders − {} new orders = {difference}, {initial} at load",
                d.d_w_id,
                d.d_id,
                s.orders,
                s.new_orders
            );
        }
    }
}

/// 3.3.2.12: C_BALANCE + C_YTD_PAYMENT = Σ OL_AMOUNT of the customer's delivered order lines, for
/// each customer.
fn cc12_customer_payments(ix: &Index, r: &mut TpccReport) {
    for c in &ix.state.customers {
        let key = (c.c_w_id, c.c_d_id, c.c_id);
        let ol = hashed_sum_of(&ix.delivered, &key);
        let paid = c.c_balance + c.c_ytd_payment;
        if !money_eq(paid, ol.total, ol.n + 2) {
            flag!(
                r,
                CC12,
                "customer {key:?}: c_balance {:.2} + c_ytd_payment {:.2} = {paid:.2}, Σ delivered \
                 ol_amount {:.2}",
                c.c_balance,
                c.c_ytd_payment,
                ol.total
            );
        }
    }
}
