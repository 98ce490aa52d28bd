//! Cart: the customer's cart lines and the replica of product prices and versions.
use super::{clear, missing};
use crate::marketplace::logic::{checkout_line, voucher};
use crate::marketplace::model::*;
use vmodb::{Check, Entity, Handler, Service, TableDef, TxCtx, TxError};

/// Partition keys at the cart: a customer's cart lines, or one product's replica row.
#[derive(Hash)]
enum CartKey {
    Customer(CustomerId),
    Product(SellerId, ProductId),
}

fn cart_keys(
    customer: CustomerId,
    products: impl Iterator<Item = (SellerId, ProductId)>,
) -> Vec<CartKey> {
    std::iter::once(CartKey::Customer(customer))
        .chain(products.map(|(s, p)| CartKey::Product(s, p)))
        .collect()
}

pub(super) fn cart() -> Service {
    Service::new("cart")
        .table(
            TableDef::<CartItem>::new("cart_items", &["customer_id", "seller_id", "product_id"])
                .index("by_customer", &["customer_id"])
                .check("quantity", Check::Positive),
        )
        .table(
            TableDef::<ReplicaProduct>::new("replica_products", &["seller_id", "product_id"])
                .replica_of("product", "products"),
        )
        .table(
            TableDef::<CartHistoryLine>::new(
                "cart_history",
                &["customer_id", "instance_id", "seq"],
            )
            .index("by_customer", &["customer_id"]),
        )
        .handler(
            Handler::on::<ReplicaProduct>("product_ingested")
                .write_only()
                .replicates("replica_products")
                // Safe: writes only this product's replica row.
                .partition_by(|e: &ReplicaProduct| CartKey::Product(e.seller_id, e.product_id))
                .run(|ctx, p| ctx.table::<ReplicaProduct>()?.insert(p)),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .replicates("replica_products")
                .single()
                .run(reset),
        )
        .handler(
            Handler::on::<AddItems>("add_items")
                .read_write()
                // Safe: writes only this customer's cart lines and reads only the replica rows
                // of the products it adds; both are among its keys.
                .partition_by_keys(|e: &AddItems| {
                    cart_keys(
                        e.customer_id,
                        e.items.iter().map(|i| (i.seller_id, i.product_id)),
                    )
                })
                .run(|ctx, e| {
                    let replica = ctx.table::<ReplicaProduct>()?;
                    let cart = ctx.table::<CartItem>()?;
                    for item in e.items {
                        let product = replica
                            .get(&(item.seller_id, item.product_id))
                            .ok_or_else(|| missing("product"))?;
                        let voucher = voucher(product.price, item.voucher);
                        cart.upsert(CartItem {
                            customer_id: e.customer_id,
                            seller_id: item.seller_id,
                            product_id: item.product_id,
                            product_name: product.name,
                            product_category: product.category,
                            unit_price: product.price,
                            freight_value: product.freight_value,
                            quantity: item.quantity,
                            voucher,
                            version: product.version,
                        })?;
                    }
                    Ok(())
                }),
        )
        .handler(
            Handler::on::<Checkout>("checkout")
                .emits::<ReserveStock>("reserve_stock")
                .read_write()
                // Safe: reads and deletes only this customer's cart lines for the listed products,
                // and reads only those products' replica rows; all are among its keys.
                .partition_by_keys(|e: &Checkout| {
                    cart_keys(e.customer_id, e.products.iter().copied())
                })
                .run(checkout),
        )
        .handler(
            Handler::on::<PriceUpdated>("price_updated")
                .emits::<PriceUpdated>("price_applied")
                .read_write()
                .replicates("replica_products")
                // Safe: writes only this product's replica row. Open cart lines pick the new
                // price up at checkout, in the same global order.
                .partition_by(|e: &PriceUpdated| CartKey::Product(e.seller_id, e.product_id))
                .run(|ctx, e| {
                    let replica = ctx.table::<ReplicaProduct>()?;
                    let mut p = replica
                        .get(&(e.seller_id, e.product_id))
                        .ok_or_else(|| missing("replica"))?;
                    if p.version == e.version {
                        p.price = e.price;
                        replica.update(p)?;
                    }
                    Ok(e)
                }),
        )
        .handler(
            Handler::on::<ProductReplaced>("product_replaced")
                .emits::<ProductReplaced>("replace_applied")
                .read_write()
                .replicates("replica_products")
                // Safe: writes only this product's replica row.
                .partition_by(|e: &ProductReplaced| CartKey::Product(e.seller_id, e.product_id))
                .run(|ctx, e| {
                    let replica = ctx.table::<ReplicaProduct>()?;
                    let mut p = replica
                        .get(&(e.seller_id, e.product_id))
                        .ok_or_else(|| missing("replica"))?;
                    p.version = e.version;
                    replica.update(p)?;
                    Ok(e)
                }),
        )
        .query("history", history)
}

