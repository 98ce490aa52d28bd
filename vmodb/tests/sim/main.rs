//! Deterministic simulation (`vmodb::sim`): the aborts test's application and random workloads
//! (`tests/aborts`), run under the simulator — one thread, every delivery, job and batch timer
//! picked by the seed — and checked as the aborts test checks a real cluster: the state equals
//! the serial replay of the committed transactions, every client hears each outcome once and
//! as serial replay gives it, committed outputs match the state. The simulator adds its own
//! checks: no read behind a commit clients had heard of, a resubmitted request id answered
//! with its first outcome and never run twice, and liveness (everything submitted completes).
//! `apps.rs` runs two small applications the same way, checked against serial replay; the
//! crash test restarts the cluster on its data directory up to three times per seed.
//!
//! `SIM_SEEDS=N` runs seeds `0..N` (default `SEEDS`), `SIM_SEED=S` only seed `S`; a failure
//! prints the line that reproduces it.

#[path = "../support/mod.rs"]
mod support;

// Shared with the aborts test, which uses what this one does not.
#[allow(dead_code)]
#[path = "../aborts/app.rs"]
mod app;
mod apps;
mod drive;
#[allow(dead_code)]
#[path = "../aborts/model.rs"]
mod model;
#[allow(dead_code)]
#[path = "../aborts/run.rs"]
mod run;
#[path = "../aborts/strategy.rs"]
mod strategy;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use run::{CaseStats, Workload, check_finished};

/// Seeds per test run in CI.
const SEEDS: u64 = 300;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The workload of seed `seed` (the aborts test's strategy, drawn from a stream seeded by it).
fn workload(seed: u64) -> Workload {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let tree = strategy::workload().new_tree(&mut runner);
    tree.expect("a workload").current()
}

struct Seeded {
    stats: CaseStats,
    resubmitted: usize,
    steps: u64,
    trace: u64,
}

/// The workload's ops, encoded.
fn sim_ops(w: &Workload) -> Vec<drive::SimOp> {
    (w.ops.iter())
        .map(|op| {
            let payload = postcard::to_allocvec(&op.input).expect("input encodes");
            (op.tx.to_string(), payload)
        })
        .collect()
}

fn run_seed(seed: u64) -> Result<Seeded, String> {
    let w = workload(seed);
    let ops = sim_ops(&w);
    let run = drive::simulate(seed, &w.setup, app::app, app::load, &ops, None)?;
    let stats = check_finished(&w, &run.done, &run.sim)?;
    Ok(Seeded {
        stats,
        resubmitted: run.resubmitted,
        steps: run.steps,
        trace: run.sim.trace(),
    })
}

/// What crashes did: crashes, and of them, those that tore the log's last record or left whole
/// records never acknowledged, and those that came while re-executing the log.
#[derive(Default)]
struct Crashed {
    crashes: u32,
    torn: u32,
    unacknowledged: u32,
    recovering: u32,
    across_restarts: u32,
    /// Crashes that followed a service's death, and a broken link.
    failures: (u32, u32),
}

/// `run_seed` with up to three crashes, each followed by a restart on the data directory.
fn crash_seed(seed: u64) -> Result<(CaseStats, Crashed), String> {
    let w = workload(seed);
    let ops = sim_ops(&w);
    // In memory where there is a tmpfs: a crash here is the simulation's, not the disk's.
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("vmodb-sim-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let crashes = drive::Crashes {
        dir: dir.clone(),
        max: 3,
    };
    let run = drive::simulate(seed, &w.setup, app::app, app::load, &ops, Some(&crashes));
    let checked = run.and_then(|run| {
        let stats = check_finished(&w, &run.done, &run.sim)?;
        let crashed = Crashed {
            crashes: run.crashes,
            torn: run.torn,
            unacknowledged: run.unacknowledged,
            recovering: run.recovering,
            across_restarts: run.across_restarts,
            failures: run.failures,
        };
        Ok((stats, crashed))
    });
    let _ = std::fs::remove_dir_all(&dir);
    checked
}

/// The seeds to run: `SIM_SEED`, or `0..SIM_SEEDS`.
fn seeds() -> Vec<u64> {
    match env::<u64>("SIM_SEED") {
        Some(s) => vec![s],
        None => (0..env("SIM_SEEDS").unwrap_or(SEEDS)).collect(),
    }
}

#[test]
fn simulated_runs_equal_serial_replay_for_every_seed() {
    let seeds = seeds();
    let start = std::time::Instant::now();
    let all = each_seed(&seeds, run_seed);
    let secs = start.elapsed().as_secs_f64();
    let sum = |f: fn(&Seeded) -> u64| all.iter().map(f).sum::<u64>();
    eprintln!(
        "{} seeds in {secs:.1} s ({:.0}/s): {} transactions, {} aborted, {} rollback rounds, \
         {} re-executed, {} resubmitted, {} steps",
        all.len(),
        all.len() as f64 / secs,
        sum(|s| s.stats.transactions as u64),
        sum(|s| s.stats.aborted as u64),
        sum(|s| s.stats.rounds),
        sum(|s| s.stats.reexecuted),
        sum(|s| s.resubmitted as u64),
        sum(|s| s.steps),
    );
    if seeds.len() >= 50 {
        // Not vacuous: the seeds exercised rollback rounds and resubmissions.
        assert!(
            sum(|s| s.stats.reexecuted) > 0,
            "no rollback round re-executed"
        );
        assert!(sum(|s| s.resubmitted as u64) > 0, "nothing was resubmitted");
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    for seed in [3, 17, 101] {
        let a = run_seed(seed).expect("the seed passes");
        let b = run_seed(seed).expect("the seed passes");
        assert_eq!(a.trace, b.trace, "seed {seed}: another sequence of actions");
        assert_eq!(a.steps, b.steps);
        assert_eq!(a.stats.aborted, b.stats.aborted);
    }
    assert_ne!(run_seed(3).unwrap().trace, run_seed(4).unwrap().trace);
}

#[test]
fn foreign_key_checks_equal_serial_replay_for_every_seed() {
    each_seed(&seeds(), apps::check_tree);
}

#[test]
fn failing_partition_closures_equal_serial_replay_for_every_seed() {
    each_seed(&seeds(), apps::check_kv);
}

/// Runs `run` for every seed; the first that fails (or lets a panic escape the engine, which
/// none should) fails the test, naming the seed and how to run it alone.
fn each_seed<T>(seeds: &[u64], run: impl Fn(u64) -> Result<T, String>) -> Vec<T> {
    let guarded = |seed| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(seed))).unwrap_or_else(|p| {
            let why = (p.downcast_ref::<String>().cloned())
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("a panic escaped the engine: {why}"))
        })
    };
    (seeds.iter())
        .map(|&seed| {
            guarded(seed).unwrap_or_else(|e| {
                panic!(
                    "seed {seed} failed: {e}\nreproduce: SIM_SEED={seed} cargo test -p vmodb --test sim"
                )
            })
        })
        .collect()
}

