//! The VMS programming model: a microservice is a name, its tables, its event handlers and its
//! read-only queries. Handlers are declared with a typed builder that reads like the paper's
//! annotations and hands the runtime every semantic it uses:
//!
//! ```ignore
//! Handler::on::<ReserveStock>("reserve_stock")      // @Inbound
//!     .emits::<StockConfirmed>("stock_confirmed")   // @Outbound
//!     .read_write()                                 // @Transactional(RW)
//!     .partition_by(|e| e.item_id)                  // @PartitionBy
//!     .run(|ctx, e| { ... })
//! ```

use crate::model::error::TxError;
use crate::model::json_codec::JsonCodec;
use crate::model::mode_check::ModeChecker;
use crate::model::schema::{Entity, TableDef, TableMeta};
use crate::storage::store::{ErasedTable, Store, Table};
use crate::storage::tx::{Access, TxCtx, TxEnv, WriteSet};
use serde::Serialize;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;
use std::any::{Any, TypeId};
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// The largest event payload, in bytes: a transaction input (refused at submission) or a
/// handler's output event (the task fails). The same in every deployment, and far below the
/// largest message a link carries (`net::MAX_BATCH`), so no event is ever too big to send.
pub const MAX_PAYLOAD: usize = 256 << 20;

/// Read/write type of a handler (`@Transactional(type = ...)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TxKind {
    /// Reads only; never blocks later writers (they write newer versions it does not see).
    R,
    /// Writes (blind writes, e.g. inserts).
    W,
    /// Reads and writes.
    RW,
}

/// Execution mode of a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ModeKind {
    /// Runs alone, in TID order.
    Single,
    /// Runs concurrently with tasks whose partition keys are disjoint.
    Partitioned,
    /// Declared free of conflicts with other parallel tasks of this service.
    Parallel,
}

/// Partition keys of one event, hashed (collisions only cost concurrency, never correctness).
pub(crate) type PartitionKeys = SmallVec<[u64; 4]>;

pub(crate) type Decoded = Box<dyn Any + Send>;
type DecodeFn = dyn Fn(&[u8]) -> Result<Decoded, TxError> + Send + Sync;
type PartitionFn = dyn Fn(&dyn Any) -> PartitionKeys + Send + Sync;
type RunFn = dyn Fn(&TxCtx, Decoded) -> Result<Option<Vec<u8>>, TxError> + Send + Sync;
type QueryFn = dyn Fn(&TxCtx, &[u8]) -> Result<Vec<u8>, TxError> + Send + Sync;

