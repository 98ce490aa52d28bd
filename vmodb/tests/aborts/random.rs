//! The property test: random workloads with random failures at random services, run
//! concurrently under random batch settings (and sometimes injected link delay), must end in
//! the state of the serial replay of the committed transactions only, with every client told
//! the outcome serial replay gives.

use crate::app::{Fail, Input, KEYS, Kind, TRANSACTIONS};
use crate::run::{CaseStats, Op, Setup, Workload, run_and_check};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use std::sync::Mutex;

/// Cases per run (`PROPTEST_CASES` overrides; `ABORTS_SEED` picks another fixed seed).
const CASES: u32 = 128;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Abort),
        1 => Just(Kind::Panic),
        1 => Just(Kind::Duplicate),
        1 => Just(Kind::Check),
        1 => Just(Kind::ForeignKey),
    ]
}

/// (transaction index, key, amount, guard, failure)
fn op() -> impl Strategy<Value = (usize, u32, i64, bool, Option<(u8, Kind)>)> {
    let tx = prop_oneof![
        30 => Just(0usize), // transfer
        12 => Just(1),      // fork
        10 => Just(2),      // peek
        5 => Just(3),       // audit
        8 => Just(4),       // bump
        12 => Just(5),      // withdraw
        6 => Just(6),       // register
        5 => Just(7),       // unregister
        4 => Just(8),       // restock
        4 => Just(9),       // look
    ];
    let fail = prop_oneof![
        7 => Just(None),
        3 => (0..4u8, kind()).prop_map(Some),
    ];
    (tx, 0..KEYS, -2i64..=4, any::<bool>(), fail)
}

fn setup() -> impl Strategy<Value = Setup> {
    let idle = prop_oneof![3 => Just(None), 1 => (100u64..=1000).prop_map(Some)];
    let in_flight = prop_oneof![3 => Just(100_000usize), 1 => 2usize..=64];
    let pause = prop_oneof![Just(0u64), 50u64..=2000];
    let delay = prop_oneof![3 => Just(None), 1 => (100u64..=1500).prop_map(Some)];
    (
        (1u64..=3, 2u32..=40, idle, in_flight, 1usize..=3),
        (1usize..=3, 1usize..=24, pause, delay, any::<u64>()),
    )
        .prop_map(
            |(
                (window_ms, max_batch, idle_us, max_in_flight, workers),
                (clients, chunk, pause_us, delay_us, seed),
            )| Setup {
                window_ms,
                max_batch,
                idle_us,
                max_in_flight,
                workers,
                clients,
                chunk,
                pause_us,
                delay_us,
                seed,
            },
        )
}

fn workload() -> impl Strategy<Value = Workload> {
    (setup(), prop::collection::vec(op(), 20..=300)).prop_map(|(setup, ops)| {
        let ops = ops
            .into_iter()
            .enumerate()
            .map(|(i, (tx, k, amount, guard, fail))| {
                let fail = match fail {
                    Some((at, kind)) => Fail::at(at, kind),
                    None => Fail::NONE,
                };
                let input = Input {
                    uid: i as u64 + 1,
                    k,
                    amount,
                    guard,
                    fail,
                };
                Op::new(TRANSACTIONS[tx], input)
            })
            .collect();
        Workload { setup, ops }
    })
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn random_workloads_with_aborts_equal_serial_replay_of_the_committed() {
    let cases = env("PROPTEST_CASES").unwrap_or(CASES);
    let config = Config {
        cases,
        // Each case runs a cluster: shrink for a while, not forever.
        max_shrink_iters: env("PROPTEST_MAX_SHRINK_ITERS").unwrap_or(200),
        max_shrink_time: 120_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        // Fixed for CI; `ABORTS_SEED` explores others.
        rng_seed: RngSeed::Fixed(env("ABORTS_SEED").unwrap_or(0xab0_87e5)),
        ..Config::default()
    };
    let totals = Mutex::new(Vec::<CaseStats>::new());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&workload(), |w| {
        let (_, stats) = run_and_check(&w).map_err(TestCaseError::fail)?;
        totals.lock().unwrap().push(stats);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let totals = totals.into_inner().unwrap();
    let sum = |f: fn(&CaseStats) -> u64| totals.iter().map(f).sum::<u64>();
    let with_reruns = totals.iter().filter(|s| s.reexecuted > 0).count();
    eprintln!(
        "{} cases: {} transactions, {} aborted; {} resolutions, {} rounds, {} re-executed; \
         {with_reruns} cases re-executed something",
        totals.len(),
        sum(|s| s.transactions as u64),
        sum(|s| s.aborted as u64),
        sum(|s| s.resolutions),
        sum(|s| s.rounds),
        sum(|s| s.reexecuted),
    );
    // Not vacuous: rollback rounds ran and re-executed transactions in most cases.
    assert!(
        sum(|s| s.resolutions) > 0 && sum(|s| s.reexecuted) > 0,
        "no rollback round ran"
    );
    assert!(
        with_reruns * 2 >= totals.len(),
        "only {with_reruns} of {} cases re-executed anything",
        totals.len()
    );
}
