//! The marketplace's business rules as pure functions over rows, shared by every system that runs
//! the workload (the vMODB handlers and the baseline's actors), so that the two differ only in
//! how state is distributed and kept consistent, never in what a checkout or a delivery computes.

use super::model::*;

/// Money is rounded to cents at every step that creates an amount. Adding 0.0 turns a negative
/// zero (an empty sum is -0.0) into 0.0, which dumps and JSON then show as such.
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0 + 0.0
}

/// The voucher of a newly added cart line whose product costs `price`.
pub fn voucher(price: f64, asked: Voucher) -> f64 {
    match asked {
        Voucher::None => 0.0,
        Voucher::TenPercent => cents(price * 0.1),
        Voucher::Amount(amount) => cents(amount),
    }
}

/// A cart line as it leaves the cart at checkout. If the product's current price and version
/// (`current`, from the cart's replica) show a price change of the same product version, the line
/// takes the new price; a raise becomes a voucher (the customer pays what it saw), a cut is the
/// customer's gain.
pub fn checkout_line(item: CartItem, current: Option<(f64, u64)>) -> Line {
    let (mut unit_price, mut voucher) = (item.unit_price, item.voucher);
    if let Some((price, version)) = current
        && version == item.version
        && price != unit_price
    {
        if price > unit_price {
            voucher = cents(voucher + (price - unit_price));
        }
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

/// A package delivered at `now_us`: its status and date, and what the delivery tells its
/// order, seller and customer.
pub fn deliver_package(p: &mut Package, now_us: u64) -> DeliveredPackage {
    p.status = "delivered".into();
    p.delivery_date = now_us;
    DeliveredPackage {
        customer_id: p.customer_id,
        order_id: p.order_id,
        seller_id: p.seller_id,
        product_id: p.product_id,
        package_id: p.package_id,
    }
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
    match e.change {
        PriceChange::RaiseBy(percent) if percent > MAX_RAISE_PERCENT => Err(format!(
            "percent must be in 0..={MAX_RAISE_PERCENT}, got {percent}"
        )),
        PriceChange::SetTo(price) => check_money("price", price),
        PriceChange::RaiseBy(_) => Ok(()),
    }
}

/// A price update's new price: a raise by `percent`, or the price it sets; never above
/// `MAX_PRICE` (a raise that would go there fails, and the price stays).
pub fn new_price(price: f64, change: PriceChange) -> Result<f64, String> {
    match change {
        PriceChange::RaiseBy(percent) => raised_price(price, percent),
        PriceChange::SetTo(price) => check_money("price", price).map(|()| cents(price)),
    }
}

/// `price` raised by `percent`, if it stays at most `MAX_PRICE`.
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

/// An amount of money a client gives: a number in 0..=`MAX_PRICE`.
pub fn check_money(what: &str, amount: f64) -> Result<(), String> {
    if amount.is_finite() && (0.0..=MAX_PRICE).contains(&amount) {
        Ok(())
    } else {
        Err(format!("{what} must be in 0..={MAX_PRICE}, got {amount}"))
    }
}

/// Whether an add-to-cart may be submitted: quantities of at least one, voucher amounts in
/// range.
pub fn check_add_items(e: &AddItems) -> Result<(), String> {
    for item in &e.items {
        if item.quantity == 0 {
            return Err("quantity must be at least 1".into());
        }
        if let Voucher::Amount(amount) = item.voucher {
            check_money("voucher", amount)?;
        }
    }
    Ok(())
}

/// The longest instance id a checkout may name (it becomes part of the cart history's key).
pub const MAX_INSTANCE_ID: usize = 64;

/// Whether a checkout may be submitted: a known payment type, an instance id of at most
/// `MAX_INSTANCE_ID` bytes.
pub fn check_checkout(e: &Checkout) -> Result<(), String> {
    if !PAYMENT_TYPES.contains(&e.payment_type.as_str()) {
        return Err(format!(
            "unknown PaymentType `{}` (expected one of {})",
            e.payment_type,
            PAYMENT_TYPES.join(", ")
        ));
    }
    match &e.instance_id {
        Some(id) if id.len() > MAX_INSTANCE_ID => Err(format!(
            "the instance id is {} bytes long; at most {MAX_INSTANCE_ID}",
            id.len()
        )),
        _ => Ok(()),
    }
}

/// Payment types a checkout may name.
pub const PAYMENT_TYPES: [&str; 4] = ["CREDIT_CARD", "DEBIT_CARD", "BOLETO", "VOUCHER"];

/// Whether ingested rows may be stored: keys positive, money and quantities in range, names
/// present (checked at the entry: a refused row never reaches a service).
pub fn check_product(p: &Product) -> Result<(), String> {
    if p.seller_id == 0 || p.product_id == 0 {
        return Err("seller_id and product_id must be at least 1".into());
    }
    if p.name.is_empty() {
        return Err("name must not be empty".into());
    }
    check_money("price", p.price)?;
    check_money("freight_value", p.freight_value)
}

pub fn check_stock(s: &StockItem) -> Result<(), String> {
    if s.seller_id == 0 || s.product_id == 0 {
        return Err("seller_id and product_id must be at least 1".into());
    }
    let counts = [
        ("qty_available", s.qty_available),
        ("qty_reserved", s.qty_reserved),
        ("order_count", s.order_count),
        ("ytd", s.ytd),
    ];
    match counts.iter().find(|(_, n)| *n < 0) {
        Some((what, n)) => Err(format!("{what} must not be negative, got {n}")),
        None if s.qty_reserved > s.qty_available => Err(format!(
            "qty_reserved ({}) must not exceed qty_available ({})",
            s.qty_reserved, s.qty_available
        )),
        None => Ok(()),
    }
}

pub fn check_seller(s: &Seller) -> Result<(), String> {
    match (s.id, s.name.is_empty()) {
        (0, _) => Err("id must be at least 1".into()),
        (_, true) => Err("name must not be empty".into()),
        _ => Ok(()),
    }
}

pub fn check_customer(c: &Customer) -> Result<(), String> {
    if c.id == 0 {
        return Err("id must be at least 1".into());
    }
    let counters = [
        c.success_payment_count,
        c.failed_payment_count,
        c.delivery_count,
    ];
    if counters.iter().any(|n| *n != 0) {
        return Err("a new customer's counters start at 0".into());
    }
    Ok(())
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
            change: PriceChange::RaiseBy(percent),
        };
        assert!(check_price_update(&update(MAX_RAISE_PERCENT)).is_ok());
        let e = check_price_update(&update(u32::MAX)).expect_err("out of range");
        assert!(e.contains("percent must be in"), "{e}");
    }

    /// A raise since the line was added becomes a voucher (the customer pays what it saw); a
    /// cut (possible since prices can be set) is the customer's, and never a negative voucher,
    /// which would have no payment line to match.
    #[test]
    fn checkout_lines_take_the_current_price_and_never_a_negative_voucher() {
        let item = |unit_price| CartItem {
            unit_price,
            quantity: 2,
            voucher: 1.0,
            ..CartItem::default()
        };
        let raised = checkout_line(item(10.0), Some((12.0, 0)));
        assert_eq!((raised.unit_price, raised.voucher), (12.0, 3.0));
        let cut = checkout_line(item(10.0), Some((4.0, 0)));
        assert_eq!((cut.unit_price, cut.voucher), (4.0, 1.0));
        let replaced = checkout_line(item(10.0), Some((4.0, 9)));
        assert_eq!((replaced.unit_price, replaced.voucher), (10.0, 1.0));
        assert_eq!(voucher(10.0, Voucher::TenPercent), 1.0);
        assert_eq!(voucher(10.0, Voucher::Amount(2.345)), 2.35);
        assert_eq!(voucher(10.0, Voucher::None), 0.0);
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
