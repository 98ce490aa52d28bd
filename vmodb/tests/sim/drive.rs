//! Drives one workload under the simulator: clients submit their chunks at moments the seed
//! picks (some ops again later, with the same request ids, as a client that got no answer
//! would), the simulation runs until nothing is left, and every completion is collected.

use crate::run::{Finished, Setup};
use crossbeam_channel::Receiver;
use std::collections::BTreeMap;
use std::sync::Arc;
use vmodb::sim::{Sim, SimConfig};
use vmodb::{
    App, BootstrapError, ClusterState, Completion, CoordinatorConfig, Entity, Loader, Notifier,
    Request, RollbackStats, SequencedInput, Tid,
};

impl Finished for Sim {
    fn state(&self) -> ClusterState {
        Sim::state(self)
    }
    fn committed_inputs(&self) -> Vec<SequencedInput> {
        Sim::committed_inputs(self)
    }
    fn read_table<E: Entity>(&self, service: &str) -> Result<Vec<E>, String> {
        Sim::read_table(self, service).map_err(|e| e.to_string())
    }
    fn mode_violations(&self) -> (u64, Vec<String>) {
        Sim::mode_violations(self)
    }
    fn refused(&self) -> u64 {
        Sim::refused(self)
    }
    fn watermark(&self) -> Tid {
        Sim::watermark(self)
    }
    fn rollback(&self) -> RollbackStats {
        self.coordinator_stats().rollback
    }
}

/// A finished simulation: the cluster (quiet) and, by TID, each op's index and completion.
pub struct SimRun {
    pub sim: Sim,
    pub done: BTreeMap<Tid, (usize, Completion)>,
    /// Ops submitted a second time with the same request id.
    pub resubmitted: usize,
}

/// Steps after which a run counts as stuck (a workload needs a few thousand).
const MAX_STEPS: u64 = 2_000_000;

struct SimClient {
    /// (index of the chunk's first op, the chunk) still to submit, in order.
    chunks: Vec<(usize, Vec<SimOp>)>,
    completions: Receiver<Completion>,
    notify: Notifier,
    submitted: BTreeMap<Tid, usize>,
}

/// An op: a transaction's name and its encoded input.
pub type SimOp = (String, Vec<u8>);

fn request(i: usize, op: &SimOp, ids: bool) -> Request {
    Request {
        transaction: op.0.clone(),
        payload: op.1.clone(),
        id: ids.then(|| Arc::from(format!("op-{i}"))),
    }
}

