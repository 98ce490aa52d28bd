//! The coordinator: sequences transactions (dense TIDs, per-service predecessors, batches) and runs
//! the batch commit protocol.
//!
//! Sequencing happens in the submitting thread under one lock, so a transaction's predecessors are
//! known, and its input sent to the entry service, the moment it arrives. A batch is sealed by
//! its size cap (at submission) or its time window (by the coordinator thread); sealing tells
//! each participant how many of its TIDs the batch holds. Invariant (enforced in
//! `Coordinator::progress` and `commit_ready`): batch `b` commits only after every participant reported all its
//! TIDs of `b` executed, and after batch `b - 1` committed. Clients learn outcomes at commit, the
//! whole batch in one sweep, and all per-TID and per-batch bookkeeping is dropped then.

use crate::app::App;
use crate::model::error::TxError;
use crate::model::schema::Tid;
use crate::runtime::clock::{Clock, micros};
use crate::runtime::message::{
    BatchId, NodeId, ServiceId, TaskReport, ToCoordinator, ToService, Transport,
};
use crate::storage::tx::TxEnv;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

mod durable;
mod numbering;
mod observe;
mod outcome;
mod recovery;
mod resolution;
mod sequence;

pub use durable::Request;
// The log's records are the durability layer's; the coordinator writes them.
pub use crate::durability::log::{LoggedCommit, LoggedRequest, SequencedInput};
pub use outcome::{
    Completion, CoordinatorConfig, CoordinatorStats, Notifier, Outcome, Output, RollbackStats,
};

struct TxRecord {
    dag: u16,
    batch: BatchId,
    env: TxEnv,
    /// When it was sequenced (the clock's `mono_us`, as every time below).
    submitted_at: u64,
    /// When the coordinator got the last report of a step (an output or a failure).
    reported_at: Option<u64>,
    notify: Option<Notifier>,
    output: Option<Output>,
    /// The failure at the lowest DAG node (so the reported reason is the one serial replay finds).
    failure: Option<(u16, String, TxError)>,
    /// Kept until commit: a rollback round may re-execute the transaction.
    input: Vec<u8>,
    /// The client's request id, if it gave one (logged; answers a resubmission).
    request: Option<std::sync::Arc<str>>,
}

/// The coordinator's state, one part per concern, under one lock.
struct State {
    seq: sequence::Sequencer,
    batches: sequence::BatchTracker,
    /// Records of TIDs `first_tid..`, dense.
    records: VecDeque<TxRecord>,
    first_tid: Tid,
    committed_inputs: Vec<SequencedInput>,
    shut_down: bool,
    rollback: resolution::RollbackState,
    /// Checkpoints and recovery (with a commit log).
    durable: durable::DurableState,
}

pub(crate) enum Input {
    Message(ToCoordinator),
    /// A batch opened: re-arm the window timer.
    Wake,
    Shutdown,
}

pub(crate) struct Coordinator {
    app: Arc<App>,
    config: CoordinatorConfig,
    state: Mutex<State>,
    room: Condvar,
    transport: Arc<dyn Transport>,
    inbox: Sender<Input>,
    /// Last committed batch and its max TID, for `wait_idle`.
    committed: Condvar,
    /// Told of every batch commit (the front door's commit stream).
    commit_watch: std::sync::OnceLock<Sender<(BatchId, Tid)>>,
    /// Where commits become durable before anyone hears of them.
    log: Option<crate::durability::writer::CommitLog>,
    /// Why the coordinator stopped by itself (its commit log failed).
    failed: std::sync::OnceLock<String>,
    /// The max TID of the last commit sent to the services (before anyone heard of it).
    announced: std::sync::atomic::AtomicU64,
    /// After a restart: the max TID of the last commit logged before it, which clients may
    /// have heard of; reads wait until it is announced again (`wait_recovered`). 0: none.
    recovery_target: std::sync::atomic::AtomicU64,
    /// Transactions whose outcome was announced (with a log: durably), over the cluster's life.
    settled: std::sync::atomic::AtomicU64,
    /// Where a transaction's timestamp comes from, if not the system clock (the simulator's
    /// virtual time).
    clock: Arc<dyn Clock>,
}

/// What a coordinator talks to, given when it is made.
pub(crate) struct Wiring {
    /// Where it sends to the services.
    pub transport: Arc<dyn Transport>,
    /// The sending side of its inbox (`inbox_channel`), whose receiver its thread or the
    /// simulator drains; the transport may already hold a clone.
    pub inbox: Sender<Input>,
    /// With durability: where commits are logged, and recovery (`recover`) starts from.
    pub log: Option<crate::durability::writer::CommitLog>,
    /// Where time comes from: the system clock, or the simulator's virtual time.
    pub clock: Arc<dyn Clock>,
}

