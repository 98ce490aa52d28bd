//! A table's image for checkpoints: every row visible at a TID (a full checkpoint), or only
//! what changed since an earlier checkpoint's TID — the rows whose visible version is newer,
//! and the keys deleted since (an incremental one) — and the way back (`apply_delta`).
//!
//! Rows are framed `[len u32 LE][postcard row]`, deleted keys `[len u32 LE][postcard key]`.
//! The TID read is pinned by the caller, so every key with a version visible at it is in the
//! map when a shard's keys are listed, and stays (GC keeps what a pin can see).

use super::table::{Expect, Shard, Table};
use crate::model::schema::{Entity, Tid};
use parking_lot::RwLock;
use std::sync::atomic::Ordering;

/// Rows encoded per hold of a shard's read lock: a checkpoint encodes every table while the
/// workers go on, and a writer of the shard waits behind it for at most this many rows.
pub(super) const ENCODE_CHUNK: usize = 256;

fn frame<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    *out = postcard::to_extend(value, std::mem::take(out)).map_err(|e| e.to_string())?;
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// The frames of `bytes`, each decoded as a `T`.
fn frames<T: serde::de::DeserializeOwned>(
    mut bytes: &[u8],
    mut each: impl FnMut(T) -> Result<(), String>,
) -> Result<(), String> {
    while !bytes.is_empty() {
        let head: [u8; 4] = bytes
            .get(..4)
            .and_then(|h| h.try_into().ok())
            .ok_or("a frame is cut short")?;
        let len = u32::from_le_bytes(head) as usize;
        let body = bytes.get(4..4 + len).ok_or("a frame is cut short")?;
        bytes = &bytes[4 + len..];
        each(postcard::from_bytes(body).map_err(|e| format!("a frame does not decode: {e}"))?)?;
    }
    Ok(())
}

impl<E: Entity> Table<E> {
    /// Appends every row visible at `tid` whose version is newer than `since` (`None`: every
    /// row, the initial data's at TID 0 included) to `out`; returns how many.
    pub fn encode_visible(
        &self,
        tid: Tid,
        since: Option<Tid>,
        out: &mut Vec<u8>,
    ) -> Result<u64, String> {
        let mut rows = 0;
        for shard in self.shards.iter() {
            let keys: Vec<E::Key> = shard.read().rows.iter().map(|(k, _)| k.clone()).collect();
            for chunk in keys.chunks(ENCODE_CHUNK) {
                let shard = shard.read();
                for key in chunk {
                    let visible = shard.rows.get(key).and_then(|c| c.visible(tid));
                    if let Some(v) = visible.filter(|v| since.is_none_or(|s| v.tid > s))
                        && let Some(row) = &v.row
                    {
                        frame(row, out).map_err(|e| format!("table `{}`: {e}", self.meta.name))?;
                        rows += 1;
                    }
                }
            }
        }
        Ok(rows)
    }

