//! What the coordinator tells its users: outcomes, completions, sequenced inputs, its settings
//! and its statistics.

use crate::model::error::TxError;
use crate::model::schema::Tid;
use crate::runtime::message::BatchId;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Committed, with the output event of its last handler when there is one.
    Committed { output: Option<Output> },
    /// A handler failed at `service`, so the transaction aborted: it left no effect in any
    /// service, and the rest of its batch committed as if it had never been submitted.
    Aborted { service: String, error: TxError },
}

/// An output event: name and encoded payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub event: Arc<str>,
    pub payload: Vec<u8>,
}

impl Output {
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, TxError> {
        postcard::from_bytes(&self.payload).map_err(|e| TxError::Decode {
            event: self.event.to_string(),
            detail: e.to_string(),
        })
    }
}

/// The notification a client receives for each of its transactions.
#[derive(Clone, Debug)]
pub struct Completion {
    pub tid: Tid,
    pub batch: BatchId,
    pub transaction: Arc<str>,
    pub outcome: Outcome,
    /// From submission to the commit notification.
    pub latency: Duration,
    /// From submission to the coordinator's receipt of the last report of a step (the last
    /// step's output, or a failure): the rest of `latency` is the wait for the batch to
    /// commit. `None` when no step reported (no output, no failure) or after a restart.
    pub executed: Option<Duration>,
    /// Between the previous batch's commit and this transaction's batch's.
    pub batch_interval: Duration,
}

/// Where a transaction's completion goes: a channel (`Client`), or a call (the front door
/// routes each to the HTTP request that waits for it).
#[derive(Clone)]
pub struct Notifier(NotifyTo);

#[derive(Clone)]
enum NotifyTo {
    Channel(crossbeam_channel::Sender<Completion>),
    Call(Arc<dyn Fn(Completion) + Send + Sync>),
}

impl Notifier {
    pub fn channel(tx: crossbeam_channel::Sender<Completion>) -> Self {
        Notifier(NotifyTo::Channel(tx))
    }

    /// Calls `f` with each completion, on the coordinator's (or the commit log's) thread: `f`
    /// must be quick and must not block.
    pub fn call(f: impl Fn(Completion) + Send + Sync + 'static) -> Self {
        Notifier(NotifyTo::Call(Arc::new(f)))
    }

    pub(crate) fn send(&self, c: Completion) {
        match &self.0 {
            // A client that went away no longer cares.
            NotifyTo::Channel(tx) => drop(tx.send(c)),
            NotifyTo::Call(f) => f(c),
        }
    }

    /// Whether both lead to the same place (one client's channel, one call).
    pub(crate) fn same(&self, other: &Notifier) -> bool {
        match (&self.0, &other.0) {
            (NotifyTo::Channel(a), NotifyTo::Channel(b)) => a.same_channel(b),
            (NotifyTo::Call(a), NotifyTo::Call(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Batching and admission settings.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// A batch is sealed this long after its first transaction arrived...
    pub batch_window: Duration,
    /// ...or when it holds this many transactions, whichever comes first...
    pub batch_max_txns: u32,
    /// ...or, if set, when no transaction has arrived for this long (group-commit style: a
    /// closed loop of clients that all resubmitted at the last commit need not wait a full
    /// window; steady arrivals never leave such a gap, so there the window applies).
    pub batch_idle: Option<Duration>,
    /// Submitters block while this many transactions are sequenced but not committed.
    pub max_in_flight: usize,
    /// Seed of every transaction's randomness (mixed with its TID).
    pub seed: u64,
    /// Keep the committed inputs for serial replay (memory grows with the run; tests and checks).
    /// With a commit log, the log is then kept whole too, so they survive a restart.
    pub record_inputs: bool,
    /// With a commit log: how often every service checkpoints its committed state (after
    /// which the log before the previous checkpoint is dropped).
    pub checkpoint_every: Duration,
    /// With a commit log: its segment size (truncation deletes whole segments).
    pub log_segment_bytes: u64,
    /// How long a committed request id is remembered (a resubmission answered with its first
    /// outcome instead of running again), in the cluster's running time: with a commit log
    /// also across restarts (the log keeps what it needs; time spent down does not count).
    pub request_retention: Duration,
    /// With a commit log: re-execute a log written by another build of the application
    /// (`App::build_id`), with a warning, instead of refusing to start.
    pub allow_new_build: bool,
}

impl CoordinatorConfig {
    /// What the commit log keeps when it truncates.
    /// Checkpoints are off: `checkpoint_every` is `Duration::MAX` (or as long, in µs).
    pub(crate) fn checkpoints_off(&self) -> bool {
        crate::runtime::clock::micros(self.checkpoint_every) == u64::MAX
    }

    pub(crate) fn keep(&self) -> crate::durability::writer::Keep {
        crate::durability::writer::Keep {
            all: self.record_inputs,
            retention: self.request_retention,
        }
    }
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            batch_window: Duration::from_millis(10),
            batch_max_txns: 10_000,
            batch_idle: None,
            max_in_flight: 100_000,
            seed: 0x5eed,
            record_inputs: false,
            checkpoint_every: Duration::from_secs(5),
            log_segment_bytes: 64 << 20,
            request_retention: Duration::from_secs(30),
            allow_new_build: false,
        }
    }
}

/// What rollback rounds have cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollbackStats {
    /// Pauses of dispatch to resolve failures that cascade.
    pub resolutions: u64,
    /// Rounds run (a resolution has one or more).
    pub rounds: u64,
    /// Transactions re-executed.
    pub reexecuted: u64,
    /// Transactions aborted, whatever their cause.
    pub aborted: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// Transactions sequenced over the cluster's life (with a commit log, across restarts:
    /// those committed before the recovery point, then every one sequenced since).
    pub sequenced: u64,
    pub in_flight: usize,
    pub last_committed_batch: BatchId,
    pub sealed_pending: usize,
    pub rollback: RollbackStats,
    /// After a restart: the checkpoint batch recovered from and the transactions re-executed.
    pub recovered: Option<(BatchId, u64)>,
    /// The last checkpoint every service completed (0: none yet).
    pub last_checkpoint: BatchId,
    /// Ranges of TIDs (first, last) handed out before a crash that never committed and never
    /// will: numbering resumed above them (with a commit log; the most recent restarts).
    pub lost_tids: Vec<(Tid, Tid)>,
    /// The last TID of the last commit announced (what the commit stream last told).
    pub committed_tid: Tid,
    /// The last TID handed out (0: none yet); equal to `committed_tid` once everything
    /// sequenced has committed.
    pub last_tid: Tid,
    /// Transactions whose outcome (commit or abort) was announced: with a commit log, only
    /// durable ones. A commit decided but not yet durable, or never made durable, is not here.
    pub settled: u64,
}
