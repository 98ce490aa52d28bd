//! The coordinator in a process of its own.

use super::spec::{ClusterSpec, NodeOptions, listen};
use crate::app::App;
use crate::deploy::client::Client;
use crate::deploy::cluster::{ClusterState, typed_query};
use crate::deploy::net::{Inbound, NetError, Peer, TcpTransport};
use crate::deploy::threads;
use crate::durability::data_dir;
use crate::model::error::{BootstrapError, QueryError};
use crate::model::schema::{Entity, Tid};
use crate::runtime::coordinator::{
    Coordinator, CoordinatorConfig, CoordinatorStats, Input, SequencedInput,
};
use crate::runtime::message::{
    Answer, Ask, BatchId, Control, ControlReply, Message, NodeId, NodeStats, ServiceId, Transport,
};
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an ask waits for its service's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(60);

/// A running coordinator process: sequencing, the commit protocol, and asks to services.
pub struct CoordinatorProcess {
    app: Arc<App>,
    coordinator: Arc<Coordinator>,
    transport: Arc<TcpTransport>,
    inbound: Arc<CoordinatorInbound>,
    thread: Option<JoinHandle<()>>,
}

impl CoordinatorProcess {
    /// Listens on the coordinator's address, connects to every service, and returns when every
    /// link is up (or with an error naming the nodes that did not come up in time).
    pub fn start(
        app: App,
        spec: &ClusterSpec,
        config: CoordinatorConfig,
        options: &NodeOptions,
    ) -> Result<CoordinatorProcess, BootstrapError> {
        Self::start_with(None, app, spec, config, options)
    }

    /// `start` on a listener bound already (to the coordinator's address in `spec`), e.g. by
    /// `ClusterSpec::bind_loopback` on a free port.
    pub fn start_on(
        listener: std::net::TcpListener,
        app: App,
        spec: &ClusterSpec,
        config: CoordinatorConfig,
        options: &NodeOptions,
    ) -> Result<CoordinatorProcess, BootstrapError> {
        Self::start_with(Some(listener), app, spec, config, options)
    }