/// Seals the customer's cart lines for the listed products into a reservation request, repriced
/// from the replica (`checkout_line`).
fn checkout(ctx: &TxCtx, e: Checkout) -> Result<Option<ReserveStock>, TxError> {
    let items = ctx.table::<CartItem>()?;
    let replica = ctx.table::<ReplicaProduct>()?;
    let mut out = Vec::with_capacity(e.products.len());
    for i in items.by_index("by_customer", (e.customer_id,)).rows()? {
        if !e.products.contains(&(i.seller_id, i.product_id)) {
            continue; // not part of this checkout: stays in the cart
        }
        items.delete(&(i.customer_id, i.seller_id, i.product_id))?;
        let current = replica
            .get(&(i.seller_id, i.product_id))
            .map(|p| (p.price, p.version));
        out.push(checkout_line(i, current));
    }
    if let Some(instance_id) = &e.instance_id {
        // A reused instance id names this checkout from now on (as a map of id to lines).
        let history = ctx.table::<CartHistoryLine>()?;
        let earlier = history.by_index("by_customer", (e.customer_id,));
        for old in earlier.filter(|l| l.instance_id == *instance_id).rows()? {
            history.delete(&old.key())?;
        }
        for (seq, line) in out.iter().enumerate() {
            history.insert(CartHistoryLine {
                customer_id: e.customer_id,
                instance_id: instance_id.clone(),
                seq: seq as u32 + 1,
                seller_id: line.seller_id,
                product_id: line.product_id,
                product_name: line.product_name.clone(),
                unit_price: line.unit_price,
                freight_value: line.freight_value,
                quantity: line.quantity,
                voucher: line.voucher,
                version: line.version,
            })?;
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(ReserveStock {
        customer_id: e.customer_id,
        payment_type: e.payment_type,
        installments: e.installments,
        items: out,
        all_or_nothing: e.all_or_nothing,
    }))
}

/// Carts and their history go; the replica follows the products back to their ingested prices
/// and versions, or goes with them.
fn reset(ctx: &TxCtx, e: DataReset) -> Result<(), TxError> {
    clear(&ctx.table::<CartItem>()?)?;
    clear(&ctx.table::<CartHistoryLine>()?)?;
    let replica = ctx.table::<ReplicaProduct>()?;
    match e.to {
        Reset::ToIngested => {
            for i in e.products {
                if let Some(mut p) = replica.get(&(i.seller_id, i.product_id)) {
                    (p.price, p.version) = (i.price, i.version);
                    replica.update(p)?;
                }
            }
            Ok(())
        }
        Reset::Empty => clear(&replica),
    }
}

/// The lines a customer checked out under `instance_id`, in cart order (empty: no such
/// checkout, or it named no instance).
pub fn history(
    ctx: &TxCtx,
    (customer_id, instance_id): (CustomerId, String),
) -> Result<Vec<CartHistoryLine>, TxError> {
    let mut lines = ctx
        .table::<CartHistoryLine>()?
        .by_index("by_customer", (customer_id,))
        .filter(move |l| l.instance_id == instance_id)
        .rows()?;
    lines.sort_by_key(|l| l.seq);
    Ok(lines)
}
