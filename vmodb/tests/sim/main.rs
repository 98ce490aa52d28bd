//! Deterministic simulation (`vmodb::sim`): the aborts test's application and random workloads
//! (`tests/aborts`), run under the simulator — one thread, every delivery, job and batch timer
//! picked by the seed — and checked as the aborts test checks a real cluster: the state equals
//! the serial replay of the committed transactions, every client hears each outcome once and
//! as serial replay gives it, committed outputs match the state. The simulator adds its own
//! checks: no read behind a commit clients had heard of, a resubmitted request id answered
//! with its first outcome and never run twice, and liveness (everything submitted completes).
//!
//! `SIM_SEEDS=N` runs seeds `0..N` (default `SEEDS`), `SIM_SEED=S` only seed `S`; a failure
//! prints the line that reproduces it.

#[path = "../support/mod.rs"]
mod support;

// Shared with the aborts test, which uses what this one does not.
#[allow(dead_code)]
#[path = "../aborts/app.rs"]
mod app;
mod drive;
#[allow(dead_code)]
#[path = "../aborts/model.rs"]
mod model;
#[allow(dead_code)]
#[path = "../aborts/run.rs"]
mod run;
#[path = "../aborts/strategy.rs"]
mod strategy;

use drive::SimOp;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use run::{CaseStats, Setup, Workload, check_finished, state_diff};
use support::tree;
use vmodb::sim::SimRng;
use vmodb::{Outcome, Tid};

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

fn run_seed(seed: u64) -> Result<Seeded, String> {
    let w = workload(seed);
    let ops: Vec<drive::SimOp> = (w.ops.iter())
        .map(|op| {
            let payload = postcard::to_allocvec(&op.input).expect("input encodes");
            (op.tx.to_string(), payload)
        })
        .collect();
    let run = drive::simulate(seed, &w.setup, app::app, app::load, &ops, None)?;
    let stats = check_finished(&w, &run.done, &run.sim)?;
    Ok(Seeded {
        stats,
        resubmitted: run.resubmitted,
        steps: run.steps,
        trace: run.sim.trace(),
    })
}

/// `run_seed` with up to three crashes, each followed by a restart on the data directory.
fn crash_seed(seed: u64) -> Result<(CaseStats, u32), String> {
    let w = workload(seed);
    let ops: Vec<drive::SimOp> = (w.ops.iter())
        .map(|op| {
            let payload = postcard::to_allocvec(&op.input).expect("input encodes");
            (op.tx.to_string(), payload)
        })
        .collect();
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
        let stats = check_finished(&w, &run.done, &drive::AfterCrashes(&run.sim))?;
        Ok((stats, run.crashes))
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
    let mut all = Vec::new();
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(s) => all.push(s),
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreproduce: SIM_SEED={seed} cargo test -p vmodb --test sim"
            ),
        }
    }
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

/// Seed `seed`'s ops of the tree application (`support/tree.rs`): children of a few parents
/// added while those parents are dropped and added again, under random batch, admission,
/// worker and client settings.
fn tree_ops(seed: u64) -> (Setup, Vec<SimOp>) {
    let mut rng = SimRng::new(seed ^ 0x7265_6500);
    let parents = rng.between(1, 6) as u32;
    let ops = (0..rng.between(20, 200))
        .map(|i| {
            let parent = rng.below(parents.into()) as u32;
            let tx = ["add_child", "add_child", "drop_parent", "add_parent"][rng.below(4) as usize];
            let input = tree::op(1000 + i as u32, parent, 0);
            (
                tx.to_string(),
                postcard::to_allocvec(&input).expect("encodes"),
            )
        })
        .collect();
    let setup = Setup {
        max_batch: rng.between(1, 40) as u32,
        max_in_flight: if rng.chance(25) {
            rng.between(1, 64) as usize
        } else {
            100_000
        },
        workers: rng.between(1, 3) as usize,
        clients: rng.between(1, 3) as usize,
        chunk: rng.between(1, 24) as usize,
        seed,
        ..Setup::default()
    };
    (setup, ops)
}

/// The state equals the serial replay of the committed inputs, each outcome is the one serial
/// replay gives, and everything committed.
fn check_tree(seed: u64) -> Result<(), String> {
    let (setup, ops) = tree_ops(seed);
    let run = drive::simulate(seed, &setup, tree::app, tree::load, &ops, None)?;
    let inputs = run.sim.committed_inputs();
    let tids: Vec<Tid> = inputs.iter().map(|i| i.env.tid).collect();
    if tids != run.done.keys().copied().collect::<Vec<_>>() || tids.len() != ops.len() {
        return Err(format!(
            "{} ops, {} completed, {} committed inputs",
            ops.len(),
            run.done.len(),
            tids.len()
        ));
    }
    let (replayed, outcomes) =
        vmodb::serial_replay_outcomes(&tree::app(), tree::load, &inputs).map_err(|e| e.0)?;
    let state = run.sim.state();
    if state != replayed {
        return Err(format!(
            "the state differs from serial replay:\n{}",
            state_diff(&state, &replayed, "simulated", "replayed")
        ));
    }
    for (tid, want) in outcomes {
        let (i, c) = &run.done[&tid];
        let same = match (&c.outcome, &want) {
            (Outcome::Committed { .. }, None) => true,
            (Outcome::Aborted { service, error }, Some((s, e))) => service == s && error == e,
            _ => false,
        };
        if !same {
            return Err(format!(
                "tid {tid} (op #{i} {}): {:?}, serial replay: {want:?}",
                ops[*i].0, c.outcome
            ));
        }
    }
    Ok(())
}

#[test]
fn foreign_key_checks_equal_serial_replay_for_every_seed() {
    for seed in seeds() {
        if let Err(e) = check_tree(seed) {
            panic!(
                "seed {seed} failed: {e}\nreproduce: SIM_SEED={seed} cargo test -p vmodb --test sim"
            );
        }
    }
}

#[test]
fn crashes_and_restarts_lose_nothing_for_every_seed() {
    let seeds: Vec<u64> = match env::<u64>("SIM_SEED") {
        Some(s) => vec![s],
        None => (0..env("SIM_SEEDS").unwrap_or(SEEDS) / 2).collect(),
    };
    let (mut crashes, mut transactions) = (0, 0);
    for &seed in &seeds {
        match crash_seed(seed) {
            Ok((stats, n)) => {
                crashes += n;
                transactions += stats.transactions;
            }
            Err(e) => panic!(
                "seed {seed} failed: {e}\nreproduce: SIM_SEED={seed} cargo test -p vmodb --test sim"
            ),
        }
    }
    eprintln!(
        "{} seeds with crashes: {crashes} crashes, {transactions} transactions",
        seeds.len()
    );
    if seeds.len() >= 50 {
        assert!(
            crashes as usize >= seeds.len(),
            "only {crashes} crashes in {} seeds",
            seeds.len()
        );
    }
}
