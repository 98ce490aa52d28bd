//! Typed table access inside a transaction (`Repo`) and index/filter/aggregate queries (`Query`).
//! Every read sees the version visible at the context's TID; every write is checked (constraints,
//! foreign keys, replica rules) before it is installed, and logged so a failed task can be undone.

use crate::model::error::TxError;
use crate::model::row_codec::to_values;
use crate::model::schema::Entity;
use crate::model::value::{IndexKey, ToIndexKey};
use crate::storage::store::{Expect, Table, WriteConflict};
use crate::storage::tx::TxCtx;

pub struct Repo<'a, E: Entity> {
    ctx: &'a TxCtx<'a>,
    table: &'a Table<E>,
    table_index: usize,
}

impl<'a, E: Entity> Repo<'a, E> {
    pub(crate) fn new(ctx: &'a TxCtx<'a>, table: &'a Table<E>, table_index: usize) -> Self {
        Repo {
            ctx,
            table,
            table_index,
        }
    }

    /// The row with this key, if one is visible.
    pub fn get(&self, key: &E::Key) -> Option<E> {
        self.note(key, false);
        self.table.read(key, self.ctx.read_at())
    }

    fn note(&self, key: &E::Key, write: bool) {
        self.ctx
            .note_access(self.table_index, &self.table.meta.name, key, write);
    }

    /// Tells the mode checker that writing `row` read its parent through `fk`.
    fn note_parent(&self, fk: &crate::model::schema::ForeignKeyDef<E>, row: &E) {
        if !self.ctx.checks_accesses() {
            return;
        }
        if let (Some(values), Some(parent)) = (
            (fk.parent_key_values)(row),
            self.ctx.store.table_index_by_name(&fk.parent_table),
        ) {
            self.ctx.note_fk(parent, &fk.parent_table, &values, false);
        }
    }

    /// `f` of the row with this key, if one is visible, without copying the row. `f` is a plain
    /// function (it captures nothing, so it cannot reach a table while the row is held).
    pub fn read<R>(&self, key: &E::Key, f: fn(&E) -> R) -> Option<R> {
        self.note(key, false);
        self.table.read_with(key, self.ctx.read_at(), f)
    }

    /// The rows with these keys that exist, in the order of `keys`.
    pub fn get_many<'k>(&self, keys: impl IntoIterator<Item = &'k E::Key>) -> Vec<E> {
        keys.into_iter().filter_map(|k| self.get(k)).collect()
    }

    pub fn exists(&self, key: &E::Key) -> bool {
        self.note(key, false);
        self.table
            .read_with(key, self.ctx.read_at(), |_| ())
            .is_some()
    }

    /// Inserts a new row; an existing row with the same key is an error.
    pub fn insert(&self, row: E) -> Result<(), TxError> {
        self.write(row.key(), Some(row), Expect::Absent).map(|_| ())
    }

    /// Replaces an existing row; a missing row is an error.
    pub fn update(&self, row: E) -> Result<(), TxError> {
        self.write(row.key(), Some(row), Expect::Present)
            .map(|_| ())
    }

    /// Inserts or replaces.
    pub fn upsert(&self, row: E) -> Result<(), TxError> {
        self.write(row.key(), Some(row), Expect::Any).map(|_| ())
    }

    /// Deletes the row with this key; returns it, or `None` if there was none.
    pub fn delete(&self, key: &E::Key) -> Result<Option<E>, TxError> {
        self.write(key.clone(), None, Expect::Any)
    }

    /// All rows, to be filtered or aggregated.
    pub fn all(&self) -> Query<'a, '_, E> {
        Query {
            repo: self,
            source: Ok(None),
            filters: Vec::new(),
            limit: None,
        }
    }

    /// Rows whose indexed columns equal `probe`, e.g. `by_index("by_seller", (seller_id,))`.
    pub fn by_index(&self, index: &str, probe: impl ToIndexKey) -> Query<'a, '_, E> {
        let source = match self.table.meta.index_position(index) {
            Some(pos) => Ok(Some((pos, probe.to_index_key()))),
            None => Err(TxError::UnknownIndex {
                table: self.table.meta.name.clone(),
                index: index.to_string(),
            }),
        };
        Query {
            repo: self,
            source,
            filters: Vec::new(),
            limit: None,
        }
    }

    /// Rows in a partial index (declared without key columns).
    pub fn in_partial(&self, index: &str) -> Query<'a, '_, E> {
        self.by_index(index, ())
    }

    fn write(&self, key: E::Key, row: Option<E>, expect: Expect) -> Result<Option<E>, TxError> {
        let ctx = self.ctx;
        let meta = &self.table.meta;
        ctx.check_writable(self.table)?;
        self.note(&key, true);
        let tid = ctx.tid();
        let mut index_keys = Vec::new();
        if let Some(r) = &row {
            if meta.needs_values {
                let values = meta
                    .needed_values(r)
                    .map_err(|e| TxError::app(format!("table {}: {e}", meta.name)))?;
                meta.check_row(&values)?;
                index_keys = meta.index_keys(r, &values);
            }
            for fk in &meta.foreign_keys {
                let parent = (fk.parent_exists)(r, ctx.store, tid)?;
                // The parent's row is read at this TID: final if this task wrote it, else only
                // once no earlier task can still write it (`TxCtx::fk_settled`).
                if parent.own || ctx.fk_settled() {
                    self.note_parent(fk, r);
                }
                if !parent.exists {
                    return Err(TxError::ForeignKey {
                        table: meta.name.clone(),
                        fk: fk.name.clone(),
                        detail: format!(
                            "no row in {} for {:?}",
                            fk.parent_table,
                            (fk.parent_key_values)(r)
                        ),
                    });
                }
            }
        } else if ctx.store.has_referrers(self.table_index) && self.exists(&key) {
            let values: IndexKey = to_values(&key).unwrap_or_default().into_iter().collect();
            // Referrers an earlier running task may still insert or delete: see above.
            if ctx.fk_settled() {
                ctx.note_fk(self.table_index, &self.table.meta.name, &values, true);
            }
            if ctx.store.is_referenced(self.table_index, &values, tid) {
                return Err(TxError::ForeignKey {
                    table: meta.name.clone(),
                    fk: "(referencing rows)".into(),
                    detail: format!("row {key:?} is still referenced"),
                });
            }
        }
        let previous = self
            .table
            .write(tid, key.clone(), row, &index_keys, expect)
            .map_err(|c| match c {
                WriteConflict::Exists => TxError::DuplicateKey {
                    table: meta.name.clone(),
                    key: format!("{key:?}"),
                },
                WriteConflict::Missing => TxError::NotFound {
                    table: meta.name.clone(),
                    key: format!("{key:?}"),
                },
            })?;
        ctx.record_write::<E>(self.table_index, key);
        Ok(previous)
    }
}

