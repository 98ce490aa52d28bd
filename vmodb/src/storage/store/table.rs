//! One multi-version table: rows in hash shards, each key holding a short chain of versions tagged
//! with the TID that wrote them, plus its secondary indexes.
//!
//! Visibility: a reader at TID `t` sees the newest version with `tid <= t` (`None` = deleted). A
//! writer reads at its own TID, so it sees its own writes and those of earlier TIDs. Read-only
//! queries read at the committed watermark. Chains are kept sorted by TID.
//!
//! GC (`collect`) runs at batch commit with a horizon `h` (the committed watermark, lowered to the
//! oldest snapshot still being read): of the versions with `tid <= h` only the newest is visible to
//! anyone, so the older ones go; a tombstone at or below `h` goes too. Only keys written since they
//! were last clean are visited (the per-shard dirty list), so GC costs what the batch wrote.

use super::index::{SecondaryIndex, shard_of};
use super::rows::{Rows, Version, Versions};
use crate::model::schema::{Entity, TableMeta, Tid};
use crate::model::value::IndexKey;
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(super) const SHARDS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Insert: no visible row may exist.
    Absent,
    /// Update: a visible row must exist.
    Present,
    /// Upsert or delete.
    Any,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteConflict {
    Exists,
    Missing,
}

pub(super) struct Shard<E: Entity> {
    pub(super) rows: Rows<E::Key, E>,
    /// Keys whose chain may hold garbage; each key is listed once (its `dirty` flag is set).
    dirty: Vec<E::Key>,
    /// With `track_deletes`: keys deleted since the last checkpoint, with the deleting TID
    /// (the next incremental checkpoint's deletes; `image.rs`).
    pub(super) deleted: Vec<(Tid, E::Key)>,
    /// The fill (percent of capacity) at which this shard grows: staggered across shards (see
    /// `grow_early`), so the shards of a growing table do not all rehash in the same moment.
    grow_at_percent: usize,
}

/// The lowest and highest fill at which a shard grows; hashbrown itself grows at 100%.
const GROW_FROM_PERCENT: usize = 55;
const GROW_TO_PERCENT: usize = 95;

pub(crate) struct Table<E: Entity> {
    pub meta: Arc<TableMeta<E>>,
    pub(super) shards: Box<[RwLock<Shard<E>>]>,
    indexes: Box<[SecondaryIndex<E::Key>]>,
    /// Checkpoints are kept: deletes are listed for the incremental ones (`Shard::deleted`).
    pub(super) track_deletes: AtomicBool,
}

/// Doubles a shard's map once it is `grow_at_percent` full. Uniform hashing fills every shard
/// of a table at the same pace, so left to hashbrown (which grows at 100%) all of them rehash
/// within moments of each other, stalling every writer of the table at once (the p99 spikes of
/// growing TPC-C tables); staggered thresholds spread the same total work over the growth.
fn grow_early<E: Entity>(shard: &mut Shard<E>) {
    let (len, capacity) = (shard.rows.len(), shard.rows.capacity());
    if capacity >= 16 && len * 100 >= capacity * shard.grow_at_percent {
        shard.rows.reserve(capacity);
    }
}

impl<E: Entity> Table<E> {
    pub fn new(meta: Arc<TableMeta<E>>) -> Self {
        let indexes = meta.indexes.iter().map(|_| SecondaryIndex::new()).collect();
        let shards = (0..SHARDS)
            .map(|i| {
                RwLock::new(Shard {
                    rows: Rows::default(),
                    dirty: Vec::new(),
                    deleted: Vec::new(),
                    grow_at_percent: GROW_FROM_PERCENT
                        + (GROW_TO_PERCENT - GROW_FROM_PERCENT) * i / (SHARDS - 1),
                })
            })
            .collect();
        Table {
            meta,
            shards,
            indexes,
            track_deletes: AtomicBool::new(false),
        }
    }

    fn shard(&self, key: &E::Key) -> &RwLock<Shard<E>> {
        &self.shards[shard_of(key, SHARDS)]
    }

    /// Calls `f` on the row visible at `tid`, without cloning it.
    pub fn read_with<R>(&self, key: &E::Key, tid: Tid, f: impl FnOnce(&E) -> R) -> Option<R> {
        let shard = self.shard(key).read();
        let v = shard.rows.get(key)?.visible(tid)?;
        v.row.as_ref().map(f)
    }

    /// The TID of the version of `key` visible at `tid`, and whether it holds a row (not a
    /// delete), if there is one.
    pub fn visible_version(&self, key: &E::Key, tid: Tid) -> Option<(Tid, bool)> {
        let shard = self.shard(key).read();
        let v = shard.rows.get(key)?.visible(tid)?;
        Some((v.tid, v.row.is_some()))
    }

