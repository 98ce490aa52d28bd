//! The front door's JSON bodies, shared with clients (the harness decodes the same types).

use crate::model::schema::Tid;
use crate::runtime::message::BatchId;
use serde::{Deserialize, Serialize};

/// One transaction input: `{"transaction": "checkout", "input": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxRequest {
    pub transaction: String,
    pub input: serde_json::Value,
    /// A client-chosen id making the submission idempotent: resubmitting it (say, after the
    /// cluster restarted, when the first answer never came) returns the first outcome instead
    /// of running the transaction again. Ids are remembered for at least one checkpoint
    /// interval with durability, until the coordinator restarts without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What became of one submitted transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxResult {
    pub tid: Tid,
    pub transaction: String,
    #[serde(flatten)]
    pub outcome: TxOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TxOutcome {
    /// Sequenced; the caller did not ask to wait (`?wait=false`).
    Submitted,
    Committed {
        batch: BatchId,
        /// The last handler's output event, as JSON.
        output: Option<serde_json::Value>,
        /// From sequencing to commit, as the coordinator measured it.
        latency_us: u64,
    },
    Aborted {
        batch: BatchId,
        service: String,
        error: String,
        latency_us: u64,
    },
}

/// `GET /status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Transactions sequenced.
    pub submitted: u64,
    /// Transactions whose outcome was announced (aborted ones included); with a commit log,
    /// only those whose commit is durable.
    pub committed: u64,
    pub aborted: u64,
    pub in_flight: u64,
    pub last_committed_batch: BatchId,
    /// Why the cluster stopped working, if it did.
    pub failure: Option<String>,
    /// With durability: the last checkpoint every service completed (0: none yet).
    #[serde(default)]
    pub last_checkpoint: BatchId,
    /// After a restart: the checkpoint batch it recovered from and how many logged
    /// transactions it re-executed after it.
    #[serde(default)]
    pub recovered: Option<(BatchId, u64)>,
    /// With durability: TID ranges (first, last) handed out before a crash that never
    /// committed and never will (numbering resumed above them). A TID from `?wait=false`
    /// committed iff the commit stream reached it and it is in none of these.
    #[serde(default)]
    pub lost_tids: Vec<(Tid, Tid)>,
    /// The last TID of the last batch committed (as the commit stream last told it).
    #[serde(default)]
    pub committed_tid: Tid,
}

/// Every error body: `{"error": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}
