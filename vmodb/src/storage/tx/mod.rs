//! The transaction context a handler runs in: its TID, the deterministic clock and randomness the
//! coordinator assigned, typed table access, and the log of what it wrote (to undo a failed task).

use crate::model::error::TxError;
use crate::model::mode_check::ModeChecker;
use crate::model::schema::{Entity, Tid};
use crate::model::value::IndexKey;
use crate::storage::store::{Store, Table};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};

pub(crate) mod repo;

use repo::Repo;

/// Whether a context may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The deterministic environment of one transaction, fixed by the coordinator at sequencing and
/// carried with every event of the transaction, so serial replay reproduces it exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxEnv {
    pub tid: Tid,
    /// The coordinator's clock when it sequenced the transaction (µs since the Unix epoch).
    pub timestamp_us: u64,
    /// Seed for the transaction's randomness, derived from the cluster seed and the TID.
    pub seed: u64,
}

/// Keys one task wrote to one table, to drop its versions if the task fails.
trait WriteLog: Send + Sync {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn undo(&self, store: &Store, tid: Tid);
}

struct KeysOf<E: Entity>(smallvec::SmallVec<[E::Key; 2]>);

impl<E: Entity> WriteLog for KeysOf<E> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn undo(&self, store: &Store, tid: Tid) {
        if let Ok(table) = store.table::<E>() {
            table.undo(tid, &self.0);
        }
    }
}

type WriteLogs = smallvec::SmallVec<[(usize, Box<dyn WriteLog>); 2]>;

/// The keys one task wrote, per table. A service keeps it until the task's batch commits, so a
/// cross-service abort can drop the task's versions (see `rollback/`).
#[derive(Default)]
pub(crate) struct WriteSet(WriteLogs);

impl WriteSet {
    /// Drops every version `tid` wrote (a no-op for keys whose version is already gone).
    pub fn undo(&self, store: &Store, tid: Tid) {
        for (_, log) in self.0.iter() {
            log.undo(store, tid);
        }
    }
}

/// What a handler (or a read-only query) gets: `ctx.table::<E>()` for typed access,
/// `ctx.now_us()` and `ctx.rng()` for time and randomness. Never read the wall clock in a handler.
pub struct TxCtx<'a> {
    pub(crate) store: &'a Store,
    env: TxEnv,
    /// The TID whose view reads see: the own TID for handlers, the watermark for queries.
    read_at: Tid,
    access: Access,
    /// Replica tables this handler is declared to maintain.
    replicates: &'a [String],
    writes: RefCell<WriteLogs>,
    rng: RefCell<Option<Xoshiro256PlusPlus>>,
    /// The mode checker and the service name, when the run checks mode declarations.
    checker: Option<(&'a ModeChecker, &'a str)>,
    /// Whether an earlier task of this service may still be running (see `fk_settled`).
    earlier_running: Option<&'a dyn Fn() -> bool>,
    /// A foreign-key check read what an earlier running task may still change.
    unsettled: Cell<bool>,
}

impl<'a> TxCtx<'a> {
    pub(crate) fn new(
        store: &'a Store,
        env: TxEnv,
        access: Access,
        replicates: &'a [String],
    ) -> Self {
        TxCtx {
            store,
            env,
            read_at: env.tid,
            access,
            replicates,
            writes: RefCell::new(smallvec::SmallVec::new()),
            rng: RefCell::new(None),
            checker: None,
            earlier_running: None,
            unsettled: Cell::new(false),
        }
    }

    /// A read-only view at `at` (a pinned committed snapshot).
    pub(crate) fn snapshot(store: &'a Store, at: Tid) -> Self {
        let env = TxEnv {
            tid: at,
            timestamp_us: 0,
            seed: 0,
        };
        TxCtx::new(store, env, Access::ReadOnly, &[])
    }

    /// Reports this context's row accesses to `checker` (service `service`).
    pub(crate) fn checked_by(mut self, checker: Option<(&'a ModeChecker, &'a str)>) -> Self {
        self.checker = checker;
        self
    }

    /// Tells the context how to learn whether an earlier task of its service may still run.
    pub(crate) fn with_earlier_running(mut self, f: Option<&'a dyn Fn() -> bool>) -> Self {
        self.earlier_running = f;
        self
    }

