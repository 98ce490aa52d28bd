//! TPC-C on the eventually consistent actor baseline: the same business rules as the vMODB
//! services (clause 2, step by step, from `tpcc::logic`), on Orleans-style grains, with no
//! cross-grain transactions and no compensation.
//!
//! **Grains** (service in brackets; injected jitter delays messages between services):
//!
//! - `WarehouseGrain` per `w_id` [warehouse]: the warehouse row (Payment's `w_ytd`).
//! - `DistrictGrain` per `(w_id, d_id)` [warehouse]: the district row, its customers (with a
//!   last-name index sorted by `c_first`) and the history rows of those customers.
//! - `StockGrain` per `(w_id, block)` [inventory]: the stock rows of items
//!   `block × n + 1 ..= (block + 1) × n` of one warehouse (`n = items_per_stock_grain`, 1,000 by
//!   default). The item table is read-only: it lives in the world as shared immutable data.
//! - `OrderDistrictGrain` per `(w_id, d_id)` [order]: the district's orders, new orders and
//!   order lines (the order service, partitioned by district).
//!
//! Immutable columns are read from the initial data in the world, as the item table: `w_tax`,
//! `w_name` and `d_name` never change.
//!
//! **Who orchestrates.** Each transaction runs as a task at the front door (the terminal, an
//! Orleans client or stateless worker), which asks the grains in turn; grain turns stay short, so
//! a district grain is never blocked behind another grain's round trip.
//!
//! **Request/response vs one-way:**
//!
//! - NewOrder, all asked: district (next `o_id`, `d_tax`, `c_discount`; `w_tax` from the initial
//!   data) → the stock grains of the lines, in parallel (stock rule, `ol_amount`, `ol_dist_info`)
//!   → the order-district grain (order, new order, lines) → the result.
//! - Payment: the customer's district grain is asked (find the customer, update it, insert the
//!   history row with `h_w_id`/`h_d_id` of the paying district and `h_id = HISTORY_RUN_BASE +
//!   tick`); only once it answered, `w_ytd` and `d_ytd` are told (one-way). A failed payment
//!   (no such customer) so adds to no year-to-date total.
//! - OrderStatus, asked: the district grain (customer by id or by last name, ⌈n/2⌉ by
//!   `c_first`), then the order-district grain (the customer's last order and its lines).
//! - Delivery: the ten order-district grains of the warehouse are asked in parallel to deliver
//!   their oldest new order (delete the new order, set the carrier, stamp the lines, sum the
//!   amounts); each tells the customer's district grain to credit `c_balance` and count
//!   `c_delivery_cnt` (one-way, sent from its turn).
//! - StockLevel, asked: district (`d_next_o_id`) → order-district (distinct items of the last 20
//!   orders) → the stock grains holding them, in parallel (count below the threshold).
//!
//! **Time and ids:** `silo.now_us()` for dates; `silo.tick()` for history ids.
//!
//! **What can break.** Every one-way effect is an addition (`w_ytd`, `d_ytd`, `c_balance`,
//! `c_delivery_cnt`), so once all have landed (at quiescence) the year-to-date and balance
//! conditions hold whatever order they arrived in, and each grain's turn is atomic (an order, its
//! new order and its lines appear together; a delivery stamps all of them together). What
//! eventual consistency can break is the order of a district's new orders: two NewOrders take
//! `o_id` n and n + 1 at the district grain but may insert them at the order-district grain in
//! the other order; a Delivery that comes in between, with no older new order left, delivers
//! n + 1 before n exists, leaving a gap in NEW_ORDER (conditions 2 and 3). The gap heals at the
//! district's next Delivery, which takes n (now the oldest), so it outlives a run only if it
//! opens after the district's last Delivery. Scheduling alone reorders such inserts (hundreds of
//! times in a 1.5 s test run at small scale, and a Delivery falls in between about once in three
//! runs); injected jitter reorders them more often per NewOrder.

macro_rules! grain {
    ($g:ident, $service:literal, $key:ty, $dir:ident, |$k:ident, $w:ident| $init:expr) => {
        impl baseline::Grain for $g {
            const SERVICE: &'static str = $service;
            type Key = $key;
            type World = $crate::tpcc::baseline_system::TpccWorld;
            fn directory(
                w: &$crate::tpcc::baseline_system::TpccWorld,
            ) -> &baseline::Directory<Self> {
                &w.$dir
            }
            fn activate($k: &$key, $w: &$crate::tpcc::baseline_system::TpccWorld) -> Self {
                $init
            }
        }
    };
}

