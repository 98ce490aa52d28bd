//! Stock and checkout atomicity: every checkout took effect everywhere or nowhere.

use super::*;
use std::collections::HashSet;

pub(super) fn negative_stock(c: &Ctx, r: &mut AnomalyReport) {
    for s in &c.state.stock_items {
        if s.qty_available < 0 || s.qty_reserved < 0 {
            let (key, available, reserved) =
                ((s.seller_id, s.product_id), s.qty_available, s.qty_reserved);
            flag!(
                r,
                "negative_stock",
                "stock {key:?}: {available} available, {reserved} reserved"
            );
        }
    }
}

/// Units sold = units gone from stock, and nothing stays reserved.
pub(super) fn stock_reservation(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "stock_reservation";
    let initial: HashMap<ProductKey, i64> = c
        .initial
        .stock_items
        .iter()
        .map(|s| ((s.seller_id, s.product_id), s.qty_available))
        .collect();
    let mut sold: BTreeMap<ProductKey, i64> = BTreeMap::new();
    for i in &c.state.order_items {
        *sold.entry((i.seller_id, i.product_id)).or_default() += i64::from(i.quantity);
    }
    let mut present = HashSet::new();
    for s in &c.state.stock_items {
        let key = (s.seller_id, s.product_id);
        present.insert(key);
        let Some(&start) = initial.get(&key) else {
            flag!(r, CLASS, "stock {key:?} is not in the initial data");
            continue;
        };
        let (sold, now) = (sold.get(&key).copied().unwrap_or(0), s.qty_available);
        if start - now != sold {
            flag!(
                r,
                CLASS,
                "stock {key:?}: {start} - {now} available, {sold} units in order items"
            );
        }
        if s.qty_reserved != 0 {
            flag!(
                r,
                CLASS,
                "stock {key:?}: {} units left reserved",
                s.qty_reserved
            );
        }
    }
    for key in initial.keys().filter(|k| !present.contains(*k)) {
        flag!(r, CLASS, "stock {key:?} vanished");
    }
    for (key, units) in sold
        .iter()
        .filter(|(k, _)| !present.contains(*k) && !initial.contains_key(*k))
    {
        flag!(
            r,
            CLASS,
            "{units} units of {key:?} sold, but it has no stock item"
        );
    }
}

/// Per order: as many items, packages and (until it is delivered) seller entries as it counts,
/// totals that add up, one shipment; no shipment, item or entry without its order; items and
/// entries name their product's category. Leftover entries of delivered orders are a lifecycle
/// violation (`status_order`), not counted here.
pub(super) fn order_items(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "order_items";
    for o in &c.state.orders {
        let key = (o.customer_id, o.id);
        let n = o.count_items as usize;
        let items = rows_of(&c.items, &key);
        let entries = rows_of(&c.entries, &key).len();
        if items.len() != n || (entries != n && !c.delivered(&key)) {
            let n_items = items.len();
            flag!(
                r,
                CLASS,
                "order {key:?}: count_items {n}, {n_items} items, {entries} seller entries"
            );
        }
        let shipments = rows_of(&c.shipments, &key);
        if shipments.is_empty() {
            flag!(r, CLASS, "order {key:?} has no shipment");
        }
        for s in shipments {
            let (id, count) = (s.shipment_id, s.package_count);
            let packages = rows_of(&c.packages, &id).len();
            if packages != n || count as usize != packages {
                flag!(
                    r,
                    CLASS,
                    "order {key:?}: {n} items, shipment {id} counts {count}, has {packages} packages"
                );
            }
        }
        let wrong = wrong_totals(o, items);
        if !wrong.is_empty() {
            flag!(
                r,
                CLASS,
                "order {key:?}: {wrong:?} differ from the sums over its items"
            );
        }
    }
    let shipments = c
        .state
        .shipments
        .iter()
        .map(|s| ("shipment", (s.customer_id, s.order_id)));
    let items = c
        .state
        .order_items
        .iter()
        .map(|i| ("order item", (i.customer_id, i.order_id)));
    let entries = c
        .state
        .order_entries
        .iter()
        .map(|e| ("seller entry", (e.customer_id, e.order_id)));
    for (what, key) in shipments.chain(items).chain(entries) {
        if !c.orders.contains_key(&key) {
            flag!(r, CLASS, "{what} of order {key:?}, which does not exist");
        }
    }
    categories(c, r);
}

