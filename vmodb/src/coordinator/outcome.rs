//! What the coordinator tells its users: outcomes, completions, sequenced inputs, its settings
//! and its statistics.

use crate::error::TxError;
use crate::message::BatchId;
use crate::schema::Tid;
use crate::tx::TxEnv;
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
}

/// A sequenced input, as serial replay (and recovery) needs it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequencedInput {
    pub env: TxEnv,
    pub batch: BatchId,
    pub transaction: String,
    pub payload: Vec<u8>,
}

/// What the coordinator logs per commit when it has a write-ahead log (`ClusterConfig::data_dir`):
/// the batches committing together and every input they sequenced, in TID order; synced before
/// any client hears of the commit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoggedCommit {
    /// (batch, its max TID), in order.
    pub batches: Vec<(BatchId, Tid)>,
    pub inputs: Vec<SequencedInput>,
    /// Inputs that carried a client request id, with their outputs, so that a resubmission
    /// after a restart is answered in full.
    pub requests: Vec<LoggedRequest>,
    /// The inputs that aborted, with where and why (every other one committed).
    pub aborted: Vec<(Tid, String, TxError)>,
}

/// A request id, its TID, and the output event (name, payload) if it committed with one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoggedRequest {
    pub tid: Tid,
    pub id: String,
    pub output: Option<(String, Vec<u8>)>,
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
    pub sequenced: Tid,
    pub in_flight: usize,
    pub last_committed_batch: BatchId,
    pub sealed_pending: usize,
    pub rollback: RollbackStats,
    /// After a restart: the checkpoint batch recovered from and the transactions re-executed.
    pub recovered: Option<(BatchId, u64)>,
    /// The last checkpoint every service completed (0: none yet).
    pub last_checkpoint: BatchId,
}
