//! Seller (order entries, the dashboard) and customer (payment and delivery counters).
use super::missing;
use crate::marketplace::logic::{self, order_entry};
use crate::marketplace::model::*;
use vmodb::{Check, Handler, Service, TableDef, TxCtx, TxError};

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
            Handler::on::<InvoiceIssued>("invoice_issued")
                .write_only()
                // Safe: inserts entries keyed by their seller only.
                .partition_by_keys(|e: &InvoiceIssued| {
                    e.items.iter().map(|i| i.seller_id).collect::<Vec<_>>()
                })
                .run(|ctx, e| {
                    let entries = ctx.table::<OrderEntry>()?;
                    for i in &e.items {
                        entries.insert(order_entry(&e, i, ctx.tid()))?;
                    }
                    Ok(())
                }),
        )
        .handler(
            Handler::on::<Deliveries>("deliveries")
                .read_write()
                // Safe: writes only entries of these sellers.
                .partition_by_keys(|e: &Deliveries| e.sellers())
                .run(|ctx, e| {
                    let entries = ctx.table::<OrderEntry>()?;
                    for d in &e.delivered {
                        let key = (d.seller_id, d.customer_id, d.order_id, d.product_id);
                        let mut entry = entries.get(&key).ok_or_else(|| missing("order entry"))?;
                        entry.delivery_status = "delivered".into();
                        entries.update(entry)?;
                    }
                    for (list, status) in
                        [(&e.in_transit, "IN_TRANSIT"), (&e.concluded, "DELIVERED")]
                    {
                        for o in list {
                            for mut entry in entries
                                .by_index("by_order", (o.customer_id, o.order_id))
                                .rows()?
                            {
                                entry.order_status = status.into();
                                entries.update(entry)?;
                            }
                        }
                    }
                    Ok(())
                }),
        )
        .query("dashboard", |ctx, seller_id: SellerId| {
            dashboard(ctx, seller_id)
        })
}

/// In-flight entries of a seller and aggregates over exactly those entries (one snapshot).
pub fn dashboard(ctx: &TxCtx, seller_id: SellerId) -> Result<Dashboard, TxError> {
    let entries = ctx
        .table::<OrderEntry>()?
        .by_index("by_seller", (seller_id,))
        .filter(|e| e.order_status != "DELIVERED")
        .rows()?;
    Ok(logic::dashboard(seller_id, entries, ctx.tid()))
}

pub(super) fn customer() -> Service {
    Service::new("customer")
        .table(TableDef::<Customer>::new("customers", &["id"]))
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
