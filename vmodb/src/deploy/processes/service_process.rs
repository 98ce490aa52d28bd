//! One service in a process of its own.

use super::spec::{ClusterSpec, NodeOptions, listen};
use crate::app::App;
use crate::app::load::{Loader, build_store_for, load_store_for};
use crate::deploy::cluster::{encoded_rows_at, run_query_at};
use crate::deploy::net::{Inbound, NetError, Peer, TcpTransport};
use crate::deploy::threads::worker_pool;
use crate::durability::CheckpointDir;
use crate::durability::data_dir;
use crate::model::error::BootstrapError;
use crate::model::schema::Tid;
use crate::runtime::message::BatchId;
use crate::runtime::message::{
    Answer, Ask, Control, ControlReply, Message, NodeId, NodeStats, ServiceId, Transport,
};
use crate::runtime::node::ServiceNode;
use crate::storage::store::SnapshotPin;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::sync::{Arc, OnceLock, Weak};

/// Loads a service's share of the initial data (run only if there is no checkpoint to restore).
pub type LoadFn = Box<dyn FnOnce(&Loader) -> Result<(), BootstrapError> + Send>;

/// A running service process. `wait` blocks until it is told to stop or fails.
pub struct ServiceProcess {
    node: Arc<ServiceNode>,
    transport: Arc<TcpTransport>,
    exit: Receiver<Result<(), String>>,
}

impl ServiceProcess {
    /// Builds service `service`'s (empty) store, listens on its address and connects to every
    /// peer. Returns once started; peers may still be coming up. The coordinator then says
    /// what to start from (`Control::Restore`): the initial data, loaded with `load`, or a
    /// checkpoint in `options.data_dir`.
    pub fn start(
        app: App,
        spec: &ClusterSpec,
        service: &str,
        options: &NodeOptions,
        load: impl FnOnce(&Loader) -> Result<(), BootstrapError> + Send + 'static,
    ) -> Result<ServiceProcess, BootstrapError> {
        Self::start_with(None, app, spec, service, options, Box::new(load))
    }

    /// `start` on a listener bound already (to the service's address in `spec`), e.g. by
    /// `ClusterSpec::bind_loopback` on a free port.
    pub fn start_on(
        listener: std::net::TcpListener,
        app: App,
        spec: &ClusterSpec,
        service: &str,
        options: &NodeOptions,
        load: impl FnOnce(&Loader) -> Result<(), BootstrapError> + Send + 'static,
    ) -> Result<ServiceProcess, BootstrapError> {
        Self::start_with(Some(listener), app, spec, service, options, Box::new(load))
    }

    fn start_with(
        listener: Option<std::net::TcpListener>,
        app: App,
        spec: &ClusterSpec,
        service: &str,
        options: &NodeOptions,
        load: LoadFn,
    ) -> Result<ServiceProcess, BootstrapError> {
        spec.check(&app)?;
        let i = app.service_index(service).ok_or_else(|| {
            let known: Vec<&str> = app.service_names().collect();
            BootstrapError(format!(
                "unknown service `{service}` (the application has: {})",
                known.join(", ")
            ))
        })?;
        let me = NodeId::Service(i as ServiceId);
        let store = build_store_for(&app, i)?;
        let checkpoints = match &options.data_dir {
            Some(dir) => Some(data_dir::checkpoint_dir(
                &app,
                dir,
                i,
                &options.state_settings,
            )?),
            None => None,
        };
        let listener = match listener {
            Some(l) => l,
            None => listen(spec.address(&app, me), &format!("service `{service}`"))?,
        };
        let links = spec.links(&app, me, options)?;
        let app = Arc::new(app);
        let pool = worker_pool(options.workers)?;
        let node = Arc::new(ServiceNode::new(
            i as ServiceId,
            Arc::clone(&app),
            store,
            pool,
            options.check_modes,
        ));
        let (exit_tx, exit) = crossbeam_channel::bounded(1);
        let (asks, queued) = crossbeam_channel::unbounded();
        let inbound = Arc::new(ServiceInbound {
            me,
            node: Arc::clone(&node),
            transport: OnceLock::new(),
            exit: exit_tx,
            start: Mutex::new(Some((load, checkpoints))),
            asks,
        });
        let answering = Arc::downgrade(&inbound);
        std::thread::Builder::new()
            .name("vmodb-answer".into())
            .spawn(move || answer_loop(&answering, &queued))
            .map_err(|e| BootstrapError(format!("cannot start a thread: {e}")))?;
        let transport = TcpTransport::start(links, listener, inbound.clone())
            .map_err(|e| BootstrapError(e.to_string()))?;
        node.connect(transport.clone());
        // From here on the node can send: deliveries waiting for this may go on.
        let _ = inbound.transport.set(Arc::downgrade(&transport));
        Ok(ServiceProcess {
            node,
            transport,
            exit,
        })
    }

