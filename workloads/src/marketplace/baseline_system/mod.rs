//! The marketplace on the eventually consistent actor baseline, modelled on the Orleans
//! implementation of the Online Marketplace (benchmark digest §6): grains per customer (cart,
//! order, payment, customer), per product (product, stock, the cart's replica), per seller, and
//! shipment partitions. The checkout chain is request/response; seller, customer and order-status
//! notifications and replica updates are one-way. Business rules come from `logic`, as on vMODB.
//!
//! Orderings for the checker: each operation draws a point on the silo's logical clock where it
//! takes effect at its entry grain (a checkout at the cart, a price update at the product, a
//! dashboard when the seller grain answers, a delivery run when it starts). These points play
//! the role of vMODB's TIDs in the run log.
//!
//! Durability (`BaselineConfig::log`): see `durable`.

/// `impl Grain` for a grain type of the marketplace: its service, key, directory in the world
/// and activation.
macro_rules! grain {
    ($g:ident, $service:literal, $key:ty, $dir:ident, |$k:ident, $w:ident| $init:expr) => {
        impl baseline::Grain for $g {
            const SERVICE: &'static str = $service;
            type Key = $key;
            type World = $crate::marketplace::baseline_system::Market;
            fn directory(
                w: &$crate::marketplace::baseline_system::Market,
            ) -> &baseline::Directory<Self> {
                &w.$dir
            }
            fn activate($k: &$key, $w: &$crate::marketplace::baseline_system::Market) -> Self {
                $init
            }
        }
    };
}

mod customers;
mod durable;
mod sellers;

use super::driver::{Done, MarketplaceSystem};
use super::generator::{Dataset, Op};
use super::model::*;
use super::{MarketplaceState, RunLog};
use crate::probes::Probes;
use crate::visibility::Visibility;
use baseline::{AppendLog, Directory, Grain, Handles, Silo, World, ask};
use crossbeam_channel::{Receiver, Sender};
use customers::{CartGrain, CustomerGrain, NextOrderId, OrderGrain, PaymentGrain, ShipmentGrain};
use futures::future::join_all;
use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;
use sellers::{GetDashboard, ProductGrain, ReplicaGrain, SellerGrain, StockGrain};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use baseline::{AppendLogStats, Jitter, SiloConfig};
pub use durable::{LoggedInput, LoggedOp, decode as decode_log_record};

/// Asks a grain for all its rows (state dumps at quiescence).
pub struct Dump;

/// The baseline's settings.
#[derive(Clone, Debug)]
pub struct BaselineConfig {
    pub silo: SiloConfig,
    /// Shipment grains (Orleans' `NumShipmentActors`, default 100).
    pub shipment_partitions: u32,
    /// Activate every grain of the data set at start, as vMODB loads every table at start, so
    /// that a measured window does not pay first activations (a long-running Orleans silo has
    /// its grains warm). Off, grains activate on their first message.
    pub warm_start: bool,
    /// Durability: log each writing operation's input to this file (created if missing,
    /// appended to) and report the operation only once its record is synced. `None`: no log.
    pub log: Option<PathBuf>,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            silo: SiloConfig::default(),
            shipment_partitions: 100,
            warm_start: true,
            log: None,
        }
    }
}

type ProductKey = (SellerId, ProductId);

/// The world every grain lives in: the silo, the initial data (grain "storage" at activation)
/// and one directory per grain type.
pub struct Market {
    silo: Silo,
    partitions: u32,
    initial_products: FxHashMap<ProductKey, Product>,
    initial_stock: FxHashMap<ProductKey, StockItem>,
    initial_customers: FxHashMap<CustomerId, Customer>,
    sellers_rows: Vec<Seller>,
    carts: Directory<CartGrain>,
    replicas: Directory<ReplicaGrain>,
    orders: Directory<OrderGrain>,
    payments: Directory<PaymentGrain>,
    customers: Directory<CustomerGrain>,
    products: Directory<ProductGrain>,
    stock: Directory<StockGrain>,
    sellers: Directory<SellerGrain>,
    shipments: Directory<ShipmentGrain>,
}

impl World for Market {
    fn silo(&self) -> &Silo {
        &self.silo
    }
}

