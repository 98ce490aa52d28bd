//! The marketplace consistency checker. It judges any system (vMODB, or an eventually consistent
//! baseline) from three inputs only: the initial data set, the final state at quiescence, and the
//! driver's log of what committed. Each anomaly class has one function; every count is a number of
//! violating rows, orders or answers. See the benchmark digest, §5, for where each rule comes from.

use super::generator::Dataset;
use super::model::*;
use super::{MarketplaceState, RunLog};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;

/// Counts one violation of a class; formats its description only while examples are wanted.
macro_rules! flag {
    ($report:expr, $class:expr, $($description:tt)+) => {
        $report.flag($class, || format!($($description)+))
    };
}

mod atomicity;
mod dashboard;
mod lifecycle;
mod products;
#[cfg(test)]
mod tests;

/// Every anomaly class, in report order.
pub const CLASSES: [&str; 11] = [
    "negative_stock",
    "stock_reservation",
    "order_items",
    "payment",
    "customer_counters",
    "lost_update",
    "stale_replica",
    "stale_checkout",
    "status_order",
    "duplicate",
    "dashboard",
];

/// Tolerance of one compared money value (amounts are rounded to cents).
const MONEY_TOLERANCE: f64 = 0.005;
/// How many violations are described in `examples`.
const MAX_EXAMPLES: usize = 20;

/// Anomaly counts per class (an entry for each of `CLASSES`) and the first few, described.
#[derive(Clone, Debug, PartialEq)]
pub struct AnomalyReport {
    pub counts: BTreeMap<&'static str, u64>,
    pub examples: Vec<String>,
}

impl Default for AnomalyReport {
    fn default() -> Self {
        let counts = CLASSES.iter().map(|c| (*c, 0)).collect();
        AnomalyReport {
            counts,
            examples: Vec::new(),
        }
    }
}

impl AnomalyReport {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn is_clean(&self) -> bool {
        self.total() == 0
    }

    /// The count of one class (0 for an unknown name).
    pub fn count(&self, class: &str) -> u64 {
        self.counts.get(class).copied().unwrap_or(0)
    }

    /// Counts one violation of `class`; `what` describes it if examples are still wanted.
    fn flag(&mut self, class: &'static str, what: impl FnOnce() -> String) {
        debug_assert!(CLASSES.contains(&class), "unknown anomaly class {class}");
        *self.counts.entry(class).or_insert(0) += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(format!("{class}: {}", what()));
        }
    }
}

impl fmt::Display for AnomalyReport {
    /// `class=count` for every class, in report order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = CLASSES
            .iter()
            .map(|c| format!("{c}={}", self.count(c)))
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

/// Checks the final state and the run log against the initial data; see `CLASSES`.
pub fn check(initial: &Dataset, state: &MarketplaceState, log: &RunLog) -> AnomalyReport {
    let c = Ctx::new(initial, state, log);
    let mut r = AnomalyReport::default();
    atomicity::negative_stock(&c, &mut r);
    atomicity::stock_reservation(&c, &mut r);
    atomicity::order_items(&c, &mut r);
    atomicity::payment(&c, &mut r);
    atomicity::customer_counters(&c, &mut r);
    products::lost_update(&c, &mut r);
    products::stale_replica(&c, &mut r);
    products::stale_checkout(&c, &mut r);
    lifecycle::status_order(&c, &mut r);
    lifecycle::duplicate(&c, &mut r);
    dashboard::check_all(log, &state.order_items, &mut r);
    r
}

/// Violations in one dashboard answer: one if its aggregates disagree with its entries, one if it
/// is not the snapshot the log implies. Without the final state, an order's entry count is checked
/// only when the order has this seller alone (its item count is then in the log).
pub fn check_dashboard(d: &Dashboard, log: &RunLog) -> u64 {
    dashboard::check_one(d, log)
}

// ---------------------------------------------------------------- indexes

type OrderKey = (CustomerId, OrderId);
type ProductKey = (SellerId, ProductId);

fn money_eq(a: f64, b: f64) -> bool {
    (a - b).abs() <= MONEY_TOLERANCE
}

/// Rows grouped by a key.
fn group<T, K: Eq + Hash>(rows: &[T], key: impl Fn(&T) -> K) -> HashMap<K, Vec<&T>> {
    let mut map: HashMap<K, Vec<&T>> = HashMap::new();
    for row in rows {
        map.entry(key(row)).or_default().push(row);
    }
    map
}

/// The rows of one group (none if the key is absent).
fn rows_of<'m, K: Eq + Hash, T>(map: &'m HashMap<K, Vec<&T>>, key: &K) -> &'m [&'m T] {
    map.get(key).map_or(&[], Vec::as_slice)
}

