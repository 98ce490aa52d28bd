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
                        let item = items.get(&l.ol_i_id).ok_or_else(|| {
                            TxError::abort(format!("item number {} is not valid", l.ol_i_id))
                        })?;
                        let key = (l.ol_supply_w_id, l.ol_i_id);
                        let mut s = stock
                            .get(&key)
                            .ok_or_else(|| missing(format!("stock {key:?}")))?;
                        let q = i32::from(l.ol_quantity);
                        // Clause 2.4.2.2: refill by 91 when fewer than q + 10 would remain.
                        s.s_quantity = if s.s_quantity >= q + 10 {
                            s.s_quantity - q
                        } else {
                            s.s_quantity - q + 91
                        };
                        s.s_ytd += u32::from(l.ol_quantity);
                        s.s_order_cnt += 1;
                        if l.ol_supply_w_id != e.w_id {
                            s.s_remote_cnt += 1;
                        }
                        lines.push(PricedLine {
                            ol_i_id: l.ol_i_id,
                            ol_supply_w_id: l.ol_supply_w_id,
                            ol_quantity: l.ol_quantity,
                            ol_amount: cents(f64::from(l.ol_quantity) * item.i_price),
                            ol_dist_info: *s.dist_info(e.d_id),
                        });
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
                    let low = e
                        .items
                        .iter()
                        .filter_map(|i| stock.read(&(e.w_id, *i), |s| s.s_quantity))
                        .filter(|q| *q < e.threshold)
                        .count();
                    Ok(StockLevelResult {
                        low_stock: low as u32,
                    })
                }),
        )
}
