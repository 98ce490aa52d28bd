//! The deterministic simulator: the coordinator, every service node and the network in one
//! thread, under one seed.
//!
//! The engine's runtime is state machines driven by deliveries (a node's `on_message`, the
//! coordinator's `step`) and by pool jobs. Here nothing runs on its own: messages wait in
//! per-link FIFO queues (as TCP keeps them), pool jobs wait in a list, and each `Sim::step`
//! takes one action the seed picks — deliver the head of some link, run some queued job, fire
//! the batch timer (seal the open batch), or send a read that checks the service is neither
//! behind what clients were told nor inside a batch. So every interleaving the deployment
//! allows across links, workers and timers can come up, and a seed replays the same one
//! exactly (`trace` fingerprints it).
//!
//! With a data directory the commit log has no thread either: a step may sync what was
//! appended (group commit) or run the next continuation of a synced record (announcing a
//! commit), and checkpoints are written by jobs. A crash (`crash`, when `may_crash` says the
//! engine allows one) drops everything in memory — queued messages, jobs, continuations not
//! run — and of the records appended and not synced, a prefix of their bytes may reach the log
//! (a torn last record); `start` on the same directory recovers.
//!
//! Per seed, the weights of those actions are drawn too (swarm testing): some seeds seal often,
//! some let batches grow, some starve a link. Virtual time advances a few µs per step and is
//! the transactions' clock. A submit that would wait for admission is not made
//! (`try_submit`); the client tries again later. Not simulated: a full disk (the WAL's own
//! tests cover it), a link that drops, one node crashing alone (the engine restarts the whole
//! cluster).

use crate::app::App;
use crate::app::load::Loader;
use crate::deploy::cluster::{ClusterState, open_stores, recover};
use crate::durability::data_dir::Opened;
use crate::durability::writer::{CommitLog, SimLog};
use crate::model::error::{BootstrapError, QueryError, SubmitError};
use crate::model::schema::{Entity, Tid};
use crate::runtime::clock::Clock;
use crate::runtime::coordinator::{
    Coordinator, CoordinatorConfig, CoordinatorStats, Input, Notifier, Request, SequencedInput,
    Wiring,
};
use crate::runtime::message::{Ask, BatchId, Control, Message, NodeId, ServiceId, Transport};
use crate::runtime::node::{ServiceNode, WorkerPool};
use crate::storage::tx::TxCtx;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod faults;
mod jobs;
mod net;
mod rng;

use jobs::{SimExecutor, SimJobs};
use net::{COORDINATOR, SimNet, tag};

pub use faults::{Crash, Failure};
pub use rng::SimRng;

/// The simulation's time: `EPOCH_US` plus what the steps advanced it by.
struct VirtualClock(Arc<AtomicU64>);

impl Clock for VirtualClock {
    fn wall_us(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn mono_us(&self) -> u64 {
        self.0.load(Ordering::Relaxed) - EPOCH_US
    }
}

/// What a simulation runs with.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Picks every choice the simulation makes (and nothing else does).
    pub seed: u64,
    pub coordinator: CoordinatorConfig,
    /// Workers the pool pretends to have: with two or more, a job hands half of its queue to
    /// another job (as a busy worker does for an idle one).
    pub workers: usize,
    /// Run the mode checker (it sees no overlap here: simulated tasks run one at a time).
    pub check_modes: bool,
    /// Durability: the commit log and checkpoints there (`ClusterConfig::data_dir`); starting
    /// on a directory that holds a log recovers.
    pub data_dir: Option<std::path::PathBuf>,
}

/// Virtual time starts here (1 January 2026, in µs since the Unix epoch).
const EPOCH_US: u64 = 1_767_225_600_000_000;

/// Reads in flight at most.
const MAX_READS: usize = 4;

/// The kinds of action a step may take, and their weights for this seed.
#[derive(Clone, Copy, Debug)]
struct Weights {
    deliver: u64,
    run: u64,
    seal: u64,
    read: u64,
    sync: u64,
    announce: u64,
}

