//! Order lifecycle (statuses advance in order and agree across services) and exactly-once effects.

use super::*;
use std::collections::HashSet;

/// The order status its shipment's state implies (`None`: not a shipment status).
fn status_of_shipment(status: &str) -> Option<&'static str> {
    match status {
        "approved" => Some(READY_FOR_SHIPMENT),
        "delivery_in_progress" => Some(IN_TRANSIT),
        "concluded" => Some(DELIVERED),
        _ => None,
    }
}

/// Per order: its history is the lifecycle up to its status (one row per step, in order), its
/// status is the one its shipment implies, and its seller entries follow it while it is not
/// delivered and are gone once it is. Shipments and packages agree with each other and with the
/// entries.
pub(super) fn status_order(c: &Ctx, r: &mut AnomalyReport) {
    const CLASS: &str = "status_order";
    for o in &c.state.orders {
        let (key, status) = ((o.customer_id, o.id), o.status.as_str());
        history(c, key, status, r);
        for s in rows_of(&c.shipments, &key) {
            if status_of_shipment(&s.status) != Some(status) {
                let shipment = &s.status;
                flag!(
                    r,
                    CLASS,
                    "order {key:?} is {status}, its shipment {shipment}"
                );
            }
        }
        let entries = rows_of(&c.entries, &key);
        if c.delivered(&key) {
            if !entries.is_empty() {
                let n = entries.len();
                flag!(
                    r,
                    CLASS,
                    "order {key:?} was delivered, {n} seller entries remain"
                );
            }
            continue;
        }
        for e in entries.iter().filter(|e| e.order_status != status) {
            let (seller, seen) = (e.seller_id, &e.order_status);
            flag!(
                r,
                CLASS,
                "order {key:?}: status {status}, seller {seller}'s entry says {seen}"
            );
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

/// An order's history is the lifecycle's first steps, each once and in order, ending at its
/// status: one violation for a step backwards, else one for a step skipped or repeated, and one
/// if it ends elsewhere.
fn history(c: &Ctx, key: OrderKey, status: &str, r: &mut AnomalyReport) {
    const CLASS: &str = "status_order";
    let mut rows = rows_of(&c.history, &key).to_vec();
    rows.sort_by_key(|h| h.seq);
    let statuses: Vec<&str> = rows.iter().map(|h| h.status.as_str()).collect();
    if statuses
        .windows(2)
        .any(|w| status_rank(w[1]) < status_rank(w[0]))
    {
        flag!(
            r,
            CLASS,
            "order {key:?}: history goes backwards: {statuses:?}"
        );
    } else if !ORDER_STATUSES.starts_with(&statuses) || statuses.is_empty() {
        flag!(
            r,
            CLASS,
            "order {key:?}: history skips or repeats a status: {statuses:?}"
        );
    }
    if statuses.last() != Some(&status) {
        flag!(
            r,
            CLASS,
            "order {key:?}: status {status}, history {statuses:?}"
        );
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
