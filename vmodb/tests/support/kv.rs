//! A two-service key/value application for coordinator and bad-input tests.
//!
//! - `a`: cells (id → value) and entries (a churning table with an index). Handlers: `set`
//!   (partitioned by id, no output), `step` (partitioned by id, emits `fwd` unless the value is
//!   negative), `churn` (single: insert one entry, delete an old one, bump a cell). Query `get`.
//! - `b`: cells. Handlers: `fwd` (partitioned by id, emits `done`, the transaction's output),
//!   `poke` (single, no output). Query `get`.
//!
//! Transactions: `set` = a; `pipe` = a.step → b.fwd; `churn` = a; `poke` = b.
//! Every input carries `fail`: 1 = `a` returns an error after writing, 2 = `a` panics after
//! writing, 3 = `b` returns an error after writing, 4 = `b` panics after writing; and for
//! `pipe`, 5 = the partition closure of `a.step` panics, 6 = the one of `b.fwd` does.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vmodb::{
    App, BootstrapError, Entity, Handler, Loader, Service, TableDef, TransactionDef, TxCtx, TxError,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub id: u32,
    pub value: i64,
}
impl Entity for Cell {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    pub group: u32,
}
impl Entity for Entry {
    type Key = u64;
    fn key(&self) -> u64 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Set {
    pub id: u32,
    pub value: i64,
    pub fail: u8,
    pub sleep_ms: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fwd {
    pub id: u32,
    pub value: i64,
    pub fail: u8,
    /// `b` sleeps this long before answering (to widen races between workers).
    pub sleep_us: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub id: u32,
    pub value: i64,
    /// b's value of the cell before this transaction wrote it.
    pub before: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    pub k: u64,
}

/// Live entries kept by `churn`: entry `k` is inserted and entry `k - KEEP` deleted.
pub const KEEP: u64 = 100;
/// Cells per service loaded at start.
pub const CELLS: u32 = 100;

pub fn set(id: u32, value: i64) -> Set {
    Set {
        id,
        value,
        ..Set::default()
    }
}

pub fn fwd(id: u32, value: i64) -> Fwd {
    Fwd {
        id,
        value,
        ..Fwd::default()
    }
}

/// What handlers did, for tests to observe.
#[derive(Default)]
pub struct Hooks {
    /// `a.set` runs (including failed ones).
    pub set_runs: AtomicU64,
    /// `b.fwd` runs.
    pub fwd_runs: AtomicU64,
    /// When `b.poke` last ran.
    pub poke_at: Mutex<Option<Instant>>,
}

impl Hooks {
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Hooks::default())
    }
}

fn fail_here(fail: u8, err: u8, panic: u8, service: &str) -> Result<(), TxError> {
    if fail == err {
        return Err(TxError::app(format!("deliberate failure at {service}")));
    }
    if fail == panic {
        panic!("deliberate panic at {service}");
    }
    Ok(())
}

fn put(ctx: &TxCtx, id: u32, value: i64) -> Result<i64, TxError> {
    let cells = ctx.table::<Cell>()?;
    let before = cells.get(&id).map_or(0, |c| c.value);
    cells.upsert(Cell { id, value })?;
    Ok(before)
}

pub fn service_a(hooks: std::sync::Arc<Hooks>) -> Service {
    Service::new("a")
        .table(TableDef::<Cell>::new("cells", &["id"]))
        .table(TableDef::<Entry>::new("entries", &["id"]).index("by_group", &["group"]))
        .handler(
            Handler::on::<Set>("set")
                .read_write()
                .partition_by(|e: &Set| e.id)
                .run(move |ctx, e| {
                    hooks.set_runs.fetch_add(1, Ordering::SeqCst);
                    put(ctx, e.id, e.value)?;
                    if e.sleep_ms > 0 {
                        std::thread::sleep(Duration::from_millis(e.sleep_ms.into()));
                    }
                    fail_here(e.fail, 1, 2, "a")
                }),
        )
        .handler(
            Handler::on::<Fwd>("step")
                .emits::<Fwd>("fwd")
                .read_write()
                .partition_by(|e: &Fwd| {
                    assert!(e.fail != 5, "deliberate panic in a's partition closure");
                    e.id
                })
                .run(|ctx, e| {
                    put(ctx, e.id, e.value)?;
                    fail_here(e.fail, 1, 2, "a")?;
                    Ok((e.value >= 0).then_some(e))
                }),
        )
        .handler(
            Handler::on::<Churn>("churn")
                .read_write()
                .single()
                .run(|ctx, e| {
                    let entries = ctx.table::<Entry>()?;
                    entries.insert(Entry {
                        id: e.k,
                        group: (e.k % 7) as u32,
                    })?;
                    if e.k >= KEEP {
                        entries.delete(&(e.k - KEEP))?;
                    }
                    let id = (e.k % u64::from(CELLS)) as u32;
                    let cells = ctx.table::<Cell>()?;
                    let mut c = cells.get(&id).ok_or_else(|| TxError::app("no cell"))?;
                    c.value += 1;
                    cells.update(c)
                }),
        )
        .query("get", |ctx, id: u32| {
            Ok(ctx.table::<Cell>()?.get(&id).map(|c| c.value))
        })
}

pub fn service_b(hooks: std::sync::Arc<Hooks>) -> Service {
    Service::new("b")
        .table(TableDef::<Cell>::new("cells", &["id"]))
        .handler(
            Handler::on::<Fwd>("fwd")
                .emits::<Done>("done")
                .read_write()
                .partition_by(|e: &Fwd| {
                    assert!(e.fail != 6, "deliberate panic in b's partition closure");
                    e.id
                })
                .run({
                    let hooks = std::sync::Arc::clone(&hooks);
                    move |ctx, e| {
                        hooks.fwd_runs.fetch_add(1, Ordering::SeqCst);
                        let before = put(ctx, e.id, e.value)?;
                        if e.sleep_us > 0 {
                            std::thread::sleep(Duration::from_micros(e.sleep_us.into()));
                        }
                        fail_here(e.fail, 3, 4, "b")?;
                        Ok(Done {
                            id: e.id,
                            value: e.value,
                            before,
                        })
                    }
                }),
        )
        .handler(
            Handler::on::<Set>("poke")
                .read_write()
                .single()
                .run(move |ctx, e| {
                    put(ctx, e.id, e.value)?;
                    *hooks.poke_at.lock().unwrap() = Some(Instant::now());
                    fail_here(e.fail, 3, 4, "b")
                }),
        )
        .query("get", |ctx, id: u32| {
            Ok(ctx.table::<Cell>()?.get(&id).map(|c| c.value))
        })
}

pub fn app(hooks: std::sync::Arc<Hooks>) -> App {
    App::builder()
        .service(service_a(std::sync::Arc::clone(&hooks)))
        .service(service_b(hooks))
        .transaction(TransactionDef::new("set", "a", "set"))
        .transaction(TransactionDef::new("pipe", "a", "step").then("b", "fwd"))
        .transaction(TransactionDef::new("churn", "a", "churn"))
        .transaction(TransactionDef::new("poke", "b", "poke"))
        .build()
        .expect("kv app")
}

/// `CELLS` cells with value 0 at each service, and entries `0..KEEP` at `a`.
pub fn load(l: &Loader) -> Result<(), BootstrapError> {
    l.insert("a", (0..CELLS).map(|id| Cell { id, value: 0 }))?;
    l.insert(
        "a",
        (0..KEEP).map(|id| Entry {
            id,
            group: (id % 7) as u32,
        }),
    )?;
    l.insert("b", (0..CELLS).map(|id| Cell { id, value: 0 }))
}
