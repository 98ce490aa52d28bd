//! Deterministic cases, each also checked in full against serial replay (`run::check`).
//!
//! Failures that must act after other transactions have read their transaction's writes are
//! delayed (`Fail::late`): the later transactions were submitted in the same call, so they run
//! meanwhile; the trace (`app::traced`) shows what each execution read.

use crate::app::{
    BANK, Event, FRONT, Fail, Hold, Input, Kind, Level, Marker, Receipt, START_BALANCE,
    START_LEVEL, STATS, STOCK, TRACED, traced,
};
use crate::run::{CaseStats, Op, Run, Setup, Workload, injected_abort, input, run_and_check};
use vmodb::{Cluster, Outcome, TxError};

fn run(ops: Vec<Op>) -> (Run, CaseStats) {
    let w = Workload {
        setup: Setup::default(),
        ops,
    };
    run_and_check(&w).unwrap_or_else(|e| panic!("{e}"))
}

fn op(tx: &'static str, input: Input) -> Op {
    Op::new(tx, input)
}

fn failing(mut i: Input, fail: Fail) -> Input {
    i.fail = fail;
    i
}

fn guarded(mut i: Input) -> Input {
    i.guard = true;
    i
}

fn q<Out: serde::de::DeserializeOwned>(c: &Cluster, service: &str, query: &str, k: u32) -> Out {
    c.query(service, query, &k).expect("query")
}

fn counter(c: &Cluster, k: u32) -> Option<i64> {
    q(c, "front", "counter", k)
}

fn balance(c: &Cluster, k: u32) -> Option<i64> {
    q(c, "bank", "balance", k)
}

fn level(c: &Cluster, k: u32) -> Option<i64> {
    q(c, "stock", "level", k)
}

fn event(c: &Cluster, uid: u64) -> Option<Event> {
    c.query("stats", "event", &uid).expect("query")
}

fn aborted(o: &Outcome) -> (&str, &TxError) {
    match o {
        Outcome::Aborted { service, error } => (service, error),
        other => panic!("expected an abort, got {other:?}"),
    }
}

fn output<T: serde::de::DeserializeOwned>(o: &Outcome) -> T {
    match o {
        Outcome::Committed { output: Some(out) } => out.decode().expect("output decodes"),
        other => panic!("expected a commit with an output, got {other:?}"),
    }
}

fn is_committed(o: &Outcome) -> bool {
    matches!(o, Outcome::Committed { .. })
}

#[test]
fn an_abort_at_the_last_step_of_a_chain_undoes_the_first_steps() {
    let u = TRACED + 100;
    let (r, stats) = run(vec![
        op(
            "transfer",
            failing(input(u, 0, 2), Fail::at(STOCK, Kind::Abort).late(20)),
        ),
        op("transfer", input(u + 1, 1, 1)),
    ]);
    let (service, error) = aborted(r.outcome(0));
    assert_eq!((service, error), ("stock", &injected_abort("stock")));
    assert_eq!(
        output::<Receipt>(r.outcome(1)),
        Receipt {
            uid: u + 1,
            slot: 2, // balance 6 - 1 = 5, 5 mod 3
            level: START_LEVEL + 1,
        }
    );
    let c = &r.cluster;
    // The aborted transfer's writes at front and bank (and stock) are gone.
    assert_eq!(counter(c, 0), Some(0));
    assert_eq!(balance(c, 0), Some(START_BALANCE));
    let holds = c.read_table::<Hold>("bank").expect("holds");
    assert_eq!(
        holds,
        vec![Hold {
            id: u + 1,
            account: 1,
            amount: 1
        }]
    );
    assert!(c.read_table::<Receipt>("stock").unwrap().len() == 1);
    assert_eq!(
        level(c, 1),
        Some(START_LEVEL),
        "the aborted credit (slot 4 mod 3)"
    );
    // The other transfer's writes stay.
    assert_eq!(counter(c, 1), Some(1));
    assert_eq!(balance(c, 1), Some(START_BALANCE - 1));
    assert_eq!(level(c, 2), Some(START_LEVEL + 1));
    assert!(stats.resolutions >= 1, "{stats:?}");
}

