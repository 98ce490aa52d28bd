//! # vmodb — ACID transactions across event-driven microservices
//!
//! A microservice (`Service`) declares its tables (`TableDef`) and its event handlers (`Handler`):
//! each handler consumes one event, may emit one, and states its read/write type and execution mode.
//! Transactions (`TransactionDef`) are DAGs of services. The coordinator gives every transaction a
//! TID and a batch; each service runs its share in TID order on its own multi-version store; batches
//! commit atomically across services, and clients learn each outcome at commit.
//!
//! See `ARCHITECTURE.md` at the repository root for the design and its invariants.

// Layers, bottom to top; each imports only the ones above it in this list (`tests/layers.rs`).
mod app;
mod deploy;
pub mod durability;
mod model;
mod runtime;
mod storage;

// The public paths of the layers' public modules.
pub use deploy::{front_door, net, processes, sim};
pub use storage::wal;

pub use app::service::{Handler, HandlerDef, ModeKind, NoEvent, Service, TxKind};
pub use app::{App, AppBuilder, TransactionDef};
pub use deploy::client::Client;
pub use deploy::cluster::{Cluster, ClusterConfig, ClusterState, ClusterStats, Loader};
pub use deploy::delay_line::LinkDelay;
pub use deploy::replay::{
    ReplayCheck, ReplayOutcome, SerialReplay, check_serial_replay, serial_replay,
    serial_replay_outcomes,
};
pub use model::error::{BootstrapError, QueryError, SubmitError, TxError};
pub use model::row_codec::{CodecError, to_named_values, to_values};
pub use model::schema::{Check, Entity, TableDef, Tid};
pub use model::value::{IndexKey, ToIndexKey, Value};
pub use runtime::coordinator::{
    Completion, CoordinatorConfig, CoordinatorStats, LoggedCommit, Notifier, Outcome, Output,
    Request, RollbackStats, SequencedInput,
};
pub use runtime::message::{
    Answer, Ask, BatchId, Control, ControlReply, Envelope, MAX_PAYLOAD, Message, NodeId, NodeStats,
    ServiceId, TaskReport, ToCoordinator, ToService, Transport,
};
pub use storage::store::{ServiceState, TableState};
pub use storage::tx::repo::{Query, Repo};
pub use storage::tx::{TxCtx, TxEnv};

/// Internals exposed for the engine's own tests and benchmarks; not a stable API.
#[doc(hidden)]
pub mod internals {
    pub use crate::runtime::scheduler::{Chain, Footprint, InsertError, Slot};
    pub use crate::storage::store::Store;
    pub use crate::storage::tx::Access;

    use crate::model::schema::{Entity, TableDef, TableMeta, Tid};
    use crate::storage::store::{ErasedTable, Table};
    use crate::storage::tx::{TxCtx, TxEnv};
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
    pub fn multi_table_store(service: &crate::app::service::Service) -> Result<Arc<Store>, String> {
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
            crate::storage::tx::Access::ReadWrite,
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
