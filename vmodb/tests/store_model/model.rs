//! The reference model of the store, and the checks comparing the engine with it.

use crate::ops::{Answer, Outcome, Read, Shape, Src, Write, read_at};
use crate::{KEYS, OPEN, Row};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use vmodb::Tid;
use vmodb::internals::Store;

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

type Versions = Vec<(Tid, Option<Row>)>;

fn visible(vs: &Versions, t: Tid) -> Option<&Row> {
    vs.iter()
        .rev()
        .find(|(tid, _)| *tid <= t)
        .and_then(|(_, r)| r.as_ref())
}

fn install(map: &mut BTreeMap<u32, Versions>, tid: Tid, key: u32, new: Option<Row>) {
    let vs = map.entry(key).or_default();
    match vs.last_mut() {
        Some(last) if last.0 == tid => last.1 = new,
        _ => {
            assert!(vs.last().is_none_or(|v| v.0 < tid), "model: TIDs increase");
            vs.push((tid, new));
        }
    }
}

fn remove_tid(map: &mut BTreeMap<u32, Versions>, tid: Tid) {
    for vs in map.values_mut() {
        vs.retain(|(t, _)| *t != tid);
    }
    map.retain(|_, vs| !vs.is_empty());
}

/// The index keys of a row, in the table's index order (`None`: not in that index).
pub(crate) fn index_keys(r: &Row) -> [Option<Option<u32>>; 3] {
    let open = r.status == OPEN;
    [
        Some(Some(r.group)),
        open.then_some(None),
        open.then_some(Some(r.group)),
    ]
}

#[derive(Default)]
pub(crate) struct Model {
    /// Every version ever written and not undone: what reads must return.
    history: BTreeMap<u32, Versions>,
    /// The versions GC must keep: what `version_count` and the index entries account for.
    retained: BTreeMap<u32, Versions>,
}

impl Model {
    fn get(&self, key: u32, t: Tid) -> Option<&Row> {
        self.history.get(&key).and_then(|vs| visible(vs, t))
    }

    pub(crate) fn rows_at(&self, t: Tid) -> Vec<Row> {
        self.history
            .values()
            .filter_map(|vs| visible(vs, t).cloned())
            .collect()
    }

