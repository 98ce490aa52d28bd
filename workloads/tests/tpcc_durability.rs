//! TPC-C with durability on both systems (`--durability fsync`): vMODB's commit log and
//! checkpoints bring a restarted cluster back to exactly the state it stopped in, the
//! consistency conditions holding; the baseline logs every writing transaction's input and
//! reports no transaction before its record is synced.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use vmodb::{ClusterConfig, CoordinatorConfig};
use workloads::marketplace::driver::Done;
use workloads::probes::Probes;
use workloads::tpcc::TpccState;
use workloads::tpcc::baseline_system::{BaselineTpcc, BaselineTpccConfig, decode_log_record};
use workloads::tpcc::checker::{self, CheckOptions};
use workloads::tpcc::driver::{TpccDriveConfig, TpccSystem, drive};
use workloads::tpcc::generator::{TpccInputGenerator, TpccMix, TpccOp, TpccScale, populate};
use workloads::tpcc::services::ItemCheck;
use workloads::tpcc::vmodb_system::VmodbTpcc;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tpcc-durability-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn drive_briefly(system: &mut dyn TpccSystem, scale: &TpccScale) -> u64 {
    let mut generator = TpccInputGenerator::new(scale, TpccMix::standard(), 5);
    let config = TpccDriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(1200),
        terminals: 16,
    };
    let result = drive(system, &mut generator, &config, &mut |_, _| {});
    assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
    assert!(
        result.committed > 100,
        "only {} committed",
        result.committed
    );
    result.committed
}

fn assert_conditions(state: &TpccState, scale: &TpccScale) {
    let options = CheckOptions {
        deliveries_ran: true,
        initial_delivered_per_district: scale.orders_per_district - scale.new_orders_per_district,
    };
    let report = checker::check(state, options);
    assert!(report.is_clean(), "{report} {:?}", report.examples);
}

#[test]
fn vmodb_tpcc_restarts_from_its_log_to_the_state_it_stopped_in() {
    let dir = scratch("vmodb");
    let scale = TpccScale::small(2);
    let initial = populate(&scale, 5);
    let config = || ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(2),
            record_inputs: true,
            checkpoint_every: Duration::from_millis(300),
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: false,
        link_delay: None,
        data_dir: Some(dir.clone()),
    };
    let mut system = VmodbTpcc::start_with(&initial, config(), ItemCheck::AtEntry).expect("start");
    drive_briefly(&mut system, &scale);
    let before = system.state().expect("state");
    assert!(
        system
            .matches_serial_replay(&initial)
            .expect("replay")
            .equal
    );
    drop(system);
    assert!(
        std::fs::read_dir(&dir).expect("data dir").count() > 0,
        "nothing was logged"
    );
    // The population is not loaded again: the state comes from checkpoint and log.
    let restarted = VmodbTpcc::start_with(&initial, config(), ItemCheck::AtEntry).expect("restart");
    // Re-execution of the log after the checkpoint runs in the background; reads wait for it
    // (`Coordinator::wait_recovered`), so no quiesce here.
    let after = restarted.state().expect("state");
    same_tables(&before, &after);
    assert!(after.orders.len() > initial.orders.len(), "no new orders");
    assert_conditions(&after, &scale);
    drop(restarted);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every table of `after` equals `before`, row for row (in key order, as `state` reads them).
fn same_tables(before: &TpccState, after: &TpccState) {
    fn same<T: PartialEq + std::fmt::Debug>(table: &str, a: &[T], b: &[T]) {
        assert_eq!(a.len(), b.len(), "{table}: row counts differ");
        if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
            panic!("{table} differs after the restart:\n before {x:?}\n after  {y:?}");
        }
    }
    same("warehouse", &before.warehouses, &after.warehouses);
    same("district", &before.districts, &after.districts);
    same("customer", &before.customers, &after.customers);
    same("history", &before.history, &after.history);
    same("item", &before.items, &after.items);
    same("stock", &before.stock, &after.stock);
    same("orders", &before.orders, &after.orders);
    same("new_order", &before.new_orders, &after.new_orders);
    same("order_line", &before.order_lines, &after.order_lines);
}

/// The baseline, watched: a completed writing transaction must find its record synced.
struct Watched {
    inner: BaselineTpcc,
    logged: HashSet<u64>,
    completed_logged: u64,
}

impl Probes for Watched {}

impl TpccSystem for Watched {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn submit(&mut self, id: u64, op: &TpccOp) -> Result<(), String> {
        if !matches!(op, TpccOp::OrderStatus(_) | TpccOp::StockLevel(_)) {
            self.logged.insert(id);
        }
        self.inner.submit(id, op)
    }
    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        let done = self.inner.poll(wait);
        self.completed_logged += done.iter().filter(|d| self.logged.contains(&d.id)).count() as u64;
        let synced = self.inner.log_stats().expect("logging").records;
        assert!(
            synced >= self.completed_logged,
            "{} transactions completed, only {synced} records synced",
            self.completed_logged
        );
        done
    }
    fn quiesce(&mut self, timeout: Duration) -> bool {
        self.inner.quiesce(timeout)
    }
    fn state(&self) -> Result<TpccState, String> {
        self.inner.state()
    }
    fn fatal(&self) -> Option<String> {
        self.inner.fatal()
    }
}

fn baseline(initial: &TpccState, log: PathBuf) -> BaselineTpcc {
    let mut config = BaselineTpccConfig {
        log: Some(log),
        ..BaselineTpccConfig::default()
    };
    config.silo.workers = 2;
    BaselineTpcc::start(initial, config).expect("start baseline")
}

#[test]
fn baseline_tpcc_logs_every_writing_transaction_before_reporting_it() {
    let dir = scratch("baseline");
    let path = dir.join("baseline.log");
    let scale = TpccScale::small(2);
    let initial = populate(&scale, 5);
    let mut system = Watched {
        inner: baseline(&initial, path.clone()),
        logged: HashSet::new(),
        completed_logged: 0,
    };
    drive_briefly(&mut system, &scale);
    let stats = system.inner.log_stats().expect("logging");
    assert_eq!(stats.records, system.logged.len() as u64);
    assert!(stats.syncs <= stats.records, "{stats:?}");
    let records = baseline::append_log::read_all(&path).expect("read back");
    let ids: HashSet<u64> = records
        .iter()
        .map(|r| decode_log_record(r).expect("decodes").id)
        .collect();
    assert_eq!(ids, system.logged);
    assert_conditions(&system.state().expect("state"), &scale);
    drop(system);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn baseline_tpcc_log_failure_stops_the_run() {
    // /dev/full refuses every write, as a full disk would.
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let scale = TpccScale::small(1);
    let initial = populate(&scale, 5);
    let mut system = baseline(&initial, PathBuf::from("/dev/full"));
    let mut generator = TpccInputGenerator::new(&scale, TpccMix::new_order_only(), 5);
    let config = TpccDriveConfig {
        warmup: Duration::ZERO,
        duration: Duration::from_millis(800),
        terminals: 8,
    };
    let result = drive(&mut system, &mut generator, &config, &mut |_, _| {});
    let why = system.fatal().expect("fatal");
    assert!(why.contains("could not be made durable"), "{why}");
    assert_eq!(
        result.committed, 0,
        "a New-Order was reported before it was durable"
    );
    assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
}
