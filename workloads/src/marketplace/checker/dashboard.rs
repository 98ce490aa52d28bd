//! The seller dashboard: each answer is internally consistent and is the snapshot its TID implies.

use super::*;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

/// One committed checkout, as each of its sellers sees it.
#[derive(Clone, Copy)]
struct SellerCheckout {
    tid: u64,
    order: OrderKey,
    /// How many sellers the order has.
    sellers: usize,
    /// How many items the order has (over all its sellers).
    items: u32,
}

/// What the log (and, if known, the final state) says each seller's dashboard must show.
pub(super) struct Expected {
    /// Per seller, the committed checkouts that include it, by TID.
    checkouts: HashMap<SellerId, Vec<SellerCheckout>>,
    /// The TID of the delivery that concluded each order.
    concluded: HashMap<OrderKey, u64>,
    /// The TID of the delivery that started each order's shipment (IN_TRANSIT).
    in_transit: HashMap<OrderKey, u64>,
    /// The TID of the delivery of each package, by its entry's key (seller, customer, order,
    /// product).
    delivered: HashMap<(SellerId, CustomerId, OrderId, ProductId), u64>,
    /// Per (customer, order, seller), its number of order items, if the final state is known.
    seller_items: Option<HashMap<(CustomerId, OrderId, SellerId), usize>>,
}

impl Expected {
    pub(super) fn new(log: &RunLog, items: Option<&[OrderItem]>) -> Self {
        let mut checkouts: HashMap<SellerId, Vec<SellerCheckout>> = HashMap::new();
        for (tid, _, done) in &log.checkouts {
            let Some(d) = done else { continue };
            let checkout = SellerCheckout {
                tid: *tid,
                order: (d.customer_id, d.order_id),
                sellers: d.sellers.len(),
                items: d.items,
            };
            for s in &d.sellers {
                checkouts.entry(*s).or_default().push(checkout);
            }
        }
        for v in checkouts.values_mut() {
            v.sort_by_key(|c| c.tid);
        }
        let (mut concluded, mut in_transit, mut delivered) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        /// Keeps the lowest TID per key.
        fn first<K: Eq + Hash>(map: &mut HashMap<K, u64>, key: K, tid: u64) {
            let at = map.entry(key).or_insert(tid);
            *at = (*at).min(tid);
        }
        for (tid, d) in &log.deliveries {
            for o in &d.concluded {
                first(&mut concluded, (o.customer_id, o.order_id), *tid);
            }
            for o in &d.in_transit {
                first(&mut in_transit, (o.customer_id, o.order_id), *tid);
            }
            for p in &d.delivered {
                let key = (p.seller_id, p.customer_id, p.order_id, p.product_id);
                first(&mut delivered, key, *tid);
            }
        }
        let seller_items = items.map(|items| {
            let mut map = HashMap::new();
            for i in items {
                *map.entry((i.customer_id, i.order_id, i.seller_id))
                    .or_default() += 1;
            }
            map
        });
        Expected {
            checkouts,
            concluded,
            in_transit,
            delivered,
            seller_items,
        }
    }

    /// How many entries `seller` must show for an order, if known: its items in the final
    /// state, or else all the order's items if the seller is its only one.
    fn entries(&self, seller: SellerId, c: &SellerCheckout) -> Option<usize> {
        let ((customer, order), items) = (c.order, c.items as usize);
        let from_state = self
            .seller_items
            .as_ref()
            .and_then(|m| m.get(&(customer, order, seller)));
        from_state.copied().or((c.sellers == 1).then_some(items))
    }
}

/// The in-flight orders of one seller (with their entry counts), swept through rising TIDs:
/// each checkout enters once and leaves once, so answers cost what they show, not the history.
struct Sweep<'e> {
    expected: &'e Expected,
    seller: SellerId,
    checkouts: &'e [SellerCheckout],
    next: usize,
    conclusions: BinaryHeap<Reverse<(u64, OrderKey)>>,
    in_flight: BTreeMap<OrderKey, Option<usize>>,
}

impl<'e> Sweep<'e> {
    fn new(expected: &'e Expected, seller: SellerId) -> Self {
        let checkouts = expected
            .checkouts
            .get(&seller)
            .map_or(&[][..], Vec::as_slice);
        let (next, conclusions, in_flight) = (0, BinaryHeap::new(), BTreeMap::new());
        Sweep {
            expected,
            seller,
            checkouts,
            next,
            conclusions,
            in_flight,
        }
    }

    /// The in-flight orders at `tid`, which must not be lower than at the previous call.
    fn advance(&mut self, tid: u64) -> &BTreeMap<OrderKey, Option<usize>> {
        while let Some(c) = self.checkouts.get(self.next).filter(|c| c.tid <= tid) {
            self.next += 1;
            self.in_flight
                .insert(c.order, self.expected.entries(self.seller, c));
            if let Some(end) = self.expected.concluded.get(&c.order) {
                self.conclusions.push(Reverse((*end, c.order)));
            }
        }
        while let Some(Reverse((_, key))) = self.conclusions.peek().filter(|Reverse(c)| c.0 <= tid)
        {
            self.in_flight.remove(key);
            self.conclusions.pop();
        }
        &self.in_flight
    }
}