    /// Blocks until the coordinator says stop (`Ok`) or a peer is lost (`Err`, naming it).
    pub fn wait(&self) -> Result<(), String> {
        self.exit
            .recv()
            .unwrap_or_else(|_| Err("the service process lost its transport".into()))
    }

    pub fn service(&self) -> &str {
        &self.node.app.services[self.node.id as usize].name
    }

    pub fn traffic(&self) -> crate::deploy::net::Traffic {
        self.transport.traffic()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.transport.close(None);
        self.node.wait_checkpoint();
    }
}

struct ServiceInbound {
    me: NodeId,
    node: Arc<ServiceNode>,
    /// Set once the node is connected to the transport; a delivery that beats it waits.
    transport: OnceLock<Weak<TcpTransport>>,
    exit: Sender<Result<(), String>>,
    /// What `Restore` starts from; taken by the first one.
    start: Mutex<Option<(LoadFn, Option<CheckpointDir>)>>,
    /// Asks to answer, each with the snapshot pinned when it arrived (`on_ask`).
    asks: Sender<(u64, Ask, SnapshotPin)>,
}

impl ServiceInbound {
    /// Loads the initial data (`batch` 0) or restores checkpoint `batch`, once.
    fn restore(&self, batch: BatchId, tid: Tid, fresh: bool) -> Result<(), String> {
        let (load, checkpoints) = self
            .start
            .lock()
            .take()
            .ok_or("restored twice: the coordinator restarted without this service")?;
        let node = &self.node;
        let i = node.id as usize;
        let name = &node.app.services[i].name;
        if batch == 0 {
            if let Some(dir) = checkpoints.as_ref().filter(|_| fresh) {
                data_dir::check_fresh(dir, name).map_err(|e| e.0)?;
            }
            load_store_for(&node.app, i, &node.store, load).map_err(|e| e.to_string())?;
        } else {
            let dir = checkpoints.as_ref().ok_or_else(|| {
                format!("the coordinator recovers from checkpoint {batch}, and `{name}` has no data directory")
            })?;
            data_dir::restore(&node.store, dir, name, (batch, tid)).map_err(|e| e.to_string())?;
        }
        node.restart_at(tid);
        if let Some(dir) = checkpoints {
            node.keep_checkpoints(dir);
        }
        Ok(())
    }

    /// Answers `ask` at the snapshot pinned when it arrived: after every commit sent before it
    /// on the coordinator's link (a query sent after a client heard of a commit sees it).
    fn answer(node: &ServiceNode, pin: &SnapshotPin, ask: Ask) -> Result<Answer, String> {
        let service = node.app.services[node.id as usize].name.as_str();
        match ask {
            Ask::Query { name, input } => {
                run_query_at(&node.app, &node.store, pin.at, service, &name, &input)
                    .map(Answer::Query)
                    .map_err(|e| e.to_string())
            }
            Ask::Table { table } => encoded_rows_at(&node.store, &table, pin.at)
                .map(Answer::Table)
                .map_err(|e| e.to_string()),
            Ask::State => Ok(Answer::State(node.store.dump(pin.at))),
            Ask::Stats => Err("answered by the service process".into()),
        }
    }

