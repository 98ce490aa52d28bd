//! The embedded deployment: coordinator and every service in one process, talking through the
//! in-process transport, sharing one worker pool sized to the machine.

use crate::app::App;
pub use crate::app::load::Loader;
use crate::app::load::build_stores;
use crate::app::service::panic_message;
use crate::deploy::client::Client;
use crate::deploy::delay_line::{DelayLine, LinkDelay};
use crate::deploy::threads;
use crate::durability::data_dir::Opened;
use crate::model::error::{BootstrapError, QueryError, TxError};
use crate::model::schema::{Entity, Tid};
use crate::runtime::coordinator::{
    Coordinator, CoordinatorConfig, CoordinatorStats, Input, SequencedInput,
};
use crate::runtime::message::{Message, NodeId, ServiceId, Transport};
use crate::runtime::node::ServiceNode;
use crate::storage::store::{ServiceState, Store};
use crate::storage::tx::TxCtx;
use crossbeam_channel::Sender;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every service's tables: service name → table name → rows.
pub type ClusterState = BTreeMap<String, ServiceState>;

#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub coordinator: CoordinatorConfig,
    /// Worker threads shared by all services (default: the machine's cores).
    pub workers: usize,
    /// Record every task's row accesses and report concurrently running tasks whose accesses
    /// conflict, i.e. wrong `parallel` / `partition_by` declarations (costs speed; for tests and
    /// checked runs).
    pub check_modes: bool,
    /// Fault injection: delay every message to a service by a seeded random time, keeping each
    /// link's messages in send order (see `LinkDelay`). Messages cross a delay line per
    /// receiving service, each with a thread of its own; off (`None`), delivery is a direct
    /// call. With a delay, a client may hear of a commit before every service applied it:
    /// reads (`query`, `read_table`, `state`) wait until it has; `Cluster::wait_idle` waits
    /// for the lines to drain.
    pub link_delay: Option<LinkDelay>,
    /// Durability: the data directory. The coordinator logs every commit step there
    /// (`coordinator/`), synced before any client hears of the commit; every service writes
    /// checkpoints there (`<service>/`) every `CoordinatorConfig::checkpoint_every`. Starting
    /// on a directory that holds a log recovers: each service restores the last complete
    /// checkpoint (or `load`s the initial data if there is none) and the batches logged after
    /// it are re-executed before any new transaction. `load` must load the same data as the
    /// first time. A directory of another application, or a damaged one, is refused.
    pub data_dir: Option<std::path::PathBuf>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            coordinator: CoordinatorConfig::default(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            check_modes: false,
            link_delay: None,
            data_dir: None,
        }
    }
}

/// Runs read-only query `query` of service `service` on `store`'s committed snapshot.
pub(crate) fn run_query(
    app: &App,
    store: &Arc<Store>,
    service: &str,
    query: &str,
    input: &[u8],
) -> Result<Vec<u8>, QueryError> {
    let pin = store.pin_snapshot();
    run_query_at(app, store, pin.at, service, query, input)
}

/// `run_query` on the snapshot at `at`, which the caller keeps pinned.
pub(crate) fn run_query_at(
    app: &App,
    store: &Store,
    at: Tid,
    service: &str,
    query: &str,
    input: &[u8],
) -> Result<Vec<u8>, QueryError> {
    let def = query_def(app, service, query)?;
    let ctx = TxCtx::snapshot(store, at);
    Ok(catch_unwind(AssertUnwindSafe(|| (def.run)(&ctx, input)))
        .unwrap_or_else(|p| Err(TxError::Panic(panic_message(&p))))?)
}

/// The declaration of query `query` of service `service`.
pub(crate) fn query_def<'a>(
    app: &'a App,
    service: &str,
    query: &str,
) -> Result<&'a crate::app::service::QueryDef, QueryError> {
    let i = app
        .service_index(service)
        .ok_or_else(|| QueryError::UnknownService(service.to_string()))?;
    app.services[i]
        .queries
        .iter()
        .find(|q| q.name == query)
        .ok_or_else(|| QueryError::UnknownQuery {
            service: service.to_string(),
            query: query.to_string(),
        })
}

