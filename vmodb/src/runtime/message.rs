//! Everything that crosses the boundary between the coordinator and the services. These are the
//! only ways they talk; the in-process transport passes them by value, a network transport
//! encodes them (all are serde types).

use crate::model::error::TxError;
use crate::model::schema::Tid;
use crate::runtime::scheduler::Footprint;
use crate::storage::tx::TxEnv;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::model::schema::BatchId;
pub type ServiceId = u16;

pub use crate::app::service::MAX_PAYLOAD;

/// The longest request id, in bytes: ids are remembered (and, with durability, logged) for
/// the retention period, so their size must be bounded.
pub const MAX_REQUEST_ID: usize = 256;

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
    /// 0 for the first execution; `r` for a re-execution in rollback round `r`, whose `prevs`
    /// link only the round's re-executed transactions (see `rollback/`).
    pub round: u32,
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
    /// The task at DAG node `node` failed; its writes at that service were undone. The
    /// transaction aborts.
    Failed {
        tid: Tid,
        node: u16,
        service: String,
        error: TxError,
    },
}

/// What a service node takes: events, from the coordinator or an upstream service, and the
/// coordinator's word on batches and rollback rounds (from the coordinator only).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToService {
    Events(Vec<Envelope>),
    /// Batch `batch` is sealed and holds `expected` of your TIDs.
    CloseBatch {
        batch: BatchId,
        expected: u32,
    },
    /// Batch `batch` committed; `max_tid` is the new watermark. With `checkpoint:
    /// Some(keep_from)`, also write a checkpoint of this batch (then answer `Checkpointed`) and
    /// delete checkpoints older than `keep_from`, the last complete one.
    CommitBatch {
        batch: BatchId,
        max_tid: Tid,
        checkpoint: Option<BatchId>,
    },
    /// Rollback round `round` begins (execution is quiescent): send the footprints of your
    /// uncommitted tasks from `from_tid` on.
    ListTasks {
        round: u32,
        from_tid: Tid,
    },
    /// Drop the versions of `undo` (aborted or to be re-executed; their footprints stay
    /// listed), then expect `rerun` re-executed tasks.
    Rollback {
        round: u32,
        undo: Vec<Tid>,
        rerun: u32,
    },
}

/// What a service tells the coordinator; `service` is the sender (a network node drops a
/// message whose `service` is not the peer it came from).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToCoordinator {
    /// Outputs and failures.
    Reports {
        service: ServiceId,
        reports: Vec<TaskReport>,
    },
    /// Every one of my TIDs of `batch` has executed.
    BatchDone { batch: BatchId, service: ServiceId },
    /// My checkpoint of `batch` is durable, or why it is not.
    Checkpointed {
        service: ServiceId,
        batch: BatchId,
        error: Option<String>,
    },
    /// Footprints of the uncommitted tasks (markers omitted), by TID.
    Tasks {
        service: ServiceId,
        round: u32,
        tasks: Vec<(Tid, Footprint)>,
    },
    /// The rollback is applied; round envelopes may come.
    RolledBack { service: ServiceId, round: u32 },
    /// Every re-executed task of `round` ran here (reports flushed); `widened` are TIDs whose
    /// new footprint reaches beyond the old one.
    RoundDone {
        service: ServiceId,
        round: u32,
        widened: Vec<Tid>,
    },
}

impl ToCoordinator {
    /// The service that sent it.
    pub fn service(&self) -> ServiceId {
        match self {
            ToCoordinator::Reports { service, .. }
            | ToCoordinator::BatchDone { service, .. }
            | ToCoordinator::Checkpointed { service, .. }
            | ToCoordinator::Tasks { service, .. }
            | ToCoordinator::RolledBack { service, .. }
            | ToCoordinator::RoundDone { service, .. } => *service,
        }
    }
}