    fn start_with(
        listener: Option<std::net::TcpListener>,
        app: App,
        spec: &ClusterSpec,
        config: CoordinatorConfig,
        options: &NodeOptions,
    ) -> Result<CoordinatorProcess, BootstrapError> {
        spec.check(&app)?;
        // A damaged or foreign log stops the coordinator before anything listens.
        let durable = match &options.data_dir {
            Some(dir) => Some(data_dir::open_log(
                &app,
                dir,
                config.log_segment_bytes,
                &options.state_settings,
                config.allow_new_build,
            )?),
            None => None,
        };
        let listener = match listener {
            Some(l) => l,
            None => listen(&spec.coordinator, "the coordinator")?,
        };
        let links = spec.links(&app, NodeId::Coordinator, options)?;
        let app = Arc::new(app);
        let (inbox, inbox_rx) = Coordinator::inbox_channel();
        let inbound = Arc::new(CoordinatorInbound {
            inbox: inbox.clone(),
            asks: Mutex::new(HashMap::new()),
            next_ask: AtomicU64::new(1),
            failure: Mutex::new(None),
            coordinator: std::sync::OnceLock::new(),
            restored: crossbeam_channel::unbounded(),
        });
        let transport = TcpTransport::start(links, listener, inbound.clone())
            .map_err(|e| BootstrapError(e.to_string()))?;
        if let Err(e) = transport.wait_ready(Instant::now() + options.connect_timeout) {
            transport.close(Some(format!("the coordinator gave up: {e}")));
            return Err(BootstrapError(format!("the cluster did not come up: {e}")));
        }
        let checkpoint = durable.as_ref().map_or((0, 0), |(_, plan)| plan.checkpoint);
        let fresh = durable
            .as_ref()
            .is_none_or(|(_, plan)| plan.last_batch == 0);
        if let Err(e) = restore_services(&app, &transport, &inbound, checkpoint, fresh) {
            transport.close(Some(format!("the coordinator gave up: {e}")));
            return Err(BootstrapError(e));
        }
        let (wal, plan) = match durable {
            Some((wal, plan)) => (Some((wal, plan.index.clone())), Some(plan)),
            None => (None, None),
        };
        let started = threads::start(&app, config, transport.clone(), (inbox, inbox_rx), wal);
        let (coordinator, thread) = match started {
            Ok(started) => started,
            Err(e) => {
                transport.close(Some(format!("the coordinator gave up: {e}")));
                return Err(e);
            }
        };
        // The inbound learns of the coordinator only now: until here, a lost link fails the
        // start instead (`wait_ready`, `restore_services`).
        let _ = inbound.coordinator.set(Arc::downgrade(&coordinator));
        if let Some(why) = inbound.failure.lock().clone() {
            // A link was lost between the restore and now: as `lost` would have done.
            coordinator.abandon();
            coordinator.shut_down();
            transport.close(Some(format!("the coordinator gave up: {why}")));
            return Err(BootstrapError(format!(
                "the cluster did not come up: {why}"
            )));
        }
        if let Some(plan) = plan
            && let Err(e) = coordinator.recover(&plan)
        {
            // The services hear why and stop, rather than wait for a coordinator that is gone.
            coordinator.shut_down();
            transport.close(Some(format!("the coordinator gave up: recovery: {e}")));
            return Err(BootstrapError(format!("recovery: {e}")));
        }
        Ok(CoordinatorProcess {
            app,
            coordinator,
            transport,
            inbound,
            thread: Some(thread),
        })
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// A client with its own completion stream.
    pub fn client(&self) -> Client {
        Client::new(Arc::clone(&self.coordinator))
    }

    /// Why the cluster stopped working (a lost service), if it did.
    pub fn failure(&self) -> Option<String> {
        let lost = self.inbound.failure.lock().clone();
        lost.or_else(|| self.coordinator.failure())
    }

    /// Asks service `service` and waits for its answer.
    fn ask(&self, service: &str, ask: Ask) -> Result<Answer, String> {
        let i = self
            .app
            .service_index(service)
            .ok_or_else(|| QueryError::UnknownService(service.to_string()).to_string())?;
        if let Some(f) = self.failure() {
            return Err(f);
        }
        // After a restart, a read waits for the commits clients heard of before it (the link
        // is FIFO: the service applies them before it answers).
        self.coordinator.recovered_for_read()?;
        let id = self.inbound.next_ask.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::bounded(1);
        {
            // Checked under the asks lock: `lost` sets the failure before it drains the asks,
            // so an ask either sees the failure here or is drained (never waits in vain).
            let mut asks = self.inbound.asks.lock();
            if let Some(f) = self.failure() {
                return Err(f);
            }
            asks.insert(id, tx);
        }
        let to = NodeId::Service(i as ServiceId);
        self.transport.send(
            NodeId::Coordinator,
            to,
            Message::Control(Control::Ask { id, ask }),
        );
        let answer = rx.recv_timeout(ASK_TIMEOUT);
        self.inbound.asks.lock().remove(&id);
        answer.unwrap_or_else(|_| {
            Err(self
                .failure()
                .unwrap_or_else(|| format!("service `{service}` did not answer in time")))
        })
    }

    /// Runs a read-only query at service `service` on its committed snapshot.
    pub fn query_raw(
        &self,
        service: &str,
        query: &str,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, QueryError> {
        crate::deploy::cluster::query_def(&self.app, service, query)?;
        let ask = Ask::Query {
            name: query.to_string(),
            input,
        };
        match self.ask(service, ask) {
            Ok(Answer::Query(out)) => Ok(out),
            Ok(other) => Err(QueryError::Remote(format!("unexpected answer {other:?}"))),
            Err(e) => Err(QueryError::Remote(e)),
        }
    }

    pub fn query<In: Serialize, Out: DeserializeOwned>(
        &self,
        service: &str,
        query: &str,
        input: &In,
    ) -> Result<Out, QueryError> {
        typed_query(query, input, |bytes| self.query_raw(service, query, bytes))
    }

    /// Every row of table `table` of service `service` at its committed watermark, encoded.
    pub fn table_raw(&self, service: &str, table: &str) -> Result<Vec<Vec<u8>>, QueryError> {
        let ask = Ask::Table {
            table: table.to_string(),
        };
        match self.ask(service, ask) {
            Ok(Answer::Table(rows)) => Ok(rows),
            Ok(other) => Err(QueryError::Remote(format!("unexpected answer {other:?}"))),
            Err(e) => Err(QueryError::Remote(e)),
        }
    }

    /// Every row of service `service`'s table of `E`, in key order.
    pub fn read_table<E: Entity>(&self, service: &str) -> Result<Vec<E>, QueryError> {
        let table = self.app.table_name_of::<E>(service)?;
        let rows = self.table_raw(service, &table)?;
        decode_rows(&table, &rows)
    }

    /// Every service's tables at its committed watermark.
    pub fn state(&self) -> Result<ClusterState, String> {
        let mut state = ClusterState::new();
        for s in self.app.service_names() {
            match self.ask(s, Ask::State)? {
                Answer::State(tables) => state.insert(s.to_string(), tables),
                other => return Err(format!("unexpected answer {other:?}")),
            };
        }
        Ok(state)
    }

    /// Every node's counters summed; the coordinator's own traffic included.
    pub fn node_stats(&self) -> Result<NodeStats, String> {
        let mut total = NodeStats {
            traffic: self.transport.traffic(),
            refused: self.transport.refused(),
            ..NodeStats::default()
        };
        for s in self.app.service_names() {
            match self.ask(s, Ask::Stats)? {
                Answer::Stats(n) => {
                    total.traffic = total.traffic + n.traffic;
                    total.mode_violations += n.mode_violations;
                    total.mode_examples.extend(n.mode_examples);
                    total.refused += n.refused;
                }
                other => return Err(format!("unexpected answer {other:?}")),
            }
        }
        Ok(total)
    }

    pub fn committed_inputs(&self) -> Vec<SequencedInput> {
        self.coordinator.committed_inputs()
    }

    pub fn stats(&self) -> CoordinatorStats {
        self.coordinator.stats()
    }

    /// Waits until every sequenced transaction committed (and its commit was sent).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.coordinator.wait_idle(Instant::now() + timeout)
    }

    /// Tells `watch` of every batch commit: (batch, max TID).
    pub fn watch_commits(&self, watch: Sender<(BatchId, Tid)>) {
        self.coordinator.watch_commits(watch);
    }

    /// Stops every service process, then this coordinator.
    pub fn shutdown(&self) {
        self.transport.stop();
        for i in 0..self.app.services.len() {
            let to = NodeId::Service(i as ServiceId);
            self.transport
                .send(NodeId::Coordinator, to, Message::Control(Control::Shutdown));
        }
        self.coordinator.shut_down();
    }
}

impl Drop for CoordinatorProcess {
    fn drop(&mut self) {
        self.transport.close(None);
        self.coordinator.shut_down();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.coordinator.stop_log();
    }
}

/// Decodes rows read from another process.
pub(crate) fn decode_rows<E: Entity>(table: &str, rows: &[Vec<u8>]) -> Result<Vec<E>, QueryError> {
    rows.iter()
        .map(|r| {
            postcard::from_bytes(r)
                .map_err(|e| QueryError::Remote(format!("a row of `{table}` does not decode: {e}")))
        })
        .collect()
}

struct CoordinatorInbound {
    inbox: Sender<Input>,
    asks: Mutex<HashMap<u64, Sender<Result<Answer, String>>>>,
    next_ask: AtomicU64,
    failure: Mutex<Option<String>>,
    /// Set once the coordinator is made (after the services restored their data).
    coordinator: std::sync::OnceLock<std::sync::Weak<Coordinator>>,
    /// `Restored` answers, read while the cluster starts.
    restored: (Sender<Restored>, crossbeam_channel::Receiver<Restored>),
}

/// A service's answer to `Restore`: who, and why it could not.
type Restored = (ServiceId, Option<String>);

/// How long services may take to load their data or restore their checkpoint.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(600);

/// Tells every service what to start from — the initial data, or checkpoint `(batch, tid)` —
/// and waits until all have (or one cannot, or is lost).
fn restore_services(
    app: &App,
    transport: &TcpTransport,
    inbound: &CoordinatorInbound,
    (batch, tid): (BatchId, Tid),
    fresh: bool,
) -> Result<(), String> {
    let rx = &inbound.restored.1;
    for i in 0..app.services.len() {
        let to = NodeId::Service(i as ServiceId);
        transport.send(
            NodeId::Coordinator,
            to,
            Message::Control(Control::Restore { batch, tid, fresh }),
        );
    }
    let deadline = Instant::now() + RESTORE_TIMEOUT;
    let mut left = app.services.len();
    while left > 0 {
        if let Some(f) = inbound.failure.lock().clone() {
            return Err(f);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((_, None)) => left -= 1,
            Ok((s, Some(e))) => {
                let name = app
                    .services
                    .get(s as usize)
                    .map_or("?", |s| s.name.as_str());
                return Err(format!("service `{name}` cannot start: {e}"));
            }
            Err(_) if Instant::now() > deadline => {
                return Err(format!("{left} services did not load their data in time"));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

impl Inbound for CoordinatorInbound {
    fn deliver(&self, _from: NodeId, message: Message) {
        match message {
            Message::ControlReply(ControlReply::Answer { id, answer }) => {
                if let Some(tx) = self.asks.lock().remove(&id) {
                    let _ = tx.send(answer);
                }
            }
            Message::ControlReply(ControlReply::Restored { service, error }) => {
                let _ = self.restored.0.send((service, error));
            }
            Message::ToCoordinator(m) => {
                let _ = self.inbox.send(Input::Message(m));
            }
            // The transport lets nothing else through to the coordinator (`may_travel`).
            other => tracing::warn!("coordinator dropped {}: not for it", other.kind()),
        }
    }

    /// A lost service leaves transactions that can never finish: the coordinator stops taking
    /// work, every waiting ask fails, and `failure` says why from now on.
    fn lost(&self, peer: &Peer, error: NetError) {
        let why = format!("lost {peer}: {error}");
        tracing::warn!("coordinator: {why}");
        self.failure.lock().get_or_insert(why.clone());
        if let Some(c) = self.coordinator.get().and_then(std::sync::Weak::upgrade) {
            c.abandon(); // clients waiting on a transaction hear nothing more: release them
            c.shut_down();
        }
        for (_, tx) in self.asks.lock().drain() {
            let _ = tx.send(Err(why.clone()));
        }
    }
}