/// The services' stores to start from: with a data directory, its log opened and every store
/// restored from the last checkpoint (or loaded with `load` before there is one); without, loaded
/// with `load`.
pub(crate) fn open_stores(
    app: &App,
    data_dir: Option<&std::path::Path>,
    config: &CoordinatorConfig,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
) -> Result<(Option<Opened>, Vec<Arc<Store>>), BootstrapError> {
    let Some(dir) = data_dir else {
        return Ok((None, build_stores(app, load)?));
    };
    let opened = Opened::open(app, dir, config.log_segment_bytes, config.allow_new_build)?;
    let stores = opened.stores(app, load)?;
    Ok((Some(opened), stores))
}

/// Resumes from a data directory: each node keeps its checkpoints in `dirs` and follows the
/// plan's checkpoint; the coordinator (made with the commit log) re-executes what the log holds
/// after it.
pub(crate) fn recover(
    nodes: &[Arc<ServiceNode>],
    coordinator: &Arc<Coordinator>,
    dirs: Vec<crate::durability::CheckpointDir>,
    plan: &crate::durability::RecoveryPlan,
) -> Result<(), BootstrapError> {
    for (node, dir) in nodes.iter().zip(dirs) {
        node.keep_checkpoints(dir);
        node.restart_at(plan.checkpoint.1);
    }
    coordinator
        .recover(plan)
        .map_err(|e| BootstrapError(format!("recovery: {e}")))
}

/// Delivers by direct call, or through the delay line when `link_delay` is set; nodes are held
/// weakly so dropping the cluster frees them.
struct InProcess {
    services: Vec<Weak<ServiceNode>>,
    coordinator: Sender<Input>,
    /// One line per receiving service (its own delivery thread), ordered per sender, as a TCP
    /// connection would be: `delay_lines[to]`, link `sender(from)`. Empty: no injected delay.
    delay_lines: Vec<DelayLine<Message>>,
}

impl InProcess {
    /// The sender's index on a receiver's line; the coordinator sends as node `n`.
    fn sender(&self, from: NodeId) -> usize {
        match from {
            NodeId::Service(i) => i as usize,
            NodeId::Coordinator => self.services.len(),
        }
    }
}

impl Transport for InProcess {
    fn send(&self, from: NodeId, to: NodeId, message: Message) {
        match to {
            // Never delayed: the coordinator stands for the client-facing front door, and the
            // delay models the network between services (what services report to the front door
            // is not service-to-service traffic).
            NodeId::Coordinator => match message {
                Message::ToCoordinator(m) => {
                    let _ = self.coordinator.send(Input::Message(m));
                }
                other => tracing::warn!("coordinator dropped {}: not for it", other.kind()),
            },
            NodeId::Service(i) => match self.delay_lines.get(i as usize) {
                None => deliver(&self.services, i, message),
                Some(line) => {
                    if let Some(due) = line.send(self.sender(from), message) {
                        deliver(&self.services, i, due);
                    }
                }
            },
        }
    }
}

fn deliver(services: &[Weak<ServiceNode>], i: ServiceId, message: Message) {
    let Message::ToService(m) = message else {
        // Embedded, nothing else is sent to a service (no process around it).
        return tracing::warn!("service #{i} dropped {}: not for it", message.kind());
    };
    match services.get(i as usize).and_then(Weak::upgrade) {
        Some(node) => node.on_message(m),
        None => tracing::warn!("message for unknown or stopped service #{i} dropped"),
    }
}

pub struct Cluster {
    app: Arc<App>,
    nodes: Vec<Arc<ServiceNode>>,
    coordinator: Arc<Coordinator>,
    transport: Arc<InProcess>,
    thread: Option<JoinHandle<()>>,
}