/// Coordinator process → service process, outside the transaction protocol. Only the
/// distributed deployment sends these; the embedded one calls the store directly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Control {
    /// Once, before any transaction: load the initial data (`batch` 0) or restore checkpoint
    /// `batch` (watermark `tid`), then answer `Restored`. `fresh`: the coordinator's log is
    /// empty, so a service holding checkpoints must refuse.
    Restore {
        batch: BatchId,
        tid: Tid,
        fresh: bool,
    },
    /// A query, a table read or a state dump, answered with `Answer` under the same `id`.
    Ask { id: u64, ask: Ask },
    /// The cluster stops; exit cleanly.
    Shutdown,
}

/// Service process → coordinator process: the answers to `Control`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ControlReply {
    /// Restored, or why not (the cluster cannot start).
    Restored {
        service: ServiceId,
        error: Option<String>,
    },
    /// The answer to `Ask` `id`, or why it failed.
    Answer {
        id: u64,
        answer: Result<Answer, String>,
    },
}

/// A message on a link between nodes; frames carry many at once. Each kind travels one way,
/// which the receivers' types state: a service node takes `ToService`, the coordinator
/// `ToCoordinator`, the processes around them `Control` and `ControlReply`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Message {
    /// Coordinator or (events only) upstream service → service.
    ToService(ToService),
    /// Service → coordinator.
    ToCoordinator(ToCoordinator),
    /// Coordinator process → service process.
    Control(Control),
    /// Service process → coordinator process.
    ControlReply(ControlReply),
    /// Transport-level, the last frame on a link whose node stops on purpose: `None` for a
    /// clean stop (its peers do not report the closing link), or why it gave up (its peers
    /// report that, naming the root cause). Never reaches a node.
    Leaving { reason: Option<String> },
}

impl Message {
    /// Whether node `from` may send this message to node `to`: the coordinator drives the
    /// protocol, a service answers it only for itself, and services send each other nothing
    /// but events. A network node drops anything else (a forged commit, another service's vote).
    pub fn may_travel(&self, from: NodeId, to: NodeId) -> bool {
        use Message as M;
        match (from, to) {
            (NodeId::Coordinator, NodeId::Service(_)) => {
                matches!(self, M::ToService(_) | M::Control(_) | M::Leaving { .. })
            }
            (NodeId::Service(s), NodeId::Coordinator) => match self {
                M::ToCoordinator(m) => m.service() == s,
                M::ControlReply(ControlReply::Restored { service, .. }) => *service == s,
                M::ControlReply(ControlReply::Answer { .. }) | M::Leaving { .. } => true,
                _ => false,
            },
            (NodeId::Service(a), NodeId::Service(b)) if a != b => {
                matches!(self, M::ToService(ToService::Events(_)) | M::Leaving { .. })
            }
            _ => false,
        }
    }

    /// The message's kind, for logs (never its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::ToService(m) => match m {
                ToService::Events(_) => "Events",
                ToService::CloseBatch { .. } => "CloseBatch",
                ToService::CommitBatch { .. } => "CommitBatch",
                ToService::ListTasks { .. } => "ListTasks",
                ToService::Rollback { .. } => "Rollback",
            },
            Message::ToCoordinator(m) => match m {
                ToCoordinator::Reports { .. } => "Reports",
                ToCoordinator::BatchDone { .. } => "BatchDone",
                ToCoordinator::Checkpointed { .. } => "Checkpointed",
                ToCoordinator::Tasks { .. } => "Tasks",
                ToCoordinator::RolledBack { .. } => "RolledBack",
                ToCoordinator::RoundDone { .. } => "RoundDone",
            },
            Message::Control(m) => match m {
                Control::Restore { .. } => "Restore",
                Control::Ask { .. } => "Ask",
                Control::Shutdown => "Shutdown",
            },
            Message::ControlReply(m) => match m {
                ControlReply::Restored { .. } => "Restored",
                ControlReply::Answer { .. } => "Answer",
            },
            Message::Leaving { .. } => "Leaving",
        }
    }
}

