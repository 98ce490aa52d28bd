//! TPC-C split into three services (the vMODB paper's decomposition, with history at the
//! warehouse service): warehouse (warehouse, district, customer, history), inventory (item,
//! stock), order (orders, new_order, order_line). All five transactions, their business rules
//! written once (`logic`) for both systems; the specification's initial population and input
//! generation; its consistency conditions (clause 3.3.2).

pub mod baseline_system;
mod chars;
pub mod checker;
pub mod driver;
pub mod generator;
pub mod input_checks;
pub mod logic;
pub mod model;
pub mod remote_system;
pub mod services;
pub mod vmodb_system;

use model::*;
use serde::{Deserialize, Serialize};

/// Every table, typed: the initial population, a system's final state, what `--dump-state`
/// writes (one CSV per table), and what the checker judges. Rows in key order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TpccState {
    pub warehouses: Vec<Warehouse>,
    pub districts: Vec<District>,
    pub customers: Vec<Customer>,
    pub history: Vec<History>,
    pub items: Vec<Item>,
    pub stock: Vec<Stock>,
    pub orders: Vec<Order>,
    pub new_orders: Vec<NewOrder>,
    pub order_lines: Vec<OrderLine>,
}