/// Per product, the logged values and the TIDs that wrote them, sorted by TID.
struct Timeline<T>(HashMap<ProductKey, Vec<(u64, T)>>);

impl<T: Copy> Timeline<T> {
    fn new(entries: impl Iterator<Item = (ProductKey, u64, T)>) -> Self {
        let mut map: HashMap<ProductKey, Vec<(u64, T)>> = HashMap::new();
        for (key, tid, value) in entries {
            map.entry(key).or_default().push((tid, value));
        }
        for v in map.values_mut() {
            v.sort_by_key(|(tid, _)| *tid);
        }
        Timeline(map)
    }

    /// The value written last (highest TID).
    fn last(&self, key: &ProductKey) -> Option<T> {
        self.0.get(key).and_then(|v| v.last()).map(|(_, x)| *x)
    }

    /// The value written last by a TID before `tid`.
    fn before(&self, key: &ProductKey, tid: u64) -> Option<T> {
        let v = self.0.get(key)?;
        let n = v.partition_point(|(t, _)| *t < tid);
        n.checked_sub(1).map(|i| v[i].1)
    }
}

/// The inputs and the lookups most classes need.
struct Ctx<'a> {
    initial: &'a Dataset,
    state: &'a MarketplaceState,
    log: &'a RunLog,
    initial_products: HashMap<ProductKey, &'a Product>,
    products: HashMap<ProductKey, &'a Product>,
    orders: HashMap<OrderKey, &'a Order>,
    items: HashMap<OrderKey, Vec<&'a OrderItem>>,
    history: HashMap<OrderKey, Vec<&'a OrderHistory>>,
    payments: HashMap<OrderKey, Vec<&'a OrderPayment>>,
    shipments: HashMap<OrderKey, Vec<&'a Shipment>>,
    /// Packages by shipment id.
    packages: HashMap<u64, Vec<&'a Package>>,
    entries: HashMap<OrderKey, Vec<&'a OrderEntry>>,
    prices: Timeline<f64>,
    versions: Timeline<u64>,
}

impl<'a> Ctx<'a> {
    fn new(initial: &'a Dataset, state: &'a MarketplaceState, log: &'a RunLog) -> Self {
        let by_key = |p: &'a Product| ((p.seller_id, p.product_id), p);
        let prices = log
            .price_updates
            .iter()
            .map(|(t, u)| ((u.seller_id, u.product_id), *t, u.price));
        let versions = log
            .replacements
            .iter()
            .map(|(t, u)| ((u.seller_id, u.product_id), *t, u.version));
        Ctx {
            initial,
            state,
            log,
            initial_products: initial.products.iter().map(by_key).collect(),
            products: state.products.iter().map(by_key).collect(),
            orders: state
                .orders
                .iter()
                .map(|o| ((o.customer_id, o.id), o))
                .collect(),
            items: group(&state.order_items, |i| (i.customer_id, i.order_id)),
            history: group(&state.order_history, |h| (h.customer_id, h.order_id)),
            payments: group(&state.order_payments, |p| (p.customer_id, p.order_id)),
            shipments: group(&state.shipments, |s| (s.customer_id, s.order_id)),
            packages: group(&state.packages, |p| p.shipment_id),
            entries: group(&state.order_entries, |e| (e.customer_id, e.order_id)),
            prices: Timeline::new(prices),
            versions: Timeline::new(versions),
        }
    }

    /// Whether the order was delivered: its shipment concluded (its seller entries then left).
    fn delivered(&self, key: &OrderKey) -> bool {
        rows_of(&self.shipments, key)
            .iter()
            .any(|s| s.status == "concluded")
    }
}
