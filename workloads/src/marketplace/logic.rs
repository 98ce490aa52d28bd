//! The marketplace's business rules as pure functions over rows, shared by every system that runs
//! the workload (the vMODB handlers and the baseline's actors), so that the two differ only in
//! how state is distributed and kept consistent, never in what a checkout or a delivery computes.

use super::model::*;

/// Money is rounded to cents at every step that creates an amount. Adding 0.0 turns a negative
/// zero (an empty sum is -0.0) into 0.0, which dumps and JSON then show as such.
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

/// The voucher of a newly added cart line: 10% of one unit's price, if the item carries one.
pub fn voucher(price: f64, has_voucher: bool) -> f64 {
    if has_voucher { cents(price * 0.1) } else { 0.0 }
}

/// A cart line as it leaves the cart at checkout. If the product's current price and version
/// (`current`, from the cart's replica) show a price change of the same product version, the line
/// takes the new price and the difference becomes a voucher: the customer pays what it saw.
pub fn checkout_line(item: CartItem, current: Option<(f64, u64)>) -> Line {
    let (mut unit_price, mut voucher) = (item.unit_price, item.voucher);
    if let Some((price, version)) = current
        && version == item.version
        && price != unit_price
    {
        voucher = cents(voucher + (price - unit_price));
        unit_price = price;
    }
    Line {
        seller_id: item.seller_id,
        product_id: item.product_id,
        product_name: item.product_name,
        product_category: item.product_category,
        unit_price,
        freight_value: item.freight_value,
        quantity: item.quantity,
        voucher,
        version: item.version,
    }
}

/// Whether a stock row can reserve a line: same product version and enough unreserved units.
pub fn reservable(stock: &StockItem, line: &Line) -> bool {
    stock.version == line.version
        && stock.qty_available - stock.qty_reserved >= i64::from(line.quantity)
}

/// A sold line leaves the stock for good.
pub fn sell(stock: &mut StockItem, quantity: u32) {
    let qty = i64::from(quantity);
    stock.qty_available -= qty;
    stock.order_count += 1;
    stock.ytd += qty;
}

/// Everything one checkout writes at the order service, and the invoice it sends on.
pub struct NewOrder {
    pub order: Order,
    pub items: Vec<OrderItem>,
    pub history: OrderHistory,
    pub invoice: InvoiceIssued,
}

