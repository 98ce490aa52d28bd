//! The marketplace on vMODB, embedded: one cluster with the eight services.

use super::driver::{CommitTiming, Done, MarketplaceSystem};
use super::generator::{Dataset, Op};
use super::model::*;
use super::services::{self, ADD_ITEMS, CHECKOUT, PRICE_UPDATE, PRODUCT_UPDATE, UPDATE_DELIVERY};
use super::{MarketplaceState, RunLog};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmodb::{
    BootstrapError, Client, Cluster, ClusterConfig, Completion, Loader, Outcome, ReplayCheck,
    check_serial_replay,
};

/// Loads a data set into the marketplace services (also used by serial replay).
pub fn loader(data: &Dataset) -> impl FnOnce(&Loader) -> Result<(), BootstrapError> + '_ {
    move |l: &Loader| {
        l.insert("seller", data.sellers.iter().cloned())?;
        l.insert("customer", data.customers.iter().cloned())?;
        l.insert("product", data.products.iter().cloned())?;
        l.insert("stock", data.stock_items.iter().cloned())?;
        l.insert("product", data.products.iter().map(IngestedProduct::from))?;
        l.insert("stock", data.stock_items.iter().map(IngestedStock::from))?;
        l.insert("cart", data.products.iter().map(ReplicaProduct::from))
    }
}

enum Pending {
    /// `customer`: the session's customer, for checkouts.
    Op {
        id: u64,
        kind: &'static str,
        customer: CustomerId,
    },
    /// An add-to-cart of a session: not measured.
    AddItem,
}

pub struct VmodbMarketplace {
    cluster: Arc<Cluster>,
    client: Client,
    pending: HashMap<u64, Pending>,
    ready: Vec<Done>,
    log: RunLog,
    /// Dashboards run on a thread of their own, as the baseline runs them on a worker: the
    /// driver goes on submitting while one reads.
    dashboards: Dashboards,
}

/// A dashboard's answer: the op's id, the query's own latency, the dashboard or the error.
type DashboardDone = (u64, Duration, Result<Dashboard, String>);