    /// What a write must return, and what it installs when it succeeds (`Some(new)`); or the
    /// errors it may fail with.
    #[allow(clippy::type_complexity)]
    pub(crate) fn expect(
        &self,
        tid: Tid,
        w: &Write,
    ) -> Result<(Outcome, Option<Option<Row>>), Vec<Outcome>> {
        let exists = self.get(w.key(), tid).is_some();
        let mut errors = Vec::new();
        if let Write::Insert(r) | Write::Update(r) | Write::Upsert(r) = w
            && r.amount < 0
        {
            errors.push(Outcome::Constraint);
        }
        match w {
            Write::Insert(_) if exists => errors.push(Outcome::Duplicate),
            Write::Update(_) if !exists => errors.push(Outcome::NotFound),
            _ => {}
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(match w {
            Write::Insert(r) | Write::Update(r) | Write::Upsert(r) => {
                (Outcome::Ok, Some(Some(r.clone())))
            }
            Write::Delete(k) => {
                let prev = self.get(*k, tid).cloned();
                // Deleting nothing leaves no trace.
                let effect = prev.is_some().then_some(None);
                (Outcome::Deleted(prev), effect)
            }
        })
    }

    pub(crate) fn install(&mut self, tid: Tid, key: u32, new: Option<Row>) {
        install(&mut self.history, tid, key, new.clone());
        install(&mut self.retained, tid, key, new);
    }

    pub(crate) fn undo(&mut self, tid: Tid) {
        remove_tid(&mut self.history, tid);
        remove_tid(&mut self.retained, tid);
    }

    /// GC at horizon `h`: of the versions at or below `h` only the newest stays, unless it is a
    /// tombstone. Returns the number of versions dropped.
    pub(crate) fn collect(&mut self, h: Tid) -> usize {
        let mut dropped = 0;
        for vs in self.retained.values_mut() {
            if let Some(i) = vs.iter().rposition(|(t, _)| *t <= h) {
                let keep_from = if vs[i].1.is_none() { i + 1 } else { i };
                vs.drain(..keep_from);
                dropped += keep_from;
            }
        }
        self.retained.retain(|_, vs| !vs.is_empty());
        dropped
    }

    fn version_count(&self) -> usize {
        self.retained.values().map(Vec::len).sum()
    }

    /// One entry per (index, index key, primary key) carried by some retained version.
    fn index_entry_count(&self) -> usize {
        self.retained
            .values()
            .map(|vs| {
                let keys: BTreeSet<(usize, Option<u32>)> = vs
                    .iter()
                    .filter_map(|(_, r)| r.as_ref())
                    .flat_map(|r| {
                        index_keys(r)
                            .into_iter()
                            .enumerate()
                            .filter_map(|(i, k)| k.map(|k| (i, k)))
                    })
                    .collect();
                keys.len()
            })
            .sum()
    }

    pub(crate) fn read(&self, t: Tid, read: &Read) -> Answer {
        let rows: Vec<Row> = self
            .rows_at(t)
            .into_iter()
            .filter(|r| read.src.matches(r))
            .collect();
        let amounts = || rows.iter().map(|r| r.amount);
        match &read.shape {
            Shape::Rows => Answer::Rows(rows.clone()),
            Shape::Count => Answer::Count(rows.len()),
            Shape::Sum => Answer::Sum(amounts().sum()),
            Shape::Min => Answer::Extreme(amounts().min()),
            Shape::Max => Answer::Extreme(amounts().max()),
            Shape::First => Answer::Row(rows.first().cloned()),
            Shape::Limit(n) => Answer::Rows(rows.iter().take(*n).cloned().collect()),
            Shape::AboveLimit(x, n) => Answer::Rows(
                rows.iter()
                    .filter(|r| r.amount > *x)
                    .take(*n)
                    .cloned()
                    .collect(),
            ),
            Shape::AboveCount(x) => Answer::Count(rows.iter().filter(|r| r.amount > *x).count()),
            Shape::Get(k) => Answer::Row(self.get(*k, t).cloned()),
            Shape::GetMany(ks) => {
                Answer::Rows(ks.iter().filter_map(|k| self.get(*k, t).cloned()).collect())
            }
            Shape::Exists(k) => Answer::Exists(self.get(*k, t).is_some()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the proptest and the focused tests
// ---------------------------------------------------------------------------------------------

/// Every source and every key read at `t` match the model.
pub(crate) fn check_snapshot(
    store: &Store,
    model: &Model,
    t: Tid,
    when: &str,
) -> Result<(), TestCaseError> {
    for src in Src::every() {
        let read = Read {
            src,
            shape: Shape::Rows,
        };
        prop_assert_eq!(
            read_at(store, t, &read),
            model.read(t, &read),
            "{} at TID {}: {:?}",
            when,
            t,
            read.src
        );
    }
    for k in 0..KEYS {
        let read = Read {
            src: Src::All,
            shape: Shape::Get(k),
        };
        prop_assert_eq!(
            read_at(store, t, &read),
            model.read(t, &read),
            "{}: get({}) at TID {}",
            when,
            k,
            t
        );
    }
    Ok(())
}

/// Versions and index entries held equal what GC must retain: no leak, nothing lost.
pub(crate) fn check_accounting(
    store: &Store,
    model: &Model,
    when: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        store.version_count(),
        model.version_count(),
        "{}: version_count",
        when
    );
    prop_assert_eq!(
        store.index_entry_count(),
        model.index_entry_count(),
        "{}: index_entry_count",
        when
    );
    Ok(())
}