/// Runs `ops` of `app` (loaded by `load`) under the simulator with `seed`, with the batch,
/// admission, worker and client settings of `setup`. Checks on the way that each client hears of
/// exactly its own transactions, once each; that a resubmitted id gets its first TID back
/// and one completion equal to the first; and that the simulation ends with nothing in flight.
pub fn simulate(
    seed: u64,
    setup: &Setup,
    app: App,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    ops: &[SimOp],
) -> Result<SimRun, String> {
    crate::support::util::quiet_deliberate_panics();
    let config = SimConfig {
        seed,
        coordinator: CoordinatorConfig {
            batch_max_txns: setup.max_batch,
            max_in_flight: setup.max_in_flight,
            record_inputs: true,
            seed: setup.seed,
            ..CoordinatorConfig::default()
        },
        workers: setup.workers,
        check_modes: true,
    };
    let mut sim = Sim::start(app, config, load).map_err(|e| e.to_string())?;
    let chunk = setup.chunk.max(1);
    let mut clients: Vec<SimClient> = (0..setup.clients.max(1))
        .map(|_| {
            let (tx, rx) = crossbeam_channel::unbounded();
            SimClient {
                chunks: Vec::new(),
                completions: rx,
                notify: Notifier::channel(tx),
                submitted: BTreeMap::new(),
            }
        })
        .collect();
    let n_clients = clients.len();
    for (j, ops) in ops.chunks(chunk).enumerate() {
        clients[j % n_clients]
            .chunks
            .push((j * chunk, ops.to_vec()));
    }
    for c in &mut clients {
        c.chunks.reverse(); // popped from the back, in order
    }
    let rng = sim.rng();
    let ids = rng.chance(50);
    let submit_percent = rng.between(2, 60);
    let resubmit_percent = if ids { rng.between(0, 40) } else { 0 };
    let (retry_tx, retry_rx) = crossbeam_channel::unbounded();
    let retry = Notifier::channel(retry_tx);
    // Ops sent again later: (op index, the TID it got first).
    let mut again: Vec<(usize, Tid)> = Vec::new();
    let mut resubmitted: BTreeMap<usize, Tid> = BTreeMap::new();
    let mut steps = 0u64;
    // Set when the cluster has nothing to do: the next turn submits for sure.
    let mut idle = false;
    loop {
        steps += 1;
        if steps > MAX_STEPS {
            return Err(format!(
                "not quiet after {MAX_STEPS} steps: {}",
                sim.pending()
            ));
        }
        let waiting: Vec<usize> = (0..n_clients)
            .filter(|&c| !clients[c].chunks.is_empty())
            .collect();
        let rng = sim.rng();
        if !again.is_empty() && (idle && waiting.is_empty() || rng.chance(10)) {
            let k = rng.below(again.len() as u64) as usize;
            let (i, first) = again.swap_remove(k);
            let r = request(i, &ops[i], true);
            match sim.try_submit(vec![r], Some(retry.clone())) {
                Some(Ok(tids)) if tids == [first] => {
                    resubmitted.insert(i, first);
                }
                Some(Ok(tids)) => {
                    return Err(format!(
                        "op #{i} resubmitted with its id got tid {tids:?}, first {first}"
                    ));
                }
                Some(Err(e)) => return Err(format!("a resubmission was refused: {e}")),
                None if idle => return Err(stuck(&sim)),
                None => again.push((i, first)),
            }
            idle = false;
            continue;
        }
        let rng = sim.rng();
        if !waiting.is_empty() && (idle || rng.chance(submit_percent)) {
            let c = waiting[rng.below(waiting.len() as u64) as usize];
            let client = &mut clients[c];
            let (first, ops) = client.chunks.last().expect("a chunk").clone();
            let requests = (ops.iter().enumerate())
                .map(|(k, op)| request(first + k, op, ids))
                .collect();
            match sim.try_submit(requests, Some(client.notify.clone())) {
                Some(Ok(tids)) => {
                    client.chunks.pop();
                    for (k, tid) in tids.into_iter().enumerate() {
                        client.submitted.insert(tid, first + k);
                        if sim.rng().chance(resubmit_percent) {
                            again.push((first + k, tid));
                        }
                    }
                    idle = false;
                    continue;
                }
                Some(Err(e)) => return Err(format!("a submission was refused: {e}")),
                None if idle => return Err(stuck(&sim)),
                None => {} // admission waits: let the cluster work
            }
        }
        idle = !sim.step();
        if idle && waiting.is_empty() && again.is_empty() {
            break;
        }
    }
    if let Some(v) = sim.violations().first() {
        return Err(v.clone());
    }
    let mut done = BTreeMap::new();
    for client in &mut clients {
        while let Ok(c) = client.completions.try_recv() {
            let Some(i) = client.submitted.remove(&c.tid) else {
                return Err(format!(
                    "a client got a completion for tid {} it did not submit, or twice",
                    c.tid
                ));
            };
            done.insert(c.tid, (i, c));
        }
        if let Some((tid, i)) = client.submitted.iter().next() {
            return Err(format!(
                "liveness: tid {tid} (op #{i}) never completed; {}",
                sim.pending()
            ));
        }
    }
    let mut told: BTreeMap<usize, Completion> = BTreeMap::new();
    while let Ok(c) = retry_rx.try_recv() {
        let Some((&i, _)) = resubmitted.iter().find(|(_, t)| **t == c.tid) else {
            return Err(format!(
                "a resubmission heard of tid {}, not its own",
                c.tid
            ));
        };
        if told.insert(i, c).is_some() {
            return Err(format!("a resubmission of op #{i} was answered twice"));
        }
    }
    for (i, tid) in &resubmitted {
        let first = &done.get(tid).ok_or("a resubmitted op never completed")?.1;
        match told.get(i) {
            Some(c) if c.outcome == first.outcome => {}
            Some(c) => {
                return Err(format!(
                    "op #{i} resubmitted: told {:?}, first {:?}",
                    c.outcome, first.outcome
                ));
            }
            None => return Err(format!("op #{i} resubmitted: never answered")),
        }
    }
    Ok(SimRun {
        sim,
        done,
        resubmitted: resubmitted.len(),
    })
}

fn stuck(sim: &Sim) -> String {
    format!(
        "stuck: nothing to do, yet admission waits: {}",
        sim.pending()
    )
}
