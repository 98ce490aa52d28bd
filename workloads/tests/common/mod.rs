//! Checks shared by the marketplace's tests on both systems.
#![allow(dead_code)] // each test binary uses its part

pub mod http;

use workloads::marketplace::MarketplaceState;
use workloads::marketplace::model::CustomerOrder;

/// Every customer's next order id is one past the orders it has (what `--dump-state` writes
/// for an independent checker).
pub fn assert_order_counters(state: &MarketplaceState, counters: &[CustomerOrder]) {
    assert!(!counters.is_empty());
    for c in counters {
        let orders = state
            .orders
            .iter()
            .filter(|o| o.customer_id == c.customer_id)
            .count();
        assert_eq!(
            c.next_order_id as usize,
            orders + 1,
            "customer {}",
            c.customer_id
        );
    }
}