#[test]
fn a_reader_of_an_aborted_upstream_write_is_reexecuted_without_it() {
    let u = TRACED + 200;
    let (r, stats) = run(vec![
        // Writes counter 0 at front, then panics at stock 200 ms later.
        op(
            "transfer",
            failing(input(u, 0, 4), Fail::at(STOCK, Kind::Panic).late(200)),
        ),
        // Reads counter 0 at front meanwhile, and records what it read at stats.
        op("peek", input(u + 1, 0, 0)),
    ]);
    let (service, error) = aborted(r.outcome(0));
    assert_eq!(service, "stock");
    assert_eq!(error, &TxError::Panic(crate::app::panic_message("stock")));
    let seen = traced(u + 1, "peek");
    assert_eq!(
        seen.first(),
        Some(&4),
        "the reader first read the uncommitted write (executions read {seen:?})"
    );
    assert_eq!(seen.last(), Some(&0), "and was re-executed without it");
    assert_eq!(
        output::<Event>(r.outcome(1)),
        Event {
            uid: u + 1,
            k: 0,
            v: 0
        },
        "its client learns the re-executed result"
    );
    let c = &r.cluster;
    assert_eq!(
        q::<Option<(i64, i64)>>(c, "stats", "total", 0),
        Some((0, 1))
    );
    assert_eq!(counter(c, 0), Some(0));
    assert!(stats.reexecuted >= 1, "{stats:?}");
}

#[test]
fn an_abort_in_one_branch_of_a_fork_undoes_the_sibling_branch() {
    let u = TRACED + 300;
    let (r, stats) = run(vec![
        // front: counter 1 - 1; bank: account 1 + 1; stats: event, then an abort.
        op(
            "fork",
            failing(input(u, 1, -1), Fail::at(STATS, Kind::Abort).late(100)),
        ),
        // Commits on the uncommitted +1 (7 - 7 = 0); without it it overdraws.
        op("withdraw", guarded(input(u + 1, 1, 7))),
        // The bank branch fails (foreign key): the stats branch's event goes too.
        op(
            "fork",
            failing(
                input(u + 2, 2, 0),
                Fail::at(BANK, Kind::ForeignKey).late(50),
            ),
        ),
        // Both branches fail (an overdraft at bank, an injected abort at stats): the client
        // is told of the failure at the lower DAG node, bank, as in serial replay.
        op(
            "fork",
            failing(guarded(input(u + 3, 0, 10)), Fail::at(STATS, Kind::Abort)),
        ),
    ]);
    assert_eq!(aborted(r.outcome(0)), ("stats", &injected_abort("stats")));
    assert_eq!(
        aborted(r.outcome(1)),
        ("bank", &TxError::abort("insufficient funds in account 1")),
        "a transaction that committed only on an aborted write aborts"
    );
    let seen = traced(u + 1, "withdraw");
    assert_eq!(seen.first(), Some(&(START_BALANCE + 1)), "{seen:?}");
    assert_eq!(seen.last(), Some(&START_BALANCE), "{seen:?}");
    let (service, error) = aborted(r.outcome(2));
    assert_eq!(service, "bank");
    assert!(matches!(error, TxError::ForeignKey { .. }), "{error:?}");
    assert_eq!(
        aborted(r.outcome(3)),
        ("bank", &TxError::abort("insufficient funds in account 0"))
    );
    let c = &r.cluster;
    for k in [0, 1, 2] {
        assert_eq!(
            counter(c, k),
            Some(0),
            "front's write of the fork on {k} undone"
        );
        assert_eq!(
            balance(c, k),
            Some(START_BALANCE),
            "bank's write on {k} undone"
        );
    }
    assert_eq!(event(c, u), None, "the failing branch's own write undone");
    assert_eq!(event(c, u + 2), None, "the sibling branch's write undone");
    assert_eq!(event(c, u + 3), None);
    assert!(c.read_table::<Marker>("bank").unwrap().is_empty());
    assert!(stats.reexecuted >= 1, "{stats:?}");
}

