//! A running service: receives frames, feeds its chain, runs admitted tasks on the shared worker
//! pool, routes outputs to downstream services, reports to the coordinator, and tracks its share
//! of each batch.
//!
//! No thread of its own: whoever delivers a frame or finishes a task does the (short) scheduling
//! step under the service's lock; admitted tasks run as pool jobs, back to back, sharing frames.
//! Idle services cost nothing.

use crate::app::App;
use crate::app::service::{Decoded, HandlerDef, ModeKind, TxKind};
use crate::model::error::TxError;
use crate::model::mode_check::ModeChecker;
use crate::model::schema::Tid;
use crate::runtime::message::{
    BatchId, Envelope, ServiceId, TaskReport, ToCoordinator, ToService, Transport,
};
use crate::runtime::rollback::{Retained, within};
use crate::runtime::scheduler::{Chain, Footprint, Slot};
use crate::storage::store::Store;
use crate::storage::tx::WriteSet;
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};

mod checkpoint;
mod fk_guard;
mod outbox;
mod pool;

use outbox::Outbox;
pub(crate) use pool::{Executor, Job, Waiter, WorkerPool};

/// Tasks run back to back before their outputs are sent as frames.
const FRAME_EVENTS: usize = 128;

/// What an admitted task runs.
pub(crate) enum Work {
    Run {
        handler: usize,
        input: Decoded,
    },
    /// Nothing to run: a marker, or the reason the task failed before running.
    Skip(Option<TxError>),
}

pub(crate) struct Task {
    envelope: Envelope,
    work: Work,
}

#[derive(Default)]
struct BatchProgress {
    executed: u32,
    expected: Option<u32>,
}

struct State {
    chain: Chain<Task>,
    batches: BTreeMap<BatchId, BatchProgress>,
    /// Footprints and write sets of executed, uncommitted tasks (for rollback rounds).
    retained: Retained,
    /// The rollback round being re-executed, if any.
    round: Option<RoundRun>,
    /// With foreign keys: running tasks, and tasks waiting to run again (`fk_guard`).
    fk: Option<fk_guard::FkGuard>,
}

/// This service's share of a rollback round: its own chain (re-executed TIDs only, linked by
/// the coordinator) and its count.
struct RoundRun {
    id: u32,
    chain: Chain<Task>,
    expected: u32,
    executed: u32,
    widened: Vec<Tid>,
}

impl State {
    /// The chain a task of round `round` belongs to (0: the main chain).
    fn chain_for(&mut self, round: u32) -> Option<&mut Chain<Task>> {
        if round == 0 {
            return Some(&mut self.chain);
        }
        self.round
            .as_mut()
            .filter(|r| r.id == round)
            .map(|r| &mut r.chain)
    }
}

pub(crate) struct ServiceNode {
    pub(crate) id: ServiceId,
    pub(crate) app: Arc<App>,
    pub(crate) store: Arc<Store>,
    state: Mutex<State>,
    transport: OnceLock<Arc<dyn Transport>>,
    pool: Arc<WorkerPool>,
    /// Envelopes refused as malformed (see `validate`).
    pub(crate) refused: std::sync::atomic::AtomicU64,
    /// A garbage collection job is queued and has not started.
    gc_scheduled: std::sync::atomic::AtomicBool,
    /// Checks mode declarations against actual row accesses (opt-in).
    pub(crate) checker: Option<ModeChecker>,
    /// The store has foreign keys: their checks are kept serial (`fk_guard`).
    fk_guarded: bool,
    /// Where this service writes its checkpoints (with durability).
    pub(crate) checkpoints: OnceLock<crate::durability::CheckpointDir>,
    /// Waits for the checkpoint being written, if any (on shutdown, and before the next).
    pub(crate) checkpointing: Mutex<Option<pool::Waiter>>,
    /// The last checkpoint this service wrote since it started: the next one's base.
    pub(crate) last_checkpoint: Mutex<Option<checkpoint::Written>>,
}

impl ServiceNode {
    pub fn new(
        id: ServiceId,
        app: Arc<App>,
        store: Arc<Store>,
        pool: Arc<WorkerPool>,
        check_modes: bool,
    ) -> Self {
        let fk_guarded = store.has_foreign_keys();
        let fk = fk_guarded.then(Default::default);
        ServiceNode {
            id,
            app,
            store,
            state: Mutex::new(State {
                chain: Chain::new(0),
                batches: BTreeMap::new(),
                retained: Retained::default(),
                round: None,
                fk,
            }),
            transport: OnceLock::new(),
            pool,
            refused: std::sync::atomic::AtomicU64::new(0),
            gc_scheduled: std::sync::atomic::AtomicBool::new(false),
            checker: check_modes.then(ModeChecker::default),
            fk_guarded,
            checkpoints: OnceLock::new(),
            checkpointing: Mutex::new(None),
            last_checkpoint: Mutex::new(None),
        }
    }

