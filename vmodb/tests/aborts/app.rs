//! The test application: four services over a tiny key space, so transactions conflict a lot.
//!
//! - `front` (counters): `transfer` (partitioned by key, emits `debit` unless the new counter
//!   value is ≡ 3 mod 7), `fork` (single: reads every counter, emits `split`), `peek`
//!   (read-only, partitioned, emits `seen`), `bump` (partitioned).
//! - `bank` (accounts with a non-negative balance, holds with a foreign key to their account):
//!   `debit` (partitioned by account; a guarded debit that would overdraw aborts explicitly, an
//!   unguarded one hits the check constraint; emits `credit` to the slot given by the new
//!   balance, so a re-execution can move the downstream task to another key), `split` and
//!   `withdraw` (partitioned, take like `debit`; so both branches of a fork can fail), `audit`
//!   (read-only, single: sums every balance, emits `audited`).
//! - `stock` (slots with a non-negative level, registrations, receipts): `credit` (partitioned
//!   by slot, records and emits a receipt), `register` (partitioned: a second registration of
//!   a key is a duplicate-key error), `unregister` (partitioned), `restock` (single: moves every
//!   level), `look` (read-only, partitioned, emits `level`).
//! - `stats` (totals, events): `split` (parallel, write-only: inserts the transaction's own
//!   event row), `seen` (partitioned by key, records and emits an event), `audited` (parallel,
//!   write-only, records and emits an event).
//!
//! Transactions: `transfer` = front → bank → stock (a chain); `fork` = front → {bank, stats}
//! (siblings); `peek` = front (read-only) → stats; `audit` = bank (read-only) → stats; and the
//! single-service `bump`, `withdraw`, `register`, `unregister`, `restock`, `look`.
//!
//! Every input carries `fail`: at the named service, after its writes, the handler aborts
//! explicitly, panics, inserts its own marker twice (duplicate key), inserts a marker that breaks
//! a check, or inserts a note whose marker does not exist (foreign key). Read-only handlers get
//! a read-only error for the three writes. Every marker and note key is the transaction's `uid`
//! (unique per input), so these failures touch no row another task touches.
//!
//! Every output of a writing handler is also stored (receipts, events) under the transaction's
//! `uid`, so a test can check each committed output against the final state.

pub use crate::model::*;
use vmodb::{
    App, BootstrapError, Check, Handler, Loader, Service, TableDef, TransactionDef, TxCtx, TxError,
};

/// Counters, accounts, slots and totals per service.
pub const KEYS: u32 = 3;
pub const START_BALANCE: i64 = 6;
pub const START_LEVEL: i64 = 4;
/// The marker no note may reference.
pub const MISSING: u64 = u64::MAX;
/// Service names; `Fail::at` indexes this.
pub const SERVICES: [&str; 4] = ["front", "bank", "stock", "stats"];
pub const FRONT: u8 = 0;
pub const BANK: u8 = 1;
pub const STOCK: u8 = 2;
pub const STATS: u8 = 3;

/// Transaction names, in the order the generator indexes them.
pub const TRANSACTIONS: [&str; 10] = [
    "transfer",
    "fork",
    "peek",
    "audit",
    "bump",
    "withdraw",
    "register",
    "unregister",
    "restock",
    "look",
];

// ---------------------------------------------------------------------------------------------
// Failure injection
// ---------------------------------------------------------------------------------------------

/// The message of a deliberate panic at `service` (matched by `quiet_deliberate_panics`).
pub fn panic_message(service: &str) -> String {
    format!("deliberate panic at {service}")
}

/// Fails as `fail` says if it names service `me`; called after the handler's writes.
fn maybe_fail(ctx: &TxCtx, fail: Fail, me: u8, uid: u64) -> Result<(), TxError> {
    if fail.at != Some(me) {
        return Ok(());
    }
    let name = SERVICES[me as usize];
    if fail.delay_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(fail.delay_ms.into()));
    }
    match fail.kind {
        Kind::Abort => Err(TxError::abort(format!("input asked {name} to abort"))),
        Kind::Panic => panic!("{}", panic_message(name)),
        Kind::Duplicate => {
            let markers = ctx.table::<Marker>()?;
            markers.insert(Marker { id: uid, n: 1 })?;
            markers.insert(Marker { id: uid, n: 2 })
        }
        Kind::Check => ctx.table::<Marker>()?.insert(Marker { id: uid, n: -1 }),
        Kind::ForeignKey => ctx.table::<Note>()?.insert(Note {
            id: uid,
            marker: MISSING,
        }),
    }
}