impl Coordinator {
    /// A coordinator's inbox: its sender goes in `Wiring::inbox`, its receiver to `spawn`.
    pub fn inbox_channel() -> (Sender<Input>, Receiver<Input>) {
        crossbeam_channel::unbounded()
    }

    pub fn new(app: Arc<App>, config: CoordinatorConfig, wiring: Wiring) -> Arc<Self> {
        let services = app.services.len();
        let clock = wiring.clock;
        let now = clock.mono_us();
        let mut durable = durable::DurableState::new(now);
        if wiring.log.is_some() {
            durable.start_logging(now.saturating_add(micros(config.checkpoint_every)));
        }
        Arc::new(Coordinator {
            app,
            config,
            state: Mutex::new(State {
                seq: sequence::Sequencer::new(services),
                batches: sequence::BatchTracker::new(now),
                records: VecDeque::new(),
                first_tid: 1,
                committed_inputs: Vec::new(),
                shut_down: false,
                rollback: resolution::RollbackState::default(),
                durable,
            }),
            room: Condvar::new(),
            transport: wiring.transport,
            inbox: wiring.inbox,
            committed: Condvar::new(),
            commit_watch: std::sync::OnceLock::new(),
            log: wiring.log,
            failed: std::sync::OnceLock::new(),
            announced: std::sync::atomic::AtomicU64::new(0),
            recovery_target: std::sync::atomic::AtomicU64::new(0),
            settled: std::sync::atomic::AtomicU64::new(0),
            clock,
        })
    }

    fn transport(&self) -> &dyn Transport {
        &*self.transport
    }

    /// Tells `watch` of every batch commit from now on: (batch, max TID). One watcher.
    pub fn watch_commits(&self, watch: Sender<(BatchId, Tid)>) {
        let _ = self.commit_watch.set(watch);
    }

    /// One input of the coordinator thread (also the simulator's way to deliver one).
    pub(crate) fn step(self: &Arc<Self>, input: Input) {
        match input {
            Input::Wake => self.seal_if_due(),
            Input::Shutdown => {}
            Input::Message(m) => self.on_message(m),
        }
    }

    fn on_message(self: &Arc<Self>, message: ToCoordinator) {
        match message {
            ToCoordinator::Reports { reports, .. } => {
                let mut st = self.state.lock();
                for r in reports {
                    let tid = match &r {
                        TaskReport::Output { tid, .. } | TaskReport::Failed { tid, .. } => *tid,
                    };
                    let Some(rec) = tid
                        .checked_sub(st.first_tid)
                        .and_then(|i| st.records.get_mut(i as usize))
                    else {
                        continue; // a report for a TID not in flight: a confused peer, ignore
                    };
                    rec.reported_at = Some(self.clock.mono_us());
                    match r {
                        TaskReport::Output { node, payload, .. } => {
                            let event = self.event_of(rec.dag, node);
                            rec.output = Some(Output { event, payload })
                        }
                        TaskReport::Failed {
                            node,
                            service,
                            error,
                            ..
                        } => {
                            let at = self
                                .app
                                .dags
                                .get(rec.dag as usize)
                                .and_then(|d| d.nodes.get(node as usize));
                            let Some(at) = at else {
                                tracing::warn!(
                                    "a failure report for tid {tid} names no step #{node}: ignored"
                                );
                                continue;
                            };
                            let (cascades, at) = (at.cascades, at.service as ServiceId);
                            if rec.failure.as_ref().is_none_or(|(n, ..)| node < *n) {
                                rec.failure = Some((node, service, error));
                            }
                            Self::note_failure(&mut st, tid, cascades, at);
                        }
                    }
                }
            }
            ToCoordinator::BatchDone { batch, service } => self.on_batch_done(batch, service),
            ToCoordinator::Checkpointed {
                service,
                batch,
                error,
            } => self.on_checkpointed(service, batch, error),
            ToCoordinator::Tasks { .. }
            | ToCoordinator::RolledBack { .. }
            | ToCoordinator::RoundDone { .. } => self.on_round_message(message),
        }
    }

    fn on_batch_done(self: &Arc<Self>, batch: BatchId, service: ServiceId) {
        let progress = {
            let mut st = self.state.lock();
            if let Some(b) = st.batches.sealed.get_mut(&batch)
                && let Some(w) = b.waiting.get_mut(service as usize)
                && *w
            {
                *w = false;
                b.waiting_count -= 1;
            }
            self.progress(&mut st)
        };
        self.apply(progress);
    }

