//! Seller (order entries, the dashboard) and customer (payment and delivery counters).
use super::{clear, missing};
use crate::marketplace::logic::{self, checkout_done, order_entry, sellers_of};
use crate::marketplace::model::*;
use vmodb::{Check, Entity, Handler, Service, TableDef, TxCtx, TxError};

pub(super) fn seller() -> Service {
    Service::new("seller")
        .table(TableDef::<Seller>::new("sellers", &["id"]).check("name", Check::NotEmpty))
        .table(
            TableDef::<OrderEntry>::new(
                "order_entries",
                &["seller_id", "customer_id", "order_id", "product_id"],
            )
            .index("by_seller", &["seller_id"])
            .index("by_order", &["customer_id", "order_id"]),
        )
        .handler(
            Handler::on::<Seller>("ingest_seller")
                .write_only()
                // Safe: writes only this seller's row.
                .partition_by(|e: &Seller| e.id)
                .run(|ctx, s| ctx.table::<Seller>()?.insert(s)),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .single()
                .run(|ctx, e| {
                    clear(&ctx.table::<OrderEntry>()?)?;
                    match e.to {
                        Reset::ToIngested => Ok(()),
                        Reset::Empty => clear(&ctx.table::<Seller>()?),
                    }
                }),
        )
        .handler(
            Handler::on::<ShipmentApproved>("shipment_approved")
                .emits::<CheckoutDone>("checkout_done")
                .write_only()
                // Safe: inserts entries keyed by their seller only.
                .partition_by_keys(|e: &ShipmentApproved| sellers_of(&e.invoice))
                .run(|ctx, e| {
                    let entries = ctx.table::<OrderEntry>()?;
                    for i in &e.invoice.items {
                        let entry = order_entry(&e.invoice, i, ctx.tid(), READY_FOR_SHIPMENT);
                        entries.insert(entry)?;
                    }
                    // The checkout's result for the client.
                    Ok(checkout_done(&e.invoice, e.shipment_id))
                }),
        )
        .handler(
            Handler::on::<Deliveries>("deliveries")
                .read_write()
                // Safe: writes only entries of these sellers (a concluded order's entries
                // belong to the sellers of its shipment, all listed).
                .partition_by_keys(|e: &Deliveries| e.sellers())
                .run(|ctx, e| {
                    let entries = ctx.table::<OrderEntry>()?;
                    let concluded: Vec<(CustomerId, OrderId)> = e
                        .concluded
                        .iter()
                        .map(|o| (o.customer_id, o.order_id))
                        .collect();
                    for d in &e.delivered {
                        if concluded.contains(&(d.customer_id, d.order_id)) {
                            continue; // its entries go below
                        }
                        let key = (d.seller_id, d.customer_id, d.order_id, d.product_id);
                        let mut entry = entries.get(&key).ok_or_else(|| missing("order entry"))?;
                        entry.delivery_status = "delivered".into();
                        entries.update(entry)?;
                    }
                    for o in &e.in_transit {
                        if concluded.contains(&(o.customer_id, o.order_id)) {
                            continue;
                        }
                        for mut entry in entries
                            .by_index("by_order", (o.customer_id, o.order_id))
                            .rows()?
                        {
                            entry.order_status = IN_TRANSIT.into();
                            entries.update(entry)?;
                        }
                    }
                    // A delivered order leaves every seller's entries (the benchmark removes
                    // them at conclusion).
                    for (customer, order) in concluded {
                        for entry in entries.by_index("by_order", (customer, order)).rows()? {
                            entries.delete(&entry.key())?;
                        }
                    }
                    Ok(())
                }),
        )
        .query("dashboard", |ctx, seller_id: SellerId| {
            dashboard(ctx, seller_id)
        })
}

/// A seller's entries and aggregates over exactly those entries (one snapshot).
pub fn dashboard(ctx: &TxCtx, seller_id: SellerId) -> Result<Dashboard, TxError> {
    let entries = ctx
        .table::<OrderEntry>()?
        .by_index("by_seller", (seller_id,))
        .rows()?;
    Ok(logic::dashboard(seller_id, entries, ctx.tid()))
}

pub(super) fn customer() -> Service {
    Service::new("customer")
        .table(TableDef::<Customer>::new("customers", &["id"]))
        .handler(
            Handler::on::<Customer>("ingest_customer")
                .write_only()
                // Safe: writes only this customer's row.
                .partition_by(|e: &Customer| e.id)
                .run(|ctx, c| ctx.table::<Customer>()?.insert(c)),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .single()
                .run(|ctx, e| {
                    let customers = ctx.table::<Customer>()?;
                    match e.to {
                        // Ingestion takes customers with their counters at 0 only.
                        Reset::ToIngested => {
                            let counted = |c: &Customer| {
                                c.success_payment_count + c.failed_payment_count + c.delivery_count
                                    > 0
                            };
                            for mut c in customers.all().filter(counted).rows()? {
                                c.success_payment_count = 0;
                                c.failed_payment_count = 0;
                                c.delivery_count = 0;
                                customers.update(c)?;
                            }
                            Ok(())
                        }
                        Reset::Empty => clear(&customers),
                    }
                }),
        )
        .handler(
            Handler::on::<PaymentConfirmed>("payment_confirmed")
                .read_write()
                // Safe: touches only this customer's row.
                .partition_by(|e: &PaymentConfirmed| e.customer_id)
                .run(|ctx, e| {
                    let customers = ctx.table::<Customer>()?;
                    let mut c = customers
                        .get(&e.customer_id)
                        .ok_or_else(|| missing("customer"))?;
                    c.success_payment_count += 1;
                    customers.update(c)
                }),
        )
        .handler(
            Handler::on::<Deliveries>("deliveries")
                .emits::<Deliveries>("deliveries_applied")
                .read_write()
                // Safe: touches only these customers' rows.
                .partition_by_keys(|e: &Deliveries| e.customers())
                .run(|ctx, e| {
                    let customers = ctx.table::<Customer>()?;
                    let mut ids: Vec<CustomerId> =
                        e.delivered.iter().map(|d| d.customer_id).collect();
                    ids.sort_unstable();
                    for chunk in ids.chunk_by(|a, b| a == b) {
                        let mut c = customers
                            .get(&chunk[0])
                            .ok_or_else(|| missing("customer"))?;
                        c.delivery_count += chunk.len() as u64;
                        customers.update(c)?;
                    }
                    // The run's result for the client: what was delivered.
                    Ok(e)
                }),
        )
}

impl Deliveries {
    /// Every customer whose rows this delivery touches.
    pub fn customers(&self) -> Vec<CustomerId> {
        let mut v: Vec<CustomerId> = self.delivered.iter().map(|d| d.customer_id).collect();
        v.extend(
            self.in_transit
                .iter()
                .chain(&self.concluded)
                .map(|o| o.customer_id),
        );
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every seller whose entries this delivery touches.
    pub fn sellers(&self) -> Vec<SellerId> {
        let mut v: Vec<SellerId> = self.delivered.iter().map(|d| d.seller_id).collect();
        v.extend(
            self.in_transit
                .iter()
                .chain(&self.concluded)
                .flat_map(|o| o.sellers.iter().copied()),
        );
        v.sort_unstable();
        v.dedup();
        v
    }
}
