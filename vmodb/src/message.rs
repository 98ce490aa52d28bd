//! Everything that crosses the boundary between the coordinator and the services. These are the
//! only ways they talk; the in-process transport passes them by value, a network transport
//! encodes them (all are serde types).

use crate::error::TxError;
use crate::schema::Tid;
use crate::tx::TxEnv;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub type BatchId = u64;
pub type ServiceId = u16;

/// One transaction's event for one service.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub env: TxEnv,
    pub batch: BatchId,
    pub dag: u16,
    /// The DAG node (service) this envelope is for.
    pub node: u16,
    /// `prevs[n]`: the predecessor TID of this transaction at the service of DAG node `n`
    /// (the piggy-backed precedence map; every hop forwards it unchanged).
    pub prevs: Arc<[Tid]>,
    /// The event payload; `None` tells the service there is nothing for it in this transaction
    /// (upstream emitted nothing or failed) so its chain moves on.
    pub payload: Option<Vec<u8>>,
}

impl Envelope {
    pub fn tid(&self) -> Tid {
        self.env.tid
    }
    pub fn prev(&self) -> Tid {
        self.prevs[self.node as usize]
    }
}

/// What a service tells the coordinator about one of its tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum TaskReport {
    /// The handler at DAG node `node`, a last step of the transaction, produced this output.
    Output {
        tid: Tid,
        node: u16,
        payload: Vec<u8>,
    },
    /// The task failed; its writes at that service were undone.
    Failed {
        tid: Tid,
        service: String,
        error: TxError,
    },
}

/// A message between nodes. Frames carry many events or reports at once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Message {
    /// Coordinator or upstream service → service.
    Events(Vec<Envelope>),
    /// Coordinator → participant: batch `batch` is sealed and holds `expected` of your TIDs.
    CloseBatch { batch: BatchId, expected: u32 },
    /// Coordinator → every service: batch `batch` committed; `max_tid` is the new watermark.
    CommitBatch { batch: BatchId, max_tid: Tid },
    /// Service → coordinator: outputs and failures.
    Reports {
        service: ServiceId,
        reports: Vec<TaskReport>,
    },
    /// Service → coordinator: every one of my TIDs of `batch` has executed.
    BatchDone { batch: BatchId, service: ServiceId },
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeId {
    Coordinator,
    Service(ServiceId),
}

/// The message layer. Implementations deliver each message exactly once; messages from one
/// sender to one receiver arrive in the order sent (nothing is promised across senders).
pub trait Transport: Send + Sync {
    fn send(&self, from: NodeId, to: NodeId, message: Message);
}