    /// Commits what may commit, or starts (or advances) a rollback round when a failure that
    /// cascades blocks the next batch. Call with the state locked; `apply` the result unlocked.
    fn progress(&self, st: &mut State) -> Progress {
        let mut p = Progress::default();
        if st.rollback.round.is_some() {
            p.sends = self.drain_step(st);
            return p;
        }
        while let Some((id, max_tid)) = Self::commit_ready(st) {
            if st.rollback.unsettled.first().is_some_and(|t| *t <= max_tid) {
                p.sends = self.start_resolution(st);
                break;
            }
            st.batches.sealed.remove(&id);
            st.batches.last_committed = id;
            st.batches.next_commit = id + 1;
            let now = self.clock.mono_us();
            let interval = Duration::from_micros(now.saturating_sub(st.batches.last_commit_at));
            st.batches.last_commit_at = now;
            p.commits.push((id, max_tid));
            while st.first_tid <= max_tid {
                let rec = st.records.pop_front().expect("a record per sequenced TID");
                let tid = st.first_tid;
                st.first_tid += 1;
                let c = self.complete(st, tid, rec, interval, &mut p.logged, &mut p.remember);
                p.completions.push(c);
            }
        }
        if !p.commits.is_empty() {
            st.batches.committing += 1;
            p.checkpoint = self.checkpoint_due(st, &p.commits);
        }
        if !st.durable.replay.is_empty() {
            match self.replay_next(st) {
                Ok(sends) => p.sends.extend(sends),
                Err(e) => p.failure = Some(format!("re-executing the log: {e}")),
            }
        }
        // After a restart: once the last re-executed batch committed, new work may come.
        if st
            .durable
            .numbering
            .recovering_through
            .is_some_and(|b| st.batches.last_committed >= b)
        {
            Self::resume_numbering(st);
            self.room.notify_all();
        }
        p
    }

    /// Sends what `progress` decided: round messages, then commits and completions. With a
    /// commit log, commits and completions wait on the log's thread until the commit is durable
    /// (invariant: nobody hears of a commit before it is durable), while this thread goes on.
    fn apply(self: &Arc<Self>, p: Progress) {
        for (to, m) in p.sends {
            self.transport().to_service(NodeId::Coordinator, to, m);
        }
        if let Some(why) = &p.failure {
            self.stop_failed(why);
        }
        if p.commits.is_empty() {
            return;
        }
        let announce = Announce {
            commits: p.commits,
            checkpoint: p.checkpoint,
            completions: p.completions,
            remember: p.remember,
        };
        let Some(log) = &self.log else {
            return self.announce(announce);
        };
        let me = Arc::clone(self);
        let record = self.commit_record(&announce.commits, p.logged);
        log.append(
            record,
            Some(Box::new(move |durable| match durable {
                Ok(()) => me.announce(announce),
                Err(e) => me.log_failed(&e, true),
            })),
        );
    }

    /// Tells services, then clients, of commits (durable ones, with a log). Services first:
    /// whoever hears of a commit (the commit stream, a completion) and then queries a service
    /// finds the commit applied there, since the query follows the `CommitBatch` on the
    /// coordinator's link to that service (or, embedded, the call applied it already).
    fn announce(&self, a: Announce) {
        for &(batch, max_tid) in &a.commits {
            let checkpoint = a
                .checkpoint
                .filter(|(b, _)| *b == batch)
                .map(|(_, keep_from)| keep_from);
            for s in 0..self.app.services.len() {
                self.transport().to_service(
                    NodeId::Coordinator,
                    s as ServiceId,
                    ToService::CommitBatch {
                        batch,
                        max_tid,
                        checkpoint,
                    },
                );
            }
        }
        self.settled.fetch_add(
            a.completions.len() as u64,
            std::sync::atomic::Ordering::AcqRel,
        );
        if let Some(&(_, max_tid)) = a.commits.last() {
            self.announced
                .store(max_tid, std::sync::atomic::Ordering::Release);
        }
        if let Some(watch) = self.commit_watch.get() {
            for &(batch, max_tid) in &a.commits {
                let _ = watch.send((batch, max_tid));
            }
        }
        let extra = {
            let mut st = self.state.lock();
            st.batches.committing -= 1;
            st.durable.remember_all(
                a.remember,
                self.config.request_retention,
                self.clock.mono_us(),
            )
        };
        // Waiters and clients hear of a commit only after it was sent to every service, so a
        // client that saw its transaction commit reads it in any later query. (Under an
        // injected link delay, the embedded queries wait for it: `Cluster::applied`.)
        self.room.notify_all();
        self.committed.notify_all();
        for (notify, completion) in a.completions.into_iter().chain(extra) {
            if let Some(n) = notify {
                n.send(completion);
            }
        }
    }