impl Cluster {
    /// Starts an embedded cluster after loading the initial data with `load`.
    pub fn start(
        app: App,
        config: ClusterConfig,
        load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    ) -> Result<Cluster, BootstrapError> {
        let (durable, stores) =
            open_stores(&app, config.data_dir.as_deref(), &config.coordinator, load)?;
        let app = Arc::new(app);
        let pool = threads::worker_pool(config.workers)?;
        let nodes =
            ServiceNode::for_stores(&app, stores, |_| Arc::clone(&pool), config.check_modes);
        let (inbox, inbox_rx) = Coordinator::inbox_channel();
        let services: Vec<Weak<ServiceNode>> = nodes.iter().map(Arc::downgrade).collect();
        let mut delay_lines = Vec::new();
        if let Some(delay) = config.link_delay {
            for i in 0..nodes.len() {
                let targets = services.clone();
                let senders = nodes.len() + 1;
                // Each receiver draws from its own seeded stream.
                let seeded = LinkDelay {
                    seed: delay.seed ^ ((i as u64 + 1) << 32),
                    ..delay
                };
                let line = DelayLine::start(seeded, senders, move |_, message| {
                    deliver(&targets, i as ServiceId, message)
                });
                delay_lines.push(
                    line.map_err(|e| BootstrapError(format!("cannot start a delay line: {e}")))?,
                );
            }
        }
        let transport = Arc::new(InProcess {
            services,
            coordinator: inbox.clone(),
            delay_lines,
        });
        for n in &nodes {
            n.connect(transport.clone());
        }
        let (wal, recovery) = match durable {
            Some(Opened { wal, plan, dirs }) => {
                (Some((wal, plan.index.clone())), Some((plan, dirs)))
            }
            None => (None, None),
        };
        let (coordinator, thread) = threads::start(
            &app,
            config.coordinator,
            transport.clone(),
            (inbox, inbox_rx),
            wal,
        )?;
        let cluster = Cluster {
            app,
            nodes,
            coordinator,
            transport,
            thread: Some(thread),
        };
        if let Some((plan, dirs)) = recovery {
            // On failure, dropping the cluster stops its threads and the log.
            recover(&cluster.nodes, &cluster.coordinator, dirs, &plan)?;
        }
        Ok(cluster)
    }

    /// A client with its own completion stream.
    pub fn client(&self) -> Client {
        Client::new(Arc::clone(&self.coordinator))
    }

    /// Answers a read-only query at service `service` from its last committed snapshot, at once.
    pub fn query<In: Serialize, Out: DeserializeOwned>(
        &self,
        service: &str,
        query: &str,
        input: &In,
    ) -> Result<Out, QueryError> {
        typed_query(query, input, |bytes| self.query_raw(service, query, bytes))
    }

