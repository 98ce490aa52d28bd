//! The Online Marketplace benchmark's HTTP API (reference digest §4.1) on the vMODB front door,
//! mapped onto our transactions. Merged next to `FrontDoor::router()` by the coordinator.
//!
//! Request bodies accept the benchmark's field names: snake_case, and the casing the benchmark
//! puts on the wire (PascalCase for CartItem and CustomerCheckout, camelCase for PriceUpdate);
//! fields we do not need are ignored. Transaction routes take `?wait=false` to answer at once
//! (202, outcome `submitted`); by default they wait for the commit. Answers:
//! - committed: 200 with the `TxResult` JSON (`{"tid", "transaction", "outcome": "committed",
//!   "batch", "output", "latency_us"}`); the TID is the sequencer's, not the driver's instanceId;
//! - aborted: 409 with `{"error": "<transaction> aborted at <service>: <reason>", "result":
//!   TxResult}`;
//! - bad path parameter (not a non-negative integer), malformed JSON, a missing body: 400
//!   `{"error"}`; well-formed JSON of the wrong shape (missing field, wrong type) or an invalid
//!   value: 422 `{"error"}` (as the generic routes do); unsupported: 501 `{"error"}`; a wrong
//!   method on a known path: 405 `{"error"}`; the cluster down: 503.
//!
//! Routes (the benchmark's bodies; `docs`: README "The benchmark's own driver"):
//! - Ingestion, one row per request, each a transaction at the row's service (the cluster may
//!   start empty: `[run] data = "ingest"`): `POST /seller` (Seller: `id`, `name`, ...),
//!   `/customer` (Customer, its counters 0), `/product` (Product: `seller_id`, `product_id`,
//!   `name`, `price`, `freight_value`, `version` as a number or a numeric string, ...; the
//!   cart's replica is written in the same transaction), `/stock` (StockItem: `qty_available`,
//!   ...). Fields we do not keep are ignored; a row that exists is replaced. Out-of-range values
//!   are refused (422) before anything is stored.
//! - `PATCH /cart/{customerId}/add`, body CartItem (`SellerId`, `ProductId`, `Quantity`,
//!   `Voucher`; `ProductName`, `UnitPrice`, `FreightValue`, `Version` are ignored: the cart
//!   takes name, price, freight and version from its product replica) → `add_items` with one
//!   item. `Voucher` is an amount (0 or absent: none; a boolean `true` asks for 10% of the
//!   unit price). Once the add commits (with `wait=false`: once it is sequenced),
//!   `(seller_id, product_id)` joins the customer's session: the lines the next checkout seals.
//! - `POST /cart/{customerId}/checkout`, body CustomerCheckout (`PaymentType` ∈ {CREDIT_CARD,
//!   DEBIT_CARD, BOLETO, VOUCHER}, `Installments` (default 0), `instanceId` (a string or a
//!   number: the cart keeps the lines checked out under it, see history), optional
//!   `all_or_nothing` (default false), optional `CustomerId` which must equal the path's;
//!   names, address and card are ignored) → `customer_checkout` with the session's products.
//!   The session is emptied at submission and restored if the checkout aborts or cannot be
//!   submitted. A checkout with an empty session commits with no output (no order), 200.
//! - `PATCH /cart/{customerId}/seal` → no transaction: empties the customer's session (200,
//!   `{"customer_id", "dropped": [[seller, product], ...]}`); the lines stay in the cart table
//!   and are checked out only if the product is added again (which overwrites the line).
//! - `GET /cart/{customerId}/history/{tid}` → the lines (CartItem, PascalCase) the customer
//!   checked out with `instanceId` = tid, as the cart sealed them (price as charged); `[]` if
//!   none.
//! - `PATCH /product`, body PriceUpdate (`sellerId`, `productId`, and `price`, the new price
//!   itself, as the benchmark's driver sends it; or our `percent`, a raise; exactly one of the
//!   two; `version` and `instanceId` are ignored) → `price_update`.
//! - `PUT /product`, body Product (`seller_id`, `product_id`; every other field, the new
//!   `version` included, is ignored: the new version is the transaction's TID) →
//!   `update_product`.
//! - `GET /seller/dashboard/{sellerId}` → query `dashboard` at `seller`: our `Dashboard` JSON
//!   (`seller_id`, `snapshot_tid`, the sellerView aggregates flattened, `entries`).
//! - `PATCH /shipment/{tid}` → `update_delivery` with `max_sellers` 10; the tid is checked to be
//!   a number and otherwise unused (our TIDs come from the sequencer).
//! - `PATCH /reset` → `reset` to the data as ingested (products' prices and versions, stock,
//!   customers' counters 0; carts, orders, payments, shipments and seller entries gone);
//!   `PATCH /cleanup` → `reset` to empty (the ingested data goes too). Both run alone, through
//!   every service, and need the operator's role (403 otherwise); sessions are forgotten.