/// One cluster under simulation. See the module docs.
pub struct Sim {
    app: Arc<App>,
    nodes: Vec<Arc<ServiceNode>>,
    coordinator: Arc<Coordinator>,
    inbox: Receiver<Input>,
    commits: Receiver<(BatchId, Tid)>,
    net: Arc<SimNet>,
    jobs: Arc<SimJobs>,
    /// The commit log's writer (with a data directory).
    log: Option<Arc<SimLog>>,
    /// This start recovered commits logged before it (after a crash).
    recovered: bool,
    /// Restarts logged between the batches this start re-executes.
    restarts_between: usize,
    rng: SimRng,
    weights: Weights,
    now_us: Arc<AtomicU64>,
    /// The max TID of the last commit announced (what clients may have heard of).
    heard: Tid,
    /// The max TID of every batch announced: a service's watermark is always one of them (or
    /// 0), never inside a batch.
    boundaries: std::collections::BTreeSet<Tid>,
    /// Every batch announced in this life, with its max TID.
    announced: std::collections::BTreeMap<BatchId, Tid>,
    /// Reads sent and not yet arrived.
    reads: usize,
    trace: u64,
    steps: u64,
    violations: Vec<String>,
}

impl Sim {
    /// Builds the cluster: every service's store loaded by `load`, the nodes, the coordinator.
    pub fn start(
        app: App,
        config: SimConfig,
        load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    ) -> Result<Sim, BootstrapError> {
        let (durable, stores) =
            open_stores(&app, config.data_dir.as_deref(), &config.coordinator, load)?;
        let keep = config.coordinator.keep();
        let app = Arc::new(app);
        let jobs = Arc::new(SimJobs::default());
        let pool = |owner| {
            let jobs = Arc::clone(&jobs);
            let workers = config.workers;
            Arc::new(WorkerPool::new(Arc::new(SimExecutor {
                jobs,
                owner,
                workers,
            })))
        };
        let net = Arc::new(SimNet::default());
        let nodes = ServiceNode::for_stores(&app, stores, pool, config.check_modes);
        for node in &nodes {
            node.connect(net.clone());
        }
        let now_us = Arc::new(AtomicU64::new(EPOCH_US));
        let clock = Arc::clone(&now_us);
        let mut log = None;
        let mut recovery = None;
        let commit_log = durable.map(|Opened { wal, plan, dirs }| {
            let (commit_log, writer) = CommitLog::simulated(wal, keep, plan.index.clone());
            log = Some(writer);
            recovery = Some((plan, dirs));
            commit_log
        });
        let (inbox_tx, inbox) = Coordinator::inbox_channel();
        let wiring = Wiring {
            transport: net.clone(),
            inbox: inbox_tx,
            log: commit_log,
            clock: Arc::new(VirtualClock(clock)),
        };
        let coordinator = Coordinator::new(Arc::clone(&app), config.coordinator, wiring);
        let (watch, commits) = crossbeam_channel::unbounded();
        coordinator.watch_commits(watch);
        let (mut recovered, mut restarts_between) = (false, 0);
        // The services start at the checkpoint's TID (0: the initial data).
        let mut boundaries: std::collections::BTreeSet<Tid> = [0].into();
        if let Some((plan, dirs)) = recovery {
            boundaries.insert(plan.checkpoint.1);
            recover(&nodes, &coordinator, dirs, &plan)?;
            recovered = plan.last_batch > 0;
            restarts_between = plan
                .replay
                .iter()
                .filter(|b| b.resumes_at.is_some())
                .count();
        }
        let mut rng = SimRng::new(config.seed);
        let weights = Weights {
            deliver: rng.between(1, 12),
            run: rng.between(1, 12),
            seal: rng.between(0, 4),
            read: rng.between(0, 2),
            sync: rng.between(1, 6),
            announce: rng.between(1, 12),
        };
        Ok(Sim {
            app,
            nodes,
            coordinator,
            inbox,
            commits,
            net,
            jobs,
            log,
            recovered,
            restarts_between,
            rng,
            weights,
            now_us,
            heard: 0,
            boundaries,
            announced: Default::default(),
            reads: 0,
            trace: config.seed,
            steps: 0,
            violations: Vec::new(),
        })
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The simulation's random stream, for a driver that wants its choices tied to the seed.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// Sequences `requests` (sending each to its entry service's link), as
    /// `Coordinator::submit_requests` does, unless admission would wait (as many transactions
    /// in flight as `max_in_flight`, re-execution after a restart, numbers not yet reserved in
    /// the log): then `None`, and nothing is sequenced.
    pub fn try_submit(
        &mut self,
        requests: Vec<Request>,
        notify: Option<Notifier>,
    ) -> Option<Result<Vec<Tid>, SubmitError>> {
        if !self.coordinator.admits(requests.len() as u64) {
            return None;
        }
        let tids = self.coordinator.submit_requests(requests, notify);
        self.record(
            1,
            tids.as_ref().map_or(0, |t| t.first().copied().unwrap_or(0)),
        );
        Some(tids)
    }

