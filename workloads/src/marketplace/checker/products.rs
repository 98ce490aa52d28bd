//! Product updates: none lost, replicas converged, and checkouts bought what was current.

use super::*;

/// Product price and version are the last logged ones; stock follows the product's version.
pub(super) fn lost_update(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "lost_update";
    let stock: HashMap<ProductKey, &StockItem> = c
        .state
        .stock_items
        .iter()
        .map(|s| ((s.seller_id, s.product_id), s))
        .collect();
    for p in &c.state.products {
        let key = (p.seller_id, p.product_id);
        let Some(initial) = c.initial_products.get(&key) else {
            flag!(r, CLASS, "product {key:?} is not in the initial data");
            continue;
        };
        let price = c.prices.last(&key).unwrap_or(initial.price);
        if !money_eq(p.price, price) {
            flag!(
                r,
                CLASS,
                "product {key:?}: price {:.2}, last logged {price:.2}",
                p.price
            );
        }
        let version = c.versions.last(&key).unwrap_or(initial.version);
        if p.version != version {
            flag!(
                r,
                CLASS,
                "product {key:?}: version {}, last logged {version}",
                p.version
            );
        }
        if let Some(s) = stock.get(&key).filter(|s| s.version != p.version) {
            flag!(
                r,
                CLASS,
                "product {key:?}: version {}, its stock {}",
                p.version,
                s.version
            );
        }
    }
}

/// The cart's replica of every product equals the product. (Open cart lines may hold an older
/// price: a cart may reprice them at checkout, which `stale_checkout` judges.)
pub(super) fn stale_replica(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "stale_replica";
    // A system without a product replica in the cart has nothing to compare.
    if !c.state.replica_products.is_empty() {
        let replicas: HashMap<ProductKey, &ReplicaProduct> = c
            .state
            .replica_products
            .iter()
            .map(|p| ((p.seller_id, p.product_id), p))
            .collect();
        for p in &c.state.products {
            let key = (p.seller_id, p.product_id);
            let Some(rp) = replicas.get(&key) else {
                flag!(r, CLASS, "product {key:?} has no replica");
                continue;
            };
            if !money_eq(rp.price, p.price) || rp.version != p.version {
                let (seen, truth) = ((rp.price, rp.version), (p.price, p.version));
                flag!(
                    r,
                    CLASS,
                    "replica {key:?} at {seen:?}, product at {truth:?}"
                );
            }
        }
        for rp in &c.state.replica_products {
            let key = (rp.seller_id, rp.product_id);
            if !c.products.contains_key(&key) {
                flag!(r, CLASS, "replica of {key:?}, which is no product");
            }
        }
    }
}

/// Each order item has the price and version its product had when its checkout ran.
pub(super) fn stale_checkout(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "stale_checkout";
    for i in &c.state.order_items {
        let Some(o) = c.orders.get(&(i.customer_id, i.order_id)) else {
            continue;
        };
        let key = (i.seller_id, i.product_id);
        let Some(initial) = c.initial_products.get(&key) else {
            flag!(r, CLASS, "order item of unknown product {key:?}");
            continue;
        };
        let tid = o.instance_id;
        let current = (
            c.prices.before(&key, tid).unwrap_or(initial.price),
            c.versions.before(&key, tid).unwrap_or(initial.version),
        );
        if !money_eq(i.unit_price, current.0) || i.version != current.1 {
            let (order, bought) = ((i.customer_id, i.order_id), (i.unit_price, i.version));
            flag!(
                r,
                CLASS,
                "order {order:?} bought {key:?} at {bought:?}; at tid {tid} it was {current:?}"
            );
        }
    }
}
