//! A delivery run that names a shipment partition delivers only shipments of customers in that
//! partition, on both systems (as the Orleans implementation's shipment actors do). On vMODB a
//! run without one (the benchmark's HTTP request) delivers from every partition; the baseline,
//! which has no HTTP front, takes its partitions round robin then.

use std::time::{Duration, Instant};
use vmodb::{ClusterConfig, CoordinatorConfig};
use workloads::marketplace::baseline_system::{BaselineConfig, BaselineMarketplace};
use workloads::marketplace::driver::MarketplaceSystem;
use workloads::marketplace::generator::{Op, Scale, generate};
use workloads::marketplace::model::{
    AddItem, Checkout, SHIPMENT_PARTITIONS, UpdateDelivery, Voucher, shipment_partition,
};
use workloads::marketplace::vmodb_system::VmodbMarketplace;

/// Customers 1 and 2 (partitions 1 and 2) buy two products of different sellers each.
fn sessions() -> Vec<Op> {
    (1..=2u32)
        .map(|customer_id| {
            let products = vec![(1, customer_id), (2, customer_id)];
            Op::Session {
                items: products
                    .iter()
                    .map(|&(seller_id, product_id)| AddItem {
                        customer_id,
                        seller_id,
                        product_id,
                        quantity: 1,
                        voucher: Voucher::None,
                    })
                    .collect(),
                checkout: Checkout {
                    customer_id,
                    products,
                    payment_type: "CREDIT_CARD".into(),
                    installments: 1,
                    all_or_nothing: false,
                    instance_id: None,
                },
            }
        })
        .collect()
}

fn run_one(system: &mut dyn MarketplaceSystem, id: u64, op: &Op) {
    system.submit(id, op).expect("submit");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = system.poll(Duration::from_millis(50));
        if let Some(d) = done.iter().find(|d| d.id == id) {
            d.result.clone().expect("op committed");
            break;
        }
        assert!(Instant::now() < deadline, "op {id} never finished");
    }
    assert!(system.quiesce(Duration::from_secs(20)), "quiesce");
}

/// Customers whose packages are all delivered.
fn delivered_customers(system: &dyn MarketplaceSystem) -> Vec<u32> {
    let state = system.state().expect("state");
    let mut customers: Vec<u32> = state.packages.iter().map(|p| p.customer_id).collect();
    customers.sort_unstable();
    customers.dedup();
    customers.retain(|c| {
        state
            .packages
            .iter()
            .filter(|p| p.customer_id == *c)
            .all(|p| p.status == "delivered")
    });
    customers
}

fn deliver(partition: Option<u32>) -> Op {
    Op::Delivery(UpdateDelivery {
        max_sellers: 10,
        partition,
    })
}

fn check(system: &mut dyn MarketplaceSystem, unnamed_delivers_all: bool) {
    for (id, op) in sessions().iter().enumerate() {
        run_one(system, id as u64, op);
    }
    assert_eq!(delivered_customers(system), Vec::<u32>::new());
    run_one(system, 10, &deliver(Some(shipment_partition(2))));
    assert_eq!(delivered_customers(system), vec![2], "{}", system.name());
    run_one(system, 11, &deliver(Some(shipment_partition(3))));
    assert_eq!(delivered_customers(system), vec![2], "{}", system.name());
    run_one(system, 12, &deliver(Some(shipment_partition(1))));
    assert_eq!(delivered_customers(system), vec![1, 2], "{}", system.name());
    if unnamed_delivers_all {
        // Both customers buy again from the same two sellers. An unnamed run looks across
        // partitions: each seller delivers its oldest open shipment (customer 1's), then the
        // next run the other.
        for (id, op) in sessions().iter().enumerate() {
            run_one(system, 20 + id as u64, op);
        }
        assert_eq!(delivered_customers(system), Vec::<u32>::new());
        run_one(system, 30, &deliver(None));
        assert_eq!(delivered_customers(system), vec![1], "{}", system.name());
        run_one(system, 31, &deliver(None));
        assert_eq!(delivered_customers(system), vec![1, 2], "{}", system.name());
    }
}

fn scale() -> Scale {
    Scale {
        customers: 10,
        sellers: 2,
        products_per_seller: 5,
        stock_per_product: 100,
    }
}

#[test]
fn vmodb_delivers_from_the_named_partition_only() {
    assert!(shipment_partition(2) != shipment_partition(1) && SHIPMENT_PARTITIONS > 3);
    let data = generate(&scale(), 3);
    let config = ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(2),
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: true,
        ..ClusterConfig::default()
    };
    let mut system = VmodbMarketplace::start(&data, config).expect("start");
    check(&mut system, true);
    let (violations, examples) = system.cluster().mode_violations();
    assert_eq!(violations, 0, "{examples:?}");
}

#[test]
fn baseline_delivers_from_the_named_partition_only() {
    let data = generate(&scale(), 3);
    let mut config = BaselineConfig {
        shipment_partitions: SHIPMENT_PARTITIONS,
        ..BaselineConfig::default()
    };
    config.silo.workers = 2;
    let mut system = BaselineMarketplace::start(&data, config).expect("start");
    check(&mut system, false);
}