/// What the coordinator process may ask a service process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Ask {
    /// Run read-only query `name` on the committed snapshot with this encoded input.
    Query { name: String, input: Vec<u8> },
    /// Every row of table `table` at the committed watermark, each encoded as its entity.
    Table { table: String },
    /// Every table at the committed watermark, as values (for serial-replay comparison).
    State,
    /// This process's counters (traffic, mode checker, refused events).
    Stats,
}

/// A service process's answer to an `Ask`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Answer {
    Query(Vec<u8>),
    Table(Vec<Vec<u8>>),
    State(crate::storage::store::ServiceState),
    Stats(NodeStats),
}

/// What a node sent over the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub bytes: u64,
    pub frames: u64,
    pub messages: u64,
}

impl std::ops::Add for Traffic {
    type Output = Traffic;
    fn add(self, o: Traffic) -> Traffic {
        Traffic {
            bytes: self.bytes + o.bytes,
            frames: self.frames + o.frames,
            messages: self.messages + o.messages,
        }
    }
}

/// A service process's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// What it sent over the network.
    pub traffic: Traffic,
    /// Conflicts its mode checker saw (0 unless checking modes), and the first few described.
    pub mode_violations: u64,
    pub mode_examples: Vec<String>,
    /// Envelopes it refused as malformed, and messages dropped because their sender may not
    /// send them (`Message::may_travel`).
    pub refused: u64,
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeId {
    Coordinator,
    Service(ServiceId),
}

/// The message layer. Implementations deliver each message exactly once; messages from one
/// sender to one receiver arrive in the order sent (nothing is promised across senders).
/// The state machines send through the typed methods, each one direction of the protocol.
pub trait Transport: Send + Sync {
    fn send(&self, from: NodeId, to: NodeId, message: Message);

    /// To service `to`, from the coordinator or (events only) an upstream service.
    fn to_service(&self, from: NodeId, to: ServiceId, message: ToService) {
        self.send(from, NodeId::Service(to), Message::ToService(message));
    }

    /// Service → coordinator (the sender is the message's `service`).
    fn to_coordinator(&self, message: ToCoordinator) {
        let from = NodeId::Service(message.service());
        self.send(from, NodeId::Coordinator, Message::ToCoordinator(message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: NodeId = NodeId::Coordinator;
    const S0: NodeId = NodeId::Service(0);
    const S1: NodeId = NodeId::Service(1);

    fn events() -> Message {
        Message::ToService(ToService::Events(vec![]))
    }

    #[test]
    fn only_the_coordinator_drives_and_a_service_speaks_only_for_itself() {
        let commit = Message::ToService(ToService::CommitBatch {
            batch: 1,
            max_tid: 9,
            checkpoint: None,
        });
        assert!(commit.may_travel(C, S0));
        assert!(
            !commit.may_travel(S1, S0),
            "a service may not commit a batch"
        );
        let shutdown = Message::Control(Control::Shutdown);
        assert!(shutdown.may_travel(C, S0));
        assert!(!shutdown.may_travel(S1, S0), "nor stop another service");
        let rollback = Message::ToService(ToService::Rollback {
            round: 1,
            undo: vec![],
            rerun: 0,
        });
        assert!(!rollback.may_travel(S1, S0));
        let vote = Message::ToCoordinator(ToCoordinator::BatchDone {
            batch: 1,
            service: 0,
        });
        assert!(vote.may_travel(S0, C));
        assert!(
            !vote.may_travel(S1, C),
            "a service may not vote for another"
        );
        assert!(!vote.may_travel(C, S0));
        assert!(events().may_travel(S1, S0));
        assert!(events().may_travel(C, S1));
        assert!(!events().may_travel(S0, S0));
        assert!(!events().may_travel(S0, C));
        let answer = Message::ControlReply(ControlReply::Answer {
            id: 1,
            answer: Err("x".into()),
        });
        assert!(answer.may_travel(S0, C) && !answer.may_travel(C, S0));
        assert!(!answer.may_travel(S0, S1));
        let restored = Message::ControlReply(ControlReply::Restored {
            service: 0,
            error: None,
        });
        assert!(restored.may_travel(S0, C) && !restored.may_travel(S1, C));
    }
}
