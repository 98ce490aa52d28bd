//! The eight marketplace services on the vMODB programming model, and the transactions between them.
//!
//! Execution modes are chosen for speed where it is safe; each choice says why. Partition keys name
//! every row a handler writes (or the row's owner, when all rows it writes hang off one customer or
//! one seller), so two tasks with disjoint keys never touch the same row.

use super::model::*;
use vmodb::{
    App, BootstrapError, Check, Handler, Service, TableDef, TransactionDef, TxCtx, TxError,
};

/// Money is rounded to cents at every step that creates an amount.
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn missing(what: &str) -> TxError {
    TxError::app(format!("{what} not found"))
}

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

fn cart() -> Service {
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
                        let voucher = if item.voucher {
                            cents(product.price * 0.1)
                        } else {
                            0.0
                        };
                        cart.upsert(CartItem {
                            customer_id: e.customer_id,
                            seller_id: item.seller_id,
                            product_id: item.product_id,
                            product_name: product.name,
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
}

/// Seals the customer's cart lines for the listed products into a reservation request. A line
/// whose product's price rose since it was added keeps what the customer saw: the line takes the
/// new price and the rise becomes a voucher (the benchmark's rule for price updates on open carts).
fn checkout(ctx: &TxCtx, e: Checkout) -> Result<Option<ReserveStock>, TxError> {
    let items = ctx.table::<CartItem>()?;
    let replica = ctx.table::<ReplicaProduct>()?;
    let mut out = Vec::with_capacity(e.products.len());
    for i in items.by_index("by_customer", (e.customer_id,)).rows()? {
        if !e.products.contains(&(i.seller_id, i.product_id)) {
            continue; // not part of this checkout: stays in the cart
        }
        items.delete(&(i.customer_id, i.seller_id, i.product_id))?;
        let (mut unit_price, mut voucher) = (i.unit_price, i.voucher);
        if let Some(p) = replica.get(&(i.seller_id, i.product_id))
            && p.version == i.version
            && p.price != unit_price
        {
            voucher = cents(voucher + (p.price - unit_price));
            unit_price = p.price;
        }
        out.push(Line {
            seller_id: i.seller_id,
            product_id: i.product_id,
            product_name: i.product_name,
            unit_price,
            freight_value: i.freight_value,
            quantity: i.quantity,
            voucher,
            version: i.version,
        });
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(ReserveStock {
        customer_id: e.customer_id,
        payment_type: e.payment_type,
        installments: e.installments,
        items: out,
    }))
}

fn product() -> Service {
    Service::new("product")
        .table(
            TableDef::<Product>::new("products", &["seller_id", "product_id"])
                .check("price", Check::NonNegative)
                .check("name", Check::NotEmpty),
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
                    p.price = cents(p.price * (1.0 + f64::from(e.percent) / 100.0));
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

fn stock() -> Service {
    Service::new("stock")
        .table(
            TableDef::<StockItem>::new("stock_items", &["seller_id", "product_id"])
                .check("qty_available", Check::NonNegative)
                .check("qty_reserved", Check::NonNegative),
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
                        let Some(mut s) = stock.get(&(line.seller_id, line.product_id)) else {
                            continue;
                        };
                        let qty = i64::from(line.quantity);
                        if s.version != line.version || s.qty_available - s.qty_reserved < qty {
                            continue; // UNAVAILABLE (replaced) or OUT_OF_STOCK: checkout goes on without it
                        }
                        s.qty_available -= qty;
                        s.order_count += 1;
                        s.ytd += qty;
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

fn order() -> Service {
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

fn payment() -> Service {
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

fn shipment() -> Service {
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
        .handler(
            Handler::on::<PaymentConfirmed>("payment_confirmed")
                .emits::<CheckoutDone>("checkout_done")
                .write_only()
                // Safe: inserts a new shipment keyed by this TID and its packages; the delivery
                // handler that reads shipments is single-mode, so it never overlaps this one.
                .parallel()
                .run(|ctx, e| {
                    let shipment_id = ctx.tid();
                    let now = ctx.now_us();
                    ctx.table::<Shipment>()?.insert(Shipment {
                        shipment_id,
                        customer_id: e.customer_id,
                        order_id: e.order_id,
                        package_count: e.items.len() as u32,
                        total_freight_value: cents(e.items.iter().map(|i| i.freight_value).sum()),
                        request_date: now,
                        status: "approved".into(),
                        open: true,
                    })?;
                    let packages = ctx.table::<Package>()?;
                    let mut sellers: Vec<SellerId> = Vec::new();
                    for i in &e.items {
                        packages.insert(Package {
                            shipment_id,
                            package_id: i.order_item_id,
                            customer_id: e.customer_id,
                            order_id: e.order_id,
                            seller_id: i.seller_id,
                            product_id: i.product_id,
                            product_name: i.product_name.clone(),
                            freight_value: i.freight_value,
                            quantity: i.quantity,
                            shipping_date: now,
                            delivery_date: 0,
                            status: "shipped".into(),
                        })?;
                        if !sellers.contains(&i.seller_id) {
                            sellers.push(i.seller_id);
                        }
                    }
                    sellers.sort_unstable();
                    Ok(CheckoutDone {
                        customer_id: e.customer_id,
                        order_id: e.order_id,
                        shipment_id,
                        items: e.items.len() as u32,
                        sellers,
                    })
                }),
        )
        .handler(
            Handler::on::<UpdateDelivery>("update_delivery")
                .emits::<Deliveries>("deliveries")
                .read_write()
                // Single: picks shipments across all customers.
                .single()
                .run(deliver),
        )
}

/// Delivers, for the first `max_sellers` sellers with undelivered packages (oldest shipments
/// first), that seller's packages in its oldest open shipment.
fn deliver(ctx: &TxCtx, e: UpdateDelivery) -> Result<Option<Deliveries>, TxError> {
    let shipments = ctx.table::<Shipment>()?;
    let packages = ctx.table::<Package>()?;
    let now = ctx.now_us();
    let mut chosen: Vec<(SellerId, u64)> = Vec::new();
    let mut open = Vec::new();
    'scan: for s in shipments.in_partial("open").rows()? {
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
                p.status = "delivered".into();
                p.delivery_date = now;
                out.delivered.push(DeliveredPackage {
                    customer_id: p.customer_id,
                    order_id: p.order_id,
                    seller_id: p.seller_id,
                    product_id: p.product_id,
                    package_id: p.package_id,
                });
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
            out.concluded.push(OrderRef { sellers, ..order });
        }
        shipments.update(s)?;
    }
    Ok(Some(out))
}

fn seller() -> Service {
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
                        entries.insert(OrderEntry {
                            seller_id: i.seller_id,
                            customer_id: e.customer_id,
                            order_id: e.order_id,
                            product_id: i.product_id,
                            package_id: i.order_item_id,
                            product_name: i.product_name.clone(),
                            product_category: String::new(),
                            unit_price: i.unit_price,
                            quantity: i.quantity,
                            total_items: i.total_items,
                            total_amount: i.total_amount,
                            total_incentive: i.voucher,
                            total_invoice: cents(i.total_amount + i.freight_value),
                            freight_value: i.freight_value,
                            order_status: "INVOICED".into(),
                            delivery_status: "pending".into(),
                            instance_id: ctx.tid(),
                        })?;
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
    let mut orders: Vec<(CustomerId, OrderId)> = entries
        .iter()
        .map(|e| (e.customer_id, e.order_id))
        .collect();
    orders.sort_unstable();
    orders.dedup();
    Ok(Dashboard {
        seller_id,
        snapshot_tid: ctx.tid(),
        count_orders: orders.len() as u64,
        count_items: entries.len() as u64,
        total_amount: cents(entries.iter().map(|e| e.total_amount).sum()),
        total_freight: cents(entries.iter().map(|e| e.freight_value).sum()),
        total_incentive: cents(entries.iter().map(|e| e.total_incentive).sum()),
        total_invoice: cents(entries.iter().map(|e| e.total_invoice).sum()),
        total_items: cents(entries.iter().map(|e| e.total_items).sum()),
        entries,
    })
}

fn customer() -> Service {
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

/// Transaction names, as clients submit them.
pub const ADD_ITEMS: &str = "add_items";
pub const CHECKOUT: &str = "customer_checkout";
pub const PRICE_UPDATE: &str = "price_update";
pub const PRODUCT_UPDATE: &str = "update_product";
pub const UPDATE_DELIVERY: &str = "update_delivery";

/// The marketplace application: eight services and five write transactions (plus add-to-cart).
pub fn app() -> Result<App, BootstrapError> {
    App::builder()
        .service(cart())
        .service(product())
        .service(stock())
        .service(order())
        .service(payment())
        .service(shipment())
        .service(seller())
        .service(customer())
        .transaction(TransactionDef::new(ADD_ITEMS, "cart", "add_items"))
        .transaction(
            TransactionDef::new(CHECKOUT, "cart", "checkout")
                .then("stock", "reserve_stock")
                .then("order", "stock_confirmed")
                .then("payment", "invoice_issued")
                .then("seller", "invoice_issued")
                .then("shipment", "payment_confirmed")
                .then("customer", "payment_confirmed"),
        )
        .transaction(
            TransactionDef::new(PRICE_UPDATE, "product", "update_price")
                .then("cart", "price_updated"),
        )
        .transaction(
            TransactionDef::new(PRODUCT_UPDATE, "product", "replace_product")
                .then("stock", "product_replaced")
                .then("cart", "product_replaced"),
        )
        .transaction(
            TransactionDef::new(UPDATE_DELIVERY, "shipment", "update_delivery")
                .then("order", "deliveries")
                .then("seller", "deliveries")
                .then("customer", "deliveries"),
        )
        .build()
}