mod bodies;

use super::model::{
    AddItem, AddItems, CartHistoryLine, Checkout, Customer, CustomerId, PriceChange, PriceUpdate,
    Product, ProductId, ReplaceProduct, Reset, Seller, SellerId, StockItem, UpdateDelivery,
    Voucher,
};
use super::services::{
    ADD_ITEMS, CHECKOUT, INGEST_CUSTOMER, INGEST_PRODUCT, INGEST_SELLER, INGEST_STOCK,
    PRICE_UPDATE, PRODUCT_UPDATE, RESET, UPDATE_DELIVERY,
};
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch, post};
use axum::{Json, Router};
use bodies::{
    CartItemBody, CartItemView, CheckoutBody, CustomerBody, PriceBody, ProductBody, ProductKeyBody,
    SellerBody, StockBody,
};
use serde::Serialize;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use vmodb::front_door::{
    ApiError, FrontDoor, Role, TxOutcome, TxRequest, TxResult, parse_json, wait_param_or,
};

/// How many sellers' packages one delivery run delivers (the benchmark: 10).
pub const DELIVERY_MAX_SELLERS: u32 = 10;

pub use super::logic::{MAX_INSTANCE_ID, PAYMENT_TYPES};

/// The products a customer added since the last checkout or seal, in order.
type Session = Vec<(SellerId, ProductId)>;

#[derive(Clone)]
struct Market {
    door: FrontDoor,
    sessions: Arc<Mutex<HashMap<CustomerId, Session>>>,
    /// When a transaction route answers without `?wait`: at commit, or once sequenced.
    answer_at: AnswerAt,
}

/// When the transaction routes answer by default (`?wait=` overrides it per request).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AnswerAt {
    /// 200 with the outcome, at commit (our clients and tests).
    #[default]
    Commit,
    /// 202 with the TID once sequenced, as the Java vMODB's ingress answers: the benchmark's
    /// driver then learns of completion from the commit stream, and tags each transaction with
    /// the batch open when its answer came.
    Sequenced,
}

impl Market {
    fn wait(&self, query: Option<&str>) -> Result<bool, ApiError> {
        wait_param_or(query, self.answer_at == AnswerAt::Commit)
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<CustomerId, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, customer: CustomerId, product: (SellerId, ProductId)) {
        let mut sessions = self.sessions();
        let session = sessions.entry(customer).or_default();
        if !session.contains(&product) {
            session.push(product);
        }
    }

    fn take(&self, customer: CustomerId) -> Session {
        self.sessions().remove(&customer).unwrap_or_default()
    }

    /// Puts `taken` back in front of whatever was added since it was taken.
    fn restore(&self, customer: CustomerId, mut taken: Session) {
        if taken.is_empty() {
            return;
        }
        let mut sessions = self.sessions();
        let session = sessions.entry(customer).or_default();
        let newer: Session = session.drain(..).filter(|p| !taken.contains(p)).collect();
        taken.extend(newer);
        *session = taken;
    }
}

/// The benchmark's routes over `door`, to merge with `door.router()`; they answer at commit.
pub fn routes(door: FrontDoor) -> axum::Router {
    routes_answering(door, AnswerAt::Commit)
}

/// The benchmark's routes, answering at `answer_at` unless a request says `?wait=`.
pub fn routes_answering(door: FrontDoor, answer_at: AnswerAt) -> axum::Router {
    let market = Market {
        door,
        sessions: Arc::default(),
        answer_at,
    };
    Router::new()
        .route("/cart/{customer_id}/add", only(patch(add_to_cart)))
        .route("/cart/{customer_id}/checkout", only(post(checkout)))
        .route("/cart/{customer_id}/seal", only(patch(seal)))
        .route("/cart/{customer_id}/history/{tid}", only(get(history)))
        .route(
            "/product",
            only(
                patch(price_update)
                    .put(replace_product)
                    .post(ingest::<Product, ProductBody>),
            ),
        )
        .route("/seller", only(post(ingest::<Seller, SellerBody>)))
        .route("/customer", only(post(ingest::<Customer, CustomerBody>)))
        .route("/stock", only(post(ingest::<StockItem, StockBody>)))
        .route("/reset", only(patch(reset)))
        .route("/cleanup", only(patch(cleanup)))
        .route("/seller/dashboard/{seller_id}", only(get(dashboard)))
        .route("/shipment/{tid}", only(patch(delivery)))
        .with_state(market)
}