    fn stats(&self) -> Answer {
        let node = &self.node;
        let traffic = self.transport().map(|t| t.traffic()).unwrap_or_default();
        let checker = node.checker.as_ref();
        Answer::Stats(NodeStats {
            traffic,
            mode_violations: checker.map_or(0, |c| c.count()),
            mode_examples: checker.map(|c| c.violations()).unwrap_or_default(),
            refused: node.refused.load(std::sync::atomic::Ordering::Relaxed)
                + self.transport().map_or(0, |t| t.refused()),
        })
    }

    /// Takes an ask off the link: its snapshot is pinned now, in link order (after every
    /// commit sent before it), and it is answered on the answering thread, so that a long
    /// query or dump never stops this link's reader (the coordinator's writes to it would
    /// stall, and time out). Counters are answered at once.
    fn on_ask(&self, id: u64, ask: Ask) {
        if let Ask::Stats = ask {
            let answer = Ok(self.stats());
            if let Some(t) = self.transport() {
                t.send(
                    self.me,
                    NodeId::Coordinator,
                    Message::ControlReply(ControlReply::Answer { id, answer }),
                );
            }
            return;
        }
        let pin = self.node.store.pin_snapshot();
        let _ = self.asks.send((id, ask, pin));
    }

    fn transport(&self) -> Option<Arc<TcpTransport>> {
        self.transport.get().and_then(Weak::upgrade)
    }
}

/// Answers asks one at a time, in arrival order, until the service process is gone.
fn answer_loop(inbound: &Weak<ServiceInbound>, queued: &Receiver<(u64, Ask, SnapshotPin)>) {
    while let Ok((id, ask, pin)) = queued.recv() {
        let Some(inbound) = inbound.upgrade() else {
            return;
        };
        let answer = ServiceInbound::answer(&inbound.node, &pin, ask);
        drop(pin);
        if let Some(t) = inbound.transport() {
            t.send(
                inbound.me,
                NodeId::Coordinator,
                Message::ControlReply(ControlReply::Answer { id, answer }),
            );
        }
    }
}

impl Inbound for ServiceInbound {
    fn deliver(&self, _from: NodeId, message: Message) {
        self.transport.wait(); // the node is connected (a moment after the transport starts)
        match message {
            Message::ToService(m) => self.node.on_message(m),
            Message::Control(Control::Ask { id, ask }) => self.on_ask(id, ask),
            Message::Control(Control::Restore { batch, tid, fresh }) => {
                let error = self.restore(batch, tid, fresh).err();
                if let Some(e) = &error {
                    tracing::warn!("service cannot start: {e}");
                }
                let message = Message::ControlReply(ControlReply::Restored {
                    service: self.node.id,
                    error,
                });
                if let Some(t) = self.transport() {
                    t.send(self.me, NodeId::Coordinator, message);
                }
            }
            Message::Control(Control::Shutdown) => {
                if let Some(t) = self.transport() {
                    t.close(None);
                }
                let _ = self.exit.try_send(Ok(()));
            }
            // The transport lets nothing else through to a service (`may_travel`).
            other => tracing::warn!("service dropped {}: not for it", other.kind()),
        }
    }

    fn lost(&self, peer: &Peer, error: NetError) {
        let why = match peer.id {
            NodeId::Coordinator => format!("lost the coordinator: {error}"),
            NodeId::Service(_) => format!("lost {peer}: {error}"),
        };
        // Fatal: tell every peer why this node stops, so the root cause travels.
        if let Some(t) = self.transport() {
            t.close(Some(format!(
                "service `{}` {why}",
                self.node.app.services[self.node.id as usize].name
            )));
        }
        let _ = self.exit.try_send(Err(why));
    }
}