/// The failure tables every service has.
fn with_failure_tables(s: Service) -> Service {
    s.table(TableDef::<Marker>::new("markers", &["id"]).check("n", Check::Positive))
        .table(
            TableDef::<Note>::new("notes", &["id"]).foreign_key::<Marker>(
                "marker",
                "markers",
                |n: &Note| Some(n.marker),
            ),
        )
}

/// Inputs with a uid from here on are traced (focused tests); generated workloads use less.
pub const TRACED: u64 = 1 << 40;

/// What traced executions observed: (uid, handler, value read), in execution order.
static TRACE: std::sync::Mutex<Vec<(u64, &'static str, i64)>> = std::sync::Mutex::new(Vec::new());

fn trace(uid: u64, handler: &'static str, value: i64) {
    if uid >= TRACED {
        TRACE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((uid, handler, value));
    }
}

/// The values the executions of `uid`'s `handler` read, in execution order (re-executions
/// included).
pub fn traced(uid: u64, handler: &str) -> Vec<i64> {
    let trace = TRACE.lock().unwrap_or_else(|e| e.into_inner());
    trace
        .iter()
        .filter(|(u, h, _)| *u == uid && *h == handler)
        .map(|(_, _, v)| *v)
        .collect()
}

fn no_row(table: &str, key: impl std::fmt::Debug) -> TxError {
    TxError::app(format!("no {table} row {key:?}"))
}

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

/// Adds `delta` to counter `k`; returns the new value.
fn add_to_counter(ctx: &TxCtx, k: u32, delta: i64) -> Result<i64, TxError> {
    let counters = ctx.table::<Counter>()?;
    let mut c = counters.get(&k).ok_or_else(|| no_row("counter", k))?;
    c.value += delta;
    counters.update(c.clone())?;
    Ok(c.value)
}

fn front() -> Service {
    with_failure_tables(Service::new("front"))
        .table(TableDef::<Counter>::new("counters", &["id"]))
        .handler(
            Handler::on::<Input>("transfer")
                .emits::<Debit>("debit")
                .read_write()
                // Safe: touches only counter `k` and rows keyed by its own uid.
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    let value = add_to_counter(ctx, e.k, e.amount)?;
                    maybe_fail(ctx, e.fail, FRONT, e.uid)?;
                    // State decides whether the rest of the chain runs.
                    Ok((value.rem_euclid(7) != 3).then_some(Debit {
                        uid: e.uid,
                        k: e.k,
                        amount: e.amount,
                        guard: e.guard,
                        fail: e.fail,
                    }))
                }),
        )
        .handler(
            Handler::on::<Input>("fork")
                .emits::<Split>("split")
                .read_write()
                .single()
                .run(|ctx, e| {
                    let total = ctx.table::<Counter>()?.all().sum(|c| c.value)?;
                    add_to_counter(ctx, e.k, -1)?;
                    maybe_fail(ctx, e.fail, FRONT, e.uid)?;
                    Ok(Split {
                        uid: e.uid,
                        k: e.k,
                        amount: e.amount,
                        guard: e.guard,
                        total,
                        fail: e.fail,
                    })
                }),
        )
        .handler(
            Handler::on::<Input>("peek")
                .emits::<Seen>("seen")
                .read_only()
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    let value = ctx.table::<Counter>()?.get(&e.k).map_or(0, |c| c.value);
                    trace(e.uid, "peek", value);
                    maybe_fail(ctx, e.fail, FRONT, e.uid)?;
                    Ok(Seen {
                        uid: e.uid,
                        k: e.k,
                        value,
                        fail: e.fail,
                    })
                }),
        )
        .handler(
            Handler::on::<Input>("bump")
                .read_write()
                // Safe: touches only counter `k` and rows keyed by its own uid.
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    add_to_counter(ctx, e.k, 1)?;
                    maybe_fail(ctx, e.fail, FRONT, e.uid)
                }),
        )
        .query("counter", |ctx, k: u32| {
            Ok(ctx.table::<Counter>()?.get(&k).map(|c| c.value))
        })
}

/// Takes `amount` from account `k`: an overdraft aborts if `guard`, else breaks the check.
/// Returns the new balance. `handler` names the caller in the trace.
fn take(
    ctx: &TxCtx,
    handler: &'static str,
    uid: u64,
    k: u32,
    amount: i64,
    guard: bool,
) -> Result<i64, TxError> {
    let accounts = ctx.table::<Account>()?;
    let mut a = accounts.get(&k).ok_or_else(|| no_row("account", k))?;
    trace(uid, handler, a.balance);
    a.balance -= amount;
    if a.balance < 0 && guard {
        return Err(TxError::abort(format!("insufficient funds in account {k}")));
    }
    accounts.update(a.clone())?;
    Ok(a.balance)
}