    /// Whether a foreign-key check's answer is final: no earlier task of this service can
    /// still change what it reads. Foreign-key checks read rows no execution mode declares (a
    /// parent of another partition, the referrers of a deleted row), so the engine, not the
    /// declarations, must keep them serial: an unsettled check marks the task, which the
    /// service then runs again once every earlier task finished (`node::fk_guard`).
    pub(crate) fn fk_settled(&self) -> bool {
        let settled = self.earlier_running.is_none_or(|f| !f());
        if !settled {
            self.unsettled.set(true);
        }
        settled
    }

    /// Whether a foreign-key check of this task read what an earlier running task may change.
    pub(crate) fn fk_unsettled(&self) -> bool {
        self.unsettled.get()
    }

    /// Whether a mode checker records this context's accesses.
    pub(crate) fn checks_accesses(&self) -> bool {
        self.checker.is_some()
    }

    /// Records a row access for the mode checker (a no-op unless one is attached).
    pub(crate) fn note_access<K: std::hash::Hash>(
        &self,
        table_index: usize,
        table: &str,
        key: &K,
        write: bool,
    ) {
        if let Some((checker, service)) = self.checker {
            use std::hash::BuildHasher;
            let hash = rustc_hash::FxBuildHasher.hash_one(key);
            checker.access(service, self.env.tid, table, table_index, hash, write);
        }
    }

    /// Records, for the mode checker, a foreign-key access to parent key `parent` of table
    /// `table` (a read when a child is written, a write when the parent is deleted), as an
    /// access to a row of its own ("the references to `parent`").
    pub(crate) fn note_fk(&self, table_index: usize, table: &str, parent: &IndexKey, write: bool) {
        if self.checker.is_some() {
            let pseudo = usize::MAX - table_index;
            self.note_access(pseudo, &format!("fk:{table}"), parent, write);
        }
    }

    pub fn tid(&self) -> Tid {
        self.env.tid
    }

    /// The transaction's timestamp in microseconds since the Unix epoch (assigned at sequencing).
    pub fn now_us(&self) -> u64 {
        self.env.timestamp_us
    }

    /// The transaction's random number generator, seeded from the cluster seed and the TID.
    pub fn rng(&self) -> RefMut<'_, Xoshiro256PlusPlus> {
        RefMut::map(self.rng.borrow_mut(), |r| {
            r.get_or_insert_with(|| Xoshiro256PlusPlus::seed_from_u64(self.env.seed))
        })
    }

    pub fn is_read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }

    /// Typed access to the table holding entity `E`.
    pub fn table<E: Entity>(&self) -> Result<Repo<'_, E>, TxError> {
        let table = self.store.table::<E>()?;
        let index = self.store.table_index::<E>().unwrap_or(usize::MAX);
        Ok(Repo::new(self, table, index))
    }

    pub(crate) fn read_at(&self) -> Tid {
        self.read_at
    }

    pub(crate) fn check_writable<E: Entity>(&self, table: &Table<E>) -> Result<(), TxError> {
        if self.access == Access::ReadOnly {
            return Err(TxError::ReadOnly {
                table: table.meta.name.clone(),
            });
        }
        if table.meta.replica_of.is_some() && !self.replicates.iter().any(|t| *t == table.meta.name)
        {
            return Err(TxError::ReplicaWrite {
                table: table.meta.name.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn record_write<E: Entity>(&self, table_index: usize, key: E::Key) {
        let mut writes = self.writes.borrow_mut();
        let slot = match writes.iter().position(|(i, _)| *i == table_index) {
            Some(p) => p,
            None => {
                writes.push((
                    table_index,
                    Box::new(KeysOf::<E>(smallvec::SmallVec::new())),
                ));
                writes.len() - 1
            }
        };
        if let Some(log) = writes[slot].1.as_any_mut().downcast_mut::<KeysOf<E>>() {
            log.0.push(key);
        }
    }

    /// Drops every version this context wrote (the task failed).
    pub(crate) fn undo_writes(&self) {
        WriteSet(self.writes.take()).undo(self.store, self.env.tid);
    }

    /// What this context wrote (empty after `undo_writes`).
    pub(crate) fn into_write_set(self) -> WriteSet {
        WriteSet(self.writes.into_inner())
    }
}
