//! The embedded multi-version store of one service: its tables, the committed watermark, the
//! registry of snapshots being read (which bounds GC), and state dumps.

mod image;
mod index;
mod rows;
mod table;

pub(crate) use table::{Expect, Table, WriteConflict};

use crate::model::error::TxError;
use crate::model::row_codec::to_values;
use crate::model::schema::{Entity, Tid};
use crate::model::value::{IndexKey, Value};
use parking_lot::Mutex;
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One table's part of a checkpoint: its name, its rows and its deleted keys, each framed
/// `[len u32 LE][postcard]` (`image.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableImage {
    pub name: String,
    pub rows: Vec<u8>,
    pub deleted: Vec<u8>,
}

/// A table with its type erased, for what the runtime does to every table alike.
pub(crate) trait ErasedTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn name(&self) -> &str;
    fn columns(&self) -> Vec<String>;
    fn collect(&self, horizon: Tid) -> usize;
    fn dump(&self, at: Tid) -> TableState;
    /// The rows visible at `at`, each encoded as its entity (postcard), in key order: typed
    /// reads of a store in another process.
    fn dump_encoded(&self, at: Tid) -> Vec<Vec<u8>>;
    /// Appends the rows visible at `at` whose version is newer than `since` (`None`: all) as
    /// `[len u32 LE][postcard row]` frames (a checkpoint; `image.rs`).
    fn encode_visible(&self, at: Tid, since: Option<Tid>, out: &mut Vec<u8>)
    -> Result<u64, String>;
    /// Appends the keys deleted in (`since`, `at`] and absent at `at`, and forgets the listed
    /// deletes up to `at` (`image.rs`).
    fn encode_deleted(&self, at: Tid, since: Tid, out: &mut Vec<u8>) -> Result<u64, String>;
    /// Installs an incremental checkpoint's rows and deleted keys as versions of `tid`.
    fn apply_delta(&self, rows: &[u8], deleted: &[u8], tid: Tid) -> Result<(), String>;
    fn track_deletes(&self);
    /// Installs rows framed by `encode_visible` as versions of `tid` (a checkpoint restored into
    /// an empty table; the rows were checked when first written, so no constraint runs here).
    fn restore_encoded(&self, rows: &[u8], tid: Tid) -> Result<(), String>;
    fn version_count(&self) -> usize;
    fn index_entry_count(&self) -> usize;
    fn replica_of(&self) -> Option<&(String, String)>;
    /// Foreign keys of this table: (fk name, parent table, internal index position).
    fn foreign_keys(&self) -> Vec<(String, String, TypeId, usize)>;
    /// Does some row visible at `tid` reference parent key `parent` through FK index `index`?
    fn has_referencing_row(&self, index: usize, parent: &IndexKey, tid: Tid) -> bool;
    /// `Table::visible_version` for a key given as `&dyn Any` (`None` if it is not this
    /// table's key type).
    fn visible_version_of(&self, key: &dyn Any, tid: Tid) -> Option<Option<(Tid, bool)>>;
}