    /// `query` with the input and the answer encoded.
    pub fn query_raw(
        &self,
        service: &str,
        query: &str,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, QueryError> {
        let i = self.service(service)?;
        run_query(&self.app, &self.nodes[i].store, service, query, &input)
    }

    /// The index of service `name`, once it applied every commit announced so far. Without an
    /// injected delay that is at once (commits are applied before anyone hears of them); with
    /// one, a commit reaches a service after its clients heard of it, so a read waits (up to
    /// 30 s) until it has: a read after a commit sees it, with or without injection.
    fn service(&self, name: &str) -> Result<usize, QueryError> {
        let i = self
            .app
            .service_index(name)
            .ok_or_else(|| QueryError::UnknownService(name.to_string()))?;
        self.coordinator
            .recovered_for_read()
            .map_err(QueryError::Remote)?;
        if !self.transport.delay_lines.is_empty() {
            let want = self.coordinator.announced();
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.nodes[i].store.watermark() < want && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(i)
    }

    /// The injected delays every message to a service got (µs; `None` without `link_delay`).
    pub fn injected_delays(&self) -> Option<hdrhistogram::Histogram<u64>> {
        let mut lines = self.transport.delay_lines.iter();
        let mut all = lines.next()?.delays();
        for line in lines {
            let _ = all.add(line.delays());
        }
        Some(all)
    }

    /// Why the coordinator stopped by itself, if it did (its commit log failed).
    pub fn coordinator_failure(&self) -> Option<String> {
        self.coordinator.failure()
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Every row of table `table` of service `service` at its committed watermark, each
    /// encoded as its entity.
    pub fn table_raw(&self, service: &str, table: &str) -> Result<Vec<Vec<u8>>, QueryError> {
        let i = self.service(service)?;
        encoded_rows(&self.nodes[i].store, table)
    }

    /// Tells `watch` of every batch commit: (batch, max TID).
    pub fn watch_commits(&self, watch: Sender<(crate::runtime::message::BatchId, Tid)>) {
        self.coordinator.watch_commits(watch);
    }

    /// Every row of service `service`'s table of `E` at its committed watermark, in key order.
    pub fn read_table<E: Entity>(&self, service: &str) -> Result<Vec<E>, QueryError> {
        let i = self.service(service)?;
        let store = &self.nodes[i].store;
        let pin = store.pin_snapshot();
        let ctx = TxCtx::snapshot(store, pin.at);
        Ok(ctx.table::<E>()?.all().rows()?)
    }

    /// Waits until nothing is in flight: every sequenced transaction has committed and every
    /// service has applied the commits (with `link_delay`, the delay line is empty).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // In this order: once the coordinator is idle, every commit message is in the line.
        self.coordinator.wait_idle(deadline)
            && (self.transport.delay_lines.iter()).all(|l| l.wait_drained(deadline))
    }

    /// Every service's tables at its committed watermark (each read from a pinned snapshot,
    /// so garbage collection after a concurrent commit cannot take a version it reads).
    pub fn state(&self) -> ClusterState {
        for s in self.app.service_names() {
            let _ = self.service(s);
        }
        self.nodes
            .iter()
            .zip(&self.app.services)
            .map(|(n, s)| {
                let pin = n.store.pin_snapshot();
                (s.name.clone(), n.store.dump(pin.at))
            })
            .collect()
    }

    /// The inputs of committed batches, in TID order (needs `record_inputs`).
    pub fn committed_inputs(&self) -> Vec<SequencedInput> {
        self.coordinator.committed_inputs()
    }

    pub fn stats(&self) -> ClusterStats {
        ClusterStats {
            coordinator: self.coordinator.stats(),
            versions: self.nodes.iter().map(|n| n.store.version_count()).sum(),
            index_entries: self.nodes.iter().map(|n| n.store.index_entry_count()).sum(),
            waiting: self.nodes.iter().map(|n| n.waiting()).sum(),
            refused: self
                .nodes
                .iter()
                .map(|n| n.refused.load(std::sync::atomic::Ordering::Relaxed))
                .sum(),
            watermark: self
                .nodes
                .iter()
                .map(|n| n.store.watermark())
                .min()
                .unwrap_or(0),
        }
    }

    /// Conflicts the mode checker saw (`check_modes`): how many, and the first few described.
    pub fn mode_violations(&self) -> (u64, Vec<String>) {
        let checkers = self.nodes.iter().filter_map(|n| n.checker.as_ref());
        checkers.fold((0, Vec::new()), |(n, mut all), c| {
            all.extend(c.violations());
            (n + c.count(), all)
        })
    }

    /// Sends a raw message through the transport, as a (possibly broken) peer would.
    pub fn inject(&self, to: NodeId, message: Message) {
        self.transport.send(NodeId::Coordinator, to, message);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.coordinator.shut_down();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.coordinator.stop_log();
        for node in &self.nodes {
            node.wait_checkpoint();
        }
        // The transport may outlive the cluster (clients keep the coordinator); its delay line
        // must not: stop its thread now.
        for line in &self.transport.delay_lines {
            line.stop();
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClusterStats {
    pub coordinator: CoordinatorStats,
    /// Row versions held by all stores (live rows plus garbage not yet collected).
    pub versions: usize,
    pub index_entries: usize,
    /// Tasks that arrived but wait for their predecessor.
    pub waiting: usize,
    /// Envelopes refused as malformed.
    pub refused: u64,
    /// The lowest committed watermark across services.
    pub watermark: Tid,
}

/// Encodes `input`, runs `raw`, decodes the answer: a typed query over an encoded one.
pub(crate) fn typed_query<In: Serialize, Out: DeserializeOwned>(
    query: &str,
    input: &In,
    raw: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, QueryError>,
) -> Result<Out, QueryError> {
    let bytes = postcard::to_allocvec(input).map_err(|e| TxError::Encode {
        event: query.to_string(),
        detail: e.to_string(),
    })?;
    let out = raw(bytes)?;
    postcard::from_bytes(&out).map_err(|e| {
        QueryError::Failed(TxError::Decode {
            event: query.to_string(),
            detail: e.to_string(),
        })
    })
}

/// Every row of table `table` in `store` at its committed watermark, encoded.
pub(crate) fn encoded_rows(store: &Arc<Store>, table: &str) -> Result<Vec<Vec<u8>>, QueryError> {
    let pin = store.pin_snapshot();
    encoded_rows_at(store, table, pin.at)
}

/// `encoded_rows` at `at`, which the caller keeps pinned.
pub(crate) fn encoded_rows_at(
    store: &Store,
    table: &str,
    at: Tid,
) -> Result<Vec<Vec<u8>>, QueryError> {
    let t = store
        .table_by_name(table)
        .ok_or_else(|| QueryError::Failed(TxError::UnknownTable(table.to_string())))?;
    Ok(t.dump_encoded(at))
}
