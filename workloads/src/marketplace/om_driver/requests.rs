//! The benchmark driver's requests, body for body (reference digest §1 and §4.1), and the
//! ingestion of a data set through them.

use crate::marketplace::MarketplaceState;
use crate::marketplace::generator::Dataset;
use crate::marketplace::logic::cents;
use crate::marketplace::model::*;
use crate::remote::FrontDoorClient;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Instant;

/// One request: method, path, JSON body.
pub(super) type Call = (Method, String, Option<Value>);

/// `PATCH /cart/{c}/add`: a CartItem with the price and version the driver believes, and the
/// voucher as an amount (10% of the believed price, per unit).
pub(super) fn add_item(item: &AddItem, believed: Option<&(f64, u64)>, name: &str) -> Call {
    let (price, version) = believed.copied().unwrap_or((0.0, 0));
    let voucher = match item.voucher {
        Voucher::None => 0.0,
        Voucher::TenPercent => cents(price * 0.1),
        Voucher::Amount(a) => a,
    };
    let body = json!({
        "SellerId": item.seller_id,
        "ProductId": item.product_id,
        "ProductName": name,
        "UnitPrice": price,
        "FreightValue": 0.0,
        "Quantity": item.quantity,
        "Voucher": voucher,
        "Version": version.to_string(),
    });
    let path = format!("/cart/{}/add", item.customer_id);
    (Method::PATCH, path, Some(body))
}

/// `POST /cart/{c}/checkout`: a CustomerCheckout from the customer's row; `instanceId` is the
/// driver's TID (here the op's id).
pub(super) fn checkout(c: &Checkout, customer: Option<&Customer>, tid: u64) -> Call {
    let row = customer.cloned().unwrap_or_default();
    let body = json!({
        "CustomerId": c.customer_id,
        "FirstName": row.first_name,
        "LastName": row.last_name,
        "Street": "",
        "Complement": "",
        "City": row.city,
        "State": row.state,
        "ZipCode": row.zip_code,
        "PaymentType": c.payment_type,
        "CardNumber": row.card_number,
        "CardHolderName": format!("{} {}", row.first_name, row.last_name),
        "CardExpiration": "",
        "CardSecurityNumber": "",
        "CardBrand": row.card_type,
        "Installments": c.installments,
        "instanceId": tid.to_string(),
    });
    let path = format!("/cart/{}/checkout", c.customer_id);
    (Method::POST, path, Some(body))
}

/// `PATCH /product`: the new price itself, and the version the driver believes.
pub(super) fn price_update(u: &PriceUpdate, price: f64, version: u64, tid: u64) -> Call {
    let body = json!({
        "sellerId": u.seller_id,
        "productId": u.product_id,
        "price": price,
        "version": version.to_string(),
        "instanceId": tid.to_string(),
    });
    (Method::PATCH, "/product".into(), Some(body))
}

/// `PUT /product`: the whole product, its version the driver's TID.
pub(super) fn replace_product(p: &Product, tid: u64) -> Call {
    (Method::PUT, "/product".into(), Some(product(p, tid)))
}

pub(super) fn dashboard(seller: SellerId) -> Call {
    (Method::GET, format!("/seller/dashboard/{seller}"), None)
}

pub(super) fn delivery(tid: u64) -> Call {
    (Method::PATCH, format!("/shipment/{tid}"), None)
}

/// A product row as the driver's generator writes it (snake_case, version a string).
fn product(p: &Product, version: u64) -> Value {
    json!({
        "seller_id": p.seller_id,
        "product_id": p.product_id,
        "name": p.name,
        "sku": p.sku,
        "category": p.category,
        "description": "",
        "price": p.price,
        "freight_value": p.freight_value,
        "status": p.status,
        "version": version.to_string(),
    })
}