/// A route that answers a JSON 405 to other methods.
fn only(route: MethodRouter<Market>) -> MethodRouter<Market> {
    route.fallback(|| async {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this path",
        )
    })
}

// ---------------------------------------------------------------- handlers

/// A row type the API ingests, and the transaction that does it.
trait Ingested: Serialize {
    const TRANSACTION: &'static str;
}
impl Ingested for Seller {
    const TRANSACTION: &'static str = INGEST_SELLER;
}
impl Ingested for Customer {
    const TRANSACTION: &'static str = INGEST_CUSTOMER;
}
impl Ingested for Product {
    const TRANSACTION: &'static str = INGEST_PRODUCT;
}
impl Ingested for StockItem {
    const TRANSACTION: &'static str = INGEST_STOCK;
}

async fn ingest<E: Ingested, B: serde::de::DeserializeOwned + Into<E>>(
    State(m): State<Market>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = m.wait(query.as_deref())?;
    let row: E = parse_json::<B>(&body)?.into();
    Ok(answer(submit(&m.door, E::TRANSACTION, &row, wait).await?))
}

async fn add_to_cart(
    State(m): State<Market>,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let customer: CustomerId = path_id("customerId", &customer)?;
    let wait = m.wait(query.as_deref())?;
    let item: CartItemBody = parse_json(&body)?;
    let voucher = match &item.voucher {
        serde_json::Value::Null | serde_json::Value::Bool(false) => Voucher::None,
        serde_json::Value::Bool(true) => Voucher::TenPercent,
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(0.0) => Voucher::None,
            Some(v) => Voucher::Amount(v),
            None => return Err(unprocessable(format!("`Voucher` {n} is out of range"))),
        },
        other => {
            return Err(unprocessable(format!(
                "`Voucher` must be an amount (a number), got {other}"
            )));
        }
    };
    let input = AddItems {
        customer_id: customer,
        items: vec![AddItem {
            customer_id: customer,
            seller_id: item.seller_id,
            product_id: item.product_id,
            quantity: item.quantity,
            voucher,
        }],
    };
    let result = submit(&m.door, ADD_ITEMS, &input, wait).await?;
    if !matches!(result.outcome, TxOutcome::Aborted { .. }) {
        m.add(customer, (item.seller_id, item.product_id));
    }
    Ok(answer(result))
}

async fn checkout(
    State(m): State<Market>,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let customer: CustomerId = path_id("customerId", &customer)?;
    let wait = m.wait(query.as_deref())?;
    let body: CheckoutBody = parse_json(&body)?;
    if let Some(id) = body.customer_id.filter(|id| *id != customer) {
        return Err(ApiError::bad_request(format!(
            "the body's CustomerId {id} differs from the path's customerId {customer}"
        )));
    }
    let products = m.take(customer);
    let input = Checkout {
        customer_id: customer,
        products: products.clone(),
        payment_type: body.payment_type,
        installments: body.installments,
        all_or_nothing: body.all_or_nothing,
        instance_id: body.instance_id,
    };
    let result = submit(&m.door, CHECKOUT, &input, wait).await;
    match &result {
        Ok(r) if !matches!(r.outcome, TxOutcome::Aborted { .. }) => {}
        _ => m.restore(customer, products),
    }
    Ok(answer(result?))
}

async fn seal(State(m): State<Market>, Path(customer): Path<String>) -> Result<Response, ApiError> {
    let customer: CustomerId = path_id("customerId", &customer)?;
    let dropped = m.take(customer);
    let body = serde_json::json!({ "customer_id": customer, "dropped": dropped });
    Ok((StatusCode::OK, Json(body)).into_response())
}

