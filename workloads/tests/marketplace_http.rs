//! The Online Marketplace benchmark's HTTP API (`workloads::marketplace::http`) on an embedded
//! cluster behind the front door, exercised over hand-written HTTP/1.1 on loopback. One server
//! is shared by the tests; each test uses its own customers, sellers and products (only
//! `session_checkout_dashboard_delivery` creates orders, so its delivery run is deterministic).
//! Every socket has a timeout: a broken server fails the tests rather than hanging them.

mod common;

use common::http::{self, Reply};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use vmodb::front_door::{Access, FrontDoor, Role};
use vmodb::{Cluster, ClusterConfig, CoordinatorConfig};
use workloads::marketplace::generator::{Dataset, Scale, generate};
use workloads::marketplace::http::routes;
use workloads::marketplace::logic::{self, raised_price};
use workloads::marketplace::model::{Product, Voucher};
use workloads::marketplace::{services, vmodb_system};

const TIMEOUT: Duration = Duration::from_secs(8);

struct Server {
    addr: SocketAddr,
    data: Dataset,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let scale = Scale {
            customers: 20,
            sellers: 8,
            products_per_seller: 4,
            stock_per_product: 100,
        };
        let data = generate(&scale, 11);
        let config = ClusterConfig {
            coordinator: CoordinatorConfig {
                batch_window: Duration::from_millis(2),
                record_inputs: true,
                ..CoordinatorConfig::default()
            },
            workers: 2,
            check_modes: true,
            link_delay: None,
            data_dir: None,
        };
        let app = services::app().expect("app");
        let cluster =
            Cluster::start(app, config, vmodb_system::loader(&data)).expect("cluster start");
        let access = Access::default()
            .allow(Role::Operator, TOKEN)
            .and_then(|a| a.allow(Role::Client, CLIENT_TOKEN))
            .expect("a token");
        let door = FrontDoor::new(Arc::new(cluster), Value::Null, access);
        // A free loopback port (released just before the front door binds it).
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let router = door.router().merge(routes(door.clone()));
        std::thread::spawn(move || door.serve(&addr.to_string(), router));
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "the front door never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { addr, data }
    })
}

/// The front door's token in these tests (an operator's: it may use every route).
const TOKEN: &str = "marketplace-http-test-token-0123456789abcdef";
/// A client's token: the benchmark's routes, but not the resets.
const CLIENT_TOKEN: &str = "marketplace-http-client-token-0123456789ab";

/// One HTTP/1.1 request with the token; the reply read to the end.
fn request(method: &str, path: &str, body: Option<&str>) -> Reply {
    request_as(Some(TOKEN), method, path, body)
}

/// `request` with `token`, if any.
fn request_as(token: Option<&str>, method: &str, path: &str, body: Option<&str>) -> Reply {
    http::request(server().addr, token, method, path, body)
}