/// A declared, type-erased event handler.
#[derive(Clone)]
pub struct HandlerDef {
    pub(crate) inbound: String,
    pub(crate) inbound_type: (TypeId, &'static str),
    pub(crate) outbound: Option<(Arc<str>, TypeId, &'static str)>,
    /// JSON ↔ wire for the inbound and the outbound event (the HTTP front door).
    pub(crate) inbound_json: JsonCodec,
    pub(crate) outbound_json: Option<JsonCodec>,
    pub(crate) kind: TxKind,
    pub(crate) mode: ModeKind,
    pub(crate) replicates: Vec<String>,
    pub(crate) decode: Arc<DecodeFn>,
    pub(crate) partition: Option<Arc<PartitionFn>>,
    pub(crate) run: Arc<RunFn>,
}

impl HandlerDef {
    pub fn inbound(&self) -> &str {
        &self.inbound
    }
    pub fn outbound(&self) -> Option<&str> {
        self.outbound.as_ref().map(|o| &*o.0)
    }
    pub fn kind(&self) -> TxKind {
        self.kind
    }
    pub fn mode(&self) -> ModeKind {
        self.mode
    }
    pub(crate) fn access(&self) -> Access {
        if self.kind == TxKind::R {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        }
    }

    /// Decodes an input and computes its partition keys (`None` unless partitioned): the
    /// application code that runs before the handler. A payload that does not decode, or a
    /// panic in either, is the task's failure, as a failing handler would be (also in serial
    /// replay, so both agree on which transactions abort).
    pub(crate) fn prepare(
        &self,
        bytes: &[u8],
    ) -> Result<(Decoded, Option<PartitionKeys>), TxError> {
        catch_unwind(AssertUnwindSafe(|| {
            let input = (self.decode)(bytes)?;
            let keys = match self.mode {
                ModeKind::Partitioned => Some(
                    self.partition
                        .as_ref()
                        .map(|f| f(&*input))
                        .unwrap_or_default(),
                ),
                _ => None,
            };
            Ok((input, keys))
        }))
        .unwrap_or_else(|panic| Err(TxError::Panic(panic_message(&panic))))
    }

    /// Runs the handler on a decoded input at `env.tid`. A failure (error or panic) undoes the
    /// task's writes, so a failed task leaves nothing behind at this service. Returns what the
    /// task wrote too (empty on failure), which the service keeps until commit. `None` if a
    /// foreign-key check read what an earlier task still running may change
    /// (`earlier_running`, see `TxCtx::fk_settled`): the task's writes are undone, and it must
    /// run again once the earlier tasks finished.
    pub(crate) fn execute(
        &self,
        store: &Store,
        env: TxEnv,
        input: Decoded,
        checker: Option<(&ModeChecker, &str)>,
        earlier_running: Option<&dyn Fn() -> bool>,
    ) -> Option<Executed> {
        let ctx = TxCtx::new(store, env, self.access(), &self.replicates)
            .checked_by(checker)
            .with_earlier_running(earlier_running);
        let result = catch_unwind(AssertUnwindSafe(|| (self.run)(&ctx, input)))
            .unwrap_or_else(|panic| Err(TxError::Panic(panic_message(&panic))))
            .and_then(|output| match output {
                // An event too big for any deployment to carry fails its task.
                Some(out) if out.len() > MAX_PAYLOAD => Err(TxError::app(format!(
                    "an output event of {} bytes, over the {}-byte limit",
                    out.len(),
                    MAX_PAYLOAD
                ))),
                output => Ok(output),
            });
        if result.is_err() || ctx.fk_unsettled() {
            ctx.undo_writes();
        }
        if ctx.fk_unsettled() {
            return None;
        }
        Some((result, ctx.into_write_set()))
    }
}

/// What a handler run gave: its output event (or failure), and what it wrote.
pub(crate) type Executed = (Result<Option<Vec<u8>>, TxError>, WriteSet);

pub(crate) fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Marker for handlers that emit nothing.
pub struct NoEvent;

/// Typed builder for a handler consuming `In` and emitting `Out`.
pub struct Handler<In, Out> {
    inbound: String,
    outbound: Option<String>,
    outbound_json: Option<JsonCodec>,
    kind: TxKind,
    mode: ModeKind,
    partition: Option<Arc<PartitionFn>>,
    replicates: Vec<String>,
    _types: std::marker::PhantomData<fn(In) -> Out>,
}

impl Handler<(), NoEvent> {
    /// A handler for the inbound event `event` (payload type `In`). Defaults: RW, single-threaded.
    pub fn on<In: DeserializeOwned + Serialize + Send + 'static>(
        event: &str,
    ) -> Handler<In, NoEvent> {
        Handler {
            inbound: event.to_string(),
            outbound: None,
            outbound_json: None,
            kind: TxKind::RW,
            mode: ModeKind::Single,
            partition: None,
            replicates: Vec::new(),
            _types: std::marker::PhantomData,
        }
    }
}

impl<In: DeserializeOwned + Serialize + Send + 'static> Handler<In, NoEvent> {
    /// The handler may emit one `Out` event named `event` per transaction.
    pub fn emits<Out: Serialize + DeserializeOwned + 'static>(
        self,
        event: &str,
    ) -> Handler<In, Out> {
        Handler {
            inbound: self.inbound,
            outbound: Some(event.to_string()),
            outbound_json: Some(JsonCodec::of::<Out>()),
            kind: self.kind,
            mode: self.mode,
            partition: self.partition,
            replicates: self.replicates,
            _types: std::marker::PhantomData,
        }
    }

    /// The handler body for a handler without output.
    pub fn run(
        self,
        f: impl Fn(&TxCtx, In) -> Result<(), TxError> + Send + Sync + 'static,
    ) -> HandlerDef {
        self.finish(
            None,
            Arc::new(move |ctx, input| f(ctx, *downcast::<In>(input)).map(|()| None)),
        )
    }
}

