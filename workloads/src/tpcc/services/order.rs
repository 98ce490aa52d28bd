//! Order: orders, new orders (undelivered) and order lines.
use super::*;
use vmodb::{Handler, Service, TableDef, TxCtx};

pub(super) fn order() -> Service {
    Service::new("order")
        .table(
            TableDef::<Order>::new("orders", &["o_w_id", "o_d_id", "o_id"])
                .index("by_customer", &["o_w_id", "o_d_id", "o_c_id"]),
        )
        .table(
            TableDef::<NewOrder>::new("new_order", &["no_w_id", "no_d_id", "no_o_id"])
                .index("by_district", &["no_w_id", "no_d_id"]),
        )
        // No index by order: an order's lines are numbered 1..=o_ol_cnt, so they are read by
        // key (as the baseline keeps each order's lines with the order).
        .table(TableDef::<OrderLine>::new(
            "order_line",
            &["ol_w_id", "ol_d_id", "ol_o_id", "ol_number"],
        ))
        .handler(
            Handler::on::<NewOrderStock>("new_order_stock")
                .emits::<NewOrderResult>("new_order_result")
                .write_only()
                // Safe: inserts rows of this district only (keyed by its new order id).
                .partition_by(|e: &NewOrderStock| (e.ware.w_id, e.ware.d_id))
                .run(new_order),
        )
        .handler(
            Handler::on::<OrderStatusCustomer>("order_status_customer")
                .emits::<OrderStatusResult>("order_status_result")
                .read_only()
                .parallel()
                .run(|ctx, e| {
                    let last = ctx
                        .table::<Order>()?
                        .by_index("by_customer", (e.w_id, e.d_id, e.c_id))
                        .rows()?
                        .into_iter()
                        .max_by_key(|o| o.o_id);
                    let last = match last {
                        Some(o) => {
                            let lines = lines_of(&ctx.table::<OrderLine>()?, &o);
                            Some((o, lines))
                        }
                        None => None,
                    };
                    Ok(logic::order_status(e.c_id, e.c_balance, last))
                }),
        )
        .handler(
            Handler::on::<DeliveryInput>("delivery")
                .emits::<DeliveryDone>("delivery_done")
                .read_write()
                // Safe: reads and writes only rows of this warehouse's ten districts.
                .partition_by_keys(|e: &DeliveryInput| {
                    (1..=DISTRICTS).map(|d| (e.w_id, d)).collect::<Vec<_>>()
                })
                .run(delivery),
        )
        .handler(
            Handler::on::<StockLevelDistrict>("stock_level_district")
                .emits::<StockLevelItems>("stock_level_items")
                .read_only()
                .parallel()
                .run(|ctx, e| {
                    let orders = ctx.table::<Order>()?;
                    let lines = ctx.table::<OrderLine>()?;
                    let mut items = Vec::new();
                    for o_id in logic::recent_orders(e.next_o_id) {
                        let Some(count) = orders.read(&(e.w_id, e.d_id, o_id), |o| o.o_ol_cnt)
                        else {
                            continue;
                        };
                        for n in 1..=count {
                            items.extend(lines.read(&(e.w_id, e.d_id, o_id, n), |l| l.ol_i_id));
                        }
                    }
                    Ok(StockLevelItems {
                        w_id: e.w_id,
                        items: logic::distinct_items(items),
                        threshold: e.threshold,
                    })
                }),
        )
}

/// Clause 2.4.2.2, the order service's part: the order, its new-order row and its lines.
fn new_order(ctx: &TxCtx, e: NewOrderStock) -> Result<NewOrderResult, TxError> {
    let w = &e.ware;
    let now = ctx.now_us();
    let order = logic::new_order_row(w.w_id, w.d_id, w.o_id, w.c_id, now, &e.lines);
    let ol_cnt = order.o_ol_cnt;
    ctx.table::<Order>()?.insert(order)?;
    ctx.table::<NewOrder>()?.insert(NewOrder {
        no_o_id: w.o_id,
        no_d_id: w.d_id,
        no_w_id: w.w_id,
    })?;
    let order_lines = ctx.table::<OrderLine>()?;
    for (n, l) in e.lines.iter().enumerate() {
        order_lines.insert(logic::order_line(w.w_id, w.d_id, w.o_id, n, l))?;
    }
    Ok(NewOrderResult {
        w_id: w.w_id,
        d_id: w.d_id,
        o_id: w.o_id,
        c_id: w.c_id,
        ol_cnt,
        total_amount: logic::order_total(&e.lines, w.c_discount, w.w_tax, w.d_tax),
    })
}

/// Clause 2.7.4.2: per district, deliver the oldest undelivered order.
fn delivery(ctx: &TxCtx, e: DeliveryInput) -> Result<Option<DeliveryDone>, TxError> {
    let new_orders = ctx.table::<NewOrder>()?;
    let orders = ctx.table::<Order>()?;
    let lines = ctx.table::<OrderLine>()?;
    let now = ctx.now_us();
    let mut delivered = Vec::new();
    for d_id in 1..=DISTRICTS {
        let Some(no) = new_orders.by_index("by_district", (e.w_id, d_id)).first()? else {
            continue; // no undelivered order: skipped (clause 2.7.4.2)
        };
        new_orders.delete(&(e.w_id, d_id, no.no_o_id))?;
        let key = (e.w_id, d_id, no.no_o_id);
        let mut o = orders
            .get(&key)
            .ok_or_else(|| missing(format!("order {key:?}")))?;
        let mut order_lines = lines_of(&lines, &o);
        let amount = logic::deliver(&mut o, &mut order_lines, e.o_carrier_id, now);
        let c_id = o.o_c_id;
        orders.update(o)?;
        for l in order_lines {
            lines.update(l)?;
        }
        delivered.push(DeliveredOrder {
            d_id,
            o_id: no.no_o_id,
            c_id,
            amount,
        });
    }
    Ok(Some(DeliveryDone {
        w_id: e.w_id,
        delivered,
    }))
}

/// The lines of order `o`, by key: they are numbered 1..=o_ol_cnt.
fn lines_of(lines: &vmodb::Repo<'_, OrderLine>, o: &Order) -> Vec<OrderLine> {
    (1..=o.o_ol_cnt)
        .filter_map(|n| lines.get(&(o.o_w_id, o.o_d_id, o.o_id, n)))
        .collect()
}
