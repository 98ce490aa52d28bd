//! A key's versions (`Versions`), and `Rows`: one shard's map from key to its versions, held
//! in the map when the slot is narrow and in a box of their own when it is wide.
//!
//! Why both: a hash map's slots are all as wide as one entry, sit at a fill of 27-95% (see
//! `table::grow_early`), and growing the map moves and zeroes every slot. For wide rows (a TPC-C
//! order line's slot is 112 bytes, a stock row's nearly 400) that made growth a fifth of New-Order's
//! time and doubled the memory per row; boxed, the slot is a key and a pointer and the chain sits
//! in an exactly sized allocation. For narrow rows the box costs a pointer chase on every read
//! for little gain (the engine bench's 32-byte rows: ~30 M lookups/s inline, 12-22 M boxed).
//! The choice is a constant per row type, so each table pays only its own branch.

use crate::model::schema::Tid;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::hash::Hash;

/// One version of a row, tagged with the TID that wrote it; `None` is a delete.
pub(super) struct Version<E> {
    pub tid: Tid,
    pub row: Option<E>,
}

/// A key's versions, sorted by TID; `dirty` while it may hold garbage (listed for GC).
pub(super) struct Versions<E> {
    pub versions: SmallVec<[Version<E>; 1]>,
    pub dirty: bool,
}

impl<E> Versions<E> {
    /// A new key's chain: its only version holds no garbage, so it is not dirty.
    pub fn with_version(tid: Tid, row: Option<E>) -> Self {
        Versions {
            versions: smallvec::smallvec![Version { tid, row }],
            dirty: false,
        }
    }

    /// The newest version a reader at `tid` sees.
    pub fn visible(&self, tid: Tid) -> Option<&Version<E>> {
        self.versions.iter().rev().find(|v| v.tid <= tid)
    }
}

/// The widest map slot (key and chain) kept inline.
const INLINE_SLOT_BYTES: usize = 96;

pub(super) struct Rows<K, E> {
    /// Used when `BOXED` is false; empty otherwise.
    inline: HashMap<K, Versions<E>, FxBuildHasher>,
    /// Used when `BOXED` is true; empty otherwise.
    boxed: HashMap<K, Box<Versions<E>>, FxBuildHasher>,
}

impl<K, E> Default for Rows<K, E> {
    fn default() -> Self {
        Rows {
            inline: HashMap::default(),
            boxed: HashMap::default(),
        }
    }
}

impl<K: Eq + Hash, E> Rows<K, E> {
    pub const BOXED: bool = size_of::<(K, Versions<E>)>() > INLINE_SLOT_BYTES;

    pub fn get(&self, key: &K) -> Option<&Versions<E>> {
        if Self::BOXED {
            self.boxed.get(key).map(|b| &**b)
        } else {
            self.inline.get(key)
        }
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut Versions<E>> {
        if Self::BOXED {
            self.boxed.get_mut(key).map(|b| &mut **b)
        } else {
            self.inline.get_mut(key)
        }
    }

    /// Adds the chain of a key that has none.
    pub fn insert_new(&mut self, key: K, chain: Versions<E>) {
        let replaced = if Self::BOXED {
            self.boxed.insert(key, Box::new(chain)).is_some()
        } else {
            self.inline.insert(key, chain).is_some()
        };
        debug_assert!(!replaced, "insert_new on a key with a chain");
    }

    pub fn remove(&mut self, key: &K) -> Option<Versions<E>> {
        if Self::BOXED {
            self.boxed.remove(key).map(|b| *b)
        } else {
            self.inline.remove(key)
        }
    }

    pub fn len(&self) -> usize {
        self.inline.len() + self.boxed.len()
    }

    /// How many keys fit before the map grows.
    pub fn capacity(&self) -> usize {
        if Self::BOXED {
            self.boxed.capacity()
        } else {
            self.inline.capacity()
        }
    }

    pub fn reserve(&mut self, additional: usize) {
        if Self::BOXED {
            self.boxed.reserve(additional)
        } else {
            self.inline.reserve(additional)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &Versions<E>)> {
        let inline = self.inline.iter();
        let boxed = self.boxed.iter().map(|(k, b)| (k, &**b));
        inline.chain(boxed)
    }

    pub fn values(&self) -> impl Iterator<Item = &Versions<E>> {
        self.iter().map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uses every operation on a map of 100 rows like `row`; `boxed`: where they must live.
    fn exercise<E: Clone>(row: E, boxed: bool) {
        let mut rows = Rows::<u64, E>::default();
        for k in 0..100 {
            rows.insert_new(k, Versions::with_version(k, Some(row.clone())));
        }
        assert_eq!(rows.len(), 100);
        assert_eq!(rows.boxed.len(), if boxed { 100 } else { 0 });
        assert!(rows.capacity() >= 100);
        assert!(rows.get(&7).is_some() && rows.get(&100).is_none());
        rows.get_mut(&7).expect("present").versions.clear();
        assert!(rows.get(&7).expect("present").versions.is_empty());
        assert!(rows.remove(&7).is_some() && rows.remove(&7).is_none());
        assert_eq!(rows.iter().count(), 99);
        assert_eq!(rows.values().count(), 99);
    }

    #[test]
    fn narrow_rows_stay_inline_wide_ones_are_boxed_and_both_behave_as_one_map() {
        exercise([1u64; 2], false);
        exercise([1u64; 32], true);
    }
}
