//! The multi-version store against a reference model.
//!
//! A proptest drives one table (a secondary index, two partial indexes and a `NonNegative` check)
//! with random tasks — inserts, updates, upserts and deletes at strictly increasing TIDs, some of
//! them undone, now or after a later commit — interleaved with batch commits at random
//! watermarks, snapshot pins taken and released, and reads (key lookups, scans, index and
//! partial-index scans, filters, limits and aggregates) at random TIDs, including old pinned
//! snapshots. The model keeps every version forever (`history`) for reads, and separately the
//! versions GC must retain (`retained`), so version and index-entry counts are checked exactly
//! after every step.
//!
//! Focused tests cover constraints, foreign keys, read-only and replica errors, and the cases
//! most likely to go wrong: an update that moves a row to another index key, a task writing a key
//! twice, and delete followed by re-insert.

use proptest::prelude::*;
use proptest::sample::Index;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use vmodb::internals::{self, Store};
use vmodb::{Check, Entity, Repo, Service, TableDef, Tid, TxError, Value};

// ---------------------------------------------------------------------------------------------
// The entity under test
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Row {
    id: u32,
    group: u32,
    status: String,
    amount: i64,
    note: String,
}

impl Entity for Row {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

const TABLE: &str = "rows";
const OPEN: &str = "open";
const STATUSES: &[&str] = &["open", "closed", "held"];
const NOTES: &[&str] = &["", "a", "bb"];
const KEYS: u32 = 8;
const GROUPS: u32 = 3;

fn row_table() -> TableDef<Row> {
    TableDef::new(TABLE, &["id"])
        .index("by_group", &["group"])
        .partial_index("open", "status", OPEN, &[])
        .partial_index("open_by_group", "status", OPEN, &["group"])
        .check("amount", Check::NonNegative)
}

fn row_store() -> Arc<Store> {
    internals::single_table_store(row_table()).expect("store")
}

fn row(id: u32, group: u32, status: &str, amount: i64) -> Row {
    Row {
        id,
        group,
        status: status.to_string(),
        amount,
        note: String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Write {
    Insert(Row),
    Update(Row),
    Upsert(Row),
    Delete(u32),
}

impl Write {
    fn key(&self) -> u32 {
        match self {
            Write::Insert(r) | Write::Update(r) | Write::Upsert(r) => r.id,
            Write::Delete(k) => *k,
        }
    }
}

/// Which rows a query reads.
#[derive(Clone, Debug)]
enum Src {
    All,
    Group(u32),
    Open,
    OpenGroup(u32),
}

impl Src {
    fn matches(&self, r: &Row) -> bool {
        match self {
            Src::All => true,
            Src::Group(g) => r.group == *g,
            Src::Open => r.status == OPEN,
            Src::OpenGroup(g) => r.status == OPEN && r.group == *g,
        }
    }

    fn every() -> Vec<Src> {
        let mut v = vec![Src::All, Src::Open];
        for g in 0..GROUPS {
            v.push(Src::Group(g));
            v.push(Src::OpenGroup(g));
        }
        v
    }
}

/// What a query computes from its rows (`Get`, `GetMany` and `Exists` ignore the source).
#[derive(Clone, Debug)]
enum Shape {
    Rows,
    Count,
    Sum,
    Min,
    Max,
    First,
    Limit(usize),
    /// `filter(amount > x).limit(n)`
    AboveLimit(i64, usize),
    /// `filter(amount > x).count()`
    AboveCount(i64),
    Get(u32),
    GetMany(Vec<u32>),
    Exists(u32),
}

#[derive(Clone, Debug)]
struct Read {
    src: Src,
    shape: Shape,
}

#[derive(Clone, Debug)]
enum Step {
    Write(Write),
    Read(Read),
}

#[derive(Clone, Copy, Debug)]
enum Undo {
    No,
    /// The task fails: its writes are undone when it ends.
    Now,
    /// The task fails, but the undo happens just before the next task runs (commits, pins and
    /// reads may come in between; commits stay below its TID).
    Later,
}

#[derive(Clone, Debug)]
enum Op {
    Task {
        gap: u64,
        steps: Vec<Step>,
        undo: Undo,
    },
    /// Commit at a watermark between the current one and the last finished TID.
    Commit(Index),
    /// Commit everything finished so far.
    CommitAll,
    Pin,
    Unpin(Index),
    /// Read at a TID between the GC horizon and one past the last TID.
    ReadAt(Index, Read),
    /// Read at a pinned snapshot.
    ReadPinned(Index, Read),
}

// ---------------------------------------------------------------------------------------------
// Results, as comparable values
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Ok,
    Deleted(Option<Row>),
    Duplicate,
    NotFound,
    Constraint,
    Other(String),
}

fn classify(r: Result<Outcome, TxError>) -> Outcome {
    match r {
        Ok(o) => o,
        Err(TxError::DuplicateKey { table, .. }) if table == TABLE => Outcome::Duplicate,
        Err(TxError::NotFound { table, .. }) if table == TABLE => Outcome::NotFound,
        Err(TxError::Constraint { table, column, .. }) if table == TABLE && column == "amount" => {
            Outcome::Constraint
        }
        Err(e) => Outcome::Other(format!("{e:?}")),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Answer {
    Rows(Vec<Row>),
    Count(usize),
    Sum(i64),
    Extreme(Option<i64>),
    Row(Option<Row>),
    Exists(bool),
}

// ---------------------------------------------------------------------------------------------
// The engine side
// ---------------------------------------------------------------------------------------------

fn apply(repo: &Repo<'_, Row>, w: &Write) -> Outcome {
    classify(match w {
        Write::Insert(r) => repo.insert(r.clone()).map(|()| Outcome::Ok),
        Write::Update(r) => repo.update(r.clone()).map(|()| Outcome::Ok),
        Write::Upsert(r) => repo.upsert(r.clone()).map(|()| Outcome::Ok),
        Write::Delete(k) => repo.delete(k).map(Outcome::Deleted),
    })
}

fn query<'a, 'r>(repo: &'r Repo<'a, Row>, src: &Src) -> vmodb::Query<'a, 'r, Row> {
    match src {
        Src::All => repo.all(),
        Src::Group(g) => repo.by_index("by_group", (*g,)),
        Src::Open => repo.in_partial("open"),
        Src::OpenGroup(g) => repo.by_index("open_by_group", (*g,)),
    }
}

fn engine_read(repo: &Repo<'_, Row>, read: &Read) -> Answer {
    const Q: &str = "query";
    let q = || query(repo, &read.src);
    match &read.shape {
        Shape::Rows => Answer::Rows(q().rows().expect(Q)),
        Shape::Count => Answer::Count(q().count().expect(Q)),
        Shape::Sum => Answer::Sum(q().sum(|r| r.amount).expect(Q)),
        Shape::Min => Answer::Extreme(q().min(|r| r.amount).expect(Q)),
        Shape::Max => Answer::Extreme(q().max(|r| r.amount).expect(Q)),
        Shape::First => Answer::Row(q().first().expect(Q)),
        Shape::Limit(n) => Answer::Rows(q().limit(*n).rows().expect(Q)),
        Shape::AboveLimit(x, n) => {
            let x = *x;
            Answer::Rows(q().filter(move |r| r.amount > x).limit(*n).rows().expect(Q))
        }
        Shape::AboveCount(x) => {
            let x = *x;
            Answer::Count(q().filter(move |r| r.amount > x).count().expect(Q))
        }
        Shape::Get(k) => Answer::Row(repo.get(k)),
        Shape::GetMany(ks) => Answer::Rows(repo.get_many(ks.iter())),
        Shape::Exists(k) => Answer::Exists(repo.exists(k)),
    }
}

fn read_at(store: &Store, t: Tid, read: &Read) -> Answer {
    let ctx = internals::read_ctx(store, t);
    let repo = ctx.table::<Row>().expect("rows table");
    engine_read(&repo, read)
}

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
fn index_keys(r: &Row) -> [Option<Option<u32>>; 3] {
    let open = r.status == OPEN;
    [
        Some(Some(r.group)),
        open.then_some(None),
        open.then_some(Some(r.group)),
    ]
}

#[derive(Default)]
struct Model {
    /// Every version ever written and not undone: what reads must return.
    history: BTreeMap<u32, Versions>,
    /// The versions GC must keep: what `version_count` and the index entries account for.
    retained: BTreeMap<u32, Versions>,
}

impl Model {
    fn get(&self, key: u32, t: Tid) -> Option<&Row> {
        self.history.get(&key).and_then(|vs| visible(vs, t))
    }

    fn rows_at(&self, t: Tid) -> Vec<Row> {
        self.history
            .values()
            .filter_map(|vs| visible(vs, t).cloned())
            .collect()
    }

    /// What a write must return, and what it installs when it succeeds (`Some(new)`); or the
    /// errors it may fail with.
    #[allow(clippy::type_complexity)]
    fn expect(&self, tid: Tid, w: &Write) -> Result<(Outcome, Option<Option<Row>>), Vec<Outcome>> {
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

    fn install(&mut self, tid: Tid, key: u32, new: Option<Row>) {
        install(&mut self.history, tid, key, new.clone());
        install(&mut self.retained, tid, key, new);
    }

    fn undo(&mut self, tid: Tid) {
        remove_tid(&mut self.history, tid);
        remove_tid(&mut self.retained, tid);
    }

    /// GC at horizon `h`: of the versions at or below `h` only the newest stays, unless it is a
    /// tombstone. Returns the number of versions dropped.
    fn collect(&mut self, h: Tid) -> usize {
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

    fn read(&self, t: Tid, read: &Read) -> Answer {
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
fn check_snapshot(store: &Store, model: &Model, t: Tid, when: &str) -> Result<(), TestCaseError> {
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
fn check_accounting(store: &Store, model: &Model, when: &str) -> Result<(), TestCaseError> {
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

// ---------------------------------------------------------------------------------------------
// The proptest
// ---------------------------------------------------------------------------------------------

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let store = row_store();
    let mut model = Model::default();
    let mut last_tid: Tid = 0;
    let mut watermark: Tid = 0;
    // Horizon of the last GC: reads at or above it are guaranteed to be unchanged by GC.
    let mut horizon: Tid = 0;
    let mut pins = Vec::new();
    // A failed task whose undo is still to come.
    let mut pending = None;

    for (step_no, op) in ops.iter().enumerate() {
        let when = format!("op #{step_no} {op:?}");
        match op {
            Op::Task { gap, steps, undo } => {
                if let Some((ctx, tid)) = pending.take() {
                    internals::undo(&ctx);
                    model.undo(tid);
                    check_snapshot(&store, &model, tid, "after a deferred undo")?;
                }
                let tid = last_tid + gap;
                last_tid = tid;
                let ctx = internals::write_ctx(&store, tid);
                {
                    let repo = ctx.table::<Row>().expect("rows table");
                    for (i, step) in steps.iter().enumerate() {
                        match step {
                            Step::Write(w) => {
                                let got = apply(&repo, w);
                                match model.expect(tid, w) {
                                    Ok((want, effect)) => {
                                        prop_assert_eq!(
                                            &got,
                                            &want,
                                            "{}: step {} at TID {}",
                                            &when,
                                            i,
                                            tid
                                        );
                                        if let Some(new) = effect {
                                            model.install(tid, w.key(), new);
                                        }
                                    }
                                    Err(allowed) => prop_assert!(
                                        allowed.contains(&got),
                                        "{}: step {} at TID {}: got {:?}, expected one of {:?}",
                                        &when,
                                        i,
                                        tid,
                                        got,
                                        allowed
                                    ),
                                }
                            }
                            Step::Read(r) => prop_assert_eq!(
                                engine_read(&repo, r),
                                model.read(tid, r),
                                "{}: step {} (own TID {})",
                                &when,
                                i,
                                tid
                            ),
                        }
                    }
                }
                match undo {
                    Undo::No => {}
                    Undo::Now => {
                        internals::undo(&ctx);
                        model.undo(tid);
                    }
                    Undo::Later => pending = Some((ctx, tid)),
                }
            }
            Op::Commit(_) | Op::CommitAll => {
                // A batch never commits a failed task that is not undone yet.
                let hi = pending.as_ref().map_or(last_tid, |(_, t)| t - 1);
                if hi >= watermark {
                    let w = match op {
                        Op::Commit(ix) => {
                            watermark + ix.index((hi - watermark + 1) as usize) as Tid
                        }
                        _ => hi,
                    };
                    watermark = w;
                    let oldest_pin = pins.iter().map(|(_, t)| *t).min();
                    horizon = oldest_pin.map_or(w, |p: Tid| p.min(w));
                    let dropped = internals::commit(&store, w);
                    prop_assert_eq!(dropped, model.collect(horizon), "{}: dropped", &when);
                    if pins.is_empty() && pending.is_none() && w == last_tid {
                        prop_assert_eq!(
                            store.version_count(),
                            model.rows_at(w).len(),
                            "{}: versions after a full GC",
                            &when
                        );
                    }
                }
            }
            Op::Pin => pins.push((internals::pin(&store), watermark)),
            Op::Unpin(ix) => {
                if !pins.is_empty() {
                    drop(pins.remove(ix.index(pins.len())));
                }
            }
            Op::ReadAt(ix, r) => {
                let t = horizon + ix.index((last_tid + 2 - horizon) as usize) as Tid;
                prop_assert_eq!(
                    read_at(&store, t, r),
                    model.read(t, r),
                    "{} at TID {}",
                    &when,
                    t
                );
            }
            Op::ReadPinned(ix, r) => {
                if !pins.is_empty() {
                    let t = pins[ix.index(pins.len())].1;
                    prop_assert_eq!(
                        read_at(&store, t, r),
                        model.read(t, r),
                        "{} at pinned TID {}",
                        &when,
                        t
                    );
                }
            }
        }
        check_accounting(&store, &model, &when)?;
        let mut tids: BTreeSet<Tid> = pins.iter().map(|(_, t)| *t).collect();
        tids.extend([horizon, watermark, last_tid]);
        for t in tids {
            check_snapshot(&store, &model, t, &when)?;
        }
    }

    // Wind down: the pending undo happens, pins go, everything commits.
    if let Some((ctx, tid)) = pending.take() {
        internals::undo(&ctx);
        model.undo(tid);
    }
    pins.clear();
    let dropped = internals::commit(&store, last_tid);
    prop_assert_eq!(dropped, model.collect(last_tid), "final commit: dropped");
    check_accounting(&store, &model, "final commit")?;
    let live = model.rows_at(last_tid);
    prop_assert_eq!(
        store.version_count(),
        live.len(),
        "versions after the final commit"
    );
    let entries: usize = live
        .iter()
        .map(|r| index_keys(r).iter().flatten().count())
        .sum();
    prop_assert_eq!(store.index_entry_count(), entries, "index entries at rest");
    check_snapshot(&store, &model, last_tid, "final commit")
}

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        0..KEYS,
        0..GROUPS,
        prop::sample::select(STATUSES),
        prop_oneof![9 => 0i64..40, 1 => -3i64..0],
        prop::sample::select(NOTES),
    )
        .prop_map(|(id, group, status, amount, note)| Row {
            id,
            group,
            status: status.to_string(),
            amount,
            note: note.to_string(),
        })
}

fn write_strategy() -> impl Strategy<Value = Write> {
    prop_oneof![
        3 => row_strategy().prop_map(Write::Insert),
        3 => row_strategy().prop_map(Write::Update),
        2 => row_strategy().prop_map(Write::Upsert),
        2 => (0..KEYS).prop_map(Write::Delete),
    ]
}

fn read_strategy() -> impl Strategy<Value = Read> {
    let src = prop_oneof![
        Just(Src::All),
        (0..GROUPS).prop_map(Src::Group),
        Just(Src::Open),
        (0..GROUPS).prop_map(Src::OpenGroup),
    ];
    let shape = prop_oneof![
        3 => Just(Shape::Rows),
        1 => Just(Shape::Count),
        1 => Just(Shape::Sum),
        1 => Just(Shape::Min),
        1 => Just(Shape::Max),
        1 => Just(Shape::First),
        1 => (0usize..4).prop_map(Shape::Limit),
        1 => (0i64..40, 0usize..4).prop_map(|(x, n)| Shape::AboveLimit(x, n)),
        1 => (0i64..40).prop_map(Shape::AboveCount),
        2 => (0..KEYS).prop_map(Shape::Get),
        1 => prop::collection::vec(0..KEYS, 0..4).prop_map(Shape::GetMany),
        1 => (0..KEYS).prop_map(Shape::Exists),
    ];
    (src, shape).prop_map(|(src, shape)| Read { src, shape })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let step = prop_oneof![
        3 => write_strategy().prop_map(Step::Write),
        1 => read_strategy().prop_map(Step::Read),
    ];
    let undo = prop_oneof![8 => Just(Undo::No), 1 => Just(Undo::Now), 1 => Just(Undo::Later)];
    prop_oneof![
        8 => (1u64..4, prop::collection::vec(step, 1..6), undo)
            .prop_map(|(gap, steps, undo)| Op::Task { gap, steps, undo }),
        2 => any::<Index>().prop_map(Op::Commit),
        1 => Just(Op::CommitAll),
        1 => Just(Op::Pin),
        1 => any::<Index>().prop_map(Op::Unpin),
        2 => (any::<Index>(), read_strategy()).prop_map(|(i, r)| Op::ReadAt(i, r)),
        1 => (any::<Index>(), read_strategy()).prop_map(|(i, r)| Op::ReadPinned(i, r)),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_matches_reference_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        run_ops(&ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Focused tests
// ---------------------------------------------------------------------------------------------

/// Runs `f` as a task at `tid`; the writes stay.
fn task<T>(store: &Store, tid: Tid, f: impl FnOnce(&Repo<'_, Row>) -> T) -> T {
    let ctx = internals::write_ctx(store, tid);
    let repo = ctx.table::<Row>().expect("rows table");
    f(&repo)
}

/// Runs `f` as a read-only query at `t`.
fn at<T>(store: &Store, t: Tid, f: impl FnOnce(&Repo<'_, Row>) -> T) -> T {
    let ctx = internals::read_ctx(store, t);
    let repo = ctx.table::<Row>().expect("rows table");
    f(&repo)
}

fn ids(rows: Vec<Row>) -> Vec<u32> {
    rows.into_iter().map(|r| r.id).collect()
}

fn in_group(store: &Store, t: Tid, g: u32) -> Vec<u32> {
    at(store, t, |r| {
        ids(r.by_index("by_group", (g,)).rows().expect("scan"))
    })
}

fn open(store: &Store, t: Tid) -> Vec<u32> {
    at(store, t, |r| {
        ids(r.in_partial("open").rows().expect("scan"))
    })
}

fn open_in_group(store: &Store, t: Tid, g: u32) -> Vec<u32> {
    at(store, t, |r| {
        ids(r.by_index("open_by_group", (g,)).rows().expect("scan"))
    })
}

/// Index entries a set of live rows carries when nothing else is retained.
fn entries_of(rows: &[Row]) -> usize {
    rows.iter()
        .map(|r| index_keys(r).iter().flatten().count())
        .sum()
}

#[test]
fn index_scan_after_an_update_that_changes_the_indexed_column() {
    let store = row_store();
    let before = row(1, 1, OPEN, 5);
    let after = row(1, 2, "closed", 5);
    task(&store, 1, |r| {
        r.insert(before.clone()).expect("insert");
        r.insert(row(2, 1, OPEN, 7)).expect("insert");
    });
    internals::commit(&store, 1);
    let pin = internals::pin(&store); // snapshot at 1
    task(&store, 2, |r| {
        r.update(after.clone()).expect("update");
        // The writer sees its own update through the indexes at once.
        assert_eq!(
            ids(r.by_index("by_group", (1u32,)).rows().expect("scan")),
            vec![2]
        );
        assert_eq!(
            ids(r.by_index("by_group", (2u32,)).rows().expect("scan")),
            vec![1]
        );
        assert_eq!(ids(r.in_partial("open").rows().expect("scan")), vec![2]);
    });
    internals::commit(&store, 2); // horizon stays at the pinned 1
    for _ in 0..2 {
        // At the new TID the old probe no longer returns the row...
        assert_eq!(in_group(&store, 2, 1), vec![2]);
        assert_eq!(in_group(&store, 2, 2), vec![1]);
        assert_eq!(open(&store, 2), vec![2]);
        assert_eq!(open_in_group(&store, 2, 1), vec![2]);
        assert_eq!(
            at(&store, 2, |r| r
                .by_index("by_group", (1u32,))
                .count()
                .expect("count")),
            1
        );
        assert_eq!(
            at(&store, 2, |r| r
                .by_index("by_group", (1u32,))
                .sum(|x| x.amount)
                .expect("sum")),
            7
        );
        // ...but the pinned snapshot still finds it under the old key, and only there.
        assert_eq!(in_group(&store, 1, 1), vec![1, 2]);
        assert_eq!(in_group(&store, 1, 2), Vec::<u32>::new());
        assert_eq!(open(&store, 1), vec![1, 2]);
        assert_eq!(open_in_group(&store, 1, 1), vec![1, 2]);
        assert_eq!(at(&store, 1, |r| r.get(&1)), Some(before.clone()));
        assert_eq!(at(&store, 2, |r| r.get(&1)), Some(after.clone()));
        // GC again with the pin held changes nothing.
        internals::commit(&store, 2);
    }
    assert_eq!(store.version_count(), 3);
    drop(pin);
    internals::commit(&store, 2);
    assert_eq!(store.version_count(), 2);
    assert_eq!(in_group(&store, 2, 1), vec![2]);
    assert_eq!(in_group(&store, 2, 2), vec![1]);
    assert_eq!(open(&store, 2), vec![2]);
    // The old version's entries went with it.
    assert_eq!(
        store.index_entry_count(),
        entries_of(&[after, row(2, 1, OPEN, 7)])
    );
}

#[test]
fn same_task_writing_a_key_twice() {
    let store = row_store();
    let v1 = row(1, 1, OPEN, 1);
    task(&store, 1, |r| r.insert(v1.clone()).expect("insert"));
    internals::commit(&store, 1);

    // Task 2 updates twice, to different groups; then fails.
    let v2a = row(1, 2, OPEN, 2);
    let v2b = row(1, 0, "closed", 3);
    let ctx = internals::write_ctx(&store, 2);
    {
        let r = ctx.table::<Row>().expect("rows table");
        r.update(v2a.clone()).expect("update");
        r.update(v2b.clone()).expect("second update");
        assert_eq!(r.get(&1), Some(v2b.clone()));
        for (g, want) in [(0, vec![1]), (1, vec![]), (2, vec![])] {
            assert_eq!(
                ids(r.by_index("by_group", (g,)).rows().expect("scan")),
                want,
                "group {g}"
            );
        }
        assert_eq!(ids(r.in_partial("open").rows().expect("scan")), vec![]);
    }
    assert_eq!(store.version_count(), 2, "one version per TID");
    // The first update's index entry (group 2) is carried by no version any more.
    assert_eq!(store.index_entry_count(), entries_of(&[v1.clone(), v2b]));
    assert_eq!(at(&store, 1, |r| r.get(&1)), Some(v1.clone()));
    internals::undo(&ctx);
    drop(ctx);
    assert_eq!(at(&store, 2, |r| r.get(&1)), Some(v1.clone()));
    assert_eq!(in_group(&store, 2, 1), vec![1]);
    assert_eq!(in_group(&store, 2, 0), Vec::<u32>::new());
    assert_eq!(in_group(&store, 2, 2), Vec::<u32>::new());
    assert_eq!(open(&store, 2), vec![1]);
    assert_eq!(store.version_count(), 1);
    assert_eq!(
        store.index_entry_count(),
        entries_of(std::slice::from_ref(&v1))
    );

    // Task 3: delete, then insert again, then upsert; the delete returns the visible row.
    let v3 = row(1, 2, OPEN, 9);
    task(&store, 3, |r| {
        assert_eq!(r.delete(&1).expect("delete"), Some(v1.clone()));
        assert_eq!(r.delete(&1).expect("delete again"), None);
        assert_eq!(r.get(&1), None);
        assert!(matches!(
            r.update(v3.clone()),
            Err(TxError::NotFound { .. })
        ));
        r.insert(row(1, 0, OPEN, 4))
            .expect("re-insert in the same task");
        assert!(matches!(
            r.insert(v3.clone()),
            Err(TxError::DuplicateKey { .. })
        ));
        r.upsert(v3.clone()).expect("upsert");
        assert_eq!(r.get(&1), Some(v3.clone()));
    });
    assert_eq!(store.version_count(), 2);
    assert_eq!(in_group(&store, 3, 0), Vec::<u32>::new());
    assert_eq!(in_group(&store, 3, 1), Vec::<u32>::new());
    assert_eq!(in_group(&store, 3, 2), vec![1]);
    assert_eq!(in_group(&store, 2, 1), vec![1]);
    internals::commit(&store, 3);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[v3]));

    // A fresh key written twice and deleted by one task, then undone: no trace.
    let ctx = internals::write_ctx(&store, 4);
    {
        let r = ctx.table::<Row>().expect("rows table");
        r.insert(row(5, 1, OPEN, 1)).expect("insert");
        r.update(row(5, 2, OPEN, 1)).expect("update");
        assert_eq!(r.delete(&5).expect("delete"), Some(row(5, 2, OPEN, 1)));
        r.upsert(row(5, 0, "held", 1)).expect("upsert");
    }
    internals::undo(&ctx);
    drop(ctx);
    assert_eq!(at(&store, 4, |r| r.get(&5)), None);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[row(1, 2, OPEN, 9)]));

    // A fresh key inserted and deleted by one task leaves only a tombstone, which GC drops.
    task(&store, 5, |r| {
        r.insert(row(6, 1, OPEN, 1)).expect("insert");
        assert_eq!(r.delete(&6).expect("delete"), Some(row(6, 1, OPEN, 1)));
    });
    assert_eq!(at(&store, 5, |r| r.get(&6)), None);
    assert_eq!(in_group(&store, 5, 1), Vec::<u32>::new());
    internals::commit(&store, 5);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[row(1, 2, OPEN, 9)]));
}

#[test]
fn delete_then_reinsert() {
    let store = row_store();
    let v1 = row(3, 1, OPEN, 1);
    let v3 = row(3, 2, "closed", 2);
    task(&store, 1, |r| r.insert(v1.clone()).expect("insert"));
    internals::commit(&store, 1);
    let pin = internals::pin(&store);
    task(&store, 2, |r| {
        assert_eq!(r.delete(&3).expect("delete"), Some(v1.clone()));
    });
    task(&store, 3, |r| {
        assert_eq!(r.get(&3), None);
        r.insert(v3.clone()).expect("re-insert");
    });
    internals::commit(&store, 3);
    for _ in 0..2 {
        assert_eq!(at(&store, 1, |r| r.get(&3)), Some(v1.clone()));
        assert_eq!(at(&store, 2, |r| r.get(&3)), None);
        assert_eq!(at(&store, 3, |r| r.get(&3)), Some(v3.clone()));
        assert_eq!(in_group(&store, 1, 1), vec![3]);
        assert_eq!(in_group(&store, 2, 1), Vec::<u32>::new());
        assert_eq!(in_group(&store, 3, 1), Vec::<u32>::new());
        assert_eq!(in_group(&store, 3, 2), vec![3]);
        assert_eq!(open(&store, 1), vec![3]);
        assert_eq!(open(&store, 3), Vec::<u32>::new());
        assert_eq!(at(&store, 2, |r| r.all().count().expect("count")), 0);
        assert_eq!(store.version_count(), 3, "v1, tombstone, v3");
        internals::commit(&store, 3);
    }
    drop(pin);
    internals::commit(&store, 3);
    assert_eq!(store.version_count(), 1);
    assert_eq!(
        store.index_entry_count(),
        entries_of(std::slice::from_ref(&v3))
    );
    assert_eq!(in_group(&store, 3, 1), Vec::<u32>::new());

    // Delete, let GC drop the tombstone, then insert again.
    task(&store, 4, |r| {
        assert_eq!(r.delete(&3).expect("delete"), Some(v3.clone()));
    });
    internals::commit(&store, 4);
    assert_eq!(store.version_count(), 0);
    assert_eq!(store.index_entry_count(), 0);
    let v5 = row(3, 1, OPEN, 5);
    task(&store, 5, |r| {
        r.insert(v5.clone()).expect("insert after GC")
    });
    assert_eq!(in_group(&store, 5, 1), vec![3]);
    assert_eq!(in_group(&store, 4, 1), Vec::<u32>::new());
    assert_eq!(open(&store, 5), vec![3]);
    // An undone delete brings the row back, in its indexes too.
    let ctx = internals::write_ctx(&store, 6);
    assert_eq!(
        ctx.table::<Row>()
            .expect("rows table")
            .delete(&3)
            .expect("delete"),
        Some(v5.clone())
    );
    internals::undo(&ctx);
    drop(ctx);
    assert_eq!(in_group(&store, 6, 1), vec![3]);
    assert_eq!(open_in_group(&store, 6, 1), vec![3]);
    internals::commit(&store, 6);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[v5]));
}

#[test]
fn readers_never_see_later_tids() {
    let store = row_store();
    task(&store, 5, |r| r.insert(row(1, 1, OPEN, 1)).expect("insert"));
    task(&store, 4, |r| {
        // A writer at an earlier TID (parallel work) does not see TID 5's row.
        assert_eq!(r.get(&1), None);
        assert_eq!(r.by_index("by_group", (1u32,)).count().expect("count"), 0);
    });
    assert_eq!(at(&store, 4, |r| r.get(&1)), None);
    assert_eq!(in_group(&store, 4, 1), Vec::<u32>::new());
    assert_eq!(in_group(&store, 5, 1), vec![1]);
    assert_eq!(in_group(&store, 9, 1), vec![1]);
}

#[test]
fn memory_is_bounded_by_live_rows_not_by_transactions() {
    let store = row_store();
    task(&store, 1, |r| {
        for id in 0..10 {
            r.insert(row(id, id % GROUPS, OPEN, 0)).expect("insert");
        }
    });
    internals::commit(&store, 1);
    let mut tid = 1;
    for round in 0..300u32 {
        for k in 0..10u32 {
            tid += 1;
            task(&store, tid, |r| {
                let mut x = r.get(&k).expect("row");
                x.group = (x.group + round + k) % GROUPS;
                x.status = STATUSES[((round + k) % 3) as usize].to_string();
                x.amount += 1;
                x.note = format!("{round}");
                r.update(x).expect("update");
                if (round + k) % 7 == 0 {
                    // Churn: delete and re-insert in the next TID.
                    let gone = r.delete(&k).expect("delete").expect("row");
                    assert_eq!(r.get(&k), None);
                    r.upsert(gone).expect("upsert");
                }
            });
            if (round + k) % 11 == 0 {
                // A failed task.
                tid += 1;
                let ctx = internals::write_ctx(&store, tid);
                ctx.table::<Row>()
                    .expect("rows table")
                    .upsert(row(100 + k, 0, OPEN, 1))
                    .expect("upsert");
                internals::undo(&ctx);
            }
        }
        internals::commit(&store, tid);
        assert_eq!(store.version_count(), 10, "round {round}");
        let live = at(&store, tid, |r| r.all().rows().expect("scan"));
        assert_eq!(
            store.index_entry_count(),
            entries_of(&live),
            "round {round}"
        );
    }
    let total: i64 = at(&store, tid, |r| r.all().sum(|x| x.amount).expect("sum"));
    assert_eq!(total, 300 * 10);
}

#[test]
fn unknown_index_is_an_error() {
    let store = row_store();
    let err = at(&store, 0, |r| r.by_index("by_nothing", (1u32,)).rows());
    assert_eq!(
        err,
        Err(TxError::UnknownIndex {
            table: TABLE.into(),
            index: "by_nothing".into()
        })
    );
}

// --- constraints ------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u32,
    name: String,
    price: f64,
    qty: i64,
    stock: i64,
}

impl Entity for Product {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

fn product(id: u32) -> Product {
    Product {
        id,
        name: "widget".into(),
        price: 2.5,
        qty: 10,
        stock: 0,
    }
}

fn constraint_column(r: Result<(), TxError>) -> String {
    match r {
        Err(TxError::Constraint { table, column, .. }) => {
            assert_eq!(table, "products");
            column
        }
        other => panic!("expected a constraint error, got {other:?}"),
    }
}

#[test]
fn constraints_reject_violations_and_leave_no_version() {
    let store = internals::single_table_store(
        TableDef::<Product>::new("products", &["id"])
            .index("by_name", &["name"])
            .check("name", Check::NotEmpty)
            .check("price", Check::Positive)
            .check("qty", Check::Min(1.0))
            .check("qty", Check::Max(100.0))
            .check("stock", Check::NonNegative),
    )
    .expect("store");
    let violations: Vec<(Product, &str)> = vec![
        (
            Product {
                name: String::new(),
                ..product(1)
            },
            "name",
        ),
        (
            Product {
                name: "  ".into(),
                ..product(1)
            },
            "name",
        ),
        (
            Product {
                price: 0.0,
                ..product(1)
            },
            "price",
        ),
        (
            Product {
                price: -1.0,
                ..product(1)
            },
            "price",
        ),
        (
            Product {
                qty: 0,
                ..product(1)
            },
            "qty",
        ),
        (
            Product {
                qty: 101,
                ..product(1)
            },
            "qty",
        ),
        (
            Product {
                stock: -1,
                ..product(1)
            },
            "stock",
        ),
    ];
    let ctx = internals::write_ctx(&store, 1);
    {
        let t = ctx.table::<Product>().expect("table");
        for (p, col) in &violations {
            assert_eq!(constraint_column(t.insert(p.clone())), *col, "insert {p:?}");
            assert_eq!(constraint_column(t.upsert(p.clone())), *col, "upsert {p:?}");
        }
        assert_eq!(store.version_count(), 0);
        assert_eq!(store.index_entry_count(), 0);
        assert_eq!(t.get(&1), None);
        // Boundaries hold.
        t.insert(Product {
            qty: 1,
            ..product(1)
        })
        .expect("qty at Min");
        t.insert(Product {
            qty: 100,
            price: 0.01,
            ..product(2)
        })
        .expect("qty at Max");
    }
    internals::commit(&store, 1);
    let ctx = internals::write_ctx(&store, 2);
    let t = ctx.table::<Product>().expect("table");
    for (p, col) in &violations {
        assert_eq!(constraint_column(t.update(p.clone())), *col, "update {p:?}");
        assert_eq!(constraint_column(t.upsert(p.clone())), *col, "upsert {p:?}");
    }
    // The failed writes installed nothing: the committed row is still what this TID sees.
    assert_eq!(
        t.get(&1),
        Some(Product {
            qty: 1,
            ..product(1)
        })
    );
    assert_eq!(store.version_count(), 2);
    assert_eq!(store.index_entry_count(), 2);
    assert_eq!(
        t.by_index("by_name", ("",)).count().expect("count"),
        0,
        "no index entry from a rejected row"
    );
    // A write after a rejected one in the same task works.
    t.update(Product {
        stock: 5,
        ..product(1)
    })
    .expect("valid update");
    assert_eq!(t.get(&1).map(|p| p.stock), Some(5));
    // The error message names table, column and rule.
    let msg = t
        .update(Product {
            stock: -3,
            ..product(1)
        })
        .expect_err("violation")
        .to_string();
    assert!(
        msg.contains("products.stock") && msg.contains("NonNegative") && msg.contains("-3"),
        "{msg}"
    );
}

#[test]
fn constraint_on_the_model_table() {
    let store = row_store();
    let r = task(&store, 1, |t| t.insert(row(1, 0, OPEN, -1)));
    assert!(
        matches!(&r, Err(TxError::Constraint { table, column, .. }) if table == TABLE && column == "amount"),
        "{r:?}"
    );
    assert_eq!(store.version_count(), 0);
    assert_eq!(store.index_entry_count(), 0);
    assert_eq!(in_group(&store, 1, 0), Vec::<u32>::new());
}

// --- foreign keys -----------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Customer {
    id: u32,
    name: String,
}

impl Entity for Customer {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
    customer: u32,
    /// A nullable reference: `None` needs no parent.
    gift_for: Option<u32>,
}

impl Entity for Order {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

fn customer(id: u32) -> Customer {
    Customer {
        id,
        name: format!("c{id}"),
    }
}

fn order(id: u32, customer: u32, gift_for: Option<u32>) -> Order {
    Order {
        id,
        customer,
        gift_for,
    }
}

fn fk_store() -> Arc<Store> {
    let service = Service::new("shop")
        .table(TableDef::<Customer>::new("customers", &["id"]))
        .table(
            TableDef::<Order>::new("orders", &["id"])
                .index("by_customer", &["customer"])
                .foreign_key::<Customer>("order_customer", "customers", |o: &Order| {
                    Some(o.customer)
                })
                .foreign_key::<Customer>("order_gift", "customers", |o: &Order| o.gift_for),
        );
    internals::multi_table_store(&service).expect("store")
}

fn fk_name(r: Result<impl std::fmt::Debug, TxError>) -> String {
    match r {
        Err(TxError::ForeignKey { fk, .. }) => fk,
        other => panic!("expected a foreign-key error, got {other:?}"),
    }
}

#[test]
fn foreign_keys_need_a_visible_parent() {
    let store = fk_store();
    let ctx = internals::write_ctx(&store, 1);
    {
        let orders = ctx.table::<Order>().expect("orders");
        assert_eq!(fk_name(orders.insert(order(1, 7, None))), "order_customer");
        assert_eq!(fk_name(orders.upsert(order(1, 7, None))), "order_customer");
        assert_eq!(store.version_count(), 0);
        assert_eq!(store.index_entry_count(), 0);
        // The parent inserted by the same task is visible to it.
        ctx.table::<Customer>()
            .expect("customers")
            .insert(customer(7))
            .expect("insert parent");
        orders.insert(order(1, 7, None)).expect("child with parent");
        assert_eq!(fk_name(orders.insert(order(2, 7, Some(8)))), "order_gift");
        assert_eq!(fk_name(orders.update(order(1, 8, None))), "order_customer");
        assert_eq!(orders.get(&1), Some(order(1, 7, None)));
    }
    drop(ctx);
    // A parent written at a later TID is not visible to an earlier one.
    task_on::<Customer, _>(&store, 5, |c| c.insert(customer(8))).expect("insert parent");
    let r = task_on::<Order, _>(&store, 4, |o| o.insert(order(2, 8, None)));
    assert_eq!(fk_name(r), "order_customer");
    task_on::<Order, _>(&store, 6, |o| o.insert(order(2, 8, Some(7)))).expect("both parents");
    assert_eq!(store.version_count(), 4);
}

/// Runs `f` on table `E` as a task at `tid`.
fn task_on<E: Entity, T>(store: &Store, tid: Tid, f: impl FnOnce(&Repo<'_, E>) -> T) -> T {
    let ctx = internals::write_ctx(store, tid);
    let repo = ctx.table::<E>().expect("table");
    f(&repo)
}

#[test]
fn foreign_keys_protect_referenced_parents() {
    let store = fk_store();
    let ctx = internals::write_ctx(&store, 1);
    {
        let customers = ctx.table::<Customer>().expect("customers");
        let orders = ctx.table::<Order>().expect("orders");
        for c in 1..=3 {
            customers.insert(customer(c)).expect("parent");
        }
        orders.insert(order(10, 1, None)).expect("child");
        orders.insert(order(11, 2, Some(3))).expect("child");
    }
    drop(ctx);
    internals::commit(&store, 1);
    let pin = internals::pin(&store);

    // Referenced through either foreign key: refused, and nothing changes.
    for c in 1..=3 {
        let r = task_on::<Customer, _>(&store, 2, |t| t.delete(&c));
        assert!(
            matches!(&r, Err(TxError::ForeignKey { table, .. }) if table == "customers"),
            "delete customer {c}: {r:?}"
        );
    }
    assert_eq!(store.version_count(), 5);
    // Updating a parent is fine.
    task_on::<Customer, _>(&store, 2, |t| {
        t.update(Customer {
            id: 1,
            name: "renamed".into(),
        })
    })
    .expect("update parent");

    // Task 3 moves order 10 to customer 2; customer 1 is then free to go (in the same task).
    let ctx = internals::write_ctx(&store, 3);
    {
        let orders = ctx.table::<Order>().expect("orders");
        orders.update(order(10, 2, None)).expect("move child");
        let customers = ctx.table::<Customer>().expect("customers");
        assert!(
            customers.delete(&1).expect("unreferenced now").is_some(),
            "deleted"
        );
        // The old child version (customer 1) is still retained for the pinned snapshot, but a
        // reader at TID 3 does not see it.
        assert_eq!(fk_name(customers.delete(&2)), "(referencing rows)");
    }
    drop(ctx);
    // Undone child delete makes the parent referenced again.
    let ctx = internals::write_ctx(&store, 4);
    {
        let orders = ctx.table::<Order>().expect("orders");
        assert!(orders.delete(&11).expect("delete child").is_some());
        ctx.table::<Customer>()
            .expect("customers")
            .delete(&3)
            .expect("gift parent unreferenced after the child is gone");
    }
    internals::undo(&ctx);
    drop(ctx);
    assert!(
        task_on::<Customer, _>(&store, 5, |t| t.delete(&3)).is_err(),
        "after the undo order 11 references customer 3 again"
    );
    // Once every child is gone, the parents can go.
    task_on::<Order, _>(&store, 6, |t| {
        t.delete(&10).expect("delete");
        t.delete(&11).expect("delete");
    });
    internals::commit(&store, 6);
    // The pinned snapshot still shows the original rows.
    assert_eq!(
        task_on::<Order, _>(&store, 1, |t| ids_of(t.all().rows().expect("scan"))),
        vec![10, 11]
    );
    assert_eq!(
        task_on::<Order, _>(&store, 1, |t| t
            .by_index("by_customer", (1u32,))
            .count()
            .expect("count")),
        1
    );
    drop(pin);
    task_on::<Customer, _>(&store, 7, |t| {
        t.delete(&2).expect("delete");
        t.delete(&3).expect("delete");
    });
    internals::commit(&store, 7);
    assert_eq!(store.version_count(), 0);
    assert_eq!(store.index_entry_count(), 0);
}

fn ids_of(orders: Vec<Order>) -> Vec<u32> {
    orders.into_iter().map(|o| o.id).collect()
}

#[test]
fn foreign_keys_survive_gc_and_undo_of_the_parent() {
    let store = fk_store();
    let ctx = internals::write_ctx(&store, 1);
    ctx.table::<Customer>()
        .expect("customers")
        .insert(customer(1))
        .expect("parent");
    internals::undo(&ctx);
    drop(ctx);
    let r = task_on::<Order, _>(&store, 2, |t| t.insert(order(1, 1, None)));
    assert_eq!(fk_name(r), "order_customer");
    task_on::<Customer, _>(&store, 3, |t| t.insert(customer(1))).expect("parent");
    task_on::<Order, _>(&store, 4, |t| t.insert(order(1, 1, None))).expect("child");
    internals::commit(&store, 4);
    // After GC the child still protects its parent and finds it.
    assert!(task_on::<Customer, _>(&store, 5, |t| t.delete(&1)).is_err());
    task_on::<Order, _>(&store, 6, |t| t.update(order(1, 1, None))).expect("update child");
    assert_eq!(store.version_count(), 3);
    internals::commit(&store, 6);
    assert_eq!(store.version_count(), 2);
}

// --- read-only contexts and replicas ----------------------------------------------------------

#[test]
fn read_only_contexts_cannot_write() {
    let store = row_store();
    task(&store, 1, |r| r.insert(row(1, 1, OPEN, 1)).expect("insert"));
    internals::commit(&store, 1);
    let ctx = internals::read_ctx(&store, 1);
    assert!(ctx.is_read_only());
    let r = ctx.table::<Row>().expect("rows table");
    let read_only = Err(TxError::ReadOnly {
        table: TABLE.into(),
    });
    assert_eq!(r.insert(row(2, 1, OPEN, 1)), read_only);
    assert_eq!(r.update(row(1, 2, OPEN, 1)), read_only);
    assert_eq!(r.upsert(row(1, 2, OPEN, 1)), read_only);
    assert_eq!(r.delete(&1).map(|_| ()), read_only);
    // Even a violating or missing row reports the read-only error, and nothing is written.
    assert_eq!(r.update(row(9, 2, OPEN, -1)), read_only);
    assert_eq!(r.get(&1), Some(row(1, 1, OPEN, 1)));
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[row(1, 1, OPEN, 1)]));
    // Undoing a read-only context is harmless.
    internals::undo(&ctx);
    assert_eq!(store.version_count(), 1);
}

#[test]
fn replica_tables_refuse_undeclared_writers() {
    let store = internals::single_table_store(
        TableDef::<Row>::new("rows_copy", &["id"]).replica_of("origin", "rows"),
    )
    .expect("store");
    let r = task(&store, 1, |t| t.insert(row(1, 1, OPEN, 1)));
    assert_eq!(
        r,
        Err(TxError::ReplicaWrite {
            table: "rows_copy".into()
        })
    );
    assert_eq!(
        task(&store, 1, |t| t.delete(&1)),
        Err(TxError::ReplicaWrite {
            table: "rows_copy".into()
        })
    );
    assert_eq!(store.version_count(), 0);
    assert_eq!(at(&store, 1, |t| t.all().count().expect("count")), 0);
}

// --- known engine bug -------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Priced {
    id: u32,
    price: f64,
}

impl Entity for Priced {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

/// Regression (value.rs): `Value` once compared an `Int` with a `Float` through `f64` (lossy above
/// 2^53) but hashed integral floats as `i128`, so an index probe the engine called equal to a
/// row's column missed the row. Equality is now exact, agrees with hashing, and is transitive.
#[test]
fn index_probes_agree_with_value_equality_beyond_2_pow_53() {
    use std::hash::{BuildHasher, RandomState};
    let big = 1i64 << 53;
    let store = internals::single_table_store(
        TableDef::<Priced>::new("priced", &["id"]).index("by_price", &["price"]),
    )
    .expect("store");
    let ctx = internals::write_ctx(&store, 1);
    let repo = ctx.table::<Priced>().expect("table");
    repo.insert(Priced {
        id: 1,
        price: big as f64,
    })
    .expect("insert");
    let s = RandomState::new();
    for (probe, expected) in [
        (Value::Int(big), 1),
        (Value::Int(big + 1), 0),
        (Value::Float(big as f64), 1),
    ] {
        let p = probe.clone();
        let by_scan = repo
            .all()
            .filter(move |r| Value::from(r.price) == p)
            .count()
            .expect("scan");
        let by_index = repo
            .by_index("by_price", vec![probe.clone()])
            .count()
            .expect("index");
        assert_eq!(by_scan, expected, "scan with probe {probe:?}");
        assert_eq!(
            by_index, by_scan,
            "index and scan disagree for probe {probe:?}"
        );
        let col = Value::Float(big as f64);
        assert!(
            probe != col || s.hash_one(&probe) == s.hash_one(&col),
            "equal values must hash equally"
        );
    }
    assert_ne!(
        Value::Int(big + 1),
        Value::Float(big as f64),
        "no rounding through f64"
    );
    assert!(Value::Int(big + 1) > Value::Float(big as f64));
}
