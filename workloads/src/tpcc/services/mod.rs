//! TPC-C on the vMODB programming model: three services and five transactions (clause 2),
//! following the specification's logic step by step; the rules themselves are `tpcc::logic`'s,
//! which the baseline runs too.
//!
//! | transaction | DAG | modes |
//! |---|---|---|
//! | NewOrder | warehouse → inventory → order | by district; by stock rows; by district |
//! | Payment | warehouse | by the paying warehouse and district, and the paid district |
//! | OrderStatus | warehouse → order | read-only |
//! | Delivery | order → warehouse | by district (all ten); by district (all ten) |
//! | StockLevel | warehouse → order → inventory | read-only |
//!
//! NewOrder takes w_tax from a read-only copy, not from the warehouse row Payment writes (w_ytd),
//! so at the warehouse service it conflicts only with work on its own district.

mod inventory;
mod order;
mod warehouse;

pub use warehouse::WarehouseTax;

use super::input_checks as checks;
use super::logic;
use super::model::*;
use serde::{Deserialize, Serialize};
use vmodb::{App, BootstrapError, TransactionDef, TxError};

/// Transaction names, as clients submit them.
pub const NEW_ORDER: &str = "new_order";
pub const PAYMENT: &str = "payment";
pub const ORDER_STATUS: &str = "order_status";
pub const DELIVERY: &str = "delivery";
pub const STOCK_LEVEL: &str = "stock_level";

pub(crate) fn missing(what: impl std::fmt::Display) -> TxError {
    TxError::app(format!("{what} not found"))
}

/// NewOrder, warehouse → inventory: the order id and the rates the total needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrderWare {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub c_id: CustomerId,
    pub o_id: OrderId,
    pub w_tax: f64,
    pub d_tax: f64,
    pub c_discount: f64,
    pub lines: Vec<NewOrderLineInput>,
}

/// NewOrder, inventory → order: the priced lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrderStock {
    pub ware: NewOrderWare,
    pub lines: Vec<PricedLine>,
}

/// OrderStatus, warehouse → order: the customer found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderStatusCustomer {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub c_id: CustomerId,
    pub c_balance: f64,
}

/// Delivery, order → warehouse: per delivered order, who pays how much.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDone {
    pub w_id: WarehouseId,
    pub delivered: Vec<DeliveredOrder>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveredOrder {
    pub d_id: DistrictId,
    pub o_id: OrderId,
    pub c_id: CustomerId,
    pub amount: f64,
}

/// StockLevel, warehouse → order: where the district's next order id stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockLevelDistrict {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub next_o_id: OrderId,
    pub threshold: i32,
}

/// StockLevel, order → inventory: the distinct items of the district's last 20 orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockLevelItems {
    pub w_id: WarehouseId,
    pub items: Vec<ItemId>,
    pub threshold: i32,
}

/// The TPC-C application.
pub fn app() -> Result<App, BootstrapError> {
    app_with(ItemCheck::AtEntry)
}

/// Where New-Order finds an unused item id (clause 2.4.2.3), which aborts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ItemCheck {
    /// At the warehouse service, the transaction's entry, from its own copy of the (immutable)
    /// item table, before taking the district's next order id: the abort touches one service
    /// and needs no rollback round. The default, and what the baseline does too.
    #[default]
    AtEntry,
    /// Only at inventory, after the warehouse service took the order id: every rollback is a
    /// cross-service abort (a rollback round). For measuring the mechanism.
    AtInventory,
}

pub fn app_with(items: ItemCheck) -> Result<App, BootstrapError> {
    App::builder()
        .service(warehouse::warehouse(items))
        .service(inventory::inventory())
        .service(order::order())
        .transaction(
            TransactionDef::new(NEW_ORDER, "warehouse", "new_order")
                .validate(checks::check_new_order)
                .then("inventory", "new_order_ware")
                .then("order", "new_order_stock"),
        )
        .transaction(
            TransactionDef::new(PAYMENT, "warehouse", "payment").validate(checks::check_payment),
        )
        .transaction(
            TransactionDef::new(ORDER_STATUS, "warehouse", "order_status")
                .validate(checks::check_order_status)
                .then("order", "order_status_customer"),
        )
        .transaction(
            TransactionDef::new(DELIVERY, "order", "delivery")
                .validate(checks::check_delivery)
                .then("warehouse", "delivery_done"),
        )
        .transaction(
            TransactionDef::new(STOCK_LEVEL, "warehouse", "stock_level")
                .validate(checks::check_stock_level)
                .then("order", "stock_level_district")
                .then("inventory", "stock_level_items"),
        )
        .build()
}