impl Market {
    fn initial_product(&self, k: &ProductKey) -> Option<&Product> {
        self.initial_products.get(k)
    }
    fn initial_stock(&self, k: &ProductKey) -> Option<&StockItem> {
        self.initial_stock.get(k)
    }
    fn initial_customer(&self, c: CustomerId) -> Option<Customer> {
        self.initial_customers.get(&c).cloned()
    }
    /// The shipment partition of a customer (Orleans: customer id mod partitions).
    fn shipment_partition(&self, c: CustomerId) -> u32 {
        c % self.partitions
    }
}

/// What a finished operation adds to the run log.
enum Logged {
    Nothing,
    Checkout(u64, CustomerId, Option<CheckoutDone>),
    Price(u64, PriceUpdated),
    Replace(u64, ProductReplaced),
    Delivery(u64, Deliveries),
    Dashboard(Dashboard),
}

pub struct BaselineMarketplace {
    world: Arc<Market>,
    done_tx: Sender<(Done, Logged)>,
    done_rx: Receiver<(Done, Logged)>,
    in_flight: usize,
    next_partition: u32,
    log: RunLog,
    /// The durability log (`BaselineConfig::log`); dropping it syncs whatever is still queued.
    journal: Option<AppendLog>,
    /// Why the log failed, set by the first operation that could not be made durable.
    log_failure: Arc<OnceLock<String>>,
    /// Until when every effect of each operation of the measured window was applied.
    visibility: Arc<Visibility>,
}

impl BaselineMarketplace {
    pub fn start(data: &Dataset, config: BaselineConfig) -> Result<Self, String> {
        let journal = config.log.as_deref().map(durable::open).transpose()?;
        let silo = Silo::new(config.silo).map_err(|e| e.to_string())?;
        let by_key = |p: &Product| ((p.seller_id, p.product_id), p.clone());
        let world = Market {
            silo,
            partitions: config.shipment_partitions.max(1),
            initial_products: data.products.iter().map(by_key).collect(),
            initial_stock: data
                .stock_items
                .iter()
                .map(|s| ((s.seller_id, s.product_id), s.clone()))
                .collect(),
            initial_customers: data.customers.iter().map(|c| (c.id, c.clone())).collect(),
            sellers_rows: data.sellers.clone(),
            carts: Directory::default(),
            replicas: Directory::default(),
            orders: Directory::default(),
            payments: Directory::default(),
            customers: Directory::default(),
            products: Directory::default(),
            stock: Directory::default(),
            sellers: Directory::default(),
            shipments: Directory::default(),
        };
        let world = Arc::new(world);
        if config.warm_start {
            warm_start(&world);
        }
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        Ok(BaselineMarketplace {
            world,
            done_tx,
            done_rx,
            in_flight: 0,
            visibility: Arc::default(),
            next_partition: 0,
            log: RunLog::default(),
            journal,
            log_failure: Arc::default(),
        })
    }

    /// What the durability log has synced so far; `None` without a log.
    pub fn log_stats(&self) -> Option<AppendLogStats> {
        self.journal.as_ref().map(AppendLog::stats)
    }

    fn record(&mut self, logged: Logged) {
        let log = &mut self.log;
        match logged {
            Logged::Nothing => {}
            Logged::Checkout(tid, c, done) => log.checkouts.push((tid, c, done)),
            Logged::Price(tid, u) => log.price_updates.push((tid, u)),
            Logged::Replace(tid, u) => log.replacements.push((tid, u)),
            Logged::Delivery(tid, d) => log.deliveries.push((tid, d)),
            Logged::Dashboard(d) => log.dashboards.push(d),
        }
    }
}

/// Activates the grain of every key in the data set.
fn warm_start(w: &Arc<Market>) {
    let _runtime = w.silo.enter();
    for c in w.initial_customers.keys() {
        w.carts.activate(c, w);
        w.orders.activate(c, w);
        w.payments.activate(c, w);
        w.customers.activate(c, w);
    }
    for k in w.initial_products.keys() {
        w.products.activate(k, w);
        w.stock.activate(k, w);
        w.replicas.activate(k, w);
    }
    for s in &w.sellers_rows {
        w.sellers.activate(&s.id, w);
    }
    for p in 0..w.partitions {
        w.shipments.activate(&p, w);
    }
}

