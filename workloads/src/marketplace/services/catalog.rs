//! Product and stock: prices, versions (replacements) and reservations.
use super::{clear, missing};
use crate::marketplace::logic::{new_price, reservable, sell};
use crate::marketplace::model::*;
use vmodb::{Check, Handler, Service, TableDef, TxCtx, TxError};

pub(super) fn product() -> Service {
    Service::new("product")
        .table(
            TableDef::<Product>::new("products", &["seller_id", "product_id"])
                .check("price", Check::NonNegative)
                .check("name", Check::NotEmpty),
        )
        .table(TableDef::<IngestedProduct>::new(
            "ingested_products",
            &["seller_id", "product_id"],
        ))
        .handler(
            Handler::on::<Product>("ingest_product")
                .emits::<ReplicaProduct>("product_ingested")
                .write_only()
                // Safe: writes only this product's rows.
                .partition_by(|e: &Product| (e.seller_id, e.product_id))
                .run(|ctx, p| {
                    ctx.table::<IngestedProduct>()?
                        .insert(IngestedProduct::from(&p))?;
                    let replica = ReplicaProduct::from(&p);
                    ctx.table::<Product>()?.insert(p)?;
                    Ok(replica)
                }),
        )
        .handler(
            Handler::on::<Reset>("reset")
                .emits::<DataReset>("data_reset")
                .read_write()
                .single()
                .run(|ctx, e| {
                    let products = ctx.table::<Product>()?;
                    let ingested = ctx.table::<IngestedProduct>()?;
                    let mut restored = Vec::new();
                    match e {
                        Reset::ToIngested => {
                            for i in ingested.all().rows()? {
                                if let Some(mut p) = products.get(&(i.seller_id, i.product_id)) {
                                    (p.price, p.version) = (i.price, i.version);
                                    products.update(p)?;
                                    restored.push(i);
                                }
                            }
                        }
                        Reset::Empty => {
                            clear(&products)?;
                            clear(&ingested)?;
                        }
                    }
                    Ok(DataReset {
                        to: e,
                        products: restored,
                    })
                }),
        )
        .handler(
            Handler::on::<PriceUpdate>("update_price")
                .emits::<PriceUpdated>("price_updated")
                .read_write()
                // Safe: touches only this product's row.
                .partition_by(|e: &PriceUpdate| (e.seller_id, e.product_id))
                .run(|ctx, e| {
                    let products = ctx.table::<Product>()?;
                    let mut p = products
                        .get(&(e.seller_id, e.product_id))
                        .ok_or_else(|| missing("product"))?;
                    p.price = new_price(p.price, e.change).map_err(TxError::App)?;
                    let out = PriceUpdated {
                        seller_id: p.seller_id,
                        product_id: p.product_id,
                        price: p.price,
                        version: p.version,
                    };
                    products.update(p)?;
                    Ok(out)
                }),
        )
        .handler(
            Handler::on::<ReplaceProduct>("replace_product")
                .emits::<ProductReplaced>("product_replaced")
                .read_write()
                // Safe: touches only this product's row.
                .partition_by(|e: &ReplaceProduct| (e.seller_id, e.product_id))
                .run(|ctx, e| {
                    let products = ctx.table::<Product>()?;
                    let mut p = products
                        .get(&(e.seller_id, e.product_id))
                        .ok_or_else(|| missing("product"))?;
                    p.version = ctx.tid();
                    let out = ProductReplaced {
                        seller_id: p.seller_id,
                        product_id: p.product_id,
                        version: p.version,
                    };
                    products.update(p)?;
                    Ok(out)
                }),
        )
}

pub(super) fn stock() -> Service {
    Service::new("stock")
        .table(
            TableDef::<StockItem>::new("stock_items", &["seller_id", "product_id"])
                .check("qty_available", Check::NonNegative)
                .check("qty_reserved", Check::NonNegative),
        )
        .table(TableDef::<IngestedStock>::new(
            "ingested_stock",
            &["seller_id", "product_id"],
        ))
        .handler(
            Handler::on::<StockItem>("ingest_stock")
                .write_only()
                // Safe: writes only this product's stock rows.
                .partition_by(|e: &StockItem| (e.seller_id, e.product_id))
                .run(|ctx, s| {
                    ctx.table::<IngestedStock>()?
                        .insert(IngestedStock::from(&s))?;
                    ctx.table::<StockItem>()?.insert(s)
                }),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .single()
                .run(|ctx, e| reset_stock(ctx, e.to)),
        )
        .handler(
            Handler::on::<ReserveStock>("reserve_stock")
                .emits::<StockConfirmed>("stock_confirmed")
                .read_write()
                // Safe: touches exactly the stock rows of the cart's items.
                .partition_by_keys(|e: &ReserveStock| {
                    e.items
                        .iter()
                        .map(|i| (i.seller_id, i.product_id))
                        .collect::<Vec<_>>()
                })
                .run(|ctx, mut e| {
                    // Reservation and confirmation are one step: payment succeeds or the whole
                    // checkout has no effect, so no reservation is ever left dangling.
                    let stock = ctx.table::<StockItem>()?;
                    let mut reserved = Vec::with_capacity(e.items.len());
                    for line in e.items.drain(..) {
                        let found = stock.get(&(line.seller_id, line.product_id));
                        let Some(mut s) = found.filter(|s| reservable(s, &line)) else {
                            if e.all_or_nothing {
                                // The whole checkout aborts: the cart's side is undone too.
                                return Err(TxError::abort(format!(
                                    "item ({}, {}) cannot be reserved",
                                    line.seller_id, line.product_id
                                )));
                            }
                            continue; // UNAVAILABLE (replaced) or OUT_OF_STOCK: checkout goes on without it
                        };
                        sell(&mut s, line.quantity);
                        stock.update(s)?;
                        reserved.push(line);
                    }
                    if reserved.is_empty() {
                        return Ok(None);
                    }
                    e.items = reserved;
                    Ok(Some(e))
                }),
        )
        .handler(
            Handler::on::<ProductReplaced>("product_replaced")
                .read_write()
                // Safe: touches only this product's stock row.
                .partition_by(|e: &ProductReplaced| (e.seller_id, e.product_id))
                .run(|ctx, e| {
                    let stock = ctx.table::<StockItem>()?;
                    let mut s = stock
                        .get(&(e.seller_id, e.product_id))
                        .ok_or_else(|| missing("stock item"))?;
                    s.version = e.version;
                    stock.update(s)
                }),
        )
}

fn reset_stock(ctx: &TxCtx, e: Reset) -> Result<(), TxError> {
    let stock = ctx.table::<StockItem>()?;
    let ingested = ctx.table::<IngestedStock>()?;
    match e {
        Reset::ToIngested => {
            for i in ingested.all().rows()? {
                if let Some(mut s) = stock.get(&(i.seller_id, i.product_id)) {
                    s.qty_available = i.qty_available;
                    s.qty_reserved = i.qty_reserved;
                    s.order_count = i.order_count;
                    s.ytd = i.ytd;
                    s.version = i.version;
                    stock.update(s)?;
                }
            }
            Ok(())
        }
        Reset::Empty => {
            clear(&stock)?;
            clear(&ingested)
        }
    }
}
