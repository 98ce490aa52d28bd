//! The property test: random workloads with random failures at random services, run
//! concurrently under random batch settings (and sometimes injected link delay), must end in
//! the state of the serial replay of the committed transactions only, with every client told
//! the outcome serial replay gives.

use crate::run::{CaseStats, run_and_check};
use crate::strategy::workload;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use std::sync::Mutex;

/// Cases per run (`PROPTEST_CASES` overrides; `ABORTS_SEED` picks another fixed seed).
const CASES: u32 = 128;

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
