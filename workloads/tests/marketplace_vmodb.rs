//! A short marketplace run on vMODB, small scale: every transaction type commits, the checker
//! finds no anomaly, and the final state equals the serial replay of the committed inputs —
//! also with all-or-nothing checkouts, which abort across services when stock runs out.

mod common;

use std::time::Duration;
use vmodb::{ClusterConfig, CoordinatorConfig};
use workloads::marketplace::MarketplaceState;
use workloads::marketplace::checker;
use workloads::marketplace::driver::{DriveConfig, MarketplaceSystem, drive};
use workloads::marketplace::generator::{
    InputConfig, InputGenerator, KeyDistribution, Mix, Scale, generate,
};
use workloads::marketplace::model::{DELIVERED, ORDER_STATUSES, Order, OrderHistory};
use workloads::marketplace::vmodb_system::VmodbMarketplace;

fn run(mix: Mix, sellers: KeyDistribution, stock: i64, all_or_nothing: bool) {
    let scale = Scale {
        customers: 200,
        sellers: 20,
        products_per_seller: 10,
        stock_per_product: stock,
    };
    let data = generate(&scale, 7);
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
    let mut system = VmodbMarketplace::start(&data, config).expect("start");
    let inputs = InputConfig {
        mix: mix.clone(),
        sellers,
        all_or_nothing_checkout: all_or_nothing,
        ..InputConfig::default()
    };
    let mut generator = InputGenerator::new(&scale, inputs, 7);
    let drive_config = DriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(1500),
        concurrency: 64,
    };
    let result = drive(&mut system, &mut generator, &drive_config, &mut |_, _| {});
    assert!(system.quiesce(Duration::from_secs(20)), "quiesce");
    assert!(
        result.committed > 100,
        "only {} committed",
        result.committed
    );
    // The only failures are all-or-nothing checkouts that could not reserve an item.
    assert!(
        result
            .failures
            .iter()
            .all(|f| all_or_nothing && f.starts_with("customer_checkout: stock: aborted: item")),
        "failures: {:?}",
        result.failures
    );
    if all_or_nothing {
        let aborted = result
            .per_type
            .get("customer_checkout")
            .map_or(0, |s| s.failed);
        let rounds = system.cluster().stats().coordinator.rollback;
        assert!(
            aborted > 0 && rounds.resolutions > 0,
            "{aborted} {rounds:?}"
        );
    }
    for (kind, stats) in &result.per_type {
        let share = match *kind {
            "update_delivery" => mix.delivery,
            "customer_checkout" => mix.checkout,
            "seller_dashboard" => mix.dashboard,
            "price_update" => mix.price_update,
            _ => mix.product_update,
        };
        assert!(share == 0 || stats.committed > 0, "{kind} never committed");
    }
    let state = system.state().expect("state");
    assert!(!state.orders.is_empty(), "no orders");
    assert_lifecycle(&state, &system, mix.delivery > 0);
    let report = checker::check(&data, &state, system.log());
    assert!(
        report.is_clean(),
        "anomalies: {:?} {:?}",
        report.counts,
        report.examples
    );
    assert!(
        system.matches_serial_replay(&data).expect("replay").equal,
        "state differs from serial replay"
    );
}

/// What the checker takes for granted, seen directly: entries name their category, delivered
/// orders went through every status and left no entry, and each customer's next order id follows
/// its orders.
fn assert_lifecycle(state: &MarketplaceState, system: &VmodbMarketplace, deliveries: bool) {
    assert!(
        state
            .order_entries
            .iter()
            .all(|e| !e.product_category.is_empty()),
        "an entry without category"
    );
    let delivered: Vec<&Order> = state
        .orders
        .iter()
        .filter(|o| o.status == DELIVERED)
        .collect();
    assert!(
        !deliveries || !delivered.is_empty(),
        "no order was delivered"
    );
    for o in &delivered {
        let mut history: Vec<&OrderHistory> = state
            .order_history
            .iter()
            .filter(|h| (h.customer_id, h.order_id) == (o.customer_id, o.id))
            .collect();
        history.sort_by_key(|h| h.seq);
        let statuses: Vec<&str> = history.iter().map(|h| h.status.as_str()).collect();
        assert_eq!(
            statuses,
            ORDER_STATUSES,
            "order {:?}",
            (o.customer_id, o.id)
        );
        let left = state
            .order_entries
            .iter()
            .any(|e| (e.customer_id, e.order_id) == (o.customer_id, o.id));
        assert!(
            !left,
            "delivered order {:?} has entries",
            (o.customer_id, o.id)
        );
    }
    let counters = system
        .customer_orders()
        .expect("counters")
        .expect("vmodb has them");
    common::assert_order_counters(state, &counters);
}

#[test]
fn benchmark_mix_is_consistent_and_replays() {
    run(Mix::benchmark(), KeyDistribution::Uniform, 10_000, false);
}

#[test]
fn all_or_nothing_checkouts_abort_everywhere_and_replay() {
    run(Mix::paper(), KeyDistribution::Zipf(1.0), 30, true);
}

#[test]
fn paper_mix_under_skew_and_scarce_stock_is_consistent_and_replays() {
    run(Mix::paper(), KeyDistribution::Zipf(1.0), 30, false);
}
