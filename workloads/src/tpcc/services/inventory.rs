//! Inventory: items (read-only) and stock per warehouse.
use super::*;
use vmodb::{Handler, Service, TableDef};

pub(super) fn inventory() -> Service {
    Service::new("inventory")
        .table(TableDef::<Item>::new("item", &["i_id"]))
        .table(TableDef::<Stock>::new("stock", &["s_w_id", "s_i_id"]))
        .handler(
            Handler::on::<NewOrderWare>("new_order_ware")
                .emits::<NewOrderStock>("new_order_stock")
                .read_write()
                // Safe: writes exactly the stock rows of the order's lines; items are never written.
                .partition_by_keys(|e: &NewOrderWare| {
                    e.lines
                        .iter()
                        .map(|l| (l.ol_supply_w_id, l.ol_i_id))
                        .collect::<Vec<_>>()
                })
                .run(|ctx, e| {
                    let items = ctx.table::<Item>()?;
                    let stock = ctx.table::<Stock>()?;
                    let mut lines = Vec::with_capacity(e.lines.len());
                    for l in &e.lines {
                        // Clause 2.4.2.3: an unused item id rolls the whole New-Order back,
                        // including the district's next order id taken upstream.
                        let item = items
                            .get(&l.ol_i_id)
                            .ok_or_else(|| TxError::abort(logic::invalid_item(l.ol_i_id)))?;
                        let key = (l.ol_supply_w_id, l.ol_i_id);
                        let mut s = stock
                            .get(&key)
                            .ok_or_else(|| missing(format!("stock {key:?}")))?;
                        lines.push(logic::stock_line(&mut s, l, e.w_id, e.d_id, item.i_price));
                        stock.update(s)?;
                    }
                    Ok(NewOrderStock { ware: e, lines })
                }),
        )
        .handler(
            Handler::on::<StockLevelItems>("stock_level_items")
                .emits::<StockLevelResult>("stock_level_result")
                .read_only()
                .parallel()
                .run(|ctx, e| {
                    let stock = ctx.table::<Stock>()?;
                    // Only the quantity: no copy of the row (ten district texts and more).
                    let quantities = e
                        .items
                        .iter()
                        .filter_map(|i| stock.read(&(e.w_id, *i), |s| s.s_quantity));
                    Ok(StockLevelResult {
                        low_stock: logic::count_low(quantities, e.threshold),
                    })
                }),
        )
}