impl<In: DeserializeOwned + Serialize + Send + 'static, Out> Handler<In, Out> {
    pub fn read_only(mut self) -> Self {
        self.kind = TxKind::R;
        self
    }
    pub fn write_only(mut self) -> Self {
        self.kind = TxKind::W;
        self
    }
    pub fn read_write(mut self) -> Self {
        self.kind = TxKind::RW;
        self
    }

    /// Runs alone, in TID order (the default).
    pub fn single(mut self) -> Self {
        self.mode = ModeKind::Single;
        self.partition = None;
        self
    }

    /// Partitioned by one key computed from the event.
    pub fn partition_by<K: Hash>(self, key: impl Fn(&In) -> K + Send + Sync + 'static) -> Self {
        self.partition_by_keys(move |e| std::iter::once(key(e)))
    }

    /// Partitioned by a set of keys computed from the event; tasks with disjoint sets may overlap.
    /// An empty set makes the task run alone.
    pub fn partition_by_keys<K: Hash, I: IntoIterator<Item = K>>(
        mut self,
        keys: impl Fn(&In) -> I + Send + Sync + 'static,
    ) -> Self {
        use std::hash::BuildHasher;
        self.mode = ModeKind::Partitioned;
        self.partition = Some(Arc::new(move |event: &dyn Any| {
            let Some(event) = event.downcast_ref::<In>() else {
                return PartitionKeys::new();
            };
            let mut out: PartitionKeys = keys(event)
                .into_iter()
                .map(|k| rustc_hash::FxBuildHasher.hash_one(&k))
                .collect();
            out.sort_unstable();
            out.dedup();
            out
        }));
        self
    }

    /// Declares the handler free of conflicts with every other parallel task of its service.
    pub fn parallel(mut self) -> Self {
        self.mode = ModeKind::Parallel;
        self.partition = None;
        self
    }

    /// Declares that this handler maintains replica table `table` (the declared replication).
    pub fn replicates(mut self, table: &str) -> Self {
        self.replicates.push(table.to_string());
        self
    }

    fn finish(
        self,
        outbound: Option<(Arc<str>, TypeId, &'static str)>,
        run: Arc<RunFn>,
    ) -> HandlerDef {
        let event = self.inbound.clone();
        HandlerDef {
            inbound: self.inbound,
            inbound_type: (TypeId::of::<In>(), std::any::type_name::<In>()),
            outbound,
            inbound_json: JsonCodec::of::<In>(),
            outbound_json: self.outbound_json,
            kind: self.kind,
            mode: self.mode,
            replicates: self.replicates,
            decode: Arc::new(move |bytes| {
                postcard::from_bytes::<In>(bytes)
                    .map(|v| Box::new(v) as Decoded)
                    .map_err(|e| TxError::Decode {
                        event: event.clone(),
                        detail: e.to_string(),
                    })
            }),
            partition: self.partition,
            run,
        }
    }
}

impl<In, Out> Handler<In, Out>
where
    In: DeserializeOwned + Serialize + Send + 'static,
    Out: Serialize + DeserializeOwned + Send + 'static,
{
    /// The handler body. Return `Some(out)` (or just `out`) to emit, `None` to emit nothing; the
    /// runtime then tells the downstream services there is nothing for them in this transaction.
    pub fn run<R: Into<Option<Out>>>(
        self,
        f: impl Fn(&TxCtx, In) -> Result<R, TxError> + Send + Sync + 'static,
    ) -> HandlerDef {
        let name = self.outbound.clone().unwrap_or_default();
        let outbound = Some((
            Arc::from(name.as_str()),
            TypeId::of::<Out>(),
            std::any::type_name::<Out>(),
        ));
        self.finish(
            outbound,
            Arc::new(move |ctx, input| {
                let out: Option<Out> = f(ctx, *downcast::<In>(input))?.into();
                out.map(|o| {
                    postcard::to_allocvec(&o).map_err(|e| TxError::Encode {
                        event: name.clone(),
                        detail: e.to_string(),
                    })
                })
                .transpose()
            }),
        )
    }
}