    pub fn read(&self, key: &E::Key, tid: Tid) -> Option<E> {
        self.read_with(key, tid, E::clone)
    }

    /// The index keys of a row, one slot per index; empty when the table has no index.
    pub fn index_keys_of(&self, row: &E) -> Vec<Option<IndexKey>> {
        if self.indexes.is_empty() {
            return Vec::new();
        }
        // A row that serialized once at insert serializes again; an error here would be a bug.
        let values = self.meta.needed_values(row).unwrap_or_default();
        self.meta.index_keys(row, &values)
    }

    /// Installs `new` (`None` deletes) as the version of `tid`, after checking `expect` against
    /// the row visible at `tid`. `index_keys` are `new`'s index keys (see `index_keys_of`).
    /// A delete returns the row that was visible before; other writes return `None`.
    pub fn write(
        &self,
        tid: Tid,
        key: E::Key,
        new: Option<E>,
        index_keys: &[Option<IndexKey>],
        expect: Expect,
    ) -> Result<Option<E>, WriteConflict> {
        let mut guard = self.shard(&key).write();
        let shard = &mut *guard;
        grow_early(shard);
        let chain = match shard.rows.get_mut(&key) {
            Some(chain) => chain,
            None => {
                if expect == Expect::Present {
                    return Err(WriteConflict::Missing);
                }
                if new.is_none() {
                    return Ok(None); // deleting nothing leaves no trace
                }
                // A new key's only version holds no garbage: GC need not visit it until a
                // later write gives it a second version (or an undo removes the chain).
                shard
                    .rows
                    .insert_new(key.clone(), Versions::with_version(tid, new));
                for (ix, k) in self.indexes.iter().zip(index_keys) {
                    if let Some(k) = k {
                        ix.add(k, &key);
                    }
                }
                return Ok(None);
            }
        };
        let visible = chain.visible(tid).and_then(|v| v.row.as_ref());
        let exists = visible.is_some();
        // Only a delete returns the row it removes; updates need not pay for a clone.
        let previous = if new.is_none() {
            visible.cloned()
        } else {
            None
        };
        match (expect, exists) {
            (Expect::Absent, true) => return Err(WriteConflict::Exists),
            (Expect::Present, false) => return Err(WriteConflict::Missing),
            _ => {}
        }
        if new.is_none() && !exists {
            return Ok(None);
        }
        if new.is_none() && self.track_deletes.load(Ordering::Relaxed) {
            shard.deleted.push((tid, key.clone()));
        }
        let replaced = match chain.versions.iter().position(|v| v.tid >= tid) {
            Some(i) if chain.versions[i].tid == tid => {
                std::mem::replace(&mut chain.versions[i].row, new)
            }
            Some(i) => {
                // A later TID already wrote this key: only parallel work declared conflict-free
                // can do that. Keep the chain sorted so every reader still sees its own version.
                chain.versions.insert(i, Version { tid, row: new });
                None
            }
            None => {
                chain.versions.push(Version { tid, row: new });
                None
            }
        };
        if !chain.dirty {
            chain.dirty = true;
            shard.dirty.push(key.clone());
        }
        for (ix, k) in self.indexes.iter().zip(index_keys) {
            if let Some(k) = k {
                ix.add(k, &key);
            }
        }
        if let Some(old) = replaced {
            // The same TID wrote this key twice: the first write's index entries may now be stale.
            if let Some(chain) = shard.rows.get(&key) {
                self.drop_index_entries(&key, std::slice::from_ref(&old), chain);
            }
        }
        Ok(previous)
    }

    /// Removes index entries carried by `removed` rows that no version left in `chain` carries.
    fn drop_index_entries(&self, key: &E::Key, removed: &[E], chain: &Versions<E>) {
        if self.indexes.is_empty() || removed.is_empty() {
            return;
        }
        let retained: Vec<Vec<Option<IndexKey>>> = chain
            .versions
            .iter()
            .filter_map(|v| v.row.as_ref())
            .map(|r| self.index_keys_of(r))
            .collect();
        for row in removed {
            for (i, k) in self.index_keys_of(row).into_iter().enumerate() {
                let Some(k) = k else { continue };
                if !retained.iter().any(|r| r[i].as_ref() == Some(&k)) {
                    self.indexes[i].remove(&k, key);
                }
            }
        }
    }

    /// Drops the versions `tid` wrote to `keys` (a failed task's writes).
    pub fn undo(&self, tid: Tid, keys: &[E::Key]) {
        for key in keys {
            let mut guard = self.shard(key).write();
            let Some(chain) = guard.rows.get_mut(key) else {
                continue;
            };
            let Some(i) = chain.versions.iter().position(|v| v.tid == tid) else {
                continue;
            };
            let removed = chain.versions.remove(i);
            let Some(chain) = guard.rows.get(key) else {
                continue;
            };
            self.drop_index_entries(key, removed.row.as_slice(), chain);
            if chain.versions.is_empty() {
                guard.rows.remove(key); // a stale entry in `dirty` is skipped by `collect`
            }
        }
    }

