//! Operations, their results as comparable values, and how the engine runs them.

use crate::{GROUPS, OPEN, Row, TABLE};
use proptest::sample::Index;
use vmodb::internals::{self, Store};
use vmodb::{Repo, Tid, TxError};

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub(crate) enum Write {
    Insert(Row),
    Update(Row),
    Upsert(Row),
    Delete(u32),
}

impl Write {
    pub(crate) fn key(&self) -> u32 {
        match self {
            Write::Insert(r) | Write::Update(r) | Write::Upsert(r) => r.id,
            Write::Delete(k) => *k,
        }
    }
}

/// Which rows a query reads.
#[derive(Clone, Debug)]
pub(crate) enum Src {
    All,
    Group(u32),
    Open,
    OpenGroup(u32),
}

impl Src {
    pub(crate) fn matches(&self, r: &Row) -> bool {
        match self {
            Src::All => true,
            Src::Group(g) => r.group == *g,
            Src::Open => r.status == OPEN,
            Src::OpenGroup(g) => r.status == OPEN && r.group == *g,
        }
    }

    pub(crate) fn every() -> Vec<Src> {
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
pub(crate) enum Shape {
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
pub(crate) struct Read {
    pub(crate) src: Src,
    pub(crate) shape: Shape,
}

#[derive(Clone, Debug)]
pub(crate) enum Step {
    Write(Write),
    Read(Read),
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Undo {
    No,
    /// The task fails: its writes are undone when it ends.
    Now,
    /// The task fails, but the undo happens just before the next task runs (commits, pins and
    /// reads may come in between; commits stay below its TID).
    Later,
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
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
pub(crate) enum Outcome {
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
pub(crate) enum Answer {
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

pub(crate) fn apply(repo: &Repo<'_, Row>, w: &Write) -> Outcome {
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

pub(crate) fn engine_read(repo: &Repo<'_, Row>, read: &Read) -> Answer {
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

pub(crate) fn read_at(store: &Store, t: Tid, read: &Read) -> Answer {
    let ctx = internals::read_ctx(store, t);
    let repo = ctx.table::<Row>().expect("rows table");
    engine_read(&repo, read)
}