    /// Takes one action; `false` when there is none left (every link and job drained, no
    /// batch open).
    pub fn step(&mut self) -> bool {
        while self.inbox.try_recv().is_ok() {} // timer re-arms: this simulation is the timer
        self.note_commits();
        let links = self.net.busy();
        let jobs = self.jobs.len();
        let open = self.coordinator.pending().0;
        let (unsynced, unannounced) = self
            .log
            .as_ref()
            .map_or((false, false), |l| (l.unsynced(), l.unannounced()));
        let w = self.weights;
        // A kind with weight 0 still runs once nothing else can (liveness).
        let candidates = [
            (!links.is_empty(), w.deliver.max(1)),
            (jobs > 0, w.run.max(1)),
            (open, w.seal),
            // Reads only beside other work, a few at a time: they must not keep a run going.
            (
                (!links.is_empty() || jobs > 0) && self.reads < MAX_READS,
                w.read,
            ),
            (unsynced, w.sync),
            (unannounced, w.announce),
        ];
        let total: u64 = candidates.iter().filter(|c| c.0).map(|c| c.1).sum();
        if total == 0 {
            if open {
                self.seal();
                return true;
            }
            return false;
        }
        let mut pick = self.rng.below(total);
        let mut kind = 0;
        for (i, (ok, weight)) in candidates.iter().enumerate() {
            if !ok {
                continue;
            }
            if pick < *weight {
                kind = i;
                break;
            }
            pick -= weight;
        }
        self.steps += 1;
        self.now_us
            .fetch_add(self.rng.between(1, 50), Ordering::Relaxed);
        match kind {
            0 => {
                let link = links[self.rng.below(links.len() as u64) as usize];
                if let Some(m) = self.net.pop(link) {
                    self.record(2, ((link.0 as u64) << 16) | link.1 as u64);
                    self.record(3, tag(&m));
                    self.deliver(link.1, m);
                }
            }
            1 => {
                let i = self.rng.below(jobs as u64) as usize;
                self.record(4, i as u64);
                if let Some(job) = self.jobs.take(i) {
                    job();
                }
            }
            2 => self.seal(),
            3 => self.read(),
            4 => {
                self.record(7, 0);
                if let Some(log) = &self.log {
                    log.sync();
                }
            }
            _ => {
                self.record(8, 0);
                if let Some(log) = &self.log {
                    log.announce_next();
                }
            }
        }
        true
    }

    /// Steps until nothing is left to do, at most `max_steps` times; returns the steps taken.
    pub fn run_until_quiet(&mut self, max_steps: u64) -> u64 {
        let mut n = 0;
        while n < max_steps && self.step() {
            n += 1;
        }
        n
    }

    fn seal(&mut self) {
        self.record(5, 0);
        self.coordinator.seal_now();
    }

    /// A read sent now to a random service, after every commit clients may have heard of: when
    /// it arrives (behind the commits on the coordinator's link, as in the TCP deployment), the
    /// service must have applied them.
    fn read(&mut self) {
        let s = self.rng.below(self.nodes.len() as u64) as ServiceId;
        self.record(6, s as u64);
        if !self.net.carries((COORDINATOR, s)) {
            return; // the read fails at once: no answer to check
        }
        let ask = Message::Control(Control::Ask {
            id: self.heard,
            ask: Ask::Stats,
        });
        self.net.send(NodeId::Coordinator, NodeId::Service(s), ask);
        self.reads += 1;
    }

    fn deliver(&mut self, to: u16, message: Message) {
        let (node, message) = match (to, message) {
            (COORDINATOR, Message::ToCoordinator(m)) => {
                return self.coordinator.step(Input::Message(m));
            }
            (COORDINATOR, other) => {
                let kind = other.kind();
                let step = self.steps;
                return self
                    .violations
                    .push(format!("step {step}: the coordinator was sent {kind}"));
            }
            (s, m) => (Arc::clone(&self.nodes[s as usize]), m),
        };
        match message {
            Message::ToService(m) => node.on_message(m),
            Message::Control(Control::Ask { id: heard, .. }) => {
                self.reads -= 1;
                let at = node.store.watermark();
                if at < heard {
                    self.violations.push(format!(
                        "step {}: a read at `{}` saw watermark {at}, but clients had heard of \
                         commits up to tid {heard} before it was sent",
                        self.steps,
                        node.name()
                    ));
                }
                if !self.boundaries.contains(&at) {
                    self.violations.push(format!(
                        "step {}: a read at `{}` saw watermark {at}, inside a batch (no \
                         announced batch ends there)",
                        self.steps,
                        node.name()
                    ));
                }
            }
            other => {
                let (kind, step) = (other.kind(), self.steps);
                let name = node.name();
                self.violations
                    .push(format!("step {step}: service `{name}` was sent {kind}"));
            }
        }
    }