struct Dashboards {
    /// `None` once stopping: the thread ends when its queue closes.
    ask: Option<crossbeam_channel::Sender<(u64, SellerId)>>,
    answers: crossbeam_channel::Receiver<DashboardDone>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dashboards {
    fn start(cluster: Arc<Cluster>) -> Result<Self, String> {
        let (ask, asks) = crossbeam_channel::unbounded::<(u64, SellerId)>();
        let (answer, answers) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("vmodb-dashboards".into())
            .spawn(move || {
                for (id, seller) in asks {
                    let start = Instant::now();
                    let d = cluster.query::<SellerId, Dashboard>("seller", "dashboard", &seller);
                    let _ = answer.send((id, start.elapsed(), d.map_err(|e| e.to_string())));
                }
            })
            .map_err(|e| format!("cannot start the dashboard thread: {e}"))?;
        Ok(Dashboards {
            ask: Some(ask),
            answers,
            thread: Some(thread),
        })
    }
}

impl Drop for Dashboards {
    fn drop(&mut self) {
        self.ask.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl VmodbMarketplace {
    pub fn start(data: &Dataset, config: ClusterConfig) -> Result<Self, String> {
        let app = services::app().map_err(|e| e.to_string())?;
        let cluster = Cluster::start(app, config, loader(data)).map_err(|e| e.to_string())?;
        let client = cluster.client();
        let cluster = Arc::new(cluster);
        Ok(VmodbMarketplace {
            dashboards: Dashboards::start(Arc::clone(&cluster))?,
            cluster,
            client,
            pending: HashMap::new(),
            ready: Vec::new(),
            log: RunLog::default(),
        })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Does the state equal the serial replay of the committed inputs? (needs `record_inputs`)
    pub fn matches_serial_replay(&self, data: &Dataset) -> Result<ReplayCheck, String> {
        let app = services::app().map_err(|e| e.to_string())?;
        let inputs = self.cluster.committed_inputs();
        check_serial_replay(&app, loader(data), &inputs, &self.cluster.state())
            .map_err(|e| e.to_string())
    }

    fn encode<T: serde::Serialize>(name: &str, v: &T) -> Result<(String, Vec<u8>), String> {
        postcard::to_allocvec(v)
            .map(|b| (name.to_string(), b))
            .map_err(|e| e.to_string())
    }

    fn on_completion(&mut self, c: Completion) {
        let Some(p) = self.pending.remove(&c.tid) else {
            return;
        };
        let Pending::Op { id, kind, customer } = p else {
            return;
        };
        let result = match &c.outcome {
            Outcome::Aborted { service, error } => Err(format!("{service}: {error}")),
            Outcome::Committed { output } => {
                self.record(kind, c.tid, customer, output.as_ref());
                Ok(())
            }
        };
        self.ready.push(Done {
            commit: Some(commit_timing(&c)),
            ..Done::new(id, c.latency, result)
        });
    }

    fn on_dashboard(&mut self, (id, latency, answer): DashboardDone) {
        let result = answer.map(|d| self.log.dashboards.push(d));
        self.ready.push(Done::new(id, latency, result));
    }

    fn record(
        &mut self,
        kind: &str,
        tid: u64,
        customer: CustomerId,
        output: Option<&vmodb::Output>,
    ) {
        let log = &mut self.log;
        match kind {
            "customer_checkout" => {
                let done = output.and_then(|o| o.decode::<CheckoutDone>().ok());
                log.checkouts.push((tid, customer, done));
            }
            "price_update" => {
                if let Some(u) = output.and_then(|o| o.decode::<PriceUpdated>().ok()) {
                    log.price_updates.push((tid, u));
                }
            }
            "update_product" => {
                if let Some(u) = output.and_then(|o| o.decode::<ProductReplaced>().ok()) {
                    log.replacements.push((tid, u));
                }
            }
            "update_delivery" => {
                if let Some(d) = output.and_then(|o| o.decode::<Deliveries>().ok()) {
                    log.deliveries.push((tid, d));
                }
            }
            _ => {}
        }
    }
}

impl crate::probes::Probes for VmodbMarketplace {
    fn injected_delays(&self) -> Option<hdrhistogram::Histogram<u64>> {
        self.cluster().injected_delays()
    }
}

impl MarketplaceSystem for VmodbMarketplace {
    fn name(&self) -> &'static str {
        "vmodb"
    }

    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
        let (inputs, kind) = match op {
            Op::Session { items, checkout } => {
                let adds = AddItems {
                    customer_id: checkout.customer_id,
                    items: items.clone(),
                };
                (
                    vec![
                        Self::encode(ADD_ITEMS, &adds)?,
                        Self::encode(CHECKOUT, checkout)?,
                    ],
                    op.kind(),
                )
            }
            Op::PriceUpdate(u) => (vec![Self::encode(PRICE_UPDATE, u)?], op.kind()),
            Op::ProductUpdate(u) => (vec![Self::encode(PRODUCT_UPDATE, u)?], op.kind()),
            Op::Delivery(u) => (vec![Self::encode(UPDATE_DELIVERY, u)?], op.kind()),
            Op::Dashboard(seller) => {
                let ask = self.dashboards.ask.as_ref().ok_or("stopping")?;
                ask.send((id, *seller))
                    .map_err(|_| "the dashboard thread is gone".to_string())?;
                return Ok(());
            }
        };
        let tids = self.client.submit_all(inputs).map_err(|e| e.to_string())?;
        let (last, adds) = tids.split_last().ok_or("nothing submitted")?;
        for t in adds {
            self.pending.insert(*t, Pending::AddItem);
        }
        let customer = match op {
            Op::Session { checkout, .. } => checkout.customer_id,
            _ => 0,
        };
        self.pending
            .insert(*last, Pending::Op { id, kind, customer });
        Ok(())
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        if self.ready.is_empty() {
            crossbeam_channel::select! {
                recv(self.client.completions()) -> c => {
                    if let Ok(c) = c {
                        self.on_completion(c);
                    }
                }
                recv(self.dashboards.answers) -> a => {
                    if let Ok(a) = a {
                        self.on_dashboard(a);
                    }
                }
                default(wait) => {}
            }
        }
        while let Ok(c) = self.client.completions().try_recv() {
            self.on_completion(c);
        }
        while let Ok(a) = self.dashboards.answers.try_recv() {
            self.on_dashboard(a);
        }
        std::mem::take(&mut self.ready)
    }

    fn quiesce(&mut self, timeout: Duration) -> bool {
        let ok = self.cluster.wait_idle(timeout);
        while let Ok(c) = self.client.completions().try_recv() {
            self.on_completion(c);
        }
        ok
    }

    fn state(&self) -> Result<MarketplaceState, String> {
        let c = &self.cluster;
        let e = |e: vmodb::QueryError| e.to_string();
        Ok(MarketplaceState {
            sellers: c.read_table("seller").map_err(e)?,
            customers: c.read_table("customer").map_err(e)?,
            products: c.read_table("product").map_err(e)?,
            stock_items: c.read_table("stock").map_err(e)?,
            cart_items: c.read_table("cart").map_err(e)?,
            replica_products: c.read_table("cart").map_err(e)?,
            orders: c.read_table("order").map_err(e)?,
            order_items: c.read_table("order").map_err(e)?,
            order_history: c.read_table("order").map_err(e)?,
            order_payments: c.read_table("payment").map_err(e)?,
            shipments: c.read_table("shipment").map_err(e)?,
            packages: c.read_table("shipment").map_err(e)?,
            order_entries: c.read_table("seller").map_err(e)?,
            cart_history: c.read_table("cart").map_err(e)?,
        })
    }

    fn log(&self) -> &RunLog {
        &self.log
    }

    fn customer_orders(&self) -> Result<Option<Vec<CustomerOrder>>, String> {
        let rows = self
            .cluster
            .read_table("order")
            .map_err(|e| e.to_string())?;
        Ok(Some(rows))
    }
}

/// Where a committed transaction's latency went, from its completion.
pub(crate) fn commit_timing(c: &Completion) -> CommitTiming {
    CommitTiming {
        split: c
            .executed
            .filter(|e| *e <= c.latency)
            .map(|e| (e, c.latency - e)),
        batch: c.batch,
        batch_interval: c.batch_interval,
    }
}