mod district;
mod dump;
mod durable;
mod orders;
mod stock;
mod terminal;

use super::TpccState;
use super::driver::TpccSystem;
use super::generator::TpccOp;
use super::model::*;
use crate::marketplace::driver::Done;
use crate::probes::Probes;
use crate::visibility::Visibility;
use baseline::{AppendLog, AppendLogStats, Directory, Silo, SiloConfig, World};
use crossbeam_channel::{Receiver, Sender};
use district::{DistrictGrain, WarehouseGrain};
use hdrhistogram::Histogram;
use orders::OrderDistrictGrain;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use stock::StockGrain;

pub use durable::{LoggedTpccOp, decode as decode_log_record};

pub use baseline::Jitter;

/// Asks a grain for all its rows (state dumps at quiescence).
pub struct Dump;

/// The baseline's settings for TPC-C.
#[derive(Clone, Debug)]
pub struct BaselineTpccConfig {
    pub silo: SiloConfig,
    /// Activate every grain at start, as vMODB loads every table at start, so that a measured
    /// window does not pay first activations. Off, grains activate on their first message.
    pub warm_start: bool,
    /// Items per stock grain (each grain holds one warehouse's stock of that many items).
    pub items_per_stock_grain: u32,
    /// Durability: log each writing transaction's input to this file (created if missing,
    /// appended to) and report the transaction only once its record is synced (`durable`).
    /// `None`: no log.
    pub log: Option<std::path::PathBuf>,
}

impl Default for BaselineTpccConfig {
    fn default() -> Self {
        BaselineTpccConfig {
            silo: SiloConfig::default(),
            warm_start: true,
            items_per_stock_grain: 1_000,
            log: None,
        }
    }
}

type DistrictKey = (WarehouseId, DistrictId);
/// `(w_id, block)`: the stock of items `block × n + 1 ..= (block + 1) × n` of warehouse `w_id`.
type StockKey = (WarehouseId, u32);

/// A district grain's initial rows.
#[derive(Default)]
struct DistrictRows {
    district: Option<District>,
    customers: Vec<Customer>,
    history: Vec<History>,
}

/// An order-district grain's initial rows.
#[derive(Default)]
struct OrderRows {
    orders: Vec<Order>,
    new_orders: Vec<NewOrder>,
    lines: Vec<OrderLine>,
}

/// The initial rows not yet handed to a grain: each grain takes its own at activation (grains
/// are activated once and never deactivated), so the large tables are not held twice.
#[derive(Default)]
struct Initial {
    districts: FxHashMap<DistrictKey, DistrictRows>,
    stock: FxHashMap<StockKey, Vec<Stock>>,
    orders: FxHashMap<DistrictKey, OrderRows>,
}

/// The world every grain lives in: the silo, the immutable data, the initial rows and one
/// directory per grain type.
pub struct TpccWorld {
    silo: Silo,
    /// The item table (read-only), by `i_id`.
    items: Vec<Item>,
    /// The initial warehouse rows: `w_tax` and `w_name` never change.
    warehouse_rows: FxHashMap<WarehouseId, Warehouse>,
    /// `d_name` never changes.
    district_names: FxHashMap<DistrictKey, Chars<10>>,
    items_per_stock_grain: u32,
    initial: Mutex<Initial>,
    /// Every key of the data set, per grain type (order-district grains use `district_keys`).
    warehouse_keys: Vec<WarehouseId>,
    district_keys: Vec<DistrictKey>,
    stock_keys: Vec<StockKey>,
    warehouses: Directory<WarehouseGrain>,
    districts: Directory<DistrictGrain>,
    stock: Directory<StockGrain>,
    orders: Directory<OrderDistrictGrain>,
}

impl World for TpccWorld {
    fn silo(&self) -> &Silo {
        &self.silo
    }
}