/// Every row of `data` as the driver ingests it: sellers, customers, products, stock.
pub(super) fn ingestion(data: &Dataset) -> Vec<Call> {
    let post = |path: &str, body: Value| (Method::POST, path.to_string(), Some(body));
    let sellers = data.sellers.iter().map(|s| {
        let body = json!({
            "id": s.id, "name": s.name, "company_name": s.company_name, "email": s.email,
            "phone": "", "mobile_phone": "", "cpf": "", "cnpj": "", "address": "",
            "complement": "", "city": s.city, "state": s.state, "zip_code": "",
        });
        post("/seller", body)
    });
    let customers = data.customers.iter().map(|c| {
        let body = json!({
            "id": c.id, "first_name": c.first_name, "last_name": c.last_name, "address": "",
            "complement": "", "birth_date": "", "zip_code": c.zip_code, "city": c.city,
            "state": c.state, "card_number": c.card_number, "card_security_number": "",
            "card_expiration": "", "card_holder_name": "", "card_type": c.card_type,
            "success_payment_count": c.success_payment_count,
            "failed_payment_count": c.failed_payment_count,
            "delivery_count": c.delivery_count, "data": "",
        });
        post("/customer", body)
    });
    let products = data
        .products
        .iter()
        .map(|p| post("/product", product(p, p.version)));
    let stock = data.stock_items.iter().map(|s| {
        let body = json!({
            "seller_id": s.seller_id, "product_id": s.product_id,
            "qty_available": s.qty_available, "qty_reserved": s.qty_reserved,
            "order_count": s.order_count, "ytd": s.ytd, "data": s.data,
            "version": s.version.to_string(),
        });
        post("/stock", body)
    });
    sellers
        .chain(customers)
        .chain(products)
        .chain(stock)
        .collect()
}

/// Sends `calls`, `in_flight` at a time; every one must be answered 200.
pub(super) fn send_all(
    client: &FrontDoorClient,
    calls: Vec<Call>,
    in_flight: usize,
) -> Result<(), String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let total = calls.len();
    let mut calls = calls.into_iter();
    let mut open = 0;
    let mut answered = 0;
    while answered < total {
        while open < in_flight {
            let Some(call) = calls.next() else { break };
            let what = format!("{} {}", call.0, call.1);
            let tx = tx.clone();
            client.spawn_calls(vec![call], move |result, _: Instant| {
                let _ = tx.send((what, result));
            });
            open += 1;
        }
        let (what, result) = rx
            .recv()
            .map_err(|_| "the HTTP client stopped".to_string())?;
        (open, answered) = (open - 1, answered + 1);
        match result {
            Ok(answers) if answers.iter().all(|(status, _)| *status == 200) => {}
            Ok(answers) => return Err(format!("{what}: answered {answers:?}")),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    Ok(())
}

/// Whether `state` is `data` as ingested, with nothing a run leaves behind.
pub(super) fn holds_exactly(state: &MarketplaceState, data: &Dataset) -> Result<(), String> {
    fn same<T: Clone + PartialEq, K: Ord>(
        what: &str,
        have: &[T],
        want: &[T],
        key: impl Fn(&T) -> K,
    ) -> Result<(), String> {
        let (mut have, mut want) = (have.to_vec(), want.to_vec());
        have.sort_by_key(&key);
        want.sort_by_key(&key);
        if have == want {
            Ok(())
        } else {
            Err(format!(
                "its {what} differ from the data set ({} rows, {} expected)",
                have.len(),
                want.len()
            ))
        }
    }
    same("sellers", &state.sellers, &data.sellers, |s| s.id)?;
    same("customers", &state.customers, &data.customers, |c| c.id)?;
    let key = |p: &Product| (p.seller_id, p.product_id);
    same("products", &state.products, &data.products, key)?;
    let key = |s: &StockItem| (s.seller_id, s.product_id);
    same("stock items", &state.stock_items, &data.stock_items, key)?;
    let replicas: Vec<ReplicaProduct> = data.products.iter().map(Into::into).collect();
    let key = |p: &ReplicaProduct| (p.seller_id, p.product_id);
    same(
        "cart's product replicas",
        &state.replica_products,
        &replicas,
        key,
    )?;
    let left = [
        ("cart lines", state.cart_items.len()),
        ("cart history lines", state.cart_history.len()),
        ("orders", state.orders.len()),
        ("order items", state.order_items.len()),
        ("order history rows", state.order_history.len()),
        ("payments", state.order_payments.len()),
        ("shipments", state.shipments.len()),
        ("packages", state.packages.len()),
        ("seller entries", state.order_entries.len()),
    ];
    match left.iter().find(|(_, n)| *n > 0) {
        Some((what, n)) => Err(format!("it holds {n} {what} from an earlier run")),
        None => Ok(()),
    }
}
