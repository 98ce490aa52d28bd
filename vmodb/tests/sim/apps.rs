//! Two small applications' random workloads under the simulator, checked against serial
//! replay: the foreign-key tree (`support/tree.rs`: children added while their parents are
//! dropped and added again) and the key/value pipe (`support/kv.rs`: handlers that fail or
//! panic, and partition closures that panic, at either service).

use crate::drive::{self, SimOp};
use crate::run::{Setup, state_diff};
use crate::support::{kv, tree};
use vmodb::sim::SimRng;
use vmodb::{App, BootstrapError, Loader, Outcome, Tid};

/// Batch, admission, worker and client settings drawn from `rng`.
fn setup(rng: &mut SimRng, seed: u64) -> Setup {
    Setup {
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
    }
}

fn op(tx: &str, input: &impl serde::Serialize) -> SimOp {
    let payload = postcard::to_allocvec(input).expect("an input encodes");
    (tx.to_string(), payload)
}

/// Seed `seed`'s tree workload: children of a few parents, parents dropped and added again.
pub fn check_tree(seed: u64) -> Result<(), String> {
    let mut rng = SimRng::new(seed ^ 0x7265_6500);
    let parents = rng.between(1, 6);
    let ops: Vec<SimOp> = (0..rng.between(20, 200))
        .map(|i| {
            let parent = rng.below(parents) as u32;
            let tx = ["add_child", "add_child", "drop_parent", "add_parent"][rng.below(4) as usize];
            op(tx, &tree::op(1000 + i as u32, parent, 0))
        })
        .collect();
    let setup = setup(&mut rng, seed);
    check_against_replay(seed, &setup, tree::app, tree::load, &ops)
}

fn kv_app() -> App {
    kv::app(kv::Hooks::new())
}

/// Seed `seed`'s key/value workload: sets, pipes from `a` to `b`, churns and pokes over a few
/// cells, a fifth of them failing somewhere (`kv.rs`: an error or a panic in either handler,
/// or a panic in either partition closure of a pipe).
pub fn check_kv(seed: u64) -> Result<(), String> {
    let mut rng = SimRng::new(seed ^ 0x6b76_0000);
    let cells = rng.between(1, 8);
    let ops: Vec<SimOp> = (0..rng.between(20, 200))
        .map(|i| {
            let id = rng.below(cells) as u32;
            let value = rng.between(0, 100) as i64 - 20;
            let fail = if rng.chance(20) {
                rng.between(1, 6) as u8
            } else {
                0
            };
            match rng.below(10) {
                0..=2 => op(
                    "set",
                    &kv::Set {
                        fail: fail.min(2),
                        ..kv::set(id, value)
                    },
                ),
                3..=7 => op(
                    "pipe",
                    &kv::Fwd {
                        fail,
                        ..kv::fwd(id, value)
                    },
                ),
                8 => op("churn", &kv::Churn { k: i + 1 }),
                _ => {
                    let fail = if fail > 0 { 3 + fail % 2 } else { 0 };
                    op(
                        "poke",
                        &kv::Set {
                            fail,
                            ..kv::set(id, value)
                        },
                    )
                }
            }
        })
        .collect();
    let setup = setup(&mut rng, seed);
    check_against_replay(seed, &setup, kv_app, kv::load, &ops)
}

/// Runs `ops` under the simulator: the state equals the serial replay of the committed inputs,
/// each outcome is the one serial replay gives, and everything committed.
fn check_against_replay(
    seed: u64,
    setup: &Setup,
    app: fn() -> App,
    load: fn(&Loader) -> Result<(), BootstrapError>,
    ops: &[SimOp],
) -> Result<(), String> {
    let run = drive::simulate(seed, setup, app, load, ops, None)?;
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
        vmodb::serial_replay_outcomes(&app(), load, &inputs).map_err(|e| e.0)?;
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
    let (violations, examples) = run.sim.mode_violations();
    if violations > 0 {
        return Err(format!("{violations} mode violations: {examples:?}"));
    }
    Ok(())
}
