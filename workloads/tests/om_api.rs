//! Conformance with the Online Marketplace benchmark's HTTP API (reference digest §4.1): every
//! request its driver sends, with the driver's bodies as the reference describes them
//! (snake_case entities, PascalCase CartItem and CustomerCheckout, camelCase PriceUpdate,
//! versions and instance ids as strings), against a cluster that starts empty, without a token
//! (the driver sends none: the front door lets such requests in as a client). Then the
//! driver's run boundaries: `PATCH /reset` back to the ingested data, `PATCH /cleanup` to
//! nothing, and ingestion again; the state always equals the serial replay of the inputs.

mod common;

use common::http::{self, Reply};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmodb::front_door::{Access, FrontDoor, Role};
use vmodb::{Cluster, ClusterConfig, CoordinatorConfig, Entity, check_serial_replay};
use workloads::marketplace::http::{AnswerAt, routes_answering};
use workloads::marketplace::model::*;
use workloads::marketplace::services;

const OPERATOR: &str = "om-api-test-operator-token-0123456789abcdef";

struct Server {
    addr: SocketAddr,
    cluster: Arc<Cluster>,
}

impl Server {
    /// An empty marketplace cluster behind a front door that lets token-less requests in as a
    /// client.
    fn start() -> Server {
        Self::start_answering(AnswerAt::Commit)
    }

    fn start_answering(answer_at: AnswerAt) -> Server {
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
        let cluster = Arc::new(Cluster::start(app, config, |_| Ok(())).expect("cluster start"));
        let access = Access::default()
            .allow(Role::Operator, OPERATOR)
            .expect("a token")
            .anonymous(Role::Client);
        let door = FrontDoor::new(cluster.clone(), Value::Null, access);
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let router = door
            .router()
            .merge(routes_answering(door.clone(), answer_at));
        std::thread::spawn(move || door.serve(&addr.to_string(), router));
        let deadline = Instant::now() + Duration::from_secs(8);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "the front door never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { addr, cluster }
    }

    /// A request as the driver sends it: no token.
    fn driver(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        http::request(self.addr, None, method, path, body.as_deref())
    }

    fn operator(&self, method: &str, path: &str) -> Reply {
        http::request(self.addr, Some(OPERATOR), method, path, None)
    }

    fn rows<E: Entity>(&self, service: &str) -> Vec<E> {
        let mut rows: Vec<E> = self.cluster.read_table(service).expect("table");
        rows.sort_by_key(|r| r.key());
        rows
    }

    fn assert_replay_equal(&self) {
        let app = services::app().expect("app");
        let inputs = self.cluster.committed_inputs();
        let check = check_serial_replay(&app, |_| Ok(()), &inputs, &self.cluster.state());
        assert!(
            check.expect("replay runs").equal,
            "state differs from the serial replay"
        );
    }
}

// ------------------------------------------------ the driver's bodies (reference digest §1)

fn seller(id: u32) -> Value {
    json!({"id": id, "name": format!("seller {id}"), "company_name": "Lojas", "email": "a@b.c",
        "phone": "555", "mobile_phone": "556", "cpf": "123", "cnpj": "456",
        "address": "Rua 1", "complement": "casa", "city": "Recife", "state": "PE",
        "zip_code": "50000"})
}

fn customer(id: u32) -> Value {
    json!({"id": id, "first_name": "Ana", "last_name": "Silva", "address": "Rua 2",
        "complement": "apto", "birth_date": "1990-01-01", "zip_code": "50001",
        "city": "Olinda", "state": "PE", "card_number": "4111", "card_security_number": "123",
        "card_expiration": "1229", "card_holder_name": "Ana M Silva", "card_type": "VISA",
        "success_payment_count": 0, "failed_payment_count": 0, "delivery_count": 0,
        "data": "some words"})
}

fn product(seller: u32, id: u32, price: f64) -> Value {
    json!({"seller_id": seller, "product_id": id, "name": format!("thing {id}"),
        "sku": "ABCDEFGH12345678", "category": "toys", "description": "a thing",
        "price": price, "freight_value": 1.5, "status": "approved", "version": "0",
        "created_at": "2024-01-01T00:00:00", "updated_at": "2024-01-01T00:00:00",
        "active": true})
}

