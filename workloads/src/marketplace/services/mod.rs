//! The eight marketplace services on the vMODB programming model, and the transactions between them.
//!
//! Execution modes are chosen for speed where it is safe; each choice says why. Partition keys name
//! every row a handler writes (or the row's owner, when all rows it writes hang off one customer or
//! one seller), so two tasks with disjoint keys never touch the same row.

mod cart;
mod catalog;
mod order;
mod parties;
mod shipment;

pub use parties::dashboard;

use vmodb::{App, BootstrapError, Entity, Repo, TransactionDef, TxError};

pub use super::logic::cents;

pub(super) fn missing(what: &str) -> TxError {
    TxError::app(format!("{what} not found"))
}

/// Deletes every row of `table` (a reset between runs; the handler runs alone).
pub(super) fn clear<E: Entity>(table: &Repo<'_, E>) -> Result<(), TxError> {
    for row in table.all().rows()? {
        table.delete(&row.key())?;
    }
    Ok(())
}

/// Transaction names, as clients submit them.
pub const ADD_ITEMS: &str = "add_items";
pub const CHECKOUT: &str = "customer_checkout";
pub const PRICE_UPDATE: &str = "price_update";
pub const PRODUCT_UPDATE: &str = "update_product";
pub const UPDATE_DELIVERY: &str = "update_delivery";
/// Ingestion, one row per transaction (the benchmark's `POST /seller`, `/customer`, `/product`,
/// `/stock`): a cluster may start empty and be loaded through the API. A row whose key exists
/// aborts the ingestion: a client adds data, it never overwrites any.
pub const INGEST_SELLER: &str = "ingest_seller";
pub const INGEST_CUSTOMER: &str = "ingest_customer";
pub const INGEST_PRODUCT: &str = "ingest_product";
pub const INGEST_STOCK: &str = "ingest_stock";
/// Between runs (`PATCH /reset`, `/cleanup`): input `Reset`.
pub const RESET: &str = "reset";

/// The marketplace application: eight services and five write transactions (plus add-to-cart,
/// ingestion and the reset between runs).
pub fn app() -> Result<App, BootstrapError> {
    App::builder()
        .service(cart::cart())
        .service(catalog::product())
        .service(catalog::stock())
        .service(order::order())
        .service(order::payment())
        .service(shipment::shipment())
        .service(parties::seller())
        .service(parties::customer())
        .transaction(
            TransactionDef::new(ADD_ITEMS, "cart", "add_items")
                .validate(crate::marketplace::logic::check_add_items),
        )
        // The sellers hear of the order once it is paid and its shipment approved, so their
        // entries start as READY_FOR_SHIPMENT, the status the order commits with. The order
        // service issues the invoice, before the payment, and a service takes part in a
        // transaction once: it records the payment and the shipment approval itself, which
        // commit atomically with them (`order::create_order`).
        .transaction(
            TransactionDef::new(CHECKOUT, "cart", "checkout")
                .validate(crate::marketplace::logic::check_checkout)
                .then("stock", "reserve_stock")
                .then("order", "stock_confirmed")
                .then("payment", "invoice_issued")
                .then("shipment", "payment_confirmed")
                .then("customer", "payment_confirmed")
                .then("seller", "shipment_approved"),
        )
        .transaction(
            TransactionDef::new(PRICE_UPDATE, "product", "update_price")
                .then("cart", "price_updated")
                .validate(crate::marketplace::logic::check_price_update),
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
        .transaction(
            TransactionDef::new(INGEST_SELLER, "seller", "ingest_seller")
                .validate(crate::marketplace::logic::check_seller),
        )
        .transaction(
            TransactionDef::new(INGEST_CUSTOMER, "customer", "ingest_customer")
                .validate(crate::marketplace::logic::check_customer),
        )
        .transaction(
            TransactionDef::new(INGEST_PRODUCT, "product", "ingest_product")
                .then("cart", "product_ingested")
                .validate(crate::marketplace::logic::check_product),
        )
        .transaction(
            TransactionDef::new(INGEST_STOCK, "stock", "ingest_stock")
                .validate(crate::marketplace::logic::check_stock),
        )
        .transaction(
            TransactionDef::new(RESET, "product", "reset")
                .operator_only()
                .then("stock", "data_reset")
                .then("cart", "data_reset")
                .then("order", "data_reset")
                .then("payment", "data_reset")
                .then("shipment", "data_reset")
                .then("seller", "data_reset")
                .then("customer", "data_reset"),
        )
        .build()
}