    /// Appends the keys deleted after `since` that no row holds at `tid` to `out`, and forgets
    /// every listed delete up to `tid` (later ones are the next checkpoint's); returns how
    /// many. With `since` = `tid` it only forgets (a full checkpoint holds no deletes).
    pub fn encode_deleted(&self, tid: Tid, since: Tid, out: &mut Vec<u8>) -> Result<u64, String> {
        let mut keys = 0;
        for shard in self.shards.iter() {
            let mut deleted = take_deletes_through(shard, tid);
            deleted.retain(|(t, _)| *t > since);
            let mut deleted: Vec<E::Key> = deleted.into_iter().map(|(_, k)| k).collect();
            deleted.sort_unstable();
            deleted.dedup();
            for chunk in deleted.chunks(ENCODE_CHUNK) {
                let shard = shard.read();
                for key in chunk {
                    let visible = shard.rows.get(key).and_then(|c| c.visible(tid));
                    if visible.is_none_or(|v| v.row.is_none()) {
                        frame(key, out).map_err(|e| format!("table `{}`: {e}", self.meta.name))?;
                        keys += 1;
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Installs a full checkpoint's rows as versions of `tid` into this empty table (a row
    /// twice is an error). No constraint runs: the rows were checked when first written.
    pub fn restore_encoded(&self, rows: &[u8], tid: Tid) -> Result<(), String> {
        self.install_rows(rows, tid, Expect::Absent)
    }

    /// Installs an incremental checkpoint's rows and deletes as versions of `tid`, over what
    /// the table holds (the checkpoints before it, restored).
    pub fn apply_delta(&self, rows: &[u8], deleted: &[u8], tid: Tid) -> Result<(), String> {
        frames(deleted, |key: E::Key| {
            self.write(tid, key, None, &[], Expect::Any)
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        })
        .map_err(|e| format!("table `{}`, deleted keys: {e}", self.meta.name))?;
        self.install_rows(rows, tid, Expect::Any)
    }

    fn install_rows(&self, rows: &[u8], tid: Tid, expect: Expect) -> Result<(), String> {
        frames(rows, |row: E| {
            let index_keys = self.index_keys_of(&row);
            self.write(tid, row.key(), Some(row), &index_keys, expect)
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        })
        .map_err(|e| format!("table `{}`: {e}", self.meta.name))
    }

    /// From now on deletes are listed for incremental checkpoints.
    pub fn track_deletes(&self) {
        self.track_deletes.store(true, Ordering::Relaxed);
    }
}

/// Takes the shard's listed deletes up to `tid`, leaving the later ones.
fn take_deletes_through<E: Entity>(shard: &RwLock<Shard<E>>, tid: Tid) -> Vec<(Tid, E::Key)> {
    let mut shard = shard.write();
    let (taken, kept) = std::mem::take(&mut shard.deleted)
        .into_iter()
        .partition(|(t, _)| *t <= tid);
    shard.deleted = kept;
    taken
}

#[cfg(test)]
mod tests {
    use super::super::table::SHARDS;
    use super::*;
    use crate::model::schema::{TableDef, TableMeta};
    use std::sync::Arc;

    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Row {
        id: u64,
        v: u64,
    }
    impl Entity for Row {
        type Key = u64;
        fn key(&self) -> u64 {
            self.id
        }
    }

    fn table() -> Table<Row> {
        let meta = TableMeta::compile(TableDef::<Row>::new("rows", &["id"])).expect("meta");
        Table::new(Arc::new(meta))
    }

    fn put(t: &Table<Row>, tid: Tid, id: u64, v: Option<u64>) {
        let row = v.map(|v| Row { id, v });
        t.write(tid, id, row, &[], Expect::Any).expect("write");
    }

    fn rows_at(t: &Table<Row>, tid: Tid) -> Vec<(u64, u64)> {
        let mut rows: Vec<(u64, u64)> = t.scan(tid).into_iter().map(|(k, r)| (k, r.v)).collect();
        rows.sort_unstable();
        rows
    }

    /// A checkpoint's encoding, taken a few hundred rows per shard lock, holds exactly the
    /// rows visible at its TID: not the deleted ones, not the versions written after it.
    #[test]
    fn encoding_in_chunks_holds_exactly_the_rows_visible_at_its_tid() {
        let table = table();
        let n = (SHARDS * ENCODE_CHUNK * 3) as u64; // several chunks per shard
        for id in 0..n {
            put(&table, 1, id, Some(id));
        }
        for id in (0..n).step_by(7) {
            put(&table, 2, id, None);
        }
        for id in n..n + 1000 {
            put(&table, 4, id, Some(id));
        }
        let mut out = Vec::new();
        let encoded = table.encode_visible(3, None, &mut out).expect("encode");
        let restored = self::table();
        restored.apply_delta(&out, &[], 3).expect("restore");
        assert_eq!(encoded, n - n.div_ceil(7));
        assert_eq!(rows_at(&restored, 3), rows_at(&table, 3));
    }

    /// A full image at TID 10, then an incremental one at 20 (updates, deletes, inserts, a
    /// delete undone by a re-insert, writes after 20), applied over the full one, give the
    /// state at 20; the deletes after 20 wait for the next checkpoint.
    #[test]
    fn an_incremental_image_over_a_full_one_is_the_state_at_its_tid() {
        let t = table();
        t.track_deletes();
        for id in 0..2000 {
            put(&t, 0, id, Some(id)); // the initial data, at TID 0
        }
        put(&t, 5, 3, None); // deleted before the full image: in it as absent
        let (mut full, mut gone) = (Vec::new(), Vec::new());
        t.encode_visible(10, None, &mut full).expect("full");
        assert_eq!(t.encode_deleted(10, 10, &mut gone).expect("forget"), 0);
        for id in (0..2000).step_by(3) {
            put(&t, 12, id, Some(id * 10)); // updates
        }
        for id in (1..2000).step_by(5) {
            put(&t, 14, id, None); // deletes
        }
        put(&t, 15, 6, None);
        put(&t, 16, 6, Some(66)); // deleted, then back
        for id in 5000..5100 {
            put(&t, 18, id, Some(id)); // inserts
        }
        put(&t, 25, 0, None); // after the image
        put(&t, 25, 2, Some(222));
        let (mut rows, mut deleted) = (Vec::new(), Vec::new());
        let changed = t.encode_visible(20, Some(10), &mut rows).expect("delta");
        let deletes = t.encode_deleted(20, 10, &mut deleted).expect("deletes");
        assert!(
            changed < 1500 && deletes == 400 - 1,
            "{changed} rows, {deletes} deletes"
        );
        let restored = table();
        restored.apply_delta(&full, &[], 10).expect("full");
        assert_eq!(
            rows_at(&restored, 10),
            rows_at(&t, 10),
            "the full image is every row"
        );
        restored.apply_delta(&rows, &deleted, 20).expect("delta");
        assert_eq!(rows_at(&restored, 20), rows_at(&t, 20));
        // The delete at 25 is the next image's.
        let (mut rows, mut deleted) = (Vec::new(), Vec::new());
        t.encode_visible(30, Some(20), &mut rows).expect("next");
        assert_eq!(t.encode_deleted(30, 20, &mut deleted).expect("next"), 1);
        restored.apply_delta(&rows, &deleted, 30).expect("next");
        assert_eq!(rows_at(&restored, 30), rows_at(&t, 30));
    }
}