fn stock(seller: u32, id: u32) -> Value {
    json!({"seller_id": seller, "product_id": id, "qty_available": 10000, "qty_reserved": 0,
        "order_count": 0, "ytd": 42, "data": "stock words", "version": "0",
        "created_at": "2024-01-01T00:00:00", "updated_at": "2024-01-01T00:00:00"})
}

fn cart_item(seller: u32, id: u32, price: f64, quantity: u32, voucher: f64) -> Value {
    json!({"SellerId": seller, "ProductId": id, "ProductName": format!("thing {id}"),
        "UnitPrice": price, "FreightValue": 1.5, "Quantity": quantity, "Voucher": voucher,
        "Version": "0"})
}

fn customer_checkout(customer: u32, instance: &str) -> Value {
    json!({"CustomerId": customer, "FirstName": "Ana", "LastName": "Silva",
        "Street": "Rua 2", "Complement": "apto", "City": "Olinda", "State": "PE",
        "ZipCode": "50001", "PaymentType": "CREDIT_CARD", "CardNumber": "4111",
        "CardHolderName": "Ana M Silva", "CardExpiration": "1229", "CardSecurityNumber": "123",
        "CardBrand": "VISA", "Installments": 3, "instanceId": instance})
}

/// Sellers 1 and 2 with products 1..=3 each (price 10 × id + seller), customers 1 and 2.
fn ingest(s: &Server) {
    for id in [1, 2] {
        s.driver("POST", "/seller", Some(&seller(id)))
            .committed("ingest_seller");
        s.driver("POST", "/customer", Some(&customer(id)))
            .committed("ingest_customer");
        for p in 1..=3 {
            let price = f64::from(10 * p + id);
            s.driver("POST", "/product", Some(&product(id, p, price)))
                .committed("ingest_product");
            s.driver("POST", "/stock", Some(&stock(id, p)))
                .committed("ingest_stock");
        }
    }
}

/// What `ingest` stores, as rows.
fn ingested_products() -> Vec<Product> {
    let mut rows = Vec::new();
    for seller in [1, 2] {
        for id in 1..=3 {
            rows.push(Product {
                seller_id: seller,
                product_id: id,
                name: format!("thing {id}"),
                sku: "ABCDEFGH12345678".into(),
                category: "toys".into(),
                price: f64::from(10 * id + seller),
                freight_value: 1.5,
                status: "approved".into(),
                version: 0,
            });
        }
    }
    rows
}

/// The last submitted and committed TIDs as the benchmark's vMODB driver polls them: `Accept:
/// application/octet-stream`, 8 bytes, a little-endian i64.
fn status_tids(s: &Server) -> (i64, i64) {
    let tid = |path: &str| {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: application/octet-stream\r\n\
             Connection: close\r\n\r\n"
        );
        let mut stream = TcpStream::connect(s.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(8)))
            .expect("timeout");
        std::io::Write::write_all(&mut stream, head.as_bytes()).expect("write");
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut stream, &mut raw).expect("read");
        let at = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a head");
        let body: [u8; 8] = raw[at + 4..].try_into().expect("8 bytes");
        i64::from_le_bytes(body)
    };
    (tid("/status/submitted"), tid("/status/committed"))
}

