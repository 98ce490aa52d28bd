//! Order and payment: orders, items, status history, payment lines.
use super::{clear, missing};
use crate::marketplace::logic::{NewOrder, advance, new_order, payment_lines};
use crate::marketplace::model::*;
use vmodb::{Check, Handler, Service, TableDef, TxCtx, TxError};

pub(super) fn order() -> Service {
    Service::new("order")
        .table(TableDef::<Order>::new("orders", &["customer_id", "id"]))
        .table(TableDef::<CustomerOrder>::new(
            "customer_orders",
            &["customer_id"],
        ))
        .table(
            TableDef::<OrderItem>::new(
                "order_items",
                &["customer_id", "order_id", "order_item_id"],
            )
            .check("quantity", Check::Positive)
            .foreign_key::<Order>("order", "orders", |i: &OrderItem| {
                Some((i.customer_id, i.order_id))
            }),
        )
        .table(
            TableDef::<OrderHistory>::new("order_history", &["customer_id", "order_id", "seq"])
                .index("by_order", &["customer_id", "order_id"]),
        )
        .handler(
            Handler::on::<StockConfirmed>("stock_confirmed")
                .emits::<InvoiceIssued>("invoice_issued")
                .read_write()
                // Safe: every row written belongs to this customer.
                .partition_by(|e: &StockConfirmed| e.customer_id)
                .run(create_order),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .single()
                // Orders go, with their counters (the next run numbers from 1 again); items
                // before the orders they belong to.
                .run(|ctx, _| {
                    clear(&ctx.table::<OrderItem>()?)?;
                    clear(&ctx.table::<OrderHistory>()?)?;
                    clear(&ctx.table::<Order>()?)?;
                    clear(&ctx.table::<CustomerOrder>()?)
                }),
        )
        .handler(
            Handler::on::<Deliveries>("deliveries")
                .read_write()
                // Safe: writes only the orders (and their history) of these customers.
                .partition_by_keys(|e: &Deliveries| e.customers())
                .run(|ctx, e| {
                    for o in &e.in_transit {
                        set_order_status(ctx, o.customer_id, o.order_id, IN_TRANSIT)?;
                    }
                    for o in &e.concluded {
                        set_order_status(ctx, o.customer_id, o.order_id, DELIVERED)?;
                    }
                    Ok(())
                }),
        )
}

fn create_order(ctx: &TxCtx, e: StockConfirmed) -> Result<InvoiceIssued, TxError> {
    let counters = ctx.table::<CustomerOrder>()?;
    let mut counter = counters.get(&e.customer_id).unwrap_or(CustomerOrder {
        customer_id: e.customer_id,
        next_order_id: 1,
    });
    let order_id = counter.next_order_id;
    counter.next_order_id += 1;
    counters.upsert(counter)?;
    let NewOrder {
        mut order,
        items,
        history,
        invoice,
    } = new_order(&e, order_id, ctx.now_us(), ctx.tid());
    // The payment and the shipment approval follow in this transaction and never fail without
    // aborting it, so their statuses commit exactly when they do (see `services::app`).
    let paid = advance(&mut order, history.seq, PAYMENT_PROCESSED, ctx.now_us());
    let approved = advance(&mut order, paid.seq, READY_FOR_SHIPMENT, ctx.now_us());
    ctx.table::<Order>()?.insert(order)?;
    let order_items = ctx.table::<OrderItem>()?;
    for item in items {
        order_items.insert(item)?;
    }
    let histories = ctx.table::<OrderHistory>()?;
    for row in [history, paid, approved] {
        histories.insert(row)?;
    }
    Ok(invoice)
}

fn set_order_status(
    ctx: &TxCtx,
    customer: CustomerId,
    order: OrderId,
    status: &str,
) -> Result<(), TxError> {
    let orders = ctx.table::<Order>()?;
    let mut o = orders
        .get(&(customer, order))
        .ok_or_else(|| missing("order"))?;
    let history = ctx.table::<OrderHistory>()?;
    let last_seq = history
        .by_index("by_order", (customer, order))
        .max(|h| h.seq)?
        .unwrap_or(0);
    let row = advance(&mut o, last_seq, status, ctx.now_us());
    orders.update(o)?;
    history.insert(row)
}

pub(super) fn payment() -> Service {
    Service::new("payment")
        .table(
            TableDef::<OrderPayment>::new(
                "order_payments",
                &["customer_id", "order_id", "payment_sequential"],
            )
            .check("value", Check::NonNegative),
        )
        .handler(
            Handler::on::<InvoiceIssued>("invoice_issued")
                .emits::<PaymentConfirmed>("payment_confirmed")
                .write_only()
                // Safe: inserts rows keyed by this customer's order only.
                .partition_by(|e: &InvoiceIssued| e.customer_id)
                .run(|ctx, e| {
                    let payments = ctx.table::<OrderPayment>()?;
                    for line in payment_lines(&e) {
                        payments.insert(line)?;
                    }
                    Ok(e)
                }),
        )
        .handler(
            Handler::on::<DataReset>("data_reset")
                .read_write()
                .single()
                .run(|ctx, _| clear(&ctx.table::<OrderPayment>()?)),
        )
}