fn products_table() -> Vec<Product> {
    let reply = request("GET", "/tables/product/products", None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let rows: Vec<Vec<u8>> = postcard::from_bytes(&reply.body).expect("rows");
    rows.iter()
        .map(|r| postcard::from_bytes(r).expect("product row"))
        .collect()
}

fn product(seller: u32, id: u32) -> Product {
    let data = &server().data;
    let p = data
        .products
        .iter()
        .find(|p| p.seller_id == seller && p.product_id == id);
    p.expect("product in the data set").clone()
}

/// Customer 1, seller 1: add two lines (snake_case, then the benchmark's PascalCase), check out
/// (PascalCase CustomerCheckout), see the order on the dashboard, deliver it.
#[test]
fn session_checkout_dashboard_delivery() {
    let (customer, seller) = (1, 1);
    let p1 = product(seller, 1);
    let add = request(
        "PATCH",
        &format!("/cart/{customer}/add"),
        Some(
            &json!({"seller_id": seller, "product_id": 1, "product_name": "x", "unit_price": 1.0,
                    "freight_value": 0.5, "quantity": 2, "voucher": 0.0, "version": "0"})
            .to_string(),
        ),
    );
    add.committed("add_items");
    let add = request(
        "PATCH",
        &format!("/cart/{customer}/add"),
        Some(
            &json!({"SellerId": seller, "ProductId": 2, "ProductName": "y", "UnitPrice": 1.0,
                    "FreightValue": 0.5, "Quantity": 3, "Voucher": 1.5, "Version": "0"})
            .to_string(),
        ),
    );
    add.committed("add_items");

    let checkout = json!({
        "CustomerId": customer, "FirstName": "a", "LastName": "b", "Street": "s",
        "Complement": "", "City": "c", "State": "SP", "ZipCode": "00000",
        "PaymentType": "CREDIT_CARD", "CardNumber": "1", "CardHolderName": "a b",
        "CardExpiration": "1230", "CardSecurityNumber": "123", "CardBrand": "VISA",
        "Installments": 3, "instanceId": "77"
    });
    let reply = request(
        "POST",
        &format!("/cart/{customer}/checkout"),
        Some(&checkout.to_string()),
    );
    let result = reply.committed("customer_checkout");
    assert!(result["tid"].as_u64().is_some(), "{result}");

    // The order is on the seller's dashboard: two entries of one order of this customer.
    let reply = request("GET", &format!("/seller/dashboard/{seller}"), None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let dash = reply.json();
    assert_eq!(dash["seller_id"], seller, "{dash}");
    let entries = dash["entries"].as_array().expect("entries");
    let ours: Vec<&Value> = entries
        .iter()
        .filter(|e| e["customer_id"] == customer)
        .collect();
    assert_eq!(ours.len(), 2, "{dash}");
    assert!(
        ours.iter().all(|e| e["order_id"] == ours[0]["order_id"]),
        "{dash}"
    );
    let line1 = ours.iter().find(|e| e["product_id"] == 1).expect("line 1");
    assert_eq!(line1["quantity"], 2);
    assert_eq!(line1["unit_price"], p1.price);
    assert_eq!(line1["total_incentive"], 0.0, "no voucher on line 1");
    let line2 = ours.iter().find(|e| e["product_id"] == 2).expect("line 2");
    assert_eq!(line2["quantity"], 3);
    // The benchmark's Voucher is an amount, applied once per line and at most the line's total.
    let gross = logic::cents(product(seller, 2).price * 3.0);
    assert_eq!(
        line2["total_incentive"],
        logic::voucher(0.0, Voucher::Amount(1.5)).min(gross),
        "Voucher 1.5 is an amount: {dash}"
    );
    assert_eq!(dash["count_orders"], 1, "{dash}");
    assert_eq!(dash["count_items"], 2, "{dash}");
    // Paid and shipped in the checkout's transaction; the category comes from the product.
    for line in [line1, line2] {
        assert_eq!(line["order_status"], "READY_FOR_SHIPMENT", "{dash}");
        let category = &product(seller, line["product_id"].as_u64().unwrap() as u32).category;
        assert_eq!(line["product_category"], *category, "{dash}");
    }

    // The session was sealed by the checkout: a second checkout seals nothing.
    let seal = request("PATCH", &format!("/cart/{customer}/seal"), None);
    assert_eq!(seal.status, 200, "{}", seal.text());
    assert_eq!(seal.json()["dropped"], json!([]));

    // The delivery run delivers this order's packages (the only shipment).
    let reply = request("PATCH", "/shipment/12345", None);
    let result = reply.committed("update_delivery");
    let delivered = result["output"]["delivered"].as_array().expect("delivered");
    assert!(
        delivered.iter().any(|d| d["customer_id"] == customer),
        "{result}"
    );
    // Both packages delivered: the order is concluded and its entries leave the dashboard.
    assert_eq!(
        result["output"]["concluded"].as_array().map(Vec::len),
        Some(1),
        "{result}"
    );
    let reply = request("GET", &format!("/seller/dashboard/{seller}"), None);
    let dash = reply.json();
    let left = dash["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["customer_id"] == customer);
    assert!(!left, "{dash}");
}

/// A customer with nothing added: our checkout seals no line, so it commits without an order.
/// The benchmark's routes sit behind the front door's tokens like every other.
#[test]
fn the_benchmark_routes_need_a_token() {
    let body = r#"{"SellerId": 1, "ProductId": 1, "Price": 1.0, "Quantity": 1}"#;
    let reply = request_as(None, "PATCH", "/cart/1/add", Some(body));
    assert_eq!(reply.status, 401, "{}", reply.text());
    let reply = request_as(None, "GET", "/seller/dashboard/1", None);
    assert_eq!(reply.status, 401, "{}", reply.text());
}

#[test]
fn checkout_of_an_empty_session_commits_without_output() {
    let reply = request(
        "POST",
        "/cart/2/checkout",
        Some(r#"{"payment_type": "BOLETO", "installments": 0}"#),
    );
    let result = reply.committed("customer_checkout");
    assert_eq!(result["output"], Value::Null, "{result}");
    let dash = request("GET", "/seller/dashboard/2", None).json();
    let any = dash["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["customer_id"] == 2);
    assert!(!any, "no order for customer 2: {dash}");
}

/// An all-or-nothing checkout that cannot reserve aborts (409); the session survives it, and a
/// seal then drops it.
#[test]
fn aborted_checkout_keeps_the_session_until_sealed() {
    let (customer, seller) = (3, 3);
    let add = json!({"seller_id": seller, "product_id": 1, "quantity": 1000}).to_string();
    request("PATCH", &format!("/cart/{customer}/add"), Some(&add)).committed("add_items");
    let body = json!({"PaymentType": "DEBIT_CARD", "all_or_nothing": true}).to_string();
    let reply = request("POST", &format!("/cart/{customer}/checkout"), Some(&body));
    let error = reply.error(409);
    assert!(
        error.starts_with("customer_checkout aborted at stock"),
        "{error}"
    );
    assert_eq!(reply.json()["result"]["outcome"], "aborted");
    let seal = request("PATCH", &format!("/cart/{customer}/seal"), None);
    assert_eq!(seal.status, 200, "{}", seal.text());
    assert_eq!(
        seal.json(),
        json!({"customer_id": customer, "dropped": [[seller, 1]]})
    );
}

/// Adding a product that does not exist aborts in the cart (409) and joins no session;
/// `?wait=false` answers 202 at once.
#[test]
fn add_of_unknown_product_aborts_and_wait_false_is_accepted() {
    let customer = 4;
    let body = json!({"seller_id": 1, "product_id": 999, "quantity": 1}).to_string();
    let reply = request("PATCH", &format!("/cart/{customer}/add"), Some(&body));
    let error = reply.error(409);
    assert!(error.contains("add_items aborted at cart"), "{error}");
    assert!(error.contains("product not found"), "{error}");
    let seal = request("PATCH", &format!("/cart/{customer}/seal"), None);
    assert_eq!(seal.json()["dropped"], json!([]));

    let body = json!({"seller_id": 4, "product_id": 1, "quantity": 1, "voucher": true});
    let reply = request(
        "PATCH",
        &format!("/cart/{customer}/add?wait=false"),
        Some(&body.to_string()),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json()["outcome"], "submitted");
    let seal = request("PATCH", &format!("/cart/{customer}/seal"), None);
    assert_eq!(seal.json()["dropped"], json!([[4, 1]]));
}

/// PATCH /product sets the price the benchmark's driver sends (`price`), or raises it by our
/// `percent`; the stored product changes.
#[test]
fn price_update_sets_or_raises_the_price() {
    let seller = 5;
    let id = (1..=4)
        .find(|i| product(seller, *i).price > 0.0)
        .expect("a priced product");
    let before = product(seller, id).price;
    let body = json!({"sellerId": seller, "productId": id, "percent": 5, "instanceId": 1});
    let reply = request("PATCH", "/product", Some(&body.to_string()));
    let result = reply.committed("price_update");
    let expected = raised_price(before, 5).expect("a bounded raise");
    assert_eq!(result["output"]["price"], expected, "{result}");
    let stored = products_table()
        .into_iter()
        .find(|p| p.seller_id == seller && p.product_id == id)
        .expect("stored product");
    assert_eq!(stored.price, expected);
    assert!(stored.price > before);

    // The driver's body: the new price itself, lower or higher.
    let absolute = json!({"sellerId": seller, "productId": id, "price": 1.25, "version": "0",
        "instanceId": "7"});
    let result =
        request("PATCH", "/product", Some(&absolute.to_string())).committed("price_update");
    assert_eq!(result["output"]["price"], 1.25, "{result}");
    let stored = products_table()
        .into_iter()
        .find(|p| p.seller_id == seller && p.product_id == id)
        .unwrap();
    assert_eq!(stored.price, 1.25);
    let both = json!({"sellerId": seller, "productId": id, "price": 2.0, "percent": 3});
    let error = request("PATCH", "/product", Some(&both.to_string())).error(422);
    assert!(error.contains("not both"), "{error}");
    for bad in [json!(-1.0), json!(1e300)] {
        let body = json!({"sellerId": seller, "productId": id, "price": bad});
        let error = request("PATCH", "/product", Some(&body.to_string())).error(422);
        assert!(error.contains("price must be in"), "{error}");
    }
    let stored = products_table()
        .into_iter()
        .find(|p| p.seller_id == seller && p.product_id == id)
        .unwrap();
    assert_eq!(stored.price, 1.25, "the refused updates changed nothing");

    // Out of range at the entry (the generic route too): 422, never sequenced, nothing stored.
    let huge = json!({"sellerId": seller, "productId": id, "percent": 4294967295u32});
    let error = request("PATCH", "/product", Some(&huge.to_string())).error(422);
    assert!(error.contains("percent must be in"), "{error}");
    let generic = json!({"transaction": "price_update",
        "input": {"seller_id": seller, "product_id": id, "change": {"RaiseBy": 4294967295u32}}});
    let error = request("POST", "/transactions", Some(&generic.to_string())).error(422);
    assert!(error.contains("percent must be in"), "{error}");
    // The largest raise, again and again: refused (aborted) before the price leaves the
    // finite range, and every price still reads as a number.
    let max = json!({"sellerId": seller, "productId": id, "percent": 1000});
    let mut aborted = false;
    for _ in 0..40 {
        let reply = request("PATCH", "/product", Some(&max.to_string()));
        if reply.status == 409 {
            let error = reply.error(409);
            assert!(error.contains("highest price"), "{error}");
            aborted = true;
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert!(aborted, "a price went past the highest price");
    let stored = products_table()
        .into_iter()
        .find(|p| p.seller_id == seller && p.product_id == id)
        .unwrap();
    assert!(
        stored.price.is_finite() && stored.price <= 1e9,
        "{}",
        stored.price
    );
}

/// PUT /product replaces the product: its version becomes the transaction's TID.
#[test]
fn put_product_replaces_it() {
    let mut p = serde_json::to_value(product(6, 2)).unwrap();
    p["version"] = json!("424242");
    let reply = request("PUT", "/product", Some(&p.to_string()));
    let result = reply.committed("update_product");
    assert_eq!(result["output"]["version"], result["tid"], "{result}");
    assert_eq!(result["output"]["seller_id"], 6);
    let stored = products_table()
        .into_iter()
        .find(|p| p.seller_id == 6 && p.product_id == 2)
        .unwrap();
    assert_eq!(Some(stored.version), result["tid"].as_u64());
}

/// Resets wipe everyone's data: a client's token gets 403, and nothing happens.
#[test]
fn reset_and_cleanup_need_the_operator() {
    for path in ["/reset", "/cleanup"] {
        let reply = request_as(Some(CLIENT_TOKEN), "PATCH", path, None);
        assert_eq!(reply.status, 403, "{path}: {}", reply.text());
        let reply = request_as(None, "PATCH", path, None);
        assert_eq!(reply.status, 401, "{path}: {}", reply.text());
    }
    assert!(!products_table().is_empty(), "the products are still there");
}

/// Bad path parameters and malformed JSON are 400; well-formed JSON of the wrong shape or with
/// an invalid value is 422; a wrong method is 405; an unknown path 404 — all JSON errors.
#[test]
fn bad_requests_are_json_errors() {
    let item = json!({"seller_id": 7, "product_id": 1, "quantity": 1}).to_string();
    let pay = r#"{"PaymentType": "BOLETO"}"#;
    for (method, path, body) in [
        ("PATCH", "/cart/abc/add", Some(item.as_str())),
        ("PATCH", "/cart/-1/add", Some(item.as_str())),
        ("POST", "/cart/1.5/checkout", Some(pay)),
        ("PATCH", "/cart/x/seal", None),
        ("GET", "/seller/dashboard/seller7", None),
        ("GET", "/seller/dashboard/99999999999", None),
        ("PATCH", "/shipment/next", None),
    ] {
        let error = request(method, path, body).error(400);
        assert!(error.contains("path parameter"), "{method} {path}: {error}");
    }
    for (method, path) in [
        ("PATCH", "/cart/7/add"),
        ("POST", "/cart/7/checkout"),
        ("PATCH", "/product"),
        ("PUT", "/product"),
    ] {
        let error = request(method, path, Some(r#"{"seller_id": 7,"#)).error(400);
        assert!(error.contains("malformed JSON"), "{method} {path}: {error}");
        let error = request(method, path, None).error(400);
        assert!(
            error.contains("missing JSON body"),
            "{method} {path}: {error}"
        );
        let error = request(method, path, Some(r#"{"seller_id": "seven"}"#)).error(422);
        assert!(error.contains("malformed JSON"), "{method} {path}: {error}");
    }
    let bad_voucher = json!({"seller_id": 7, "product_id": 1, "quantity": 1, "voucher": "yes"});
    let error = request("PATCH", "/cart/7/add", Some(&bad_voucher.to_string())).error(422);
    assert!(error.contains("Voucher"), "{error}");
    for (voucher, quantity, says) in [(-1.0, 1, "voucher must be in"), (0.5, 0, "quantity")] {
        let body = json!({"SellerId": 7, "ProductId": 1, "Quantity": quantity, "Voucher": voucher});
        let error = request("PATCH", "/cart/7/add", Some(&body.to_string())).error(422);
        assert!(error.contains(says), "{error}");
    }
    let error = request(
        "POST",
        "/cart/7/checkout",
        Some(r#"{"PaymentType": "CASH"}"#),
    )
    .error(422);
    assert!(error.contains("PaymentType"), "{error}");
    let other = r#"{"CustomerId": 8, "PaymentType": "BOLETO"}"#;
    let error = request("POST", "/cart/7/checkout", Some(other)).error(400);
    assert!(error.contains("CustomerId"), "{error}");
    let error = request("PATCH", "/cart/7/add?wait=maybe", Some(&item)).error(400);
    assert!(error.contains("wait"), "{error}");
    request("GET", "/cart/7/add", None).error(405);
    request("DELETE", "/product", None).error(405);
    request("GET", "/no/such/route", None).error(404);
    // Nothing above reached a transaction for customer 7.
    let seal = request("PATCH", "/cart/7/seal", None);
    assert_eq!(seal.json()["dropped"], json!([]));
    // The generic routes are still there next to the benchmark's.
    let status = request("GET", "/status", None);
    assert_eq!(status.status, 200, "{}", status.text());
    assert!(status.json()["failure"].is_null());
}