#[test]
fn a_transaction_that_failed_only_on_an_aborted_write_commits() {
    let u = TRACED + 400;
    let (r, stats) = run(vec![
        // bank: account 0 6 → 1, then an abort at stock.
        op(
            "transfer",
            failing(
                guarded(input(u, 0, 5)),
                Fail::at(STOCK, Kind::Abort).late(200),
            ),
        ),
        // On the uncommitted 1 this overdraws and aborts; on 6 it commits (6 → 2).
        op("withdraw", guarded(input(u + 1, 0, 4))),
        // Unguarded: 2 - 3 breaks the balance check (state-dependent engine error).
        op("withdraw", input(u + 2, 0, 3)),
    ]);
    assert_eq!(aborted(r.outcome(0)), ("stock", &injected_abort("stock")));
    assert!(
        is_committed(r.outcome(1)),
        "the withdrawal that failed only because of the aborted transfer commits: {:?}",
        r.outcome(1)
    );
    let seen = traced(u + 1, "withdraw");
    assert_eq!(
        seen.first(),
        Some(&1),
        "it first read the aborted write: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&START_BALANCE), "{seen:?}");
    let (service, error) = aborted(r.outcome(2));
    assert_eq!(service, "bank");
    match error {
        TxError::Constraint {
            table,
            column,
            value,
            ..
        } => assert_eq!(
            (&**table, &**column, &**value),
            ("accounts", "balance", "-1")
        ),
        other => panic!("expected a check violation, got {other:?}"),
    }
    assert_eq!(balance(&r.cluster, 0), Some(2));
    assert!(stats.reexecuted >= 1, "{stats:?}");
}

#[test]
fn failures_that_leave_no_writes_elsewhere_need_no_rollback_round() {
    let u = TRACED + 500;
    let (r, stats) = run(vec![
        // Fails at the entry service: nothing was written elsewhere.
        op(
            "transfer",
            failing(input(u, 0, 1), Fail::at(FRONT, Kind::Check)),
        ),
        // Fails downstream of a read-only step.
        op(
            "peek",
            failing(input(u + 1, 1, 0), Fail::at(STATS, Kind::Abort)),
        ),
        // A read-only handler that writes.
        op(
            "audit",
            failing(input(u + 2, 0, 0), Fail::at(BANK, Kind::Duplicate)),
        ),
        op(
            "bump",
            failing(input(u + 3, 2, 0), Fail::at(FRONT, Kind::Panic)),
        ),
        op("register", input(u + 4, 0, 0)),
        // A duplicate key because of the earlier registration.
        op("register", input(u + 5, 0, 0)),
        op("transfer", input(u + 6, 0, 1)),
    ]);
    let (s, e) = aborted(r.outcome(0));
    assert_eq!(s, "front");
    assert!(
        matches!(e, TxError::Constraint { table, .. } if table == "markers"),
        "{e:?}"
    );
    assert_eq!(aborted(r.outcome(1)), ("stats", &injected_abort("stats")));
    let (s, e) = aborted(r.outcome(2));
    assert_eq!(s, "bank");
    assert!(matches!(e, TxError::ReadOnly { .. }), "{e:?}");
    let (s, e) = aborted(r.outcome(3));
    assert_eq!(s, "front");
    assert!(matches!(e, TxError::Panic(_)), "{e:?}");
    assert!(is_committed(r.outcome(4)));
    let (s, e) = aborted(r.outcome(5));
    assert_eq!(s, "stock");
    assert!(
        matches!(e, TxError::DuplicateKey { table, .. } if table == "registrations"),
        "{e:?}"
    );
    assert!(is_committed(r.outcome(6)));
    assert_eq!(counter(&r.cluster, 0), Some(1));
    assert_eq!(
        (stats.resolutions, stats.reexecuted),
        (0, 0),
        "local undo settles these: {stats:?}"
    );
}

#[test]
fn a_reexecution_that_moves_a_downstream_task_reexecutes_its_new_neighbours() {
    let u = TRACED + 600;
    let (r, stats) = run(vec![
        // bank: account 0 + 1 (uncommitted), then an abort at stats.
        op(
            "fork",
            failing(input(u, 0, -1), Fail::at(STATS, Kind::Abort).late(100)),
        ),
        // Debits account 0 by 1: on 7 the credit goes to slot 0, on 6 to slot 2.
        op("transfer", input(u + 1, 0, 1)),
        // Reads slot 2: first without the credit, which then moves there.
        op("look", input(u + 2, 2, 0)),
    ]);
    assert_eq!(aborted(r.outcome(0)), ("stats", &injected_abort("stats")));
    assert_eq!(
        output::<Receipt>(r.outcome(1)),
        Receipt {
            uid: u + 1,
            slot: 2,
            level: START_LEVEL + 1
        }
    );
    assert_eq!(
        output::<Level>(r.outcome(2)),
        Level {
            slot: 2,
            level: Some(START_LEVEL + 1)
        },
        "the reader of the slot the re-executed credit moved to is re-executed"
    );
    let c = &r.cluster;
    assert_eq!(level(c, 0), Some(START_LEVEL));
    assert_eq!(level(c, 2), Some(START_LEVEL + 1));
    assert!(
        stats.rounds >= 2,
        "a second round for the widened task: {stats:?}"
    );
}

#[test]
fn a_reexecution_that_reaches_a_new_service_reexecutes_its_new_neighbours() {
    let u = TRACED + 700;
    let (r, stats) = run(vec![
        // front: counter 0 - 1 (uncommitted), then an abort at stats.
        op(
            "fork",
            failing(input(u, 0, 0), Fail::at(STATS, Kind::Abort).late(100)),
        ),
        // Counter 0 + 4: on -1 it is 3 and the chain stops at front; on 0 it is 4 and the
        // debit (6 → 2) and the credit (slot 2, 4 → 8) run.
        op("transfer", input(u + 1, 0, 4)),
        // Reads slot 2.
        op("look", input(u + 2, 2, 0)),
    ]);
    assert_eq!(aborted(r.outcome(0)), ("stats", &injected_abort("stats")));
    assert_eq!(
        output::<Receipt>(r.outcome(1)),
        Receipt {
            uid: u + 1,
            slot: 2,
            level: START_LEVEL + 4
        }
    );
    assert_eq!(
        output::<Level>(r.outcome(2)),
        Level {
            slot: 2,
            level: Some(START_LEVEL + 4)
        }
    );
    let c = &r.cluster;
    assert_eq!(counter(c, 0), Some(4));
    assert_eq!(balance(c, 0), Some(START_BALANCE - 4));
    assert!(stats.rounds >= 2, "{stats:?}");
}

/// Regression: at 81c5dc3 a rollback round whose plan had final aborts to drop but nothing to
/// re-execute waited for re-executions that never came, so the batch never committed and no
/// client of it heard anything (this target wedged; fixed in 2d1fe56).
#[test]
fn a_round_with_only_final_aborts_to_drop_ends() {
    let u = TRACED + 800;
    let (r, stats) = run(vec![op(
        "transfer",
        failing(input(u, 0, 2), Fail::at(STOCK, Kind::Abort)),
    )]);
    assert_eq!(aborted(r.outcome(0)), ("stock", &injected_abort("stock")));
    assert_eq!(counter(&r.cluster, 0), Some(0));
    assert_eq!(balance(&r.cluster, 0), Some(START_BALANCE));
    assert_eq!((stats.resolutions, stats.reexecuted), (1, 0), "{stats:?}");
}
