//! The Online Marketplace benchmark: data model, generators, the vMODB implementation, and the
//! consistency checker that judges any system's final state and run log.

pub mod baseline_system;
pub mod checker;
pub mod driver;
pub mod generator;
pub mod http;
pub mod logic;
pub mod model;
pub mod om_driver;
pub mod remote_system;
pub mod services;
pub mod vmodb_system;

use model::*;
use serde::{Deserialize, Serialize};

/// Every table of every service, typed: what a system hands the checker and `--dump-state` writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MarketplaceState {
    pub sellers: Vec<Seller>,
    pub customers: Vec<Customer>,
    pub products: Vec<Product>,
    pub stock_items: Vec<StockItem>,
    pub cart_items: Vec<CartItem>,
    pub replica_products: Vec<ReplicaProduct>,
    pub orders: Vec<Order>,
    pub order_items: Vec<OrderItem>,
    pub order_history: Vec<OrderHistory>,
    pub order_payments: Vec<OrderPayment>,
    pub shipments: Vec<Shipment>,
    pub packages: Vec<Package>,
    pub order_entries: Vec<OrderEntry>,
    /// The cart's lines of checkouts that named an instance id (the benchmark's cart history;
    /// empty on a system that keeps none).
    #[serde(default)]
    pub cart_history: Vec<CartHistoryLine>,
}

/// What the driver saw commit, in commit (TID) order: the checker's second input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// Successful price updates: TID and the new price.
    pub price_updates: Vec<(u64, PriceUpdated)>,
    /// Successful product replacements: TID and the new version.
    pub replacements: Vec<(u64, ProductReplaced)>,
    /// Committed checkouts: TID, customer, and the result (`None`: nothing could be reserved).
    pub checkouts: Vec<(u64, CustomerId, Option<CheckoutDone>)>,
    /// Committed delivery runs: TID and what they delivered.
    pub deliveries: Vec<(u64, Deliveries)>,
    /// Every dashboard answer received during the run.
    pub dashboards: Vec<Dashboard>,
}

impl RunLog {
    /// Puts every list in commit (TID) order, as the checker reads it: a client that hears of
    /// outcomes in any order records them so.
    pub fn sort_by_commit(&mut self) {
        self.checkouts.sort_by_key(|c| c.0);
        self.price_updates.sort_by_key(|c| c.0);
        self.replacements.sort_by_key(|c| c.0);
        self.deliveries.sort_by_key(|c| c.0);
        self.dashboards.sort_by_key(|d| d.snapshot_tid);
    }
}