#[test]
fn the_drivers_requests_from_ingestion_to_cleanup() {
    let s = Server::start();
    ingest(&s);
    assert_eq!(s.rows::<Product>("product"), ingested_products());
    let replica: Vec<ReplicaProduct> = s.rows("cart");
    assert_eq!(replica.len(), 6, "the cart's replica follows ingestion");
    assert_eq!(s.rows::<Seller>("seller").len(), 2);
    let customers: Vec<Customer> = s.rows("customer");
    assert_eq!(
        (customers.len(), customers[0].card_type.as_str()),
        (2, "VISA")
    );
    let stock: Vec<StockItem> = s.rows("stock");
    assert!(
        stock
            .iter()
            .all(|r| r.qty_available == 10000 && r.ytd == 42)
    );

    // Bad rows are refused before anything is stored.
    let mut bad = product(3, 1, 5.0);
    bad["price"] = json!(-1.0);
    let refused = [
        ("/product", bad),
        (
            "/product",
            json!({"seller_id": 3, "product_id": 1, "name": "x", "price": 1.0,
            "version": "v1"}),
        ),
        (
            "/stock",
            json!({"seller_id": 3, "product_id": 1, "qty_available": 1,
            "qty_reserved": 2}),
        ),
        ("/customer", json!({"id": 3, "delivery_count": 5})),
        ("/seller", json!({"name": "no id"})),
    ];
    for (path, body) in &refused {
        let reply = s.driver("POST", path, Some(body));
        assert_eq!(reply.status, 422, "{path} {body}: {}", reply.text());
    }
    assert_eq!(s.rows::<Product>("product").len(), 6);
    assert_eq!(s.rows::<Customer>("customer").len(), 2);
    // A row that exists is never overwritten by ingestion: 409, nothing changes.
    let mut again = product(1, 1, 99.0);
    again["version"] = json!("7");
    let reply = s.driver("POST", "/product", Some(&again));
    assert_eq!(reply.status, 409, "{}", reply.text());
    let mut counted = customer(2);
    counted["first_name"] = json!("Eve");
    assert_eq!(s.driver("POST", "/customer", Some(&counted)).status, 409);
    assert_eq!(s.rows::<Product>("product"), ingested_products());
    assert_eq!(s.rows::<Customer>("customer")[1].first_name, "Ana");

    // A session: two adds (one with a voucher amount), the checkout under instance "t1".
    s.driver("PATCH", "/cart/1/add", Some(&cart_item(1, 1, 11.0, 2, 0.0)))
        .committed("add_items");
    s.driver("PATCH", "/cart/1/add", Some(&cart_item(2, 3, 32.0, 1, 3.2)))
        .committed("add_items");
    let done = s
        .driver(
            "POST",
            "/cart/1/checkout",
            Some(&customer_checkout(1, "t1")),
        )
        .committed("customer_checkout");
    assert_eq!(done["output"]["items"], 2, "{done}");
    let history = s.driver("GET", "/cart/1/history/t1", None);
    assert_eq!(history.status, 200, "{}", history.text());
    let lines = history.json();
    assert_eq!(lines.as_array().map(Vec::len), Some(2), "{lines}");
    assert_eq!(lines[0]["SellerId"], 1, "{lines}");
    assert_eq!(lines[0]["UnitPrice"], 11.0, "{lines}");
    assert_eq!(lines[1]["Voucher"], 3.2, "the amount sent: {lines}");
    assert_eq!(lines[1]["Version"], "0", "{lines}");
    assert_eq!(
        s.driver("GET", "/cart/1/history/t2", None).json(),
        json!([])
    );
    let orders: Vec<Order> = s.rows("order");
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].total_incentive, 3.2,
        "the voucher amount, once per line"
    );
    // The same instance id again names the new checkout's lines only.
    s.driver("PATCH", "/cart/1/add", Some(&cart_item(1, 3, 31.0, 1, 0.0)))
        .committed("add_items");
    s.driver(
        "POST",
        "/cart/1/checkout",
        Some(&customer_checkout(1, "t1")),
    )
    .committed("customer_checkout");
    let lines = s.driver("GET", "/cart/1/history/t1", None).json();
    assert_eq!(lines.as_array().map(Vec::len), Some(1), "{lines}");
    assert_eq!(lines[0]["ProductId"], 3, "{lines}");

    // A second session abandoned: seal.
    s.driver("PATCH", "/cart/2/add", Some(&cart_item(1, 2, 21.0, 1, 0.0)))
        .committed("add_items");
    let seal = s.driver("PATCH", "/cart/2/seal", None);
    assert_eq!(seal.status, 200, "{}", seal.text());
    assert_eq!(seal.json()["dropped"], json!([[1, 2]]));

    // Price update: the new price itself (camelCase); replacement: a whole product.
    let price = json!({"sellerId": 1, "productId": 2, "price": 7.5, "version": "0",
        "instanceId": "t3"});
    let r = s
        .driver("PATCH", "/product", Some(&price))
        .committed("price_update");
    assert_eq!(r["output"]["price"], 7.5, "{r}");
    let mut replaced = product(2, 2, 22.0);
    replaced["version"] = json!("t4");
    let r = s
        .driver("PUT", "/product", Some(&replaced))
        .committed("update_product");
    assert_eq!(r["output"]["version"], r["tid"], "{r}");
    let products: Vec<Product> = s.rows("product");
    assert_eq!(products[1].price, 7.5);
    assert_eq!(Some(products[4].version), r["tid"].as_u64());

    // Dashboard and delivery.
    let dash = s.driver("GET", "/seller/dashboard/1", None);
    assert_eq!(dash.status, 200, "{}", dash.text());
    assert_eq!(dash.json()["count_orders"], 2, "{}", dash.text());
    let r = s
        .driver("PATCH", "/shipment/5", None)
        .committed("update_delivery");
    assert_eq!(
        r["output"]["delivered"].as_array().map(Vec::len),
        Some(2),
        "{r}"
    );

    // Completion as the driver tracks it: submitted equals committed once all committed.
    let (submitted, committed) = status_tids(&s);
    assert_eq!(submitted, committed);
    assert!(submitted >= 21, "{submitted}");

    // Reset: the driver sends no token, so it is a client here: refused. The operator's
    // reset brings the data back to what was ingested.
    assert_eq!(s.driver("PATCH", "/reset", None).status, 403);
    let generic = json!({"transaction": "reset", "input": "Empty"});
    let reply = s.driver("POST", "/transactions", Some(&generic));
    assert_eq!(
        reply.status, 403,
        "a client cannot reset through the generic route either"
    );
    assert!(
        !s.rows::<Order>("order").is_empty(),
        "the refused reset did nothing"
    );
    s.operator("PATCH", "/reset").committed("reset");
    assert_eq!(s.rows::<Product>("product"), ingested_products());
    let replica: Vec<ReplicaProduct> = s.rows("cart");
    let expected: Vec<ReplicaProduct> = ingested_products().iter().map(Into::into).collect();
    assert_eq!(replica, expected);
    let stock: Vec<StockItem> = s.rows("stock");
    assert!(
        stock
            .iter()
            .all(|r| (r.qty_available, r.order_count, r.ytd, r.version) == (10000, 0, 42, 0))
    );
    let customers: Vec<Customer> = s.rows("customer");
    assert!(
        customers
            .iter()
            .all(|c| c.success_payment_count + c.delivery_count == 0)
    );
    assert!(s.rows::<Order>("order").is_empty());
    assert!(s.rows::<OrderPayment>("payment").is_empty());
    assert!(s.rows::<Shipment>("shipment").is_empty());
    assert!(s.rows::<OrderEntry>("seller").is_empty());
    assert!(s.rows::<CartItem>("cart").is_empty());
    assert!(s.rows::<CartHistoryLine>("cart").is_empty());
    assert_eq!(
        s.driver("GET", "/cart/1/history/t1", None).json(),
        json!([])
    );
    s.assert_replay_equal();

    // The next run: order ids start again at 1.
    s.driver("PATCH", "/cart/1/add", Some(&cart_item(1, 1, 11.0, 1, 0.0)))
        .committed("add_items");
    let done = s
        .driver(
            "POST",
            "/cart/1/checkout",
            Some(&customer_checkout(1, "t9")),
        )
        .committed("customer_checkout");
    assert_eq!(done["output"]["order_id"], 1, "{done}");

    // Cleanup: nothing left; ingestion works again.
    s.operator("PATCH", "/cleanup").committed("reset");
    assert!(s.rows::<Product>("product").is_empty());
    assert!(s.rows::<ReplicaProduct>("cart").is_empty());
    assert!(s.rows::<StockItem>("stock").is_empty());
    assert!(s.rows::<Seller>("seller").is_empty());
    assert!(s.rows::<Customer>("customer").is_empty());
    assert!(s.rows::<Order>("order").is_empty());
    ingest(&s);
    assert_eq!(s.rows::<Product>("product"), ingested_products());
    s.assert_replay_equal();
}

/// As the Java vMODB's ingress answers the driver: 202 with the TID once sequenced, unless the
/// request asks to wait.
#[test]
fn routes_can_answer_once_sequenced() {
    let s = Server::start_answering(AnswerAt::Sequenced);
    let reply = s.driver("POST", "/seller", Some(&seller(1)));
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json()["outcome"], "submitted");
    s.driver("POST", "/seller?wait=true", Some(&seller(2)))
        .committed("ingest_seller");
}