impl<E: Entity> ErasedTable for Table<E> {
    fn visible_version_of(&self, key: &dyn Any, tid: Tid) -> Option<Option<(Tid, bool)>> {
        let key = key.downcast_ref::<E::Key>()?;
        Some(self.visible_version(key, tid))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
    fn name(&self) -> &str {
        &self.meta.name
    }
    fn columns(&self) -> Vec<String> {
        self.meta.columns.iter().map(|c| c.to_string()).collect()
    }
    fn collect(&self, horizon: Tid) -> usize {
        Table::collect(self, horizon)
    }
    fn dump(&self, at: Tid) -> TableState {
        let rows = self
            .scan(at)
            .into_iter()
            .map(|(_, row)| to_values(&row).unwrap_or_default())
            .collect();
        TableState {
            columns: self.columns(),
            rows,
        }
    }
    fn dump_encoded(&self, at: Tid) -> Vec<Vec<u8>> {
        let rows = self.scan(at).into_iter();
        rows.filter_map(|(_, row)| postcard::to_allocvec(&row).ok())
            .collect()
    }
    fn encode_visible(
        &self,
        at: Tid,
        since: Option<Tid>,
        out: &mut Vec<u8>,
    ) -> Result<u64, String> {
        Table::encode_visible(self, at, since, out)
    }
    fn encode_deleted(&self, at: Tid, since: Tid, out: &mut Vec<u8>) -> Result<u64, String> {
        Table::encode_deleted(self, at, since, out)
    }
    fn apply_delta(&self, rows: &[u8], deleted: &[u8], tid: Tid) -> Result<(), String> {
        Table::apply_delta(self, rows, deleted, tid)
    }
    fn track_deletes(&self) {
        Table::track_deletes(self)
    }
    fn restore_encoded(&self, rows: &[u8], tid: Tid) -> Result<(), String> {
        Table::restore_encoded(self, rows, tid)
    }
    fn version_count(&self) -> usize {
        Table::version_count(self)
    }
    fn index_entry_count(&self) -> usize {
        Table::index_entry_count(self)
    }
    fn replica_of(&self) -> Option<&(String, String)> {
        self.meta.replica_of.as_ref()
    }
    fn foreign_keys(&self) -> Vec<(String, String, TypeId, usize)> {
        let base = self.meta.indexes.len() - self.meta.foreign_keys.len();
        self.meta
            .foreign_keys
            .iter()
            .enumerate()
            .map(|(i, fk)| {
                (
                    fk.name.clone(),
                    fk.parent_table.clone(),
                    fk.parent_type,
                    base + i,
                )
            })
            .collect()
    }
    fn has_referencing_row(&self, index: usize, parent: &IndexKey, tid: Tid) -> bool {
        let fk = index - (self.meta.indexes.len() - self.meta.foreign_keys.len());
        self.index_candidates(index, parent).iter().any(|k| {
            self.read_with(k, tid, |row| {
                (self.meta.foreign_keys[fk].parent_key_values)(row).as_ref() == Some(parent)
            }) == Some(true)
        })
    }
}

/// The rows of one table at one TID: column names and values, rows in primary-key order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableState {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Every table of one service: table name → state.
pub type ServiceState = BTreeMap<String, TableState>;

/// A referencing foreign key: child table position and the FK's internal index there.
#[derive(Clone, Copy)]
pub(crate) struct Referrer {
    pub child: usize,
    pub index: usize,
}

pub struct Store {
    tables: Vec<Box<dyn ErasedTable>>,
    by_type: rustc_hash::FxHashMap<TypeId, usize>,
    by_name: HashMap<String, usize>,
    /// For each table, the foreign keys of other tables that point at it.
    referrers: Vec<Vec<Referrer>>,
    /// Highest TID of the last committed batch: the snapshot read-only queries read.
    watermark: AtomicU64,
    /// Snapshots being read (TID → readers); GC never drops a version one of them can see.
    readers: Mutex<BTreeMap<Tid, usize>>,
}

impl Store {
    pub(crate) fn new(tables: Vec<(TypeId, Box<dyn ErasedTable>)>) -> Result<Self, String> {
        let mut by_type = rustc_hash::FxHashMap::default();
        let mut by_name = HashMap::new();
        let mut list = Vec::new();
        for (i, (ty, t)) in tables.into_iter().enumerate() {
            if by_type.insert(ty, i).is_some() {
                return Err(format!(
                    "entity type of table `{}` is used by two tables",
                    t.name()
                ));
            }
            if by_name.insert(t.name().to_string(), i).is_some() {
                return Err(format!("table `{}` declared twice", t.name()));
            }
            list.push(t);
        }
        let mut referrers = vec![Vec::new(); list.len()];
        for (child, t) in list.iter().enumerate() {
            for (fk, parent_table, parent_type, index) in t.foreign_keys() {
                let parent = by_name.get(&parent_table).copied().ok_or_else(|| {
                    format!(
                        "foreign key `{fk}` of table `{}` names unknown table `{parent_table}`",
                        t.name()
                    )
                })?;
                if by_type.get(&parent_type) != Some(&parent) {
                    return Err(format!(
                        "foreign key `{fk}` of table `{}`: table `{parent_table}` does not hold the declared parent entity type",
                        t.name()
                    ));
                }
                referrers[parent].push(Referrer { child, index });
            }
        }
        Ok(Store {
            tables: list,
            by_type,
            by_name,
            referrers,
            watermark: AtomicU64::new(0),
            readers: Mutex::new(BTreeMap::new()),
        })
    }

