//! TPC-C on the eventually consistent actor baseline at a small scale: every transaction type
//! commits; without injected jitter the consistency conditions hold at quiescence (every one-way
//! effect has landed); with jitter the run completes and quiesces, and the checker's report is a
//! finding; a serial run leaves the same state as vMODB's (the same business logic).

use std::time::Duration;
use vmodb::{ClusterConfig, CoordinatorConfig};
use workloads::marketplace::driver::DriveResult;
use workloads::tpcc::TpccState;
use workloads::tpcc::baseline_system::{BaselineTpcc, BaselineTpccConfig, Jitter};
use workloads::tpcc::checker::{self, CC2, CC3, CONDITIONS, CheckOptions, TpccReport};
use workloads::tpcc::driver::{TpccDriveConfig, TpccSystem, drive};
use workloads::tpcc::generator::{
    LOAD_TIME, TpccInputGenerator, TpccMix, TpccOp, TpccScale, populate,
};
use workloads::tpcc::logic::HISTORY_RUN_BASE;
use workloads::tpcc::vmodb_system::VmodbTpcc;

const SEED: u64 = 3;

fn baseline(initial: &TpccState, jitter: Option<Duration>, warm_start: bool) -> BaselineTpcc {
    let mut config = BaselineTpccConfig {
        warm_start,
        ..BaselineTpccConfig::default()
    };
    config.silo.workers = 2;
    config.silo.jitter = jitter.map(|max| Jitter {
        max,
        seed: 7,
        reorder: true,
    });
    BaselineTpcc::start(initial, config).expect("start baseline")
}

/// Drives `mix` for 1.5 s with 16 terminals, quiesces, and checks the final state.
fn run(mix: &TpccMix, warehouses: u32, jitter: Option<Duration>) -> (DriveResult, TpccReport) {
    let scale = TpccScale::small(warehouses);
    let initial = populate(&scale, SEED);
    let mut system = baseline(&initial, jitter, true);
    assert_eq!(system.name(), "baseline");
    let mut generator = TpccInputGenerator::new(&scale, mix.clone(), SEED);
    let drive_config = TpccDriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(1500),
        terminals: 16,
    };
    let result = drive(&mut system, &mut generator, &drive_config, &mut |_, _| {});
    assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
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
        let share = match *kind {
            "new_order" => mix.new_order,
            "payment" => mix.payment,
            "order_status" => mix.order_status,
            "delivery" => mix.delivery,
            _ => mix.stock_level,
        };
        assert!(share == 0 || stats.committed > 0, "{kind} never committed");
    }
    let state = system.state().expect("state");
    assert!(state.orders.len() > initial.orders.len(), "no new orders");
    assert_eq!(state.items, initial.items, "items are read-only");
    let options = CheckOptions {
        deliveries_ran: mix.delivery > 0,
        initial_delivered_per_district: scale.orders_per_district - scale.new_orders_per_district,
    };
    (result, checker::check(&state, options))
}

fn assert_clean(report: &TpccReport) {
    assert!(
        report.is_clean(),
        "violations: {report} {:?}",
        report.examples
    );
}

/// Without jitter every one-way effect has landed at quiescence. The one lasting anomaly the
/// design allows (a Delivery overtaking a reordered NewOrder, leaving a NEW_ORDER gap) heals at
/// the district's next Delivery, so it could only show if it opened after the district's last
/// Delivery of the run: it opens about once in three runs, anywhere in the run.
#[test]
fn standard_mix_commits_every_type_and_converges_without_jitter() {
    let (result, report) = run(&TpccMix::standard(), 2, None);
    println!(
        "baseline, no jitter: {} committed; {report}",
        result.committed
    );
    assert_clean(&report);
}

#[test]
fn standard_mix_with_jitter_completes_and_quiesces() {
    let jitter = Some(Duration::from_millis(2));
    let (result, report) = run(&TpccMix::standard(), 2, jitter);
    println!(
        "baseline, jitter 2 ms: {} committed; {report} {:?}",
        result.committed, report.examples
    );
    // Every one-way effect is an addition and has landed at quiescence, and each grain's turn
    // is atomic, so only the order of a district's new orders (conditions 2 and 3) can be left
    // broken; whether it is depends on timing (a finding, printed above).
    for c in CONDITIONS.iter().filter(|c| ![CC2, CC3].contains(c)) {
        assert_eq!(report.count(c), 0, "{c}: {:?}", report.examples);
    }
}