/// Runs one operation against the grains; returns its measured latency and log entry.
/// `submitted`: when the driver submitted the op (latency counts from there, as on vMODB).
async fn run_op(
    w: Arc<Market>,
    op: Op,
    partition: u32,
    submitted: Instant,
) -> (Duration, Result<Logged, String>) {
    let err = |e: baseline::SiloError| e.to_string();
    let start = submitted;
    let result = match op {
        Op::Session { items, checkout } => {
            let c = checkout.customer_id;
            let adds = AddItems {
                customer_id: c,
                items,
            };
            match ask::<CartGrain, _>(&w, &c, adds).await.map_err(err) {
                // vMODB's checkout latency also runs from the session's submission (add-items
                // and checkout are submitted together).
                Ok(Ok(())) => match ask::<CartGrain, _>(&w, &c, checkout).await.map_err(err) {
                    Ok(Ok((tid, done))) => Ok(Logged::Checkout(tid, c, done)),
                    Ok(Err(e)) | Err(e) => Err(e),
                },
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
        Op::PriceUpdate(u) => {
            let key = (u.seller_id, u.product_id);
            match ask::<ProductGrain, _>(&w, &key, u).await.map_err(err) {
                Ok(Ok((tid, out))) => Ok(Logged::Price(tid, out)),
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
        Op::ProductUpdate(u) => {
            let key = (u.seller_id, u.product_id);
            match ask::<ProductGrain, _>(&w, &key, u).await.map_err(err) {
                Ok(Ok((tid, out))) => Ok(Logged::Replace(tid, out)),
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
        Op::Delivery(u) => {
            // One partition per request, round robin: the same work per request as vMODB's
            // delivery (Orleans asks all partitions at once; see ARCHITECTURE.md).
            ask::<ShipmentGrain, _>(&w, &partition, u)
                .await
                .map_err(err)
                .map(|(tid, d)| {
                    if d.delivered.is_empty() {
                        Logged::Nothing
                    } else {
                        Logged::Delivery(tid, d)
                    }
                })
        }
        Op::Dashboard(seller) => ask::<SellerGrain, _>(&w, &seller, GetDashboard)
            .await
            .map_err(err)
            .map(Logged::Dashboard),
    };
    (start.elapsed(), result)
}

impl Probes for BaselineMarketplace {
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

impl MarketplaceSystem for BaselineMarketplace {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
        // A run's partition comes with its input when it has one (the same on both systems).
        let partition = match op {
            Op::Delivery(UpdateDelivery {
                partition: Some(p), ..
            }) => p % self.world.partitions,
            _ => self.next_partition,
        };
        if matches!(op, Op::Delivery(u) if u.partition.is_none()) {
            self.next_partition = (self.next_partition + 1) % self.world.partitions;
        }
        let submitted = Instant::now();
        // Logged as it starts; the grains need not wait for the sync, only the report does.
        let ticket = match &self.journal {
            Some(journal) => durable::record(id, op, partition)?.map(|r| journal.append(r)),
            None => None,
        };
        let (w, tx, op) = (Arc::clone(&self.world), self.done_tx.clone(), op.clone());
        let failure = Arc::clone(&self.log_failure);
        let effects = self.visibility.effects(submitted);
        self.in_flight += 1;
        self.world.silo.spawn(async move {
            let (mut latency, result) =
                baseline::traced(effects, run_op(w, op, partition, submitted)).await;
            let (mut result, logged) = match result {
                Ok(l) => (Ok(()), l),
                Err(e) => (Err(e), Logged::Nothing),
            };
            if let Some(ticket) = ticket {
                if let Err(e) = ticket.await {
                    // Not durable: reported failed, as vMODB never announces a commit it could
                    // not log. Its effects did happen, so the run log still records them.
                    let why = format!("operation {id} could not be made durable: {e}");
                    let _ = failure.set(why.clone());
                    result = Err(why);
                }
                latency = submitted.elapsed(); // the client hears of it only now
            }
            let done = Done::new(id, latency, result);
            let _ = tx.send((done, logged));
        });
        Ok(())
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        let mut out = Vec::new();
        if let Ok(first) = self.done_rx.recv_timeout(wait) {
            out.push(first);
            out.extend(self.done_rx.try_iter());
        }
        out.into_iter()
            .map(|(done, logged)| {
                self.in_flight -= 1;
                self.record(logged);
                done
            })
            .collect()
    }

    fn quiesce(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.in_flight > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            let Ok((_, logged)) = self.done_rx.recv_timeout(left) else {
                return false;
            };
            self.in_flight -= 1;
            self.record(logged);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.world.silo.quiesce(left)
    }

    fn state(&self) -> Result<MarketplaceState, String> {
        let w = &self.world;
        w.silo.block_on(dump(Arc::clone(w)))
    }

    fn log(&self) -> &RunLog {
        &self.log
    }

    fn customer_orders(&self) -> Result<Option<Vec<CustomerOrder>>, String> {
        let w = &self.world;
        w.silo.block_on(counters(Arc::clone(w))).map(Some)
    }

    fn fatal(&self) -> Option<String> {
        self.log_failure.get().cloned()
    }
}

/// Every order grain's next order id; as in vMODB's table, only customers who ordered have a row.
async fn counters(w: Arc<Market>) -> Result<Vec<CustomerOrder>, String> {
    let keys = w.orders.activated();
    let next = join_all(
        keys.iter()
            .map(|k| ask::<OrderGrain, _>(&w, k, NextOrderId)),
    )
    .await;
    let mut rows = Vec::new();
    for (customer_id, next_order_id) in keys.into_iter().zip(next) {
        let next_order_id = next_order_id.map_err(|e| e.to_string())?;
        if next_order_id > 1 {
            rows.push(CustomerOrder {
                customer_id,
                next_order_id,
            });
        }
    }
    rows.sort_by_key(|r| r.customer_id);
    Ok(rows)
}

/// Every activated grain's rows; grains never activated still hold their initial data.
async fn dump(w: Arc<Market>) -> Result<MarketplaceState, String> {
    async fn all<G>(w: &Arc<Market>) -> Result<FxHashMap<G::Key, G::Reply>, String>
    where
        G: Grain<World = Market> + Handles<Dump>,
    {
        let keys = G::directory(w).activated();
        let replies = join_all(keys.iter().map(|k| ask::<G, _>(w, k, Dump))).await;
        keys.into_iter()
            .zip(replies)
            .map(|(k, r)| r.map(|r| (k, r)).map_err(|e| e.to_string()))
            .collect()
    }
    let mut s = MarketplaceState {
        sellers: w.sellers_rows.clone(),
        ..MarketplaceState::default()
    };
    let customers = all::<CustomerGrain>(&w).await?;
    s.customers = w
        .initial_customers
        .values()
        .map(|c| customers.get(&c.id).cloned().unwrap_or_else(|| c.clone()))
        .collect();
    let products = all::<ProductGrain>(&w).await?;
    let stock = all::<StockGrain>(&w).await?;
    let replicas = all::<ReplicaGrain>(&w).await?;
    for (k, p) in &w.initial_products {
        let product = products
            .get(k)
            .cloned()
            .flatten()
            .unwrap_or_else(|| p.clone());
        s.products.push(product);
        let replica = match replicas.get(k) {
            Some(r) => r.clone(),
            None => Some(ReplicaProduct::from(p)),
        };
        s.replica_products.extend(replica);
        if let Some(initial) = w.initial_stock.get(k) {
            let row = stock.get(k).cloned().flatten();
            s.stock_items.push(row.unwrap_or_else(|| initial.clone()));
        }
    }
    s.cart_items = all::<CartGrain>(&w)
        .await?
        .into_values()
        .flatten()
        .collect();
    for (orders, items, history) in all::<OrderGrain>(&w).await?.into_values() {
        s.orders.extend(orders);
        s.order_items.extend(items);
        s.order_history.extend(history);
    }
    s.order_payments = all::<PaymentGrain>(&w)
        .await?
        .into_values()
        .flatten()
        .collect();
    for (shipments, packages) in all::<ShipmentGrain>(&w).await?.into_values() {
        s.shipments.extend(shipments);
        s.packages.extend(packages);
    }
    s.order_entries = all::<SellerGrain>(&w)
        .await?
        .into_values()
        .flatten()
        .collect();
    sort_state(&mut s);
    Ok(s)
}

/// Rows in key order, as vMODB's tables read them.
fn sort_state(s: &mut MarketplaceState) {
    use vmodb::Entity;
    fn by_key<E: Entity>(rows: &mut [E])
    where
        E::Key: Ord,
    {
        rows.sort_by_key(|r| r.key());
    }
    by_key(&mut s.sellers);
    by_key(&mut s.customers);
    by_key(&mut s.products);
    by_key(&mut s.stock_items);
    by_key(&mut s.cart_items);
    by_key(&mut s.replica_products);
    by_key(&mut s.orders);
    by_key(&mut s.order_items);
    by_key(&mut s.order_history);
    by_key(&mut s.order_payments);
    by_key(&mut s.shipments);
    by_key(&mut s.packages);
    by_key(&mut s.order_entries);
}