#[test]
fn crashes_and_restarts_lose_nothing_for_every_seed() {
    let seeds: Vec<u64> = match env::<u64>("SIM_SEED") {
        Some(s) => vec![s],
        None => (0..env("SIM_SEEDS").unwrap_or(SEEDS) / 2).collect(),
    };
    let (mut all, mut transactions) = (Crashed::default(), 0);
    for (stats, c) in each_seed(&seeds, crash_seed) {
        all.crashes += c.crashes;
        all.torn += c.torn;
        all.unacknowledged += c.unacknowledged;
        all.recovering += c.recovering;
        all.across_restarts += c.across_restarts;
        all.failures.0 += c.failures.0;
        all.failures.1 += c.failures.1;
        transactions += stats.transactions;
    }
    let crashes = all.crashes;
    eprintln!(
        "{} seeds with crashes: {crashes} crashes ({} tore the log's last record, {} left \
         records never acknowledged, {} came while re-executing the log; {} restarts re-executed \
         across an earlier restart; {} followed a service's death and {} a broken link), \
         {transactions} transactions",
        seeds.len(),
        all.torn,
        all.unacknowledged,
        all.recovering,
        all.across_restarts,
        all.failures.0,
        all.failures.1,
    );
    if seeds.len() >= 50 {
        assert!(
            crashes as usize >= seeds.len(),
            "only {crashes} crashes in {} seeds",
            seeds.len()
        );
        assert!(
            all.torn > 0 && all.unacknowledged > 0,
            "no crash tore the log"
        );
        assert!(all.recovering > 0, "no crash came during a recovery");
        assert!(
            all.across_restarts > 0,
            "no recovery re-executed across a logged restart"
        );
        assert!(
            all.failures.0 > 0 && all.failures.1 > 0,
            "no service died and no link broke before a crash"
        );
    }
}