/// Counts the violations of every answer in the log into `r`.
pub(super) fn check_all(log: &RunLog, items: &[OrderItem], r: &mut AnomalyReport) {
    let expected = Expected::new(log, Some(items));
    let mut by_seller: BTreeMap<SellerId, Vec<&Dashboard>> = BTreeMap::new();
    for d in &log.dashboards {
        by_seller.entry(d.seller_id).or_default().push(d);
    }
    for (seller, mut answers) in by_seller {
        answers.sort_by_key(|d| d.snapshot_tid);
        let mut sweep = Sweep::new(&expected, seller);
        for d in answers {
            for problem in problems(d, sweep.advance(d.snapshot_tid), &expected) {
                r.flag("dashboard", || problem);
            }
        }
    }
}

/// The violations of one answer, judged by the log alone.
pub(super) fn check_one(d: &Dashboard, log: &RunLog) -> u64 {
    let expected = Expected::new(log, None);
    let mut sweep = Sweep::new(&expected, d.seller_id);
    problems(d, sweep.advance(d.snapshot_tid), &expected).len() as u64
}

/// Describes the answer's violations: at most one for its aggregates and one for its snapshot.
fn problems(
    d: &Dashboard,
    in_flight: &BTreeMap<OrderKey, Option<usize>>,
    expected: &Expected,
) -> Vec<String> {
    let at = format!("seller {} at tid {}", d.seller_id, d.snapshot_tid);
    let aggregates = aggregate_problem(d);
    let snapshot = snapshot_problem(d, in_flight).or_else(|| status_problem(d, expected));
    aggregates
        .into_iter()
        .chain(snapshot)
        .map(|p| format!("{at}: {p}"))
        .collect()
}

/// Part (a): the aggregates equal those recomputed from the answer's own entries.
fn aggregate_problem(d: &Dashboard) -> Option<String> {
    let n = d.entries.len();
    let tolerance = MONEY_TOLERANCE * n as f64 + MONEY_TOLERANCE;
    let sum = |f: fn(&OrderEntry) -> f64| d.entries.iter().map(f).sum::<f64>();
    let orders: HashSet<OrderKey> = d
        .entries
        .iter()
        .map(|e| (e.customer_id, e.order_id))
        .collect();
    let mut wrong: Vec<&str> = [
        ("total_amount", d.total_amount, sum(|e| e.total_amount)),
        ("total_freight", d.total_freight, sum(|e| e.freight_value)),
        (
            "total_incentive",
            d.total_incentive,
            sum(|e| e.total_incentive),
        ),
        ("total_invoice", d.total_invoice, sum(|e| e.total_invoice)),
        ("total_items", d.total_items, sum(|e| e.total_items)),
    ]
    .into_iter()
    .filter(|(_, given, summed)| (given - summed).abs() > tolerance)
    .map(|(name, ..)| name)
    .collect();
    if d.count_orders != orders.len() as u64 {
        wrong.push("count_orders");
    }
    if d.count_items != n as u64 {
        wrong.push("count_items");
    }
    (!wrong.is_empty()).then(|| format!("{wrong:?} disagree with its {n} entries"))
}

/// Part (b): the answer shows exactly the seller's in-flight orders at its TID, each complete.
fn snapshot_problem(d: &Dashboard, expected: &BTreeMap<OrderKey, Option<usize>>) -> Option<String> {
    let (seller, tid) = (d.seller_id, d.snapshot_tid);
    if let Some(e) = d
        .entries
        .iter()
        .find(|e| e.instance_id > tid || e.seller_id != seller)
    {
        let (other, from) = (e.seller_id, e.instance_id);
        return Some(format!("shows an entry of seller {other} from tid {from}"));
    }
    let mut shown: BTreeMap<OrderKey, usize> = BTreeMap::new();
    for e in &d.entries {
        *shown.entry((e.customer_id, e.order_id)).or_default() += 1;
    }
    let missing: Vec<&OrderKey> = expected
        .keys()
        .filter(|k| !shown.contains_key(*k))
        .collect();
    let extra: Vec<&OrderKey> = shown
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Some(format!(
            "misses orders {missing:?}, shows orders {extra:?} it should not"
        ));
    }
    let partial = expected.iter().find_map(|(k, want)| {
        let has = shown[k];
        want.filter(|w| *w != has).map(|w| (k, has, w))
    });
    partial.map(|(k, has, want)| format!("shows order {k:?} with {has} entries, not {want}"))
}

/// Part (b), continued: each entry shows its order's status and its package's delivery as of the
/// answer's TID (an order is READY_FOR_SHIPMENT from its checkout on, IN_TRANSIT from its first
/// delivery; an entry is delivered from its package's delivery).
fn status_problem(d: &Dashboard, expected: &Expected) -> Option<String> {
    let tid = d.snapshot_tid;
    let by = |at: Option<&u64>| at.is_some_and(|t| *t <= tid);
    d.entries.iter().find_map(|e| {
        let order = (e.customer_id, e.order_id);
        let status = if by(expected.in_transit.get(&order)) {
            IN_TRANSIT
        } else {
            READY_FOR_SHIPMENT
        };
        let key = (e.seller_id, e.customer_id, e.order_id, e.product_id);
        let delivery = if by(expected.delivered.get(&key)) {
            "delivered"
        } else {
            "pending"
        };
        let shown = (e.order_status.as_str(), e.delivery_status.as_str());
        (shown != (status, delivery)).then(|| {
            let product = e.product_id;
            format!(
                "shows order {order:?} product {product} as {shown:?}, not ({status}, {delivery})"
            )
        })
    })
}