    /// One node per store, service `i` on `stores[i]`, all on `pool`.
    /// A node per store, service `i` running its tasks on `pool(i)`.
    pub(crate) fn for_stores(
        app: &Arc<App>,
        stores: Vec<Arc<Store>>,
        pool: impl Fn(ServiceId) -> Arc<WorkerPool>,
        check_modes: bool,
    ) -> Vec<Arc<ServiceNode>> {
        (stores.into_iter().enumerate())
            .map(|(i, store)| {
                let id = i as ServiceId;
                let node = ServiceNode::new(id, Arc::clone(app), store, pool(id), check_modes);
                Arc::new(node)
            })
            .collect()
    }

    pub fn connect(&self, transport: Arc<dyn Transport>) {
        let _ = self.transport.set(transport);
    }

    /// The store holds a restored checkpoint at `tid`: the next task here follows `tid`.
    /// Call before any task arrives.
    pub fn restart_at(&self, tid: Tid) {
        let mut st = self.state.lock();
        debug_assert!(st.chain.waiting_len() == 0 && st.batches.is_empty());
        st.chain = Chain::new(tid);
    }

    pub(crate) fn transport(&self) -> &dyn Transport {
        &**self
            .transport
            .get()
            .expect("service connected before it receives messages")
    }

    pub(crate) fn name(&self) -> &str {
        &self.app.services[self.id as usize].name
    }

    /// Entry point for every message addressed to this service, from the coordinator or (events
    /// only) from an upstream service.
    pub fn on_message(self: &Arc<Self>, message: ToService) {
        match message {
            ToService::Events(envelopes) => self.on_events(envelopes),
            ToService::CloseBatch { batch, expected } => {
                let done = {
                    let mut st = self.state.lock();
                    let p = st.batches.entry(batch).or_default();
                    p.expected = Some(expected);
                    Self::take_if_done(&mut st, batch)
                };
                if done {
                    self.report_done(batch);
                }
            }
            ToService::CommitBatch {
                batch,
                max_tid,
                checkpoint,
            } => {
                // Visible at once; garbage collection runs on the pool, off the commit path.
                self.store.advance_watermark(max_tid);
                if let Some(keep_from) = checkpoint {
                    self.checkpoint(batch, max_tid, keep_from);
                }
                let committed = self.state.lock().retained.commit(max_tid);
                drop(committed); // freed outside the lock
                if !self
                    .gc_scheduled
                    .swap(true, std::sync::atomic::Ordering::AcqRel)
                {
                    let node = Arc::clone(self);
                    self.pool.spawn(move || {
                        node.gc_scheduled
                            .store(false, std::sync::atomic::Ordering::Release);
                        node.store.collect_garbage();
                    });
                }
            }
            ToService::ListTasks { round, from_tid } => {
                let tasks = self.state.lock().retained.footprints_from(from_tid);
                let message = ToCoordinator::Tasks {
                    service: self.id,
                    round,
                    tasks,
                };
                self.transport().to_coordinator(message);
            }
            ToService::Rollback { round, undo, rerun } => {
                {
                    let mut st = self.state.lock();
                    for tid in undo {
                        st.retained.undo(&self.store, tid);
                    }
                    st.round = Some(RoundRun {
                        id: round,
                        chain: Chain::new(0),
                        expected: rerun,
                        executed: 0,
                        widened: Vec::new(),
                    });
                }
                let message = ToCoordinator::RolledBack {
                    service: self.id,
                    round,
                };
                self.transport().to_coordinator(message);
            }
        }
    }

