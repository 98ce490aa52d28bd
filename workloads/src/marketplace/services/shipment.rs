//! Shipment: shipments, packages, and the delivery runs.
use crate::marketplace::logic::new_shipment;
use crate::marketplace::model::*;
use vmodb::{Handler, Service, TableDef, TxCtx, TxError};

pub(super) fn shipment() -> Service {
    Service::new("shipment")
        .table(
            TableDef::<Shipment>::new("shipments", &["shipment_id"]).partial_index(
                "open",
                "open",
                true,
                &[],
            ),
        )
        .table(
            TableDef::<Package>::new("packages", &["shipment_id", "package_id"])
                .index("by_shipment", &["shipment_id"]),
        )
        .handler(
            Handler::on::<PaymentConfirmed>("payment_confirmed")
                .emits::<ShipmentApproved>("shipment_approved")
                .write_only()
                // Safe: inserts a new shipment keyed by this TID and its packages; the delivery
                // handler that reads shipments is single-mode, so it never overlaps this one.
                .parallel()
                .run(|ctx, e| {
                    let (shipment, packages) = new_shipment(&e, ctx.tid(), ctx.now_us());
                    let shipment_id = shipment.shipment_id;
                    ctx.table::<Shipment>()?.insert(shipment)?;
                    let table = ctx.table::<Package>()?;
                    for p in packages {
                        table.insert(p)?;
                    }
                    Ok(ShipmentApproved {
                        shipment_id,
                        invoice: e,
                    })
                }),
        )
        .handler(
            Handler::on::<UpdateDelivery>("update_delivery")
                .emits::<Deliveries>("deliveries")
                .read_write()
                // Single: picks shipments across all customers.
                .single()
                .run(deliver),
        )
}

/// Delivers, for the first `max_sellers` sellers with undelivered packages (oldest shipments
/// first), that seller's packages in its oldest open shipment.
fn deliver(ctx: &TxCtx, e: UpdateDelivery) -> Result<Option<Deliveries>, TxError> {
    let shipments = ctx.table::<Shipment>()?;
    let packages = ctx.table::<Package>()?;
    let now = ctx.now_us();
    let mut chosen: Vec<(SellerId, u64)> = Vec::new();
    let mut open = Vec::new();
    'scan: for s in shipments.in_partial("open").rows()? {
        let pkgs = packages.by_index("by_shipment", (s.shipment_id,)).rows()?;
        for p in &pkgs {
            if p.status != "delivered" && !chosen.iter().any(|(seller, _)| *seller == p.seller_id) {
                chosen.push((p.seller_id, s.shipment_id));
                if chosen.len() >= e.max_sellers as usize {
                    open.push((s, pkgs));
                    break 'scan;
                }
            }
        }
        open.push((s, pkgs));
    }
    if chosen.is_empty() {
        return Ok(None);
    }
    let mut out = Deliveries::default();
    for (mut s, pkgs) in open {
        let mut delivered_now = 0;
        let mut undelivered = 0;
        for mut p in pkgs {
            if p.status == "delivered" {
                continue;
            }
            if chosen.contains(&(p.seller_id, s.shipment_id)) {
                p.status = "delivered".into();
                p.delivery_date = now;
                out.delivered.push(DeliveredPackage {
                    customer_id: p.customer_id,
                    order_id: p.order_id,
                    seller_id: p.seller_id,
                    product_id: p.product_id,
                    package_id: p.package_id,
                });
                packages.update(p)?;
                delivered_now += 1;
            } else {
                undelivered += 1;
            }
        }
        if delivered_now == 0 {
            continue;
        }
        let order = OrderRef {
            customer_id: s.customer_id,
            order_id: s.order_id,
            sellers: Vec::new(),
        };
        let sellers: Vec<SellerId> = {
            let mut v: Vec<SellerId> = packages
                .by_index("by_shipment", (s.shipment_id,))
                .rows()?
                .iter()
                .map(|p| p.seller_id)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        if s.status == "approved" {
            s.status = "delivery_in_progress".into();
            out.in_transit.push(OrderRef {
                sellers: sellers.clone(),
                ..order.clone()
            });
        }
        if undelivered == 0 {
            s.status = "concluded".into();
            s.open = false;
            out.concluded.push(OrderRef { sellers, ..order });
        }
        shipments.update(s)?;
    }
    Ok(Some(out))
}