    fn note_commits(&mut self) {
        while let Ok((batch, max_tid)) = self.commits.try_recv() {
            self.heard = self.heard.max(max_tid);
            self.boundaries.insert(max_tid);
            if let Some(was) = self.announced.insert(batch, max_tid) {
                self.violations.push(format!(
                    "step {}: batch {batch} announced twice, ending at tid {was} and {max_tid}",
                    self.steps
                ));
            }
        }
    }

    /// Every batch announced in this life so far, with its max TID (a batch re-executed after
    /// a restart is announced again with the same).
    pub fn announced_batches(&mut self) -> &std::collections::BTreeMap<BatchId, Tid> {
        self.note_commits();
        &self.announced
    }

    fn record(&mut self, kind: u64, detail: u64) {
        let mut r = SimRng::new(self.trace ^ kind.rotate_left(32) ^ detail);
        self.trace = r.next_u64();
    }

    /// A fingerprint of every action taken so far: equal for two runs of one seed.
    pub fn trace(&self) -> u64 {
        self.trace
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// What the simulation's own checks found: reads behind a commit clients had heard of, or
    /// inside a batch.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Every service's tables at its committed watermark.
    pub fn state(&self) -> ClusterState {
        self.nodes
            .iter()
            .zip(&self.app.services)
            .map(|(n, s)| (s.name.clone(), n.store.dump(n.store.watermark())))
            .collect()
    }

    /// Every row of service `service`'s table of `E` at its committed watermark.
    pub fn read_table<E: Entity>(&self, service: &str) -> Result<Vec<E>, QueryError> {
        let i = self
            .app
            .service_index(service)
            .ok_or_else(|| QueryError::UnknownService(service.to_string()))?;
        let store = &self.nodes[i].store;
        let ctx = TxCtx::snapshot(store, store.watermark());
        Ok(ctx.table::<E>()?.all().rows()?)
    }

    /// The inputs of committed batches, in TID order (needs `record_inputs`).
    pub fn committed_inputs(&self) -> Vec<SequencedInput> {
        self.coordinator.committed_inputs()
    }

    pub fn coordinator_stats(&self) -> CoordinatorStats {
        self.coordinator.stats()
    }

    /// The lowest committed watermark across services.
    pub fn watermark(&self) -> Tid {
        let marks = self.nodes.iter().map(|n| n.store.watermark());
        marks.min().unwrap_or(0)
    }

    /// Envelopes refused as malformed, over all services.
    pub fn refused(&self) -> u64 {
        let refused = self.nodes.iter().map(|n| n.refused.load(Ordering::Relaxed));
        refused.sum()
    }

    /// Conflicts the mode checker saw: how many, and the first few described.
    pub fn mode_violations(&self) -> (u64, Vec<String>) {
        let checkers = self.nodes.iter().filter_map(|n| n.checker.as_ref());
        checkers.fold((0, Vec::new()), |(n, mut all), c| {
            all.extend(c.violations());
            (n + c.count(), all)
        })
    }

    /// Messages and jobs still queued, for a report when a run did not finish.
    pub fn pending(&self) -> String {
        let links = self.net.links.lock();
        let queued: Vec<String> = links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|((f, t), q)| format!("{f}->{t}: {}", q.len()))
            .collect();
        let (open, in_flight) = self.coordinator.pending();
        format!(
            "links [{}], {} jobs, batch open: {open}, {in_flight} in flight, recovering: {}, \
             {} waiting at services",
            queued.join(", "),
            self.jobs.len(),
            self.coordinator.recovering(),
            self.nodes.iter().map(|n| n.waiting()).sum::<usize>()
        )
    }
}

impl Drop for Sim {
    /// Whatever is still queued goes: messages, jobs, and the log's unsynced records and
    /// unrun continuations (which hold the coordinator, which holds the log).
    fn drop(&mut self) {
        self.net.links.lock().clear();
        while self.jobs.take(0).is_some() {}
        if let Some(log) = &self.log {
            log.lose_pending();
        }
    }
}