#[test]
fn new_order_only_keeps_the_consistency_conditions() {
    let (_, report) = run(&TpccMix::new_order_only(), 1, None);
    assert_clean(&report);
}

/// Without deliveries nothing reads NEW_ORDER's order, so however the inserts reorder, every
/// order that took an id is in place at quiescence.
#[test]
fn new_order_only_keeps_the_consistency_conditions_under_jitter() {
    let (_, report) = run(
        &TpccMix::new_order_only(),
        2,
        Some(Duration::from_millis(2)),
    );
    assert_clean(&report);
}

#[test]
fn state_at_start_is_the_initial_population() {
    let scale = TpccScale::small(2);
    let initial = populate(&scale, SEED);
    for warm_start in [true, false] {
        let system = baseline(&initial, None, warm_start);
        let active = system.active_grains();
        if warm_start {
            // 2 warehouses; 20 districts; 1,000 items in one stock grain per warehouse.
            assert_eq!(active, [2, 20, 2, 20]);
        } else {
            assert_eq!(active, [0; 4]);
        }
        let state = system.state().expect("state");
        assert!(state == initial, "state differs (warm start {warm_start})");
    }
}

/// Runs `ops` one at a time, each finished before the next starts, then quiesces.
fn run_serially(system: &mut dyn TpccSystem, ops: &[TpccOp]) {
    for (n, op) in ops.iter().enumerate() {
        system.submit(n as u64, op).expect("submit");
        let done = loop {
            let mut done = system.poll(Duration::from_millis(50));
            if let Some(d) = done.pop() {
                assert!(done.is_empty(), "one op in flight");
                break d;
            }
        };
        assert_eq!(done.id, n as u64);
        assert!(done.result.is_ok(), "{}: {:?}", op.kind(), done.result);
    }
    assert!(system.quiesce(Duration::from_secs(20)), "quiesce");
}

/// Dates and history ids of the run differ between systems (wall clock, TID vs logical clock).
fn without_run_times(mut s: TpccState) -> TpccState {
    for o in &mut s.orders {
        if o.o_entry_d != LOAD_TIME {
            o.o_entry_d = 0;
        }
    }
    for l in &mut s.order_lines {
        if l.ol_delivery_d.is_some_and(|t| t != LOAD_TIME) {
            l.ol_delivery_d = Some(0);
        }
    }
    for h in &mut s.history {
        if h.h_id >= HISTORY_RUN_BASE {
            h.h_id = 0;
            h.h_date = 0;
        }
    }
    s
}

fn same_rows<T: PartialEq + std::fmt::Debug>(table: &str, a: &[T], b: &[T]) {
    if let Some(n) = (0..a.len().min(b.len())).find(|&n| a[n] != b[n]) {
        panic!("{table} row {n}: vmodb {:?}, baseline {:?}", a[n], b[n]);
    }
    assert_eq!(a.len(), b.len(), "{table}: row counts differ");
}

/// One transaction at a time, both systems leave the same state: the baseline follows the same
/// business logic, and its one-way effects (additions) land in any order to the same values.
#[test]
fn serial_run_matches_vmodb() {
    let scale = TpccScale::small(2);
    let initial = populate(&scale, SEED);
    let mut generator = TpccInputGenerator::new(&scale, TpccMix::standard(), SEED);
    let ops: Vec<TpccOp> = (0..400).map(|n| generator.next_op(n % 8)).collect();
    let config = ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(2),
            batch_idle: Some(Duration::from_micros(200)),
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: false,
        link_delay: None,
        data_dir: None,
    };
    let mut vmodb = VmodbTpcc::start(&initial, config).expect("start vmodb");
    run_serially(&mut vmodb, &ops);
    let expected = without_run_times(vmodb.state().expect("vmodb state"));
    drop(vmodb);
    let mut system = baseline(&initial, None, true);
    run_serially(&mut system, &ops);
    let got = without_run_times(system.state().expect("baseline state"));
    assert!(got.orders.len() > initial.orders.len(), "no new orders");
    assert!(got.history.len() > initial.history.len(), "no payments");
    same_rows("warehouse", &expected.warehouses, &got.warehouses);
    same_rows("district", &expected.districts, &got.districts);
    same_rows("customer", &expected.customers, &got.customers);
    same_rows("history", &expected.history, &got.history);
    same_rows("item", &expected.items, &got.items);
    same_rows("stock", &expected.stock, &got.stock);
    same_rows("orders", &expected.orders, &got.orders);
    same_rows("new_order", &expected.new_orders, &got.new_orders);
    same_rows("order_line", &expected.order_lines, &got.order_lines);
}
