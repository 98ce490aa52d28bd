//! Order lifecycle (statuses advance in order and agree across services) and exactly-once effects.

use super::*;
use std::collections::HashSet;

/// History monotone and ending at the order's status; entries, shipments and packages agree.
pub(super) fn status_order(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "status_order";
    for o in &c.state.orders {
        let (key, status) = ((o.customer_id, o.id), &o.status);
        let mut history = rows_of(&c.history, &key).to_vec();
        history.sort_by_key(|h| h.seq);
        let statuses: Vec<&str> = history.iter().map(|h| h.status.as_str()).collect();
        if statuses
            .windows(2)
            .any(|w| status_rank(w[1]) < status_rank(w[0]))
        {
            flag!(
                r,
                CLASS,
                "order {key:?}: history goes backwards: {statuses:?}"
            );
        }
        if statuses.last() != Some(&status.as_str()) {
            flag!(
                r,
                CLASS,
                "order {key:?}: status {status}, history {statuses:?}"
            );
        }
        for e in rows_of(&c.entries, &key)
            .iter()
            .filter(|e| e.order_status != *status)
        {
            let (seller, seen) = (e.seller_id, &e.order_status);
            flag!(
                r,
                CLASS,
                "order {key:?}: status {status}, seller {seller}'s entry says {seen}"
            );
        }
        for s in rows_of(&c.shipments, &key) {
            if (s.status == "concluded") != (status == "DELIVERED") {
                flag!(
                    r,
                    CLASS,
                    "order {key:?} is {status}, its shipment {}",
                    s.status
                );
            }
        }
    }
    for s in &c.state.shipments {
        shipment_status(c, s, r);
    }
    let entries: HashMap<(SellerId, CustomerId, OrderId, ProductId), &OrderEntry> = c
        .state
        .order_entries
        .iter()
        .map(|e| ((e.seller_id, e.customer_id, e.order_id, e.product_id), e))
        .collect();
    for p in &c.state.packages {
        let Some(e) = entries.get(&(p.seller_id, p.customer_id, p.order_id, p.product_id)) else {
            continue;
        };
        if (p.status == "delivered") != (e.delivery_status == "delivered") {
            let (id, seen) = ((p.shipment_id, p.package_id), &e.delivery_status);
            flag!(
                r,
                CLASS,
                "package {id:?} is {}, its seller entry {seen}",
                p.status
            );
        }
    }
}

/// A shipment is concluded (and closed) exactly when all its packages are delivered.
fn shipment_status(c: &Ctx, s: &Shipment, r: &mut AnomalyReport) {
    const CLASS: &str = "status_order";
    let (id, status, open) = (s.shipment_id, &s.status, s.open);
    let concluded = status == "concluded";
    if concluded == open {
        flag!(r, CLASS, "shipment {id}: status {status} but open = {open}");
    }
    let packages = rows_of(&c.packages, &id);
    let all_delivered = !packages.is_empty() && packages.iter().all(|p| p.status == "delivered");
    if (concluded || !open) && !all_delivered {
        flag!(
            r,
            CLASS,
            "shipment {id} is closed with undelivered packages"
        );
    }
    if all_delivered && (!concluded || open) {
        flag!(
            r,
            CLASS,
            "shipment {id} has every package delivered but is {status}"
        );
    }
}

/// One order per checkout, one shipment per order, one entry per order item; the orders are
/// exactly the log's committed checkouts.
pub(super) fn duplicate(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "duplicate";
    let mut seen = HashSet::new();
    for o in &c.state.orders {
        let key = (o.customer_id, o.id);
        if !seen.insert(key) {
            flag!(r, CLASS, "order {key:?} twice");
        }
    }
    let mut seen = HashSet::new();
    for o in &c.state.orders {
        let (key, tid) = ((o.customer_id, o.id), o.instance_id);
        if !seen.insert(tid) {
            flag!(r, CLASS, "order {key:?} repeats checkout tid {tid}");
        }
    }
    let mut seen = HashSet::new();
    for s in &c.state.shipments {
        let (key, id) = ((s.customer_id, s.order_id), s.shipment_id);
        if !seen.insert(key) {
            flag!(r, CLASS, "second shipment {id} of order {key:?}");
        }
    }
    let mut seen = HashSet::new();
    for e in &c.state.order_entries {
        let key = (e.seller_id, e.customer_id, e.order_id, e.product_id);
        if !seen.insert(key) {
            flag!(r, CLASS, "seller entry {key:?} twice");
        }
    }
    checkouts_once(c, r);
}

/// Each committed checkout in the log has its order, and each order a committed checkout.
fn checkouts_once(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "duplicate";
    let mut committed = HashSet::new();
    let mut seen = HashSet::new();
    for (tid, _, done) in &c.log.checkouts {
        if !seen.insert(*tid) {
            flag!(r, CLASS, "checkout tid {tid} logged twice");
        }
        let Some(done) = done else { continue };
        committed.insert(*tid);
        let key = (done.customer_id, done.order_id);
        match c.orders.get(&key).map(|o| o.instance_id) {
            None => flag!(
                r,
                CLASS,
                "checkout {tid} committed order {key:?}, which does not exist"
            ),
            Some(made_by) if made_by != *tid => {
                flag!(
                    r,
                    CLASS,
                    "checkout {tid} committed order {key:?}, made by tid {made_by}"
                )
            }
            Some(_) => {}
        }
    }
    if c.log.checkouts.is_empty() {
        return;
    }
    for o in c
        .state
        .orders
        .iter()
        .filter(|o| !committed.contains(&o.instance_id))
    {
        let (key, tid) = ((o.customer_id, o.id), o.instance_id);
        flag!(
            r,
            CLASS,
            "order {key:?} from tid {tid}, which is no committed checkout"
        );
    }
}
