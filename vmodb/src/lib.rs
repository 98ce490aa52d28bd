//! # vmodb — ACID transactions across event-driven microservices
//!
//! A microservice (`Service`) declares its tables (`TableDef`) and its event handlers (`Handler`):
//! each handler consumes one event, may emit one, and states its read/write type and execution mode.
//! Transactions (`TransactionDef`) are DAGs of services. The coordinator gives every transaction a
//! TID and a batch; each service runs its share in TID order on its own multi-version store; batches
//! commit atomically across services, and clients learn each outcome at commit.
//!
//! See `ARCHITECTURE.md` at the repository root for the design and its invariants.

mod app;
mod client;
mod cluster;
mod coordinator;
mod delay_line;
pub mod deploy;
pub mod durability;
mod error;
pub mod front_door;
mod json_codec;
mod load;
mod message;
mod mode_check;
pub mod net;
mod node;
mod replay;
mod rollback;
mod row_codec;
mod scheduler;
mod schema;
mod service;
pub mod sim;
mod store;
mod tx;
mod value;
pub mod wal;

pub use app::{App, AppBuilder, TransactionDef};
pub use client::Client;
pub use cluster::{Cluster, ClusterConfig, ClusterState, ClusterStats, Loader};
pub use coordinator::{
    Completion, CoordinatorConfig, CoordinatorStats, LoggedCommit, Notifier, Outcome, Output,
    Request, RollbackStats, SequencedInput,
};
pub use delay_line::LinkDelay;
pub use error::{BootstrapError, QueryError, SubmitError, TxError};
pub use message::{
    Answer, Ask, BatchId, Control, ControlReply, Envelope, MAX_PAYLOAD, Message, NodeId, NodeStats,
    ServiceId, TaskReport, ToCoordinator, ToService, Transport,
};
pub use replay::{
    ReplayCheck, ReplayOutcome, SerialReplay, check_serial_replay, serial_replay,
    serial_replay_outcomes,
};
pub use row_codec::{CodecError, to_named_values, to_values};
pub use schema::{Check, Entity, TableDef, Tid};
pub use service::{Handler, HandlerDef, ModeKind, NoEvent, Service, TxKind};
pub use store::{ServiceState, TableState};
pub use tx::repo::{Query, Repo};
pub use tx::{TxCtx, TxEnv};
pub use value::{IndexKey, ToIndexKey, Value};

/// Internals exposed for the engine's own tests and benchmarks; not a stable API.
#[doc(hidden)]
pub mod internals {
    pub use crate::scheduler::{Chain, Footprint, InsertError, Slot};
    pub use crate::store::Store;
    pub use crate::tx::Access;

    use crate::schema::{Entity, TableDef, TableMeta, Tid};
    use crate::store::{ErasedTable, Table};
    use crate::tx::{TxCtx, TxEnv};
    use std::any::TypeId;
    use std::sync::Arc;

    /// A store holding one table, for store-level tests and benchmarks.
    pub fn single_table_store<E: Entity>(def: TableDef<E>) -> Result<Arc<Store>, String> {
        let meta = Arc::new(TableMeta::compile(def)?);
        let table: Box<dyn ErasedTable> = Box::new(Table::new(meta));
        Store::new(vec![(TypeId::of::<E>(), table)]).map(Arc::new)
    }

    /// A store holding every table `service` declares (e.g. a parent and a child linked by a
    /// foreign key), for store-level tests.
    pub fn multi_table_store(service: &crate::service::Service) -> Result<Arc<Store>, String> {
        if !service.problems.is_empty() {
            return Err(service.problems.join("; "));
        }
        service.build_store().map(Arc::new)
    }

    /// A read-write context at `tid` over `store`.
    pub fn write_ctx(store: &Store, tid: Tid) -> TxCtx<'_> {
        TxCtx::new(
            store,
            TxEnv {
                tid,
                timestamp_us: 0,
                seed: 0,
            },
            crate::tx::Access::ReadWrite,
            &[],
        )
    }

    /// A read-only context reading at `tid`.
    pub fn read_ctx(store: &Store, tid: Tid) -> TxCtx<'_> {
        TxCtx::snapshot(store, tid)
    }

    /// Undo the writes of a context (as a failed task would).
    pub fn undo(ctx: &TxCtx<'_>) {
        ctx.undo_writes();
    }

    /// Advance the watermark and collect garbage (as a batch commit does).
    pub fn commit(store: &Store, max_tid: Tid) -> usize {
        store.commit_batch(max_tid)
    }

    /// Pin the current watermark as a reader would; GC keeps it readable until the pin drops.
    pub fn pin(store: &Arc<Store>) -> impl Drop + use<> {
        store.pin_snapshot()
    }
}
