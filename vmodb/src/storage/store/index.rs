//! Secondary and partial indexes. An entry `index key → {primary keys}` exists while *some
//! retained version* of the row has that index key; readers re-check the version they read
//! (`Table::scan_index`), so an index never returns a row that does not match at the reader's TID,
//! and never misses one. Entries are added when a version is installed and removed when GC or an
//! undo drops the last version carrying them; both happen under the row's shard lock.

use crate::model::value::IndexKey;
use parking_lot::RwLock;
use rustc_hash::FxBuildHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

const SHARDS: usize = 16;

type Entries<K> = HashMap<IndexKey, BTreeSet<K>, FxBuildHasher>;

pub(crate) struct SecondaryIndex<K> {
    shards: Box<[RwLock<Entries<K>>]>,
}

impl<K: Ord + Clone> SecondaryIndex<K> {
    pub fn new() -> Self {
        SecondaryIndex {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(HashMap::default()))
                .collect(),
        }
    }

    fn shard(&self, key: &IndexKey) -> &RwLock<Entries<K>> {
        &self.shards[shard_of(key, SHARDS)]
    }

    pub fn add(&self, key: &IndexKey, pk: &K) {
        let mut shard = self.shard(key).write();
        match shard.get_mut(key) {
            Some(set) => {
                if !set.contains(pk) {
                    set.insert(pk.clone());
                }
            }
            None => {
                shard.insert(key.clone(), BTreeSet::from([pk.clone()]));
            }
        }
    }

    pub fn remove(&self, key: &IndexKey, pk: &K) {
        let mut shard = self.shard(key).write();
        if let Some(set) = shard.get_mut(key) {
            set.remove(pk);
            if set.is_empty() {
                shard.remove(key);
            }
        }
    }

    /// At most `n` primary keys that may match, in primary-key order, from just past `after`
    /// (from the first without it): a reader that stops early copies only what it reads.
    pub fn candidates_after(&self, key: &IndexKey, after: Option<&K>, n: usize) -> Vec<K> {
        use std::ops::Bound;
        let shard = self.shard(key).read();
        let Some(set) = shard.get(key) else {
            return Vec::new();
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        set.range((from, Bound::Unbounded))
            .take(n)
            .cloned()
            .collect()
    }

    /// The primary keys that may match, in primary-key order.
    pub fn candidates(&self, key: &IndexKey) -> Vec<K> {
        self.shard(key)
            .read()
            .get(key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn entry_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().values().map(BTreeSet::len).sum::<usize>())
            .sum()
    }
}

/// Computes, for a hash-sharded structure, which shard a key lives in.
pub(crate) fn shard_of<T: Hash + ?Sized>(key: &T, shards: usize) -> usize {
    // High bits: the maps inside a shard use the low bits for buckets.
    ((FxBuildHasher.hash_one(key) >> 40) as usize) % shards
}