async fn history(
    State(m): State<Market>,
    Path((customer, tid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let customer: CustomerId = path_id("customerId", &customer)?;
    if tid.is_empty() || tid.len() > MAX_INSTANCE_ID {
        return Err(ApiError::bad_request(format!(
            "path parameter `tid` must be 1 to {MAX_INSTANCE_ID} bytes"
        )));
    }
    let out = m
        .door
        .query_json("cart", "history", serde_json::json!([customer, tid]))
        .await?;
    let lines: Vec<CartHistoryLine> = serde_json::from_value(out)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let view: Vec<CartItemView> = lines.into_iter().map(CartItemView::from).collect();
    Ok((StatusCode::OK, Json(view)).into_response())
}

async fn price_update(
    State(m): State<Market>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = m.wait(query.as_deref())?;
    let body: PriceBody = parse_json(&body)?;
    let change = match (body.price, body.percent) {
        (Some(price), None) => PriceChange::SetTo(price),
        (None, Some(percent)) => PriceChange::RaiseBy(percent),
        (Some(_), Some(_)) => {
            return Err(unprocessable(
                "give either `price` (the new price) or `percent` (a raise), not both",
            ));
        }
        (None, None) => {
            return Err(unprocessable(
                "missing field `price` (the new price; or `percent`, a raise)",
            ));
        }
    };
    let input = PriceUpdate {
        seller_id: body.seller_id,
        product_id: body.product_id,
        change,
    };
    Ok(answer(submit(&m.door, PRICE_UPDATE, &input, wait).await?))
}

async fn replace_product(
    State(m): State<Market>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = m.wait(query.as_deref())?;
    let body: ProductKeyBody = parse_json(&body)?;
    let input = ReplaceProduct {
        seller_id: body.seller_id,
        product_id: body.product_id,
    };
    Ok(answer(submit(&m.door, PRODUCT_UPDATE, &input, wait).await?))
}

async fn dashboard(
    State(m): State<Market>,
    Path(seller): Path<String>,
) -> Result<Response, ApiError> {
    let seller: SellerId = path_id("sellerId", &seller)?;
    let out = m
        .door
        .query_json("seller", "dashboard", serde_json::json!(seller))
        .await?;
    Ok((StatusCode::OK, Json(out)).into_response())
}

async fn delivery(
    State(m): State<Market>,
    Path(tid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let _tid: u64 = path_id("tid", &tid)?;
    let wait = m.wait(query.as_deref())?;
    let input = UpdateDelivery {
        max_sellers: DELIVERY_MAX_SELLERS,
        partition: None,
    };
    Ok(answer(
        submit(&m.door, UPDATE_DELIVERY, &input, wait).await?,
    ))
}

async fn reset(
    State(m): State<Market>,
    role: Option<Extension<Role>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    run_reset(m, role, query, Reset::ToIngested).await
}

async fn cleanup(
    State(m): State<Market>,
    role: Option<Extension<Role>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    run_reset(m, role, query, Reset::Empty).await
}

/// Resets wipe what every client sees: the operator's role only.
async fn run_reset(
    m: Market,
    role: Option<Extension<Role>>,
    query: Option<String>,
    to: Reset,
) -> Result<Response, ApiError> {
    if role.is_none_or(|Extension(r)| r < Role::Operator) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this route is for the operator's token",
        ));
    }
    let wait = m.wait(query.as_deref())?;
    let result = submit(&m.door, RESET, &to, wait).await?;
    m.sessions().clear();
    Ok(answer(result))
}

// ---------------------------------------------------------------- helpers

async fn submit<T: serde::Serialize>(
    door: &FrontDoor,
    transaction: &str,
    input: &T,
    wait: bool,
) -> Result<TxResult, ApiError> {
    let input = serde_json::to_value(input)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let request = TxRequest {
        transaction: transaction.to_string(),
        input,
        id: None,
    };
    let mut results = door.submit_json(vec![request], wait).await?;
    results.pop().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the front door answered no result",
        )
    })
}

/// 200 committed, 202 submitted, 409 aborted (with the reason and the result).
fn answer(result: TxResult) -> Response {
    match &result.outcome {
        TxOutcome::Committed { .. } => (StatusCode::OK, Json(result)).into_response(),
        TxOutcome::Submitted => (StatusCode::ACCEPTED, Json(result)).into_response(),
        TxOutcome::Aborted { service, error, .. } => {
            let body = serde_json::json!({
                "error": format!("{} aborted at {service}: {error}", result.transaction),
                "result": result,
            });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
    }
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn path_id<T: FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter `{name}` must be a non-negative integer in range, got `{raw}`"
        ))
    })
}
