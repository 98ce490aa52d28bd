//! Order and payment: orders, items, status history, payment lines.
use super::{cents, missing};
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
            Handler::on::<Deliveries>("deliveries")
                .read_write()
                // Safe: writes only the orders (and their history) of these customers.
                .partition_by_keys(|e: &Deliveries| e.customers())
                .run(|ctx, e| {
                    for o in &e.in_transit {
                        set_order_status(ctx, o.customer_id, o.order_id, "IN_TRANSIT")?;
                    }
                    for o in &e.concluded {
                        set_order_status(ctx, o.customer_id, o.order_id, "DELIVERED")?;
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
    let now = ctx.now_us();
    let mut items = Vec::with_capacity(e.items.len());
    let (mut total_items, mut total_amount, mut total_freight, mut total_incentive) =
        (0.0, 0.0, 0.0, 0.0);
    for (n, line) in e.items.iter().enumerate() {
        let gross = cents(line.unit_price * f64::from(line.quantity));
        let voucher = line.voucher.min(gross);
        let item = OrderItem {
            customer_id: e.customer_id,
            order_id,
            order_item_id: n as u32 + 1,
            seller_id: line.seller_id,
            product_id: line.product_id,
            product_name: line.product_name.clone(),
            unit_price: line.unit_price,
            freight_value: line.freight_value,
            quantity: line.quantity,
            total_items: gross,
            total_amount: cents(gross - voucher),
            voucher,
            version: line.version,
        };
        total_items += item.total_items;
        total_amount += item.total_amount;
        total_freight += item.freight_value;
        total_incentive += item.voucher;
        items.push(item);
    }
    let invoice_number = format!("{}-{}-{}", e.customer_id, yyyymmdd(now), order_id);
    let total_invoice = cents(total_amount + total_freight);
    ctx.table::<Order>()?.insert(Order {
        customer_id: e.customer_id,
        id: order_id,
        invoice_number: invoice_number.clone(),
        status: "INVOICED".into(),
        purchase_date: now,
        instance_id: ctx.tid(),
        count_items: items.len() as u32,
        total_amount: cents(total_amount),
        total_freight: cents(total_freight),
        total_incentive: cents(total_incentive),
        total_invoice,
        total_items: cents(total_items),
    })?;
    let order_items = ctx.table::<OrderItem>()?;
    for item in &items {
        order_items.insert(item.clone())?;
    }
    ctx.table::<OrderHistory>()?.insert(OrderHistory {
        customer_id: e.customer_id,
        order_id,
        seq: 1,
        created_at: now,
        status: "INVOICED".into(),
    })?;
    Ok(InvoiceIssued {
        customer_id: e.customer_id,
        order_id,
        invoice_number,
        payment_type: e.payment_type,
        installments: e.installments,
        total_invoice,
        items,
    })
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
    o.status = status.to_string();
    orders.update(o)?;
    let history = ctx.table::<OrderHistory>()?;
    let seq = history
        .by_index("by_order", (customer, order))
        .max(|h| h.seq)?
        .unwrap_or(0)
        + 1;
    history.insert(OrderHistory {
        customer_id: customer,
        order_id: order,
        seq,
        created_at: ctx.now_us(),
        status: status.into(),
    })
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
                    let installments = if e.payment_type == "CREDIT_CARD" {
                        e.installments
                    } else {
                        1
                    };
                    payments.insert(OrderPayment {
                        customer_id: e.customer_id,
                        order_id: e.order_id,
                        payment_sequential: 1,
                        payment_type: e.payment_type.clone(),
                        installments,
                        value: e.total_invoice,
                        status: "succeeded".into(),
                    })?;
                    for (seq, item) in (2..).zip(e.items.iter().filter(|i| i.voucher > 0.0)) {
                        payments.insert(OrderPayment {
                            customer_id: e.customer_id,
                            order_id: e.order_id,
                            payment_sequential: seq,
                            payment_type: "VOUCHER".into(),
                            installments: 1,
                            value: item.voucher,
                            status: "succeeded".into(),
                        })?;
                    }
                    Ok(e)
                }),
        )
}
