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

use vmodb::{App, BootstrapError, TransactionDef, TxError};

pub use super::logic::cents;

pub(super) fn missing(what: &str) -> TxError {
    TxError::app(format!("{what} not found"))
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
        .service(cart::cart())
        .service(catalog::product())
        .service(catalog::stock())
        .service(order::order())
        .service(order::payment())
        .service(shipment::shipment())
        .service(parties::seller())
        .service(parties::customer())
        .transaction(TransactionDef::new(ADD_ITEMS, "cart", "add_items"))
        // The sellers hear of the order once it is paid and its shipment approved, so their
        // entries start as READY_FOR_SHIPMENT, the status the order commits with. The order
        // service issues the invoice, before the payment, and a service takes part in a
        // transaction once: it records the payment and the shipment approval itself, which
        // commit atomically with them (`order::create_order`).
        .transaction(
            TransactionDef::new(CHECKOUT, "cart", "checkout")
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
        .build()
}
