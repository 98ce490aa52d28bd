//! TPC-C on vMODB at a small scale: every transaction type of the standard mix commits, the
//! consistency conditions hold on the final state, and the state equals the serial replay of the
//! committed inputs — also with New-Order rollbacks (clause 2.4.1.4), which abort across
//! services.

use std::time::Duration;
use vmodb::{ClusterConfig, CoordinatorConfig};
use workloads::tpcc::checker::{self, CheckOptions};
use workloads::tpcc::driver::{TpccDriveConfig, TpccSystem, drive};
use workloads::tpcc::generator::{TpccInputGenerator, TpccMix, TpccScale, populate};
use workloads::tpcc::services::ItemCheck;
use workloads::tpcc::vmodb_system::VmodbTpcc;

fn run(mix: TpccMix, warehouses: u32, rollback_percent: u32, items: ItemCheck) {
    let scale = TpccScale::small(warehouses);
    let initial = populate(&scale, 3);
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
    let mut system = VmodbTpcc::start_with(&initial, config, items).expect("start");
    let mut generator =
        TpccInputGenerator::new(&scale, mix.clone(), 3).with_rollbacks(rollback_percent);
    let drive_config = TpccDriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(1500),
        terminals: 16,
    };
    let result = drive(&mut system, &mut generator, &drive_config, &mut |_, _| {});
    let idle = system.quiesce(Duration::from_secs(20));
    assert!(
        idle,
        "quiesce: {:?} {}",
        system.cluster().stats(),
        result.committed
    );
    assert!(
        result.committed > 100,
        "only {} committed",
        result.committed
    );
    // The only aborts are the generated rollbacks, and they are reported as such.
    assert!(
        result.failures.iter().all(|f| f.starts_with(match items {
            ItemCheck::AtEntry => "new_order: warehouse: aborted: item number",
            ItemCheck::AtInventory => "new_order: inventory: aborted: item number",
        })),
        "failures: {:?}",
        result.failures
    );
    let rolled_back = result.per_type.get("new_order").map_or(0, |s| s.failed);
    if rollback_percent == 0 {
        assert_eq!(rolled_back, 0);
    } else {
        // Aborts at the entry are settled by the local undo; later ones need rollback rounds.
        let rounds = system.cluster().stats().coordinator.rollback;
        assert!(rolled_back > 0, "no rollback happened");
        assert_eq!(
            rounds.resolutions > 0,
            items == ItemCheck::AtInventory,
            "{rounds:?}"
        );
    }
    for (kind, stats) in &result.per_type {
        let share = match *kind {
            "new_order" => mix.new_order,
            "payment" => mix.payment,
            "order_status" => mix.order_status,
            "delivery" => mix.delivery,
            _ => mix.stock_level,
        };
        assert!(share == 0 || stats.committed > 0, "{kind} never committed");
    }
    let (violations, _) = system.cluster().mode_violations();
    assert_eq!(violations, 0, "execution-mode declarations contradicted");
    let state = system.state().expect("state");
    assert!(state.orders.len() > initial.orders.len(), "no new orders");
    let options = CheckOptions {
        deliveries_ran: mix.delivery > 0,
        initial_delivered_per_district: scale.orders_per_district - scale.new_orders_per_district,
    };
    let report = checker::check(&state, options);
    assert!(
        report.is_clean(),
        "violations: {report} {:?}",
        report.examples
    );
    assert!(
        system
            .matches_serial_replay(&initial)
            .expect("replay")
            .equal,
        "state differs from serial replay"
    );
}

#[test]
fn standard_mix_keeps_the_consistency_conditions_and_replays() {
    run(TpccMix::standard(), 2, 0, ItemCheck::AtEntry);
}

#[test]
fn rollbacks_across_services_leave_no_trace_and_keep_the_consistency_conditions() {
    run(TpccMix::standard(), 2, 10, ItemCheck::AtInventory);
}

#[test]
fn new_order_only_keeps_the_consistency_conditions_and_replays() {
    run(TpccMix::new_order_only(), 1, 1, ItemCheck::AtEntry);
}

/// Inputs outside clause 2's ranges (a negative payment, a quantity of 255, carrier 200, an
/// empty order) are refused at submission: never sequenced, nothing stored.
#[test]
fn out_of_range_inputs_are_refused_before_they_reach_a_handler() {
    use workloads::tpcc::model::*;
    use workloads::tpcc::services::{DELIVERY, NEW_ORDER, PAYMENT, STOCK_LEVEL};
    let initial = populate(&TpccScale::small(1), 3);
    let system = VmodbTpcc::start(&initial, ClusterConfig::default()).expect("start");
    let client = system.cluster().client();
    let order = |q: u8, lines: usize| NewOrderInput {
        w_id: 1,
        d_id: 1,
        c_id: 1,
        lines: vec![
            NewOrderLineInput {
                ol_i_id: 1,
                ol_supply_w_id: 1,
                ol_quantity: q,
            };
            lines
        ],
    };
    let payment = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(1),
        h_amount: -1e308,
    };
    let refused = [
        client.submit(NEW_ORDER, &order(255, 5)),
        client.submit(NEW_ORDER, &order(5, 0)),
        client.submit(PAYMENT, &payment),
        client.submit(
            DELIVERY,
            &DeliveryInput {
                w_id: 1,
                o_carrier_id: 200,
            },
        ),
        client.submit(
            STOCK_LEVEL,
            &StockLevelInput {
                w_id: 1,
                d_id: 1,
                threshold: -5,
            },
        ),
    ];
    for r in refused {
        assert!(
            matches!(r, Err(vmodb::SubmitError::Invalid { .. })),
            "{r:?}"
        );
    }
    let sequenced = system.cluster().stats().coordinator.sequenced;
    assert_eq!(sequenced, 0, "something was sequenced");
    client
        .submit(NEW_ORDER, &order(5, 5))
        .expect("a valid order");
}
