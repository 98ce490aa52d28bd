//! Shipment: shipments, packages, and the delivery runs.
//!
//! Shipments are partitioned by customer (`shipment_partition`), as the Orleans implementation
//! (and the baseline) partitions them: a delivery run that names a partition scans only that
//! partition's open shipments and runs beside runs of other partitions and checkouts of other
//! customers' partitions; a run without one scans every open shipment, alone.
use crate::marketplace::logic::{deliver_package, new_shipment};
use crate::marketplace::model::*;
use serde::{Deserialize, Serialize};
use vmodb::{Entity, Handler, Service, TableDef, TxCtx, TxError};

/// An open shipment in its partition; a partition's rows in key order are its open shipments,
/// oldest first. The service's own bookkeeping, not a benchmark table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenShipment {
    pub partition: u32,
    pub shipment_id: u64,
}

impl Entity for OpenShipment {
    type Key = (u32, u64);
    fn key(&self) -> (u32, u64) {
        (self.partition, self.shipment_id)
    }
}

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
        .table(
            TableDef::<OpenShipment>::new("open_shipments", &["partition", "shipment_id"])
                .index("by_partition", &["partition"]),
        )
        .handler(
            Handler::on::<PaymentConfirmed>("payment_confirmed")
                .emits::<ShipmentApproved>("shipment_approved")
                .write_only()
                // Safe: inserts a new shipment keyed by this TID, its packages and its open
                // entry, all in the customer's partition, which a delivery run of that
                // partition (or of all) reads: they never overlap.
                .partition_by(|e: &PaymentConfirmed| shipment_partition(e.customer_id))
                .run(|ctx, e| {
                    let (shipment, packages) = new_shipment(&e, ctx.tid(), ctx.now_us());
                    let shipment_id = shipment.shipment_id;
                    ctx.table::<OpenShipment>()?.insert(OpenShipment {
                        partition: shipment_partition(shipment.customer_id),
                        shipment_id,
                    })?;
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
                // Safe: reads and writes shipments, packages and open entries of its partition
                // only; a run without a partition has no key and runs alone.
                .partition_by_keys(|e: &UpdateDelivery| e.partition)
                .run(deliver),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .single()
                .run(|ctx, _| {
                    super::clear(&ctx.table::<Package>()?)?;
                    super::clear(&ctx.table::<OpenShipment>()?)?;
                    super::clear(&ctx.table::<Shipment>()?)
                }),
        )
}

/// Delivers, for the first `max_sellers` sellers with undelivered packages (oldest shipments
/// first), that seller's packages in its oldest open shipment.
fn deliver(ctx: &TxCtx, e: UpdateDelivery) -> Result<Option<Deliveries>, TxError> {
    let shipments = ctx.table::<Shipment>()?;
    let packages = ctx.table::<Package>()?;
    let open_entries = ctx.table::<OpenShipment>()?;
    let now = ctx.now_us();
    let mut chosen: Vec<(SellerId, u64)> = Vec::new();
    let mut open = Vec::new();
    let candidates = match e.partition {
        Some(p) => {
            let ids = open_entries.by_index("by_partition", (p,)).rows()?;
            shipments.get_many(ids.iter().map(|o| &o.shipment_id))
        }
        None => shipments.in_partial("open").rows()?,
    };
    'scan: for s in candidates {
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
                out.delivered.push(deliver_package(&mut p, now));
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
            open_entries.delete(&(shipment_partition(s.customer_id), s.shipment_id))?;
            out.concluded.push(OrderRef { sellers, ..order });
        }
        shipments.update(s)?;
    }
    Ok(Some(out))
}