    fn on_events(self: &Arc<Self>, envelopes: Vec<Envelope>) {
        // Decode outside the lock; only chain bookkeeping happens under it.
        let mut refused = Vec::new();
        let mut slots = Vec::with_capacity(envelopes.len());
        for e in envelopes {
            match self.validate(&e) {
                Ok(()) => slots.push(self.prepare(e)),
                Err(why) => refused.push(format!("tid {}: {why}", e.tid())),
            }
        }
        let admitted = {
            let mut st = self.state.lock();
            let mut rounds = false;
            for slot in slots {
                let (tid, batch) = (slot.tid, slot.task.envelope.batch);
                let round = slot.task.envelope.round;
                rounds |= round > 0;
                let Some(chain) = st.chain_for(round) else {
                    refused.push(format!("tid {tid}: rollback round {round} is not running"));
                    continue;
                };
                if let Err(e) = chain.insert(slot) {
                    refused.push(format!("tid {tid} batch {batch}: {e:?}"));
                }
            }
            let mut admitted = st.chain.admit();
            if rounds && let Some(r) = st.round.as_mut() {
                admitted.extend(r.chain.admit());
            }
            if let Some(fk) = st.fk.as_mut() {
                fk.admitted(&admitted);
            }
            admitted
        };
        if !refused.is_empty() {
            self.refused
                .fetch_add(refused.len() as u64, std::sync::atomic::Ordering::Relaxed);
            for r in refused {
                tracing::warn!("service {}: refused an event ({r})", self.name());
            }
        }
        self.dispatch(admitted);
    }

    /// An envelope that does not name a DAG node of this service cannot take a chain position:
    /// only a broken peer sends one. It is refused and counted.
    fn validate(&self, e: &Envelope) -> Result<(), String> {
        let dag = self
            .app
            .dags
            .get(e.dag as usize)
            .ok_or_else(|| format!("unknown transaction type #{}", e.dag))?;
        let node = dag.nodes.get(e.node as usize).ok_or_else(|| {
            format!(
                "transaction `{}` has no step #{} (no handler for this event here)",
                dag.name, e.node
            )
        })?;
        if node.service != self.id as usize {
            return Err(format!(
                "step #{} of `{}` belongs to another service",
                e.node, dag.name
            ));
        }
        if e.prevs.len() != dag.nodes.len() || e.prev() >= e.tid() {
            return Err("malformed precedence map".into());
        }
        Ok(())
    }

    /// Decodes an envelope and derives its footprint. Failures become tasks that only report.
    fn prepare(&self, envelope: Envelope) -> Slot<Task> {
        let (tid, prev) = (envelope.tid(), envelope.prev());
        let service = &self.app.services[self.id as usize];
        let handler = self.app.dags[envelope.dag as usize].nodes[envelope.node as usize].handler;
        let (footprint, work) = match &envelope.payload {
            None => (Footprint::Empty, Work::Skip(None)),
            Some(bytes) => {
                let def = &service.handlers[handler];
                match def.prepare(bytes) {
                    Ok((input, keys)) => (footprint_of(def, keys), Work::Run { handler, input }),
                    Err(e) => (Footprint::Empty, Work::Skip(Some(e))),
                }
            }
        };
        Slot {
            tid,
            prev,
            footprint,
            task: Task { envelope, work },
        }
    }

    /// Runs admitted tasks as one pool job (never inline: a worker delivering a frame finishes
    /// its own queue first, and an idle worker can take the new job at once).
    fn dispatch(self: &Arc<Self>, admitted: Vec<Slot<Task>>) {
        if admitted.is_empty() {
            return;
        }
        let node = Arc::clone(self);
        self.pool.spawn(move || node.run_all(admitted.into()));
    }

    /// Runs a queue of admitted tasks back to back, adding what each completion admits, so their
    /// outputs leave in shared frames. A long queue is split so every worker gets a share.
    fn run_all(self: &Arc<Self>, mut queue: VecDeque<Slot<Task>>) {
        let _busy = self.pool.busy();
        let mut outbox = Outbox::default();
        while let Some(slot) = queue.pop_front() {
            // Hand half of what is runnable to an idle worker, if there is one.
            if !queue.is_empty() && self.pool.has_idle_worker() {
                let half = queue.split_off(queue.len() / 2);
                let node = Arc::clone(self);
                self.pool.spawn(move || node.run_all(half));
            }
            let (tid, batch, round) =
                (slot.tid, slot.task.envelope.batch, slot.task.envelope.round);
            let Slot {
                prev,
                footprint,
                task,
                ..
            } = slot;
            let writes = match self.execute(task, &mut outbox) {
                Ok(writes) => writes,
                Err(envelope) => {
                    // Runs again once nothing earlier runs (`fk_guard`).
                    let task = Task {
                        envelope,
                        work: Work::Skip(None),
                    };
                    let slot = Slot {
                        tid,
                        prev,
                        footprint,
                        task,
                    };
                    let ready = {
                        let mut st = self.state.lock();
                        st.fk.as_mut().and_then(|fk| {
                            fk.park(slot);
                            fk.ready()
                        })
                    };
                    queue.extend(ready.map(|s| self.prepare(s.task.envelope)));
                    continue;
                }
            };
            if round == 0 {
                outbox.count(batch);
            } else {
                outbox.round_executed += 1;
            }
            let (admitted, ready) = {
                let mut st = self.state.lock();
                let st = &mut *st;
                match st.chain_for(round) {
                    Some(chain) => chain.finish(&footprint),
                    None => debug_assert!(false, "a round task outlived its round"),
                }
                if round > 0
                    && !within(&footprint, st.retained.footprint(tid))
                    && let Some(r) = st.round.as_mut()
                {
                    r.widened.push(tid);
                }
                st.retained.record(tid, footprint, writes);
                let admitted = st.chain_for(round).map(|c| c.admit()).unwrap_or_default();
                let ready = st.fk.as_mut().and_then(|fk| {
                    fk.finished(tid);
                    fk.admitted(&admitted);
                    fk.ready()
                });
                (admitted, ready)
            };
            queue.extend(ready.map(|s| self.prepare(s.task.envelope)));
            if outbox.pending >= FRAME_EVENTS {
                self.flush(&mut outbox);
            }
            queue.extend(admitted);
        }
        self.flush(&mut outbox);
    }