/// The order for the reserved `lines` of checkout `tid`, with its items, totals and invoice.
pub fn new_order(reserved: &ReserveStock, order_id: OrderId, now_us: u64, tid: u64) -> NewOrder {
    let customer_id = reserved.customer_id;
    let mut items = Vec::with_capacity(reserved.items.len());
    let (mut total_items, mut total_amount, mut total_freight, mut total_incentive) =
        (0.0, 0.0, 0.0, 0.0);
    for (n, line) in reserved.items.iter().enumerate() {
        let gross = cents(line.unit_price * f64::from(line.quantity));
        let voucher = line.voucher.min(gross);
        let item = OrderItem {
            customer_id,
            order_id,
            order_item_id: n as u32 + 1,
            seller_id: line.seller_id,
            product_id: line.product_id,
            product_name: line.product_name.clone(),
            product_category: line.product_category.clone(),
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
    let invoice_number = format!("{}-{}-{}", customer_id, yyyymmdd(now_us), order_id);
    let total_invoice = cents(total_amount + total_freight);
    let order = Order {
        customer_id,
        id: order_id,
        invoice_number: invoice_number.clone(),
        status: INVOICED.into(),
        purchase_date: now_us,
        instance_id: tid,
        count_items: items.len() as u32,
        total_amount: cents(total_amount),
        total_freight: cents(total_freight),
        total_incentive: cents(total_incentive),
        total_invoice,
        total_items: cents(total_items),
    };
    let history = OrderHistory {
        customer_id,
        order_id,
        seq: 1,
        created_at: now_us,
        status: INVOICED.into(),
    };
    let invoice = InvoiceIssued {
        customer_id,
        order_id,
        invoice_number,
        payment_type: reserved.payment_type.clone(),
        installments: reserved.installments,
        total_invoice,
        items: items.clone(),
    };
    NewOrder {
        order,
        items,
        history,
        invoice,
    }
}

/// The payment lines of an invoice: the card or boleto line for the whole invoice, then one
/// voucher line per item that carries a voucher.
pub fn payment_lines(e: &InvoiceIssued) -> Vec<OrderPayment> {
    let installments = if e.payment_type == "CREDIT_CARD" {
        e.installments
    } else {
        1
    };
    let mut lines = vec![OrderPayment {
        customer_id: e.customer_id,
        order_id: e.order_id,
        payment_sequential: 1,
        payment_type: e.payment_type.clone(),
        installments,
        value: e.total_invoice,
        status: "succeeded".into(),
    }];
    for (seq, item) in (2..).zip(e.items.iter().filter(|i| i.voucher > 0.0)) {
        lines.push(OrderPayment {
            customer_id: e.customer_id,
            order_id: e.order_id,
            payment_sequential: seq,
            payment_type: "VOUCHER".into(),
            installments: 1,
            value: item.voucher,
            status: "succeeded".into(),
        });
    }
    lines
}

/// An order's move to `status`, and the history row that records it (`last_seq`: the order's
/// latest history row). Applied as told, in arrival order: the checker judges the result.
pub fn advance(order: &mut Order, last_seq: u32, status: &str, now_us: u64) -> OrderHistory {
    order.status = status.to_string();
    OrderHistory {
        customer_id: order.customer_id,
        order_id: order.id,
        seq: last_seq + 1,
        created_at: now_us,
        status: status.to_string(),
    }
}

/// A seller's dashboard row for one order item of checkout `tid`, with the order's `status`.
pub fn order_entry(e: &InvoiceIssued, i: &OrderItem, tid: u64, status: &str) -> OrderEntry {
    OrderEntry {
        seller_id: i.seller_id,
        customer_id: e.customer_id,
        order_id: e.order_id,
        product_id: i.product_id,
        package_id: i.order_item_id,
        product_name: i.product_name.clone(),
        product_category: i.product_category.clone(),
        unit_price: i.unit_price,
        quantity: i.quantity,
        total_items: i.total_items,
        total_amount: i.total_amount,
        total_incentive: i.voucher,
        total_invoice: cents(i.total_amount + i.freight_value),
        freight_value: i.freight_value,
        order_status: status.into(),
        delivery_status: "pending".into(),
        instance_id: tid,
    }
}

/// The shipment of a paid invoice: one package per item.
pub fn new_shipment(
    e: &PaymentConfirmed,
    shipment_id: u64,
    now_us: u64,
) -> (Shipment, Vec<Package>) {
    let shipment = Shipment {
        shipment_id,
        customer_id: e.customer_id,
        order_id: e.order_id,
        package_count: e.items.len() as u32,
        total_freight_value: cents(e.items.iter().map(|i| i.freight_value).sum()),
        request_date: now_us,
        status: "approved".into(),
        open: true,
    };
    let packages = e
        .items
        .iter()
        .map(|i| Package {
            shipment_id,
            package_id: i.order_item_id,
            customer_id: e.customer_id,
            order_id: e.order_id,
            seller_id: i.seller_id,
            product_id: i.product_id,
            product_name: i.product_name.clone(),
            freight_value: i.freight_value,
            quantity: i.quantity,
            shipping_date: now_us,
            delivery_date: 0,
            status: "shipped".into(),
        })
        .collect();
    (shipment, packages)
}

/// The sellers of an invoice's items, each once, in ascending order.
pub fn sellers_of(e: &InvoiceIssued) -> Vec<SellerId> {
    let mut sellers: Vec<SellerId> = e.items.iter().map(|i| i.seller_id).collect();
    sellers.sort_unstable();
    sellers.dedup();
    sellers
}

/// The result of a checkout whose invoice was paid and shipped as `shipment_id`.
pub fn checkout_done(e: &InvoiceIssued, shipment_id: u64) -> CheckoutDone {
    CheckoutDone {
        customer_id: e.customer_id,
        order_id: e.order_id,
        shipment_id,
        items: e.items.len() as u32,
        sellers: sellers_of(e),
    }
}

/// A seller's dashboard over its entries (orders not yet delivered), read at `snapshot_tid`.
pub fn dashboard(seller_id: SellerId, entries: Vec<OrderEntry>, snapshot_tid: u64) -> Dashboard {
    let mut orders: Vec<(CustomerId, OrderId)> = entries
        .iter()
        .map(|e| (e.customer_id, e.order_id))
        .collect();
    orders.sort_unstable();
    orders.dedup();
    Dashboard {
        seller_id,
        snapshot_tid,
        count_orders: orders.len() as u64,
        count_items: entries.len() as u64,
        total_amount: cents(entries.iter().map(|e| e.total_amount).sum()),
        total_freight: cents(entries.iter().map(|e| e.freight_value).sum()),
        total_incentive: cents(entries.iter().map(|e| e.total_incentive).sum()),
        total_invoice: cents(entries.iter().map(|e| e.total_invoice).sum()),
        total_items: cents(entries.iter().map(|e| e.total_items).sum()),
        entries,
    }
}

/// The largest raise one price update may ask for, in percent (a price elevenfold).
pub const MAX_RAISE_PERCENT: u32 = 1000;
/// The highest price the marketplace stores.
pub const MAX_PRICE: f64 = 1e9;

/// Whether a price update may be submitted at all (checked at the entry, before sequencing).
pub fn check_price_update(e: &PriceUpdate) -> Result<(), String> {
    if e.percent > MAX_RAISE_PERCENT {
        return Err(format!(
            "percent must be in 0..={MAX_RAISE_PERCENT}, got {}",
            e.percent
        ));
    }
    Ok(())
}

/// A price update's new price: prices only rise, by `percent`; never above `MAX_PRICE` (a
/// raise that would go there fails, and the price stays).
pub fn raised_price(price: f64, percent: u32) -> Result<f64, String> {
    let raised = cents(price * (1.0 + f64::from(percent) / 100.0));
    if raised.is_finite() && raised <= MAX_PRICE {
        Ok(raised)
    } else {
        Err(format!(
            "a raise of {percent}% would take the price over the highest price ({MAX_PRICE})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_rise_within_bounds_and_never_become_infinite() {
        assert_eq!(raised_price(10.0, 10), Ok(11.0));
        let mut price = 10.0;
        let mut refused = false;
        for _ in 0..100 {
            match raised_price(price, MAX_RAISE_PERCENT) {
                Ok(p) => price = p,
                Err(e) => {
                    assert!(e.contains("highest price"), "{e}");
                    refused = true;
                    break;
                }
            }
        }
        assert!(
            refused && price.is_finite() && price <= MAX_PRICE,
            "{price}"
        );
        let update = |percent| PriceUpdate {
            seller_id: 1,
            product_id: 1,
            percent,
        };
        assert!(check_price_update(&update(MAX_RAISE_PERCENT)).is_ok());
        let e = check_price_update(&update(u32::MAX)).expect_err("out of range");
        assert!(e.contains("percent must be in"), "{e}");
    }

    #[test]
    fn an_empty_dashboard_has_no_negative_zero() {
        let d = dashboard(1, Vec::new(), 0);
        let totals = [
            d.total_amount,
            d.total_freight,
            d.total_invoice,
            d.total_items,
        ];
        assert!(totals.iter().all(|t| *t == 0.0 && t.is_sign_positive()));
    }
}