    pub(crate) fn table<E: Entity>(&self) -> Result<&Table<E>, TxError> {
        self.table_index::<E>()
            .and_then(|i| self.tables[i].as_any().downcast_ref::<Table<E>>())
            .ok_or_else(|| TxError::UnknownTable(std::any::type_name::<E>().to_string()))
    }

    pub(crate) fn table_index<E: Entity>(&self) -> Option<usize> {
        self.by_type.get(&TypeId::of::<E>()).copied()
    }

    fn table_index_of(&self, t: TypeId) -> Option<usize> {
        self.by_type.get(&t).copied()
    }

    pub(crate) fn tables(&self) -> &[Box<dyn ErasedTable>] {
        &self.tables
    }

    pub(crate) fn table_index_by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Whether any table of this store has a foreign key (then foreign-key checks must be
    /// kept serial: `TxCtx::fk_settled`).
    pub(crate) fn has_foreign_keys(&self) -> bool {
        self.referrers.iter().any(|r| !r.is_empty())
    }

    pub(crate) fn table_by_name(&self, name: &str) -> Option<&dyn ErasedTable> {
        self.by_name.get(name).map(|i| &*self.tables[*i])
    }

    /// Is a row of table `parent` with key values `key` referenced by any row visible at `tid`?
    pub(crate) fn is_referenced(&self, parent: usize, key: &IndexKey, tid: Tid) -> bool {
        self.referrers[parent]
            .iter()
            .any(|r| self.tables[r.child].has_referencing_row(r.index, key, tid))
    }

    pub(crate) fn has_referrers(&self, parent: usize) -> bool {
        !self.referrers[parent].is_empty()
    }

    pub fn watermark(&self) -> Tid {
        self.watermark.load(Ordering::Acquire)
    }

    /// Registers a reader of the current watermark; the snapshot stays readable until dropped.
    pub(crate) fn pin_snapshot(self: &Arc<Self>) -> SnapshotPin {
        let mut readers = self.readers.lock();
        // Read the watermark under the lock so GC (which takes the lock to compute its horizon)
        // cannot slip between reading it and registering it.
        let at = self.watermark();
        *readers.entry(at).or_insert(0) += 1;
        SnapshotPin {
            store: Arc::clone(self),
            at,
        }
    }

    /// Advances the watermark to a newly committed batch's last TID and collects garbage.
    /// Returns the number of versions dropped.
    pub(crate) fn commit_batch(&self, max_tid: Tid) -> usize {
        self.advance_watermark(max_tid);
        self.collect_garbage()
    }

    /// Makes a newly committed batch visible to queries (cheap; done at once on commit).
    pub(crate) fn advance_watermark(&self, max_tid: Tid) {
        let _readers = self.readers.lock();
        debug_assert!(max_tid >= self.watermark(), "watermark never goes back");
        self.watermark.store(max_tid, Ordering::Release);
    }

    /// Collects versions no reader can see: the horizon is the watermark, lowered to the oldest
    /// pinned snapshot. Returns the number of versions dropped. Concurrent calls are harmless
    /// (each takes the keys it visits from the dirty lists).
    pub(crate) fn collect_garbage(&self) -> usize {
        let horizon = {
            let readers = self.readers.lock();
            let w = self.watermark();
            readers.keys().next().map_or(w, |oldest| (*oldest).min(w))
        };
        self.tables.iter().map(|t| t.collect(horizon)).sum()
    }

    /// Every table's rows visible at `at`.
    pub fn dump(&self, at: Tid) -> ServiceState {
        self.tables
            .iter()
            .map(|t| (t.name().to_string(), t.dump(at)))
            .collect()
    }

    /// Every table's image at `at` for a checkpoint: (name, rows, deleted keys), framed
    /// (`image.rs`). `since` = `None`: a full image (every row visible at `at`, no deletes);
    /// `Some(tid)`: an incremental one over the checkpoint taken at `tid`: the rows whose
    /// visible version is newer, and the keys deleted since.
    pub(crate) fn checkpoint_tables(
        &self,
        at: Tid,
        since: Option<Tid>,
    ) -> Result<Vec<TableImage>, String> {
        self.tables
            .iter()
            .map(|t| {
                let (mut rows, mut deleted) = (Vec::new(), Vec::new());
                t.encode_visible(at, since, &mut rows)?;
                // A full image holds no deletes; the listed ones up to `at` are forgotten.
                t.encode_deleted(at, since.unwrap_or(at), &mut deleted)?;
                Ok(TableImage {
                    name: t.name().to_string(),
                    rows,
                    deleted,
                })
            })
            .collect()
    }

    /// Applies an incremental checkpoint taken at `tid` over the one restored (`restore`), and
    /// advances the watermark to `tid`.
    pub(crate) fn apply_delta(&self, tables: &[TableImage], tid: Tid) -> Result<(), String> {
        debug_assert!(tid >= self.watermark(), "checkpoints are applied in order");
        for t in tables {
            let table = self
                .table_by_name(&t.name)
                .ok_or_else(|| format!("the checkpoint holds unknown table `{}`", t.name))?;
            table.apply_delta(&t.rows, &t.deleted, tid)?;
        }
        self.advance_watermark(tid);
        Ok(())
    }

    /// Lists deletes from now on, for incremental checkpoints.
    pub(crate) fn track_deletes(&self) {
        for t in &self.tables {
            t.track_deletes();
        }
    }

    /// Fills this empty store from a checkpoint taken at `tid` (`dump_encoded`); the watermark
    /// becomes `tid`. Every table of the store must be in it, and nothing else.
    pub(crate) fn restore(&self, tables: &[TableImage], tid: Tid) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for TableImage { name, rows, .. } in tables {
            let t = self
                .table_by_name(name)
                .ok_or_else(|| format!("the checkpoint holds unknown table `{name}`"))?;
            if !seen.insert(name.as_str()) {
                return Err(format!("the checkpoint holds table `{name}` twice"));
            }
            t.restore_encoded(rows, tid)?;
        }
        if seen.len() != self.tables.len() {
            return Err(format!(
                "the checkpoint holds {} tables, the service declares {}",
                seen.len(),
                self.tables.len()
            ));
        }
        self.advance_watermark(tid);
        Ok(())
    }