    /// The next batch if it may commit now: sealed, fully executed, successor of the last commit.
    fn commit_ready(st: &State) -> Option<(BatchId, Tid)> {
        let (&id, b) = st.batches.sealed.first_key_value()?;
        (id == st.batches.next_commit && b.waiting_count == 0).then_some((id, b.max_tid))
    }

    fn complete(
        &self,
        st: &mut State,
        tid: Tid,
        rec: TxRecord,
        batch_interval: Duration,
        logged: &mut durable::Logged,
        remember: &mut Vec<(Arc<str>, Completion)>,
    ) -> (Option<Notifier>, Completion) {
        let dag = &self.app.dags[rec.dag as usize];
        let input = || SequencedInput {
            env: rec.env,
            batch: rec.batch,
            transaction: dag.name.to_string(),
            payload: rec.input.clone(),
        };
        // A re-executed batch (recovery) is in the log already.
        let log = self.log.is_some() && rec.batch > st.durable.logged_through;
        if log {
            logged.inputs.push(input());
            if let Some(r) = &rec.request {
                logged.requests.push(LoggedRequest {
                    tid,
                    id: r.to_string(),
                    output: rec
                        .output
                        .as_ref()
                        .map(|o| (o.event.to_string(), o.payload.clone())),
                });
            }
        }
        if self.config.record_inputs {
            st.committed_inputs.push(input());
        }
        st.durable.committed += 1;
        let outcome = match rec.failure {
            Some((_, service, error)) => {
                st.rollback.stats.aborted += 1;
                if log {
                    logged.aborted.push((tid, service.clone(), error.clone()));
                }
                Outcome::Aborted { service, error }
            }
            None => Outcome::Committed { output: rec.output },
        };
        let completion = Completion {
            tid,
            batch: rec.batch,
            transaction: Arc::clone(&dag.name),
            outcome,
            latency: Duration::from_micros(self.clock.mono_us().saturating_sub(rec.submitted_at)),
            executed: (rec.reported_at)
                .map(|at| Duration::from_micros(at.saturating_sub(rec.submitted_at))),
            batch_interval,
        };
        if let Some(r) = rec.request {
            // Answered to resubmissions only once durable (`announce`).
            remember.push((r, completion.clone()));
        }
        (rec.notify, completion)
    }

    /// The name of the event the handler at `node` of DAG `dag` emits.
    fn event_of(&self, dag: u16, node: u16) -> Arc<str> {
        let n = self
            .app
            .dags
            .get(dag as usize)
            .and_then(|d| d.nodes.get(node as usize));
        n.and_then(|n| {
            self.app.services[n.service].handlers[n.handler]
                .outbound
                .as_ref()
        })
        .map_or_else(|| Arc::from(""), |o| Arc::clone(&o.0))
    }

    /// Drops every waiting client's notifier: a coordinator that lost a node will never
    /// complete its in-flight transactions, so their waiters must not wait for them.
    pub fn abandon(&self) {
        let mut st = self.state.lock();
        for r in st.records.iter_mut() {
            r.notify = None;
        }
        st.durable.abandon();
    }

    /// Why the coordinator stopped by itself, if it did (its commit log failed).
    pub fn failure(&self) -> Option<String> {
        self.failed.get().cloned()
    }

    pub fn shut_down(&self) {
        self.state.lock().shut_down = true;
        self.room.notify_all();
        self.committed.notify_all(); // waits for commits end: none will come
        let _ = self.inbox.send(Input::Shutdown);
    }
}

type Notify = (Option<Notifier>, Completion);

/// What one step of the coordinator decided, to send once the state lock is released.
#[derive(Default)]
struct Progress {
    sends: Vec<(ServiceId, ToService)>,
    commits: Vec<(BatchId, Tid)>,
    completions: Vec<Notify>,
    /// What to log of these commits (with a commit log).
    logged: durable::Logged,
    /// (batch, keep_from): services checkpoint this batch, keeping checkpoints from `keep_from`.
    checkpoint: Option<(BatchId, BatchId)>,
    /// Outcomes of requests with an id, to remember once durable.
    remember: Vec<(Arc<str>, Completion)>,
    /// Why the coordinator must stop (the log cannot be re-executed as logged).
    failure: Option<String>,
}

/// Commits to announce once durable.
struct Announce {
    commits: Vec<(BatchId, Tid)>,
    checkpoint: Option<(BatchId, BatchId)>,
    completions: Vec<Notify>,
    remember: Vec<(Arc<str>, Completion)>,
}
