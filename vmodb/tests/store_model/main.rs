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

mod constraints;
mod focused;
mod foreign_keys;
mod model;
mod ops;
mod randomized;
mod read_only;
mod regressions;

use model::index_keys;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vmodb::internals::{self, Store};
use vmodb::{Check, Entity, Repo, TableDef, Tid};

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
// Helpers shared by the focused tests
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