    /// Is batch `batch` fully executed here? If so, forget it.
    fn take_if_done(st: &mut State, batch: BatchId) -> bool {
        let p = st.batches.get(&batch).expect("progress exists");
        debug_assert!(
            p.expected.is_none_or(|e| p.executed <= e),
            "more tasks than the batch holds"
        );
        if p.expected == Some(p.executed) {
            st.batches.remove(&batch);
            true
        } else {
            false
        }
    }

    /// Runs one task and queues what it sends; returns what it wrote, or gives the envelope
    /// back (nothing queued, nothing written) if a foreign-key check must be run again once no
    /// earlier task runs (`fk_guard`).
    fn execute(&self, task: Task, outbox: &mut Outbox) -> Result<WriteSet, Envelope> {
        let Task { envelope, work } = task;
        let mut writes = WriteSet::default();
        let (output, error) = match work {
            Work::Skip(error) => (None, error),
            Work::Run { handler, input } => {
                let def = &self.app.services[self.id as usize].handlers[handler];
                let checker = self.checker.as_ref().map(|c| {
                    c.begin(envelope.tid(), def.inbound());
                    (c, self.name())
                });
                let tid = envelope.tid();
                let earlier = || {
                    let st = self.state.lock();
                    st.fk.as_ref().is_some_and(|fk| fk.earlier_running(tid))
                };
                let guard: Option<&dyn Fn() -> bool> =
                    self.fk_guarded.then_some(&earlier as &dyn Fn() -> bool);
                let ran = def.execute(&self.store, envelope.env, input, checker, guard);
                if let Some((c, _)) = checker {
                    c.end(envelope.tid());
                }
                let Some((result, written)) = ran else {
                    return Err(envelope);
                };
                writes = written;
                match result {
                    Ok(output) => (output, None),
                    Err(e) => (None, Some(e)),
                }
            }
        };
        let dag = &self.app.dags[envelope.dag as usize];
        let node = &dag.nodes[envelope.node as usize];
        let tid = envelope.tid();
        if let Some(error) = &error {
            outbox.reports.push(TaskReport::Failed {
                tid,
                node: envelope.node,
                service: self.name().to_string(),
                error: error.clone(),
            });
        }
        if node.children.is_empty() {
            if let Some(payload) = output {
                let node = envelope.node;
                outbox
                    .reports
                    .push(TaskReport::Output { tid, node, payload });
            }
        } else {
            // Exactly one envelope per downstream participant: the event, or "nothing for you".
            let payload = output;
            for &child in &node.children {
                let to = dag.nodes[child].service as ServiceId;
                outbox.events.entry(to).or_default().push(Envelope {
                    env: envelope.env,
                    batch: envelope.batch,
                    dag: envelope.dag,
                    node: child as u16,
                    prevs: Arc::clone(&envelope.prevs),
                    payload: payload.clone(),
                    round: envelope.round,
                });
            }
        }
        outbox.pending += 1;
        Ok(writes)
    }

    /// Chain length waiting here (for tests and stats).
    pub fn waiting(&self) -> usize {
        self.state.lock().chain.waiting_len()
    }
}

fn footprint_of(def: &HandlerDef, keys: Option<crate::app::service::PartitionKeys>) -> Footprint {
    let writes = def.kind != TxKind::R;
    match (def.mode, keys) {
        (ModeKind::Parallel, _) => Footprint::Parallel { writes },
        (ModeKind::Partitioned, Some(keys)) if !keys.is_empty() => {
            Footprint::Partitioned { writes, keys }
        }
        _ => Footprint::Single { writes },
    }
}