type Filter<'q, E> = Box<dyn Fn(&E) -> bool + 'q>;

/// A read over a table or an index, with filters, ending in rows or an aggregate. Results are in
/// primary-key order, so anything computed from them is deterministic.
pub struct Query<'a, 'r, E: Entity> {
    repo: &'r Repo<'a, E>,
    source: Result<Option<(usize, IndexKey)>, TxError>,
    filters: Vec<Filter<'r, E>>,
    limit: Option<usize>,
}

impl<'a, 'r, E: Entity> Query<'a, 'r, E> {
    pub fn filter(mut self, f: impl Fn(&E) -> bool + 'r) -> Self {
        self.filters.push(Box::new(f));
        self
    }

    /// At most `n` rows (the first in key order).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    pub fn rows(self) -> Result<Vec<E>, TxError> {
        let mut out = Vec::new();
        self.visit(|row| {
            out.push(row.clone());
        })?;
        Ok(out)
    }

    pub fn first(self) -> Result<Option<E>, TxError> {
        Ok(self.limit(1).rows()?.into_iter().next())
    }

    pub fn count(self) -> Result<usize, TxError> {
        let mut n = 0;
        self.visit(|_| n += 1)?;
        Ok(n)
    }

    /// Sum of `f` over the rows, added in key order (so float sums are reproducible).
    pub fn sum<T: std::ops::Add<Output = T> + Default>(
        self,
        f: impl Fn(&E) -> T,
    ) -> Result<T, TxError> {
        let mut acc = T::default();
        self.visit(|row| acc = std::mem::take(&mut acc) + f(row))?;
        Ok(acc)
    }

    pub fn min<T: PartialOrd>(self, f: impl Fn(&E) -> T) -> Result<Option<T>, TxError> {
        self.fold_best(f, |new, best| new < best)
    }

    pub fn max<T: PartialOrd>(self, f: impl Fn(&E) -> T) -> Result<Option<T>, TxError> {
        self.fold_best(f, |new, best| new > best)
    }

    fn fold_best<T>(
        self,
        f: impl Fn(&E) -> T,
        better: impl Fn(&T, &T) -> bool,
    ) -> Result<Option<T>, TxError> {
        let mut best: Option<T> = None;
        self.visit(|row| {
            let v = f(row);
            if best.as_ref().is_none_or(|b| better(&v, b)) {
                best = Some(v);
            }
        })?;
        Ok(best)
    }

    fn visit(self, mut f: impl FnMut(&E)) -> Result<(), TxError> {
        let at = self.repo.ctx.read_at();
        let table = self.repo.table;
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut taken = 0;
        let repo = self.repo;
        let mut accept = |row: &E| {
            if repo.ctx.checks_accesses() {
                repo.note(&row.key(), false); // the row decided the result, matched or not
            }
            if taken < limit && self.filters.iter().all(|p| p(row)) {
                taken += 1;
                f(row);
            }
            taken < limit
        };
        match self.source? {
            None => {
                for (_, row) in table.scan(at) {
                    if !accept(&row) {
                        break;
                    }
                }
            }
            Some((index, probe)) => {
                let ix = &table.meta.indexes[index];
                let plain = table.meta.indexes.len() - table.meta.foreign_keys.len();
                // Candidates in chunks, so a reader that stops early (`first`, `limit`) copies
                // only the keys it reads, not the whole entry (a district's open orders).
                let chunk = if limit == usize::MAX { usize::MAX } else { 16 };
                let mut after: Option<E::Key> = None;
                'chunks: loop {
                    let keys = table.index_candidates_after(index, &probe, after.as_ref(), chunk);
                    let complete = keys.len() < chunk;
                    for key in &keys {
                        // Re-check the version we read: the entry may belong to an older version.
                        let matched = table.read_with(key, at, |row| {
                            let key_now = if index < plain {
                                ix.key_of(&table.meta.needed_values(row).unwrap_or_default())
                            } else {
                                (table.meta.foreign_keys[index - plain].parent_key_values)(row)
                            };
                            (key_now.as_ref() == Some(&probe)).then(|| row.clone())
                        });
                        if let Some(Some(row)) = matched
                            && !accept(&row)
                        {
                            break 'chunks;
                        }
                    }
                    match keys.into_iter().next_back() {
                        Some(last) if !complete => after = Some(last),
                        _ => break,
                    }
                }
            }
        }
        Ok(())
    }
}
