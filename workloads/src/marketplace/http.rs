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
//! Routes:
//! - `PATCH /cart/{customerId}/add`, body CartItem (`seller_id`, `product_id`, `quantity`,
//!   `voucher`; `product_name`, `unit_price`, `freight_value`, `version` are ignored: the cart
//!   takes name, price, freight and version from its product replica) → `add_items` with one
//!   item. The benchmark's `voucher` is an amount; ours is a flag: voucher > 0 (a boolean is
//!   accepted too), worth 10% of one unit's price as in the benchmark. Once the add commits
//!   (with `wait=false`: once it is sequenced), `(seller_id, product_id)` joins the customer's
//!   session: the lines the next checkout seals.
//! - `POST /cart/{customerId}/checkout`, body CustomerCheckout (`PaymentType` ∈ {CREDIT_CARD,
//!   DEBIT_CARD, BOLETO, VOUCHER}, `Installments` (default 0), optional `all_or_nothing`
//!   (default false), optional `CustomerId` which must equal the path's; names, address, card
//!   and instanceId are ignored) → `customer_checkout` with the session's products. The session
//!   is emptied at submission and restored if the checkout aborts or cannot be submitted (the
//!   cart lines are still there then). A checkout with an empty session seals nothing: our
//!   transaction commits with no output (no order), answered 200 like any commit.
//! - `PATCH /cart/{customerId}/seal` → no transaction: empties the customer's session (200,
//!   `{"customer_id", "dropped": [[seller, product], ...]}`). There is no transaction that
//!   deletes cart lines, so the rows stay in the cart table; they are checked out only if the
//!   product is added again (which overwrites the line).
//! - `PATCH /product`, body `{seller_id, product_id, percent}` (also `sellerId`/`productId`) →
//!   `price_update`. Our price update raises the price by an integer `percent` (new = old ×
//!   (1 + percent/100)) instead of setting the benchmark's absolute `price`: a body without
//!   `percent` is refused with 422 saying so; `price` is ignored when `percent` is given.
//! - `PUT /product`, body Product (`seller_id`, `product_id`; every other field, the new
//!   `version` included, is ignored: the new version is the transaction's TID) →
//!   `update_product`.
//! - `GET /seller/dashboard/{sellerId}` → query `dashboard` at `seller`: our `Dashboard` JSON
//!   (`seller_id`, `snapshot_tid`, the sellerView aggregates flattened, `entries`).
//! - `PATCH /shipment/{tid}` → `update_delivery` with `max_sellers` 10; the tid is checked to be
//!   a number and otherwise unused (our TIDs come from the sequencer).
//! - Not supported, 501: `POST /seller`, `/customer`, `/product`, `/stock` (ingestion) and
//!   `PATCH /reset`, `/cleanup`: the data is loaded at cluster start by `vbench serve` from the
//!   run configuration, and no transaction inserts or wipes entities. `GET
//!   /cart/{customerId}/history/{tid}`: cart history is not kept (Orleans-only, TrackCartHistory).

use super::model::{
    AddItem, AddItems, Checkout, CustomerId, PriceUpdate, ProductId, ReplaceProduct, SellerId,
    UpdateDelivery,
};
use super::services::{ADD_ITEMS, CHECKOUT, PRICE_UPDATE, PRODUCT_UPDATE, UPDATE_DELIVERY};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, patch, post};
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use vmodb::front_door::{
    ApiError, FrontDoor, TxOutcome, TxRequest, TxResult, parse_json, wait_param,
};

/// How many sellers' packages one delivery run delivers (the benchmark: 10).
pub const DELIVERY_MAX_SELLERS: u32 = 10;

/// Payment types a checkout may name.
pub const PAYMENT_TYPES: [&str; 4] = ["CREDIT_CARD", "DEBIT_CARD", "BOLETO", "VOUCHER"];

const NOT_LOADED: &str = "not supported: data is loaded at cluster start by `vbench serve` \
     from the run configuration";

/// The products a customer added since the last checkout or seal, in order.
type Session = Vec<(SellerId, ProductId)>;

#[derive(Clone)]
struct Market {
    door: FrontDoor,
    sessions: Arc<Mutex<HashMap<CustomerId, Session>>>,
}