impl TpccWorld {
    fn new(silo: Silo, s: &TpccState, items_per_stock_grain: u32) -> Self {
        let mut init = Initial::default();
        let mut items = s.items.clone();
        items.sort_by_key(|i| i.i_id);
        let mut district_names = FxHashMap::default();
        for d in &s.districts {
            district_names.insert((d.d_w_id, d.d_id), d.d_name);
            init.districts
                .entry((d.d_w_id, d.d_id))
                .or_default()
                .district = Some(d.clone());
        }
        for c in &s.customers {
            let rows = init.districts.entry((c.c_w_id, c.c_d_id)).or_default();
            rows.customers.push(c.clone());
        }
        for h in &s.history {
            let rows = init.districts.entry((h.h_c_w_id, h.h_c_d_id)).or_default();
            rows.history.push(h.clone());
        }
        let n = items_per_stock_grain;
        for st in &s.stock {
            let key = (st.s_w_id, (st.s_i_id.max(1) - 1) / n);
            init.stock.entry(key).or_default().push(st.clone());
        }
        for o in &s.orders {
            let rows = init.orders.entry((o.o_w_id, o.o_d_id)).or_default();
            rows.orders.push(o.clone());
        }
        for no in &s.new_orders {
            let rows = init.orders.entry((no.no_w_id, no.no_d_id)).or_default();
            rows.new_orders.push(no.clone());
        }
        for l in &s.order_lines {
            let rows = init.orders.entry((l.ol_w_id, l.ol_d_id)).or_default();
            rows.lines.push(l.clone());
        }
        let district_keys: BTreeSet<DistrictKey> = init
            .districts
            .keys()
            .chain(init.orders.keys())
            .copied()
            .collect();
        let stock_keys: BTreeSet<StockKey> = init.stock.keys().copied().collect();
        let mut warehouse_keys: Vec<WarehouseId> = s.warehouses.iter().map(|w| w.w_id).collect();
        warehouse_keys.sort_unstable();
        TpccWorld {
            silo,
            items,
            warehouse_rows: s.warehouses.iter().map(|w| (w.w_id, w.clone())).collect(),
            district_names,
            items_per_stock_grain: n,
            initial: Mutex::new(init),
            warehouse_keys,
            district_keys: district_keys.into_iter().collect(),
            stock_keys: stock_keys.into_iter().collect(),
            warehouses: Directory::default(),
            districts: Directory::default(),
            stock: Directory::default(),
            orders: Directory::default(),
        }
    }

    fn item(&self, i_id: ItemId) -> Option<&Item> {
        let at = self.items.binary_search_by_key(&i_id, |i| i.i_id).ok()?;
        self.items.get(at)
    }

    fn warehouse_row(&self, w_id: WarehouseId) -> Option<&Warehouse> {
        self.warehouse_rows.get(&w_id)
    }

    fn district_name(&self, key: DistrictKey) -> Option<&str> {
        self.district_names.get(&key).map(|n| n.as_str())
    }

    /// The stock grain holding item `i_id` of warehouse `w_id`.
    fn stock_key(&self, w_id: WarehouseId, i_id: ItemId) -> StockKey {
        (w_id, i_id.saturating_sub(1) / self.items_per_stock_grain)
    }

    fn initial(&self) -> std::sync::MutexGuard<'_, Initial> {
        self.initial.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_district(&self, key: &DistrictKey) -> DistrictRows {
        self.initial().districts.remove(key).unwrap_or_default()
    }

    fn take_stock(&self, key: &StockKey) -> Vec<Stock> {
        self.initial().stock.remove(key).unwrap_or_default()
    }

    fn take_orders(&self, key: &DistrictKey) -> OrderRows {
        self.initial().orders.remove(key).unwrap_or_default()
    }
}

/// Activates the grain of every key in the data set.
fn warm_start(w: &Arc<TpccWorld>) {
    let _runtime = w.silo.enter();
    for k in &w.warehouse_keys {
        w.warehouses.activate(k, w);
    }
    for k in &w.district_keys {
        w.districts.activate(k, w);
        w.orders.activate(k, w);
    }
    for k in &w.stock_keys {
        w.stock.activate(k, w);
    }
}

/// TPC-C on the baseline behind the [`TpccSystem`] trait.
pub struct BaselineTpcc {
    world: Arc<TpccWorld>,
    done_tx: Sender<Done>,
    done_rx: Receiver<Done>,
    in_flight: usize,
    /// Until when every effect of each operation of the measured window was applied.
    visibility: Arc<Visibility>,
    /// The durability log (`BaselineTpccConfig::log`); dropping it syncs what is queued.
    journal: Option<AppendLog>,
    /// Why the log failed, set by the first transaction that could not be made durable.
    log_failure: Arc<OnceLock<String>>,
}