    /// Garbage-collects the dirty keys up to `horizon`; returns the number of versions dropped.
    pub fn collect(&self, horizon: Tid) -> usize {
        let mut dropped = 0;
        for shard in self.shards.iter() {
            let mut guard = shard.write();
            let shard = &mut *guard;
            let dirty = std::mem::take(&mut shard.dirty);
            for key in dirty {
                let Some(chain) = shard.rows.get_mut(&key) else {
                    continue;
                };
                // Versions [0, keep_from) are invisible to every reader.
                let newest_old = chain.versions.iter().rposition(|v| v.tid <= horizon);
                let mut keep_from = newest_old.unwrap_or(0);
                if let Some(i) = newest_old
                    && chain.versions[i].row.is_none()
                {
                    keep_from = i + 1; // a settled tombstone reads like absence
                }
                // Only indexes need the removed rows; without any they are dropped in place.
                let drained = chain.versions.drain(..keep_from);
                let removed: Vec<E> = if self.indexes.is_empty() {
                    drop(drained);
                    Vec::new()
                } else {
                    drained.filter_map(|v| v.row).collect()
                };
                dropped += keep_from;
                let settled =
                    chain.versions.len() <= 1 && chain.versions.iter().all(|v| v.tid <= horizon);
                if chain.versions.is_empty() {
                    let chain = shard.rows.remove(&key).expect("chain present");
                    self.drop_index_entries(&key, &removed, &chain);
                    continue;
                }
                self.drop_index_entries(&key, &removed, chain);
                if settled {
                    chain.dirty = false;
                    chain.versions.shrink_to_fit();
                } else {
                    shard.dirty.push(key);
                }
            }
        }
        dropped
    }

    /// Primary keys an index may match for `probe`, in key order (to be re-checked by the reader).
    pub fn index_candidates(&self, index: usize, probe: &IndexKey) -> Vec<E::Key> {
        self.indexes[index].candidates(probe)
    }

    /// Like `index_candidates`, at most `n` of them, from just past `after`.
    pub fn index_candidates_after(
        &self,
        index: usize,
        probe: &IndexKey,
        after: Option<&E::Key>,
        n: usize,
    ) -> Vec<E::Key> {
        self.indexes[index].candidates_after(probe, after, n)
    }

    /// Every row visible at `tid`, in primary-key order.
    pub fn scan(&self, tid: Tid) -> Vec<(E::Key, E)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (k, chain) in shard.rows.iter() {
                if let Some(Version { row: Some(r), .. }) = chain.visible(tid) {
                    out.push((k.clone(), r.clone()));
                }
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Versions held (live and garbage), for memory accounting and GC tests.
    pub fn version_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .rows
                    .values()
                    .map(|c| c.versions.len())
                    .sum::<usize>()
            })
            .sum()
    }

    pub fn index_entry_count(&self) -> usize {
        self.indexes.iter().map(SecondaryIndex::entry_count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::TableDef;

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Row {
        id: u64,
    }
    impl Entity for Row {
        type Key = u64;
        fn key(&self) -> u64 {
            self.id
        }
    }

    /// The rows at which each shard's map first holds `capacity` or more, for a table filled
    /// with consecutive keys.
    fn growth_points(rows: u64, capacity: usize) -> Vec<u64> {
        let meta = TableMeta::compile(TableDef::<Row>::new("rows", &["id"])).expect("meta");
        let table = Table::new(Arc::new(meta));
        let mut grown = vec![None; SHARDS];
        for id in 0..rows {
            let key = id.wrapping_mul(0x9E37_79B9_7F4A_7C15); // spread like real keys
            table
                .write(1, key, Some(Row { id: key }), &[], Expect::Absent)
                .expect("insert");
            let s = shard_of(&key, SHARDS);
            if grown[s].is_none() && table.shards[s].read().rows.capacity() >= capacity {
                grown[s] = Some(id);
            }
        }
        grown
            .into_iter()
            .map(|g| g.expect("every shard grew"))
            .collect()
    }

    /// A growing table's shards rehash at different moments, not all within a few rows of each
    /// other (which stalled every writer of the table at once: the p99 spikes of TPC-C).
    #[test]
    fn the_shards_of_a_growing_table_rehash_at_staggered_moments() {
        let mut points = growth_points(120_000, 1_500);
        points.sort_unstable();
        let (first, last) = (points[0] as f64, points[SHARDS - 1] as f64);
        assert!(
            last / first > 1.4,
            "every shard grew between rows {first} and {last}"
        );
    }
}