impl Market {
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

/// The benchmark's routes over `door`, to merge with `door.router()`.
pub fn routes(door: FrontDoor) -> axum::Router {
    let market = Market {
        door,
        sessions: Arc::default(),
    };
    let not_loaded = || async { ApiError::new(StatusCode::NOT_IMPLEMENTED, NOT_LOADED) };
    Router::new()
        .route("/cart/{customer_id}/add", only(patch(add_to_cart)))
        .route("/cart/{customer_id}/checkout", only(post(checkout)))
        .route("/cart/{customer_id}/seal", only(patch(seal)))
        .route(
            "/cart/{customer_id}/history/{tid}",
            only(get(|| async {
                ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "not supported: cart history is not kept (the benchmark's Orleans-only \
                     TrackCartHistory)",
                )
            })),
        )
        .route(
            "/product",
            only(patch(price_update).put(replace_product).post(not_loaded)),
        )
        .route("/seller", only(post(not_loaded)))
        .route("/customer", only(post(not_loaded)))
        .route("/stock", only(post(not_loaded)))
        .route("/reset", only(patch(not_loaded)))
        .route("/cleanup", only(patch(not_loaded)))
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

// ---------------------------------------------------------------- bodies

/// The benchmark's CartItem.
#[derive(Deserialize)]
struct CartItemBody {
    #[serde(alias = "SellerId", alias = "sellerId")]
    seller_id: SellerId,
    #[serde(alias = "ProductId", alias = "productId")]
    product_id: ProductId,
    #[serde(alias = "Quantity")]
    quantity: u32,
    /// An amount in the benchmark (a boolean is accepted too); absent: none.
    #[serde(default, alias = "Voucher")]
    voucher: serde_json::Value,
}

/// The benchmark's CustomerCheckout, what we use of it.
#[derive(Deserialize)]
struct CheckoutBody {
    #[serde(default, alias = "CustomerId", alias = "customerId")]
    customer_id: Option<CustomerId>,
    #[serde(alias = "PaymentType", alias = "paymentType")]
    payment_type: String,
    #[serde(default, alias = "Installments")]
    installments: u32,
    #[serde(default, alias = "AllOrNothing", alias = "allOrNothing")]
    all_or_nothing: bool,
}

/// A price update: ours takes `percent`; the benchmark's absolute `price` is refused.
#[derive(Deserialize)]
struct PriceBody {
    #[serde(alias = "sellerId", alias = "SellerId")]
    seller_id: SellerId,
    #[serde(alias = "productId", alias = "ProductId")]
    product_id: ProductId,
    #[serde(default, alias = "Percent")]
    percent: Option<u32>,
    #[serde(default, alias = "Price")]
    price: Option<serde_json::Value>,
}

/// A product with a new version: only its key is used.
#[derive(Deserialize)]
struct ProductBody {
    #[serde(alias = "sellerId", alias = "SellerId")]
    seller_id: SellerId,
    #[serde(alias = "productId", alias = "ProductId")]
    product_id: ProductId,
}

// ---------------------------------------------------------------- handlers

async fn add_to_cart(
    State(m): State<Market>,
    Path(customer): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let customer: CustomerId = path_id("customerId", &customer)?;
    let wait = wait_param(query.as_deref())?;
    let item: CartItemBody = parse_json(&body)?;
    let voucher = match &item.voucher {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|v| v > 0.0),
        other => {
            return Err(unprocessable(format!(
                "`voucher` must be a number (or a boolean), got {other}"
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
    let wait = wait_param(query.as_deref())?;
    let body: CheckoutBody = parse_json(&body)?;
    if let Some(id) = body.customer_id.filter(|id| *id != customer) {
        return Err(ApiError::bad_request(format!(
            "the body's CustomerId {id} differs from the path's customerId {customer}"
        )));
    }
    if !PAYMENT_TYPES.contains(&body.payment_type.as_str()) {
        return Err(unprocessable(format!(
            "unknown PaymentType `{}` (expected one of {})",
            body.payment_type,
            PAYMENT_TYPES.join(", ")
        )));
    }
    let products = m.take(customer);
    let input = Checkout {
        customer_id: customer,
        products: products.clone(),
        payment_type: body.payment_type,
        installments: body.installments,
        all_or_nothing: body.all_or_nothing,
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
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

async fn price_update(
    State(m): State<Market>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = wait_param(query.as_deref())?;
    let body: PriceBody = parse_json(&body)?;
    let Some(percent) = body.percent else {
        let why = match body.price {
            Some(_) => {
                "an absolute `price` is not supported: this implementation raises the \
                        price by a whole `percent` (new = old × (1 + percent / 100))"
            }
            None => "missing field `percent` (new price = old × (1 + percent / 100))",
        };
        return Err(unprocessable(why));
    };
    let input = PriceUpdate {
        seller_id: body.seller_id,
        product_id: body.product_id,
        percent,
    };
    Ok(answer(submit(&m.door, PRICE_UPDATE, &input, wait).await?))
}

async fn replace_product(
    State(m): State<Market>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = wait_param(query.as_deref())?;
    let body: ProductBody = parse_json(&body)?;
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
    Ok((StatusCode::OK, axum::Json(out)).into_response())
}

async fn delivery(
    State(m): State<Market>,
    Path(tid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let _tid: u64 = path_id("tid", &tid)?;
    let wait = wait_param(query.as_deref())?;
    let input = UpdateDelivery {
        max_sellers: DELIVERY_MAX_SELLERS,
        partition: None,
    };
    Ok(answer(
        submit(&m.door, UPDATE_DELIVERY, &input, wait).await?,
    ))
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
        TxOutcome::Committed { .. } => (StatusCode::OK, axum::Json(result)).into_response(),
        TxOutcome::Submitted => (StatusCode::ACCEPTED, axum::Json(result)).into_response(),
        TxOutcome::Aborted { service, error, .. } => {
            let body = serde_json::json!({
                "error": format!("{} aborted at {service}: {error}", result.transaction),
                "result": result,
            });
            (StatusCode::CONFLICT, axum::Json(body)).into_response()
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