impl BaselineTpcc {
    pub fn start(initial: &TpccState, config: BaselineTpccConfig) -> Result<Self, String> {
        let journal = config.log.as_deref().map(durable::open).transpose()?;
        let silo = Silo::new(config.silo).map_err(|e| e.to_string())?;
        let n = config.items_per_stock_grain.max(1);
        let world = Arc::new(TpccWorld::new(silo, initial, n));
        if config.warm_start {
            warm_start(&world);
        }
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Ok(BaselineTpcc {
            world,
            done_tx,
            done_rx,
            in_flight: 0,
            visibility: Arc::default(),
            journal,
            log_failure: Arc::default(),
        })
    }

    /// What the durability log has synced so far; `None` without a log.
    pub fn log_stats(&self) -> Option<AppendLogStats> {
        self.journal.as_ref().map(AppendLog::stats)
    }

    /// How many grains are active, per type: warehouse, district, stock, order-district.
    pub fn active_grains(&self) -> [usize; 4] {
        let w = &self.world;
        [
            w.warehouses.len(),
            w.districts.len(),
            w.stock.len(),
            w.orders.len(),
        ]
    }
}

/// Runs one transaction against the grains.
async fn run_op(w: Arc<TpccWorld>, op: TpccOp) -> Result<(), String> {
    match op {
        TpccOp::NewOrder(e) => terminal::new_order(&w, e).await.map(drop),
        TpccOp::Payment(e) => terminal::payment(&w, e).await.map(drop),
        TpccOp::OrderStatus(e) => terminal::order_status(&w, e).await.map(drop),
        TpccOp::Delivery(e) => terminal::delivery(&w, e).await.map(drop),
        TpccOp::StockLevel(e) => terminal::stock_level(&w, e).await.map(drop),
    }
}

impl Probes for BaselineTpcc {
    fn deferred_backlog(&self) -> Option<u64> {
        Some(self.world.silo.pending())
    }

    fn measure_visibility(&mut self, from: Instant, to: Instant) {
        self.visibility.measure(from, to);
    }

    fn visibility(&self) -> Option<Histogram<u64>> {
        self.visibility.histogram()
    }

    fn injected_delays(&self) -> Option<Histogram<u64>> {
        self.world.silo.injected_delays()
    }
}

impl TpccSystem for BaselineTpcc {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn submit(&mut self, id: u64, op: &TpccOp) -> Result<(), String> {
        // From submission, as vMODB measures: the wait for a runtime thread counts.
        let start = Instant::now();
        // Logged as it starts; the grains need not wait for the sync, only the report does.
        let ticket = match &self.journal {
            Some(journal) => durable::record(id, op)?.map(|r| journal.append(r)),
            None => None,
        };
        let (w, tx, op) = (Arc::clone(&self.world), self.done_tx.clone(), op.clone());
        let failure = Arc::clone(&self.log_failure);
        self.in_flight += 1;
        let effects = self.visibility.effects(start);
        self.world.silo.spawn(async move {
            let mut result = baseline::traced(effects, run_op(w, op)).await;
            if let Some(ticket) = ticket
                && let Err(e) = ticket.await
            {
                // Not durable: reported failed, as vMODB never announces a commit it could not
                // log.
                let why = format!("transaction {id} could not be made durable: {e}");
                let _ = failure.set(why.clone());
                result = Err(why);
            }
            let _ = tx.send(Done::new(id, start.elapsed(), result));
        });
        Ok(())
    }

    fn fatal(&self) -> Option<String> {
        self.log_failure.get().cloned()
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        let mut out = Vec::new();
        if let Ok(first) = self.done_rx.recv_timeout(wait) {
            out.push(first);
            out.extend(self.done_rx.try_iter());
        }
        self.in_flight -= out.len();
        out
    }

    fn quiesce(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.in_flight > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if self.done_rx.recv_timeout(left).is_err() {
                return false;
            }
            self.in_flight -= 1;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.world.silo.quiesce(left)
    }

    fn state(&self) -> Result<TpccState, String> {
        let w = &self.world;
        w.silo.block_on(dump::dump(Arc::clone(w)))
    }
}