/// Order items and seller entries carry their product's category (categories never change).
fn categories(c: &Ctx, r: &mut AnomalyReport) {
    let items = c.state.order_items.iter().map(|i| {
        let product = (i.seller_id, i.product_id);
        (
            "order item",
            (i.customer_id, i.order_id),
            product,
            &i.product_category,
        )
    });
    let entries = c.state.order_entries.iter().map(|e| {
        let product = (e.seller_id, e.product_id);
        (
            "seller entry",
            (e.customer_id, e.order_id),
            product,
            &e.product_category,
        )
    });
    for (what, order, product, category) in items.chain(entries) {
        let Some(p) = c.initial_products.get(&product) else {
            continue; // an unknown product: `stock_reservation` counts what was sold of it
        };
        if *category != p.category {
            let want = &p.category;
            flag!(
                r,
                "order_items",
                "{what} of order {order:?}: product {product:?} in category {category:?}, not {want:?}"
            );
        }
    }
}

/// The names of an order's totals that differ from the sums over its items.
fn wrong_totals(o: &Order, items: &[&OrderItem]) -> Vec<&'static str> {
    let sum = |f: fn(&OrderItem) -> f64| items.iter().map(|i| f(i)).sum::<f64>();
    let amount = sum(|i| i.total_amount);
    let freight = sum(|i| i.freight_value);
    [
        ("total_items", o.total_items, sum(|i| i.total_items)),
        ("total_amount", o.total_amount, amount),
        ("total_freight", o.total_freight, freight),
        ("total_incentive", o.total_incentive, sum(|i| i.voucher)),
        ("total_invoice", o.total_invoice, amount + freight),
    ]
    .into_iter()
    .filter(|(_, stored, summed)| !money_eq(*stored, *summed))
    .map(|(name, ..)| name)
    .collect()
}

/// Per order: the payment lines pay the invoice, the voucher lines the item vouchers.
pub(super) fn payment(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "payment";
    for o in &c.state.orders {
        let key = (o.customer_id, o.id);
        let (vouchers, paid): (Vec<&OrderPayment>, Vec<&OrderPayment>) = rows_of(&c.payments, &key)
            .iter()
            .partition(|p| p.payment_type == "VOUCHER");
        let (paid_sum, invoice): (f64, f64) = (paid.iter().map(|p| p.value).sum(), o.total_invoice);
        if paid.is_empty() {
            flag!(r, CLASS, "order {key:?} has no non-voucher payment line");
        } else if !money_eq(paid_sum, invoice) {
            flag!(
                r,
                CLASS,
                "order {key:?}: paid {paid_sum:.2}, invoiced {invoice:.2}"
            );
        }
        let voucher_sum: f64 = vouchers.iter().map(|p| p.value).sum();
        let item_vouchers: f64 = rows_of(&c.items, &key).iter().map(|i| i.voucher).sum();
        if !money_eq(voucher_sum, item_vouchers) {
            flag!(
                r,
                CLASS,
                "order {key:?}: voucher lines {voucher_sum:.2}, items {item_vouchers:.2}"
            );
        }
    }
    for p in c
        .state
        .order_payments
        .iter()
        .filter(|p| !c.orders.contains_key(&(p.customer_id, p.order_id)))
    {
        let (key, seq) = ((p.customer_id, p.order_id), p.payment_sequential);
        flag!(
            r,
            CLASS,
            "payment line {seq} of order {key:?}, which does not exist"
        );
    }
}

/// Per customer, the counters grew by its orders and by its delivered packages.
pub(super) fn customer_counters(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "customer_counters";
    let initial: HashMap<CustomerId, &Customer> =
        c.initial.customers.iter().map(|c| (c.id, c)).collect();
    let mut orders: BTreeMap<CustomerId, u64> = BTreeMap::new();
    for o in &c.state.orders {
        *orders.entry(o.customer_id).or_default() += 1;
    }
    let mut delivered: BTreeMap<CustomerId, u64> = BTreeMap::new();
    for p in c.state.packages.iter().filter(|p| p.status == "delivered") {
        *delivered.entry(p.customer_id).or_default() += 1;
    }
    let mut present = HashSet::new();
    for cu in &c.state.customers {
        let id = cu.id;
        present.insert(id);
        let start = initial
            .get(&id)
            .map_or((0, 0), |i| (i.success_payment_count, i.delivery_count));
        let n_orders = orders.get(&id).copied().unwrap_or(0);
        if cu.success_payment_count != start.0 + n_orders {
            let counted = cu.success_payment_count.saturating_sub(start.0);
            flag!(
                r,
                CLASS,
                "customer {id}: {counted} successful payments counted, {n_orders} orders"
            );
        }
        let n_delivered = delivered.get(&id).copied().unwrap_or(0);
        if cu.delivery_count != start.1 + n_delivered {
            let counted = cu.delivery_count.saturating_sub(start.1);
            flag!(
                r,
                CLASS,
                "customer {id}: {counted} deliveries counted, {n_delivered} packages delivered"
            );
        }
    }
    let active: BTreeMap<CustomerId, u64> = orders.into_iter().chain(delivered).collect();
    for id in active.keys().filter(|id| !present.contains(*id)) {
        flag!(
            r,
            CLASS,
            "customer {id} has orders or deliveries but no row"
        );
    }
}