fn bank() -> Service {
    with_failure_tables(Service::new("bank"))
        .table(TableDef::<Account>::new("accounts", &["id"]).check("balance", Check::NonNegative))
        .table(
            TableDef::<Hold>::new("holds", &["id"]).foreign_key::<Account>(
                "account",
                "accounts",
                |h: &Hold| Some(h.account),
            ),
        )
        .handler(
            Handler::on::<Debit>("debit")
                .emits::<Credit>("credit")
                .read_write()
                // Safe: touches only account `k` and rows keyed by its own uid.
                .partition_by(|e: &Debit| e.k)
                .run(|ctx, e| {
                    let balance = take(ctx, "debit", e.uid, e.k, e.amount, e.guard)?;
                    ctx.table::<Hold>()?.insert(Hold {
                        id: e.uid,
                        account: e.k,
                        amount: e.amount,
                    })?;
                    maybe_fail(ctx, e.fail, BANK, e.uid)?;
                    Ok(Credit {
                        uid: e.uid,
                        slot: balance.rem_euclid(i64::from(KEYS)) as u32,
                        amount: e.amount,
                        fail: e.fail,
                    })
                }),
        )
        .handler(
            Handler::on::<Split>("split")
                .read_write()
                // Safe: touches only account `k` and rows keyed by its own uid.
                .partition_by(|e: &Split| e.k)
                .run(|ctx, e| {
                    take(ctx, "split", e.uid, e.k, e.amount, e.guard)?;
                    maybe_fail(ctx, e.fail, BANK, e.uid)
                }),
        )
        .handler(
            Handler::on::<Input>("withdraw")
                .read_write()
                // Safe: touches only account `k` and rows keyed by its own uid.
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    take(ctx, "withdraw", e.uid, e.k, e.amount, e.guard)?;
                    maybe_fail(ctx, e.fail, BANK, e.uid)
                }),
        )
        .handler(
            Handler::on::<Input>("audit")
                .emits::<Audited>("audited")
                .read_only()
                .single()
                .run(|ctx, e| {
                    let total = ctx.table::<Account>()?.all().sum(|a| a.balance)?;
                    maybe_fail(ctx, e.fail, BANK, e.uid)?;
                    Ok(Audited {
                        uid: e.uid,
                        total,
                        fail: e.fail,
                    })
                }),
        )
        .query("balance", |ctx, k: u32| {
            Ok(ctx.table::<Account>()?.get(&k).map(|a| a.balance))
        })
}

/// Adds `delta` to slot `slot`'s level (the check refuses a negative level); returns it.
fn move_level(ctx: &TxCtx, slot: u32, delta: i64) -> Result<i64, TxError> {
    let slots = ctx.table::<Slot>()?;
    let mut s = slots.get(&slot).ok_or_else(|| no_row("slot", slot))?;
    s.level += delta;
    slots.update(s.clone())?;
    Ok(s.level)
}

fn stock() -> Service {
    with_failure_tables(Service::new("stock"))
        .table(TableDef::<Slot>::new("slots", &["id"]).check("level", Check::NonNegative))
        .table(TableDef::<Reg>::new("registrations", &["id"]))
        .table(TableDef::<Receipt>::new("receipts", &["uid"]))
        .handler(
            Handler::on::<Credit>("credit")
                .emits::<Receipt>("receipt")
                .read_write()
                // Safe: touches only slot `slot` and rows keyed by its own uid.
                .partition_by(|e: &Credit| e.slot)
                .run(|ctx, e| {
                    let level = move_level(ctx, e.slot, e.amount)?;
                    let receipt = Receipt {
                        uid: e.uid,
                        slot: e.slot,
                        level,
                    };
                    ctx.table::<Receipt>()?.insert(receipt.clone())?;
                    maybe_fail(ctx, e.fail, STOCK, e.uid)?;
                    Ok(receipt)
                }),
        )
        .handler(
            Handler::on::<Input>("register")
                .read_write()
                // Safe: touches only registration `k` and rows keyed by its own uid.
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    ctx.table::<Reg>()?.insert(Reg {
                        id: e.k,
                        uid: e.uid,
                    })?;
                    maybe_fail(ctx, e.fail, STOCK, e.uid)
                }),
        )
        .handler(
            Handler::on::<Input>("unregister")
                .read_write()
                // Safe: touches only registration `k` and rows keyed by its own uid.
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    ctx.table::<Reg>()?.delete(&e.k)?;
                    maybe_fail(ctx, e.fail, STOCK, e.uid)
                }),
        )
        .handler(
            Handler::on::<Input>("restock")
                .read_write()
                .single()
                .run(|ctx, e| {
                    for slot in 0..KEYS {
                        move_level(ctx, slot, e.amount)?;
                    }
                    maybe_fail(ctx, e.fail, STOCK, e.uid)
                }),
        )
        .handler(
            Handler::on::<Input>("look")
                .emits::<Level>("level")
                .read_only()
                .partition_by(|e: &Input| e.k)
                .run(|ctx, e| {
                    let level = ctx.table::<Slot>()?.get(&e.k).map(|s| s.level);
                    maybe_fail(ctx, e.fail, STOCK, e.uid)?;
                    Ok(Level { slot: e.k, level })
                }),
        )
        .query("level", |ctx, k: u32| {
            Ok(ctx.table::<Slot>()?.get(&k).map(|s| s.level))
        })
}

