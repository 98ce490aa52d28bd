//! The marketplace on the eventually consistent actor baseline: it runs every transaction type
//! and keeps the guarantees single-threaded grains give by construction; under injected faults it
//! shows the anomalies of eventual consistency, while vMODB, on the same data and the same input
//! stream with the same injected delays, shows none.

mod common;

use std::time::Duration;
use vmodb::{ClusterConfig, CoordinatorConfig, LinkDelay};
use workloads::marketplace::baseline_system::{BaselineConfig, BaselineMarketplace, Jitter};
use workloads::marketplace::checker::{self, AnomalyReport};
use workloads::marketplace::driver::{DriveConfig, DriveResult, MarketplaceSystem, drive};
use workloads::marketplace::generator::{
    Dataset, InputConfig, InputGenerator, KeyDistribution, Mix, Scale, generate,
};
use workloads::marketplace::vmodb_system::VmodbMarketplace;

fn scale() -> Scale {
    Scale {
        customers: 400,
        sellers: 20,
        products_per_seller: 10,
        stock_per_product: 100_000,
    }
}

fn drive_for(system: &mut dyn MarketplaceSystem, inputs: &InputConfig, millis: u64) -> DriveResult {
    let mut generator = InputGenerator::new(&scale(), inputs.clone(), 11);
    let config = DriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(millis),
        concurrency: 48,
    };
    let result = drive(system, &mut generator, &config, &mut |_, _| {});
    assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
    result
}

fn check(system: &dyn MarketplaceSystem, data: &Dataset) -> AnomalyReport {
    let state = system.state().expect("state");
    assert!(!state.orders.is_empty(), "no orders");
    checker::check(data, &state, system.log())
}

fn baseline(data: &Dataset, jitter: Option<Duration>) -> BaselineMarketplace {
    let mut config = BaselineConfig {
        shipment_partitions: 10,
        ..BaselineConfig::default()
    };
    config.silo.workers = 2;
    config.silo.jitter = jitter.map(|max| Jitter {
        max,
        seed: 5,
        reorder: true,
    });
    BaselineMarketplace::start(data, config).expect("start baseline")
}

#[test]
fn baseline_runs_every_transaction_and_keeps_what_grains_guarantee() {
    let data = generate(&scale(), 11);
    let mut system = baseline(&data, None);
    let mix = Mix::benchmark();
    let inputs = InputConfig {
        mix: mix.clone(),
        ..InputConfig::default()
    };
    let result = drive_for(&mut system, &inputs, 1500);
    assert!(
        result.committed > 100,
        "only {} committed",
        result.committed
    );
    assert!(
        result.failures.is_empty(),
        "failures: {:?}",
        result.failures
    );
    for (kind, stats) in &result.per_type {
        assert!(stats.committed > 0, "{kind} never committed");
    }
    let report = check(&system, &data);
    // Entries name their category, and the dump's counters follow the orders.
    let state = system.state().expect("state");
    assert!(
        state
            .order_entries
            .iter()
            .all(|e| !e.product_category.is_empty())
    );
    let counters = system
        .customer_orders()
        .expect("counters")
        .expect("counters");
    common::assert_order_counters(&state, &counters);
    // Single-threaded grains and awaited requests rule these out, as in the Orleans baseline.
    for class in [
        "negative_stock",
        "stock_reservation",
        "order_items",
        "payment",
        "customer_counters",
        "lost_update",
        "duplicate",
    ] {
        assert_eq!(report.count(class), 0, "{class}: {:?}", report.examples);
    }
}

#[test]
fn injected_faults_show_baseline_anomalies_and_none_on_vmodb() {
    let data = generate(&scale(), 11);
    let inputs = InputConfig {
        mix: Mix::benchmark(),
        sellers: KeyDistribution::Zipf(1.0),
        products: KeyDistribution::Zipf(1.0),
        targeted_updates: 100,
        burst: 4,
        ..InputConfig::default()
    };
    let jitter = Duration::from_millis(3);

    let mut base = baseline(&data, Some(jitter));
    let base_result = drive_for(&mut base, &inputs, 2000);
    let base_report = check(&base, &data);

    let config = ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(2),
            record_inputs: true,
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: false,
        link_delay: Some(LinkDelay {
            max_us: jitter.as_micros() as u64,
            seed: 5,
        }),
        data_dir: None,
    };
    let mut vmodb = VmodbMarketplace::start(&data, config).expect("start vmodb");
    let vmodb_result = drive_for(&mut vmodb, &inputs, 2000);
    let vmodb_report = check(&vmodb, &data);

    assert!(base_result.committed > 100 && vmodb_result.committed > 100);
    assert!(
        base_report.total() > 0,
        "the baseline showed no anomaly under injection"
    );
    let classes = base_report.counts.values().filter(|n| **n > 0).count();
    assert!(
        classes >= 2,
        "the baseline showed anomalies in only {classes} class(es): {base_report}"
    );
    assert!(
        vmodb_report.is_clean(),
        "vmodb anomalies: {vmodb_report} {:?}",
        vmodb_report.examples
    );
    assert!(
        vmodb.matches_serial_replay(&data).expect("replay").equal,
        "vmodb state differs from serial replay"
    );
    eprintln!("baseline under injection: {base_report}");
}

/// All-or-nothing checkouts on the baseline are a saga: a checkout that cannot reserve every line
/// releases what it reserved and puts its lines back in the cart. Without injected faults the
/// compensation completes, so no reservation is left dangling and no stock goes negative.
#[test]
fn baseline_all_or_nothing_checkouts_compensate() {
    let scarce = Scale {
        stock_per_product: 20,
        ..scale()
    };
    let data = generate(&scarce, 11);
    let mut system = baseline(&data, None);
    let inputs = InputConfig {
        mix: Mix::paper(),
        products: KeyDistribution::Zipf(1.0),
        sellers: KeyDistribution::Zipf(1.0),
        all_or_nothing_checkout: true,
        ..InputConfig::default()
    };
    let mut generator = InputGenerator::new(&scarce, inputs, 11);
    let config = DriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(1500),
        concurrency: 48,
    };
    let result = drive(&mut system, &mut generator, &config, &mut |_, _| {});
    assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
    let refused = result
        .per_type
        .get("customer_checkout")
        .map_or(0, |s| s.failed);
    assert!(
        refused > 0,
        "no checkout was refused ({} committed)",
        result.committed
    );
    assert!(
        result.failures.iter().all(|f| f.contains("aborted: item")),
        "failures: {:?}",
        result.failures
    );
    let state = system.state().expect("state");
    let report = checker::check(&data, &state, system.log());
    for class in ["negative_stock", "stock_reservation"] {
        assert_eq!(report.count(class), 0, "{class}: {:?}", report.examples);
    }
}