fn downcast<T: 'static>(input: Decoded) -> Box<T> {
    // The runtime pairs each decode function with its own run function.
    input
        .downcast::<T>()
        .expect("decoded payload has the handler's input type")
}

/// A read-only query answered from the last committed snapshot.
#[derive(Clone)]
pub struct QueryDef {
    pub(crate) name: String,
    pub(crate) run: Arc<QueryFn>,
    /// JSON ↔ wire for the input and the answer (the HTTP front door).
    pub(crate) input_json: JsonCodec,
    pub(crate) output_json: JsonCodec,
}

type TableFactory = Arc<dyn Fn() -> (TypeId, Box<dyn ErasedTable>) + Send + Sync>;

/// A microservice: tables, handlers, queries. Problems found while declaring are kept and
/// reported by the bootstrap checks with the service's name.
#[derive(Clone)]
pub struct Service {
    pub(crate) name: String,
    pub(crate) tables: Vec<(String, TableFactory)>,
    pub(crate) handlers: Vec<HandlerDef>,
    pub(crate) queries: Vec<QueryDef>,
    pub(crate) problems: Vec<String>,
}

impl Service {
    pub fn new(name: &str) -> Self {
        Service {
            name: name.to_string(),
            tables: Vec::new(),
            handlers: Vec::new(),
            queries: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn table<E: Entity>(mut self, def: TableDef<E>) -> Self {
        let name = def.name.clone();
        match TableMeta::compile(def) {
            Ok(meta) => {
                let meta = Arc::new(meta);
                let factory: TableFactory = Arc::new(move || {
                    (
                        TypeId::of::<E>(),
                        Box::new(Table::new(Arc::clone(&meta))) as Box<dyn ErasedTable>,
                    )
                });
                self.tables.push((name, factory));
            }
            Err(e) => self.problems.push(e),
        }
        self
    }

    pub fn handler(mut self, handler: HandlerDef) -> Self {
        self.handlers.push(handler);
        self
    }

    /// A read-only query `name` taking `In` and answering `Out`, run on the committed snapshot.
    pub fn query<In, Out>(
        mut self,
        name: &str,
        f: impl Fn(&TxCtx, In) -> Result<Out, TxError> + Send + Sync + 'static,
    ) -> Self
    where
        In: DeserializeOwned + Serialize + 'static,
        Out: Serialize + DeserializeOwned + 'static,
    {
        let qname = name.to_string();
        self.queries.push(QueryDef {
            name: name.to_string(),
            input_json: JsonCodec::of::<In>(),
            output_json: JsonCodec::of::<Out>(),
            run: Arc::new(move |ctx, bytes| {
                let input = postcard::from_bytes::<In>(bytes).map_err(|e| TxError::Decode {
                    event: qname.clone(),
                    detail: e.to_string(),
                })?;
                let out = f(ctx, input)?;
                postcard::to_allocvec(&out).map_err(|e| TxError::Encode {
                    event: qname.clone(),
                    detail: e.to_string(),
                })
            }),
        });
        self
    }

    /// A fresh, empty store with this service's tables.
    pub(crate) fn build_store(&self) -> Result<Store, String> {
        Store::new(self.tables.iter().map(|(_, f)| f()).collect())
            .map_err(|e| format!("service `{}`: {e}", self.name))
    }

    pub(crate) fn handler_for(&self, event: &str) -> Option<usize> {
        self.handlers.iter().position(|h| h.inbound == event)
    }
}