fn stats() -> Service {
    with_failure_tables(Service::new("stats"))
        .table(TableDef::<Total>::new("totals", &["id"]))
        .table(TableDef::<Event>::new("events", &["uid"]))
        .handler(
            Handler::on::<Split>("split")
                .write_only()
                // Safe: inserts only rows keyed by its own uid, which no other task touches.
                .parallel()
                .run(|ctx, e| {
                    ctx.table::<Event>()?.insert(Event {
                        uid: e.uid,
                        k: e.k,
                        v: e.total,
                    })?;
                    maybe_fail(ctx, e.fail, STATS, e.uid)
                }),
        )
        .handler(
            Handler::on::<Seen>("seen")
                .emits::<Event>("recorded")
                .read_write()
                // Safe: touches only total `k` and rows keyed by its own uid.
                .partition_by(|e: &Seen| e.k)
                .run(|ctx, e| {
                    let totals = ctx.table::<Total>()?;
                    let mut t = totals.get(&e.k).ok_or_else(|| no_row("total", e.k))?;
                    t.sum += e.value;
                    t.n += 1;
                    totals.update(t)?;
                    let event = Event {
                        uid: e.uid,
                        k: e.k,
                        v: e.value,
                    };
                    ctx.table::<Event>()?.insert(event.clone())?;
                    maybe_fail(ctx, e.fail, STATS, e.uid)?;
                    Ok(event)
                }),
        )
        .handler(
            Handler::on::<Audited>("audited")
                .emits::<Event>("logged")
                .write_only()
                // Safe: inserts only rows keyed by its own uid, which no other task touches.
                .parallel()
                .run(|ctx, e| {
                    let event = Event {
                        uid: e.uid,
                        k: KEYS,
                        v: e.total,
                    };
                    ctx.table::<Event>()?.insert(event.clone())?;
                    maybe_fail(ctx, e.fail, STATS, e.uid)?;
                    Ok(event)
                }),
        )
        .query("total", |ctx, k: u32| {
            Ok(ctx.table::<Total>()?.get(&k).map(|t| (t.sum, t.n)))
        })
        .query("event", |ctx, uid: u64| Ok(ctx.table::<Event>()?.get(&uid)))
}

pub fn app() -> App {
    App::builder()
        .service(front())
        .service(bank())
        .service(stock())
        .service(stats())
        .transaction(
            TransactionDef::new("transfer", "front", "transfer")
                .then("bank", "debit")
                .then("stock", "credit"),
        )
        .transaction(
            TransactionDef::new("fork", "front", "fork")
                .then("bank", "split")
                .then("stats", "split"),
        )
        .transaction(TransactionDef::new("peek", "front", "peek").then("stats", "seen"))
        .transaction(TransactionDef::new("audit", "bank", "audit").then("stats", "audited"))
        .transaction(TransactionDef::new("bump", "front", "bump"))
        .transaction(TransactionDef::new("withdraw", "bank", "withdraw"))
        .transaction(TransactionDef::new("register", "stock", "register"))
        .transaction(TransactionDef::new("unregister", "stock", "unregister"))
        .transaction(TransactionDef::new("restock", "stock", "restock"))
        .transaction(TransactionDef::new("look", "stock", "look"))
        .build()
        .expect("the aborts test app builds")
}

/// `KEYS` counters (0), accounts (`START_BALANCE`), slots (`START_LEVEL`) and totals (0).
pub fn load(l: &Loader) -> Result<(), BootstrapError> {
    l.insert("front", (0..KEYS).map(|id| Counter { id, value: 0 }))?;
    l.insert(
        "bank",
        (0..KEYS).map(|id| Account {
            id,
            balance: START_BALANCE,
        }),
    )?;
    l.insert(
        "stock",
        (0..KEYS).map(|id| Slot {
            id,
            level: START_LEVEL,
        }),
    )?;
    l.insert("stats", (0..KEYS).map(|id| Total { id, sum: 0, n: 0 }))
}