    /// Versions held across tables (live rows plus garbage not yet collected).
    pub fn version_count(&self) -> usize {
        self.tables.iter().map(|t| t.version_count()).sum()
    }

    pub fn index_entry_count(&self) -> usize {
        self.tables.iter().map(|t| t.index_entry_count()).sum()
    }
}

/// Holds a snapshot readable: GC keeps every version visible at `at` while a pin exists.
pub(crate) struct SnapshotPin {
    store: Arc<Store>,
    pub at: Tid,
}

impl Drop for SnapshotPin {
    fn drop(&mut self) {
        let mut readers = self.store.readers.lock();
        if let Some(n) = readers.get_mut(&self.at) {
            *n -= 1;
            if *n == 0 {
                readers.remove(&self.at);
            }
        }
    }
}

impl crate::model::schema::ParentRows for Store {
    fn visible_version(
        &self,
        parent: (TypeId, &'static str),
        key: &dyn Any,
        tid: Tid,
    ) -> Result<Option<(Tid, bool)>, TxError> {
        self.table_index_of(parent.0)
            .and_then(|i| self.tables[i].visible_version_of(key, tid))
            .ok_or_else(|| TxError::UnknownTable(parent.1.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{TableDef, TableMeta};

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Row {
        id: u32,
    }
    impl Entity for Row {
        type Key = u32;
        fn key(&self) -> u32 {
            self.id
        }
    }

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Other {
        id: u32,
    }
    impl Entity for Other {
        type Key = u32;
        fn key(&self) -> u32 {
            self.id
        }
    }

    fn table<E: Entity>(name: &str) -> (TypeId, Box<dyn ErasedTable>) {
        let meta = Arc::new(TableMeta::compile(TableDef::<E>::new(name, &["id"])).expect("meta"));
        (TypeId::of::<E>(), Box::new(Table::new(meta)))
    }

    /// A checkpoint that names a table twice, and so another not at all, is refused (counting
    /// tables alone would take it for complete).
    #[test]
    fn a_checkpoint_holding_a_table_twice_is_refused() {
        let store =
            Store::new(vec![table::<Row>("rows"), table::<Other>("others")]).expect("store");
        let image = |name: &str| TableImage {
            name: name.into(),
            ..TableImage::default()
        };
        let twice = [image("rows"), image("rows")];
        let e = store.restore(&twice, 5).expect_err("twice");
        assert!(e.contains("twice"), "{e}");
        let both = [image("rows"), image("others")];
        store.restore(&both, 5).expect("each once");
    }
}
