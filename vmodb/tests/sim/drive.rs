//! Drives one workload under the simulator: clients submit their chunks at moments the seed
//! picks (some ops again later, with the same request ids, as a client that got no answer
//! would), the cluster may crash and restart on its data directory (every client then
//! resubmits what it got no answer for, with the same ids), the simulation runs until nothing
//! is left, and every completion is collected.

use crate::run::{Finished, Setup};
use crossbeam_channel::Receiver;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use vmodb::sim::{Failure, Sim, SimConfig};
use vmodb::{
    App, BootstrapError, ClusterState, Completion, CoordinatorConfig, Entity, Loader, NodeId,
    Notifier, Request, RollbackStats, SequencedInput, Tid,
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
    /// This life's counts: they cover the run only if it recovered nothing from the log.
    fn rollback(&self) -> Option<RollbackStats> {
        (!self.recovered()).then(|| self.coordinator_stats().rollback)
    }
}

/// A finished simulation: the cluster (quiet) and, by TID, each op's index and completion.
pub struct SimRun {
    pub sim: Sim,
    pub done: BTreeMap<Tid, (usize, Completion)>,
    /// Ops submitted a second time with the same request id (without a crash).
    pub resubmitted: usize,
    pub crashes: u32,
    /// Crashes that tore the log's last record, and that left whole records never acknowledged.
    pub torn: u32,
    pub unacknowledged: u32,
    /// Crashes while the log was being re-executed after an earlier one.
    pub recovering: u32,
    /// Restarts that re-executed across an earlier restart logged between batches.
    pub across_restarts: u32,
    /// Crashes that followed a service's death, and a broken link.
    pub failures: (u32, u32),
    /// Steps over every life.
    pub steps: u64,
}

/// Crashes: the data directory, and how many at most.
pub struct Crashes {
    pub dir: PathBuf,
    pub max: u32,
}

/// Steps after which a run counts as stuck (a workload needs a few thousand).
const MAX_STEPS: u64 = 2_000_000;

/// An op: a transaction's name and its encoded input.
pub type SimOp = (String, Vec<u8>);

/// Ops of one submission: their indices in the workload.
type Chunk = Vec<usize>;

struct SimClient {
    /// Chunks still to submit, in order.
    chunks: VecDeque<Chunk>,
    completions: Receiver<Completion>,
    notify: Notifier,
    /// What this client submitted in the current life: TID → op.
    submitted: BTreeMap<Tid, usize>,
}

fn request(i: usize, op: &SimOp, ids: bool) -> Request {
    Request {
        transaction: op.0.clone(),
        payload: op.1.clone(),
        id: ids.then(|| Arc::from(format!("op-{i}"))),
    }
}

/// Everything a run checks on the way.
struct Ledger {
    /// Every op's one answer.
    answered: BTreeMap<usize, Completion>,
    /// Every TID ever handed out, and to which op (a TID is never given to two).
    given: BTreeMap<Tid, usize>,
}

impl Ledger {
    fn gave(&mut self, tid: Tid, op: usize) -> Result<(), String> {
        match self.given.insert(tid, op) {
            Some(other) if other != op => Err(format!(
                "tid {tid} was handed to op #{other} and again to op #{op}"
            )),
            _ => Ok(()),
        }
    }

    /// Takes what `client` was told so far.
    fn hear(&mut self, client: &mut SimClient) -> Result<(), String> {
        while let Ok(c) = client.completions.try_recv() {
            let Some(i) = client.submitted.remove(&c.tid) else {
                return Err(format!(
                    "a client got a completion for tid {} it did not submit, or twice",
                    c.tid
                ));
            };
            if self.answered.insert(i, c).is_some() {
                return Err(format!("op #{i} was answered twice"));
            }
        }
        Ok(())
    }
}

/// Runs `ops` of `app()` (loaded by `load`) under the simulator with `seed`, with the batch,
/// admission, worker and client settings of `setup`, and with `crashes` if given. Checks on
/// the way that each client hears of exactly its own transactions, each op once over every
/// life; that no TID is handed to two ops; that a resubmitted id gets its first TID back and
/// one completion equal to the first; and that the simulation ends with nothing in flight.
pub fn simulate(
    seed: u64,
    setup: &Setup,
    app: fn() -> App,
    load: fn(&Loader) -> Result<(), BootstrapError>,
    ops: &[SimOp],
    crashes: Option<&Crashes>,
) -> Result<SimRun, String> {
    crate::support::util::quiet_deliberate_panics();
    let config = |life: u64| SimConfig {
        seed: seed ^ life.wrapping_mul(0x5851_F42D_4C95_7F2D),
        coordinator: CoordinatorConfig {
            batch_max_txns: setup.max_batch,
            max_in_flight: setup.max_in_flight,
            record_inputs: true,
            seed: setup.seed,
            // With a directory: none, or every so much virtual time (0: at every commit step).
            checkpoint_every: match seed % 3 {
                0 => std::time::Duration::MAX,
                1 => std::time::Duration::ZERO,
                _ => std::time::Duration::from_micros(seed / 3 % 4000),
            },
            ..CoordinatorConfig::default()
        },
        workers: setup.workers,
        check_modes: true,
        data_dir: crashes.map(|c| c.dir.clone()),
    };
    let mut life = 0;
    let mut sim = Sim::start(app(), config(life), load).map_err(|e| e.to_string())?;
    let chunk = setup.chunk.max(1);
    let mut clients: Vec<SimClient> = (0..setup.clients.max(1))
        .map(|_| {
            let (tx, rx) = crossbeam_channel::unbounded();
            SimClient {
                chunks: VecDeque::new(),
                completions: rx,
                notify: Notifier::channel(tx),
                submitted: BTreeMap::new(),
            }
        })
        .collect();
    let n_clients = clients.len();
    let indices: Vec<usize> = (0..ops.len()).collect();
    for (j, c) in indices.chunks(chunk).enumerate() {
        clients[j % n_clients].chunks.push_back(c.to_vec());
    }
    let rng = sim.rng();
    let ids = crashes.is_some() || rng.chance(50);
    let submit_percent = rng.between(2, 60);
    let resubmit_percent = if ids && crashes.is_none() {
        rng.between(0, 40)
    } else {
        0
    };
    let crash_per_mille = rng.between(1, 20);
    let mut crashes_left = crashes.map_or(0, |c| c.max);
    let (retry_tx, retry_rx) = crossbeam_channel::unbounded();
    let retry = Notifier::channel(retry_tx);
    // Ops sent again later: (op index, the TID it got first).
    let mut again: Vec<(usize, Tid)> = Vec::new();
    let mut resubmitted: BTreeMap<usize, Tid> = BTreeMap::new();
    let mut ledger = Ledger {
        answered: BTreeMap::new(),
        given: BTreeMap::new(),
    };
    let (mut steps, mut earlier_steps) = (0u64, 0u64);
    let (mut torn, mut unacknowledged, mut recovering, mut across_restarts) = (0, 0, 0, 0);
    // Failures before a crash, of a service and of a link; steps until the cluster notices one.
    let mut failures = (0u32, 0u32);
    let mut failing: Option<u64> = None;
    // Every batch id announced over every life: one batch each (re-executed ones alike).
    let mut batches: BTreeMap<u64, Tid> = BTreeMap::new();
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
        // Crashes come more often while the log has records to sync (a write in progress).
        let odds = crash_per_mille * if sim.log_unsynced() { 20 } else { 1 };
        let fault = failing.is_none()
            && crashes_left > 0
            && sim.may_crash()
            && sim.rng().below(1000) < odds;
        if fault && sim.rng().chance(50) {
            // A service or a link fails first; the cluster stops once its peers notice.
            let n = sim.app().service_names().count() as u64;
            let failure = if sim.rng().chance(50) {
                failures.0 += 1;
                Failure::Service(sim.rng().below(n) as u16)
            } else {
                failures.1 += 1;
                let node = |rng: &mut vmodb::sim::SimRng| match rng.below(n + 1) {
                    i if i == n => NodeId::Coordinator,
                    i => NodeId::Service(i as u16),
                };
                let from = node(sim.rng());
                let mut to = node(sim.rng());
                while to == from {
                    to = node(sim.rng()); // a link joins two nodes
                }
                Failure::Link(from, to)
            };
            sim.fail(failure);
            failing = Some(sim.rng().between(0, 300));
            continue;
        }
        let noticed = failing.is_some_and(|n| n == 0);
        failing = failing.map(|n| n.saturating_sub(1));
        if fault || noticed {
            failing = None;
            // Everyone hears what was announced before the crash; the rest is asked again.
            for client in &mut clients {
                ledger.hear(client)?;
                let unanswered: Chunk = client.submitted.values().copied().collect();
                client.submitted.clear();
                if !unanswered.is_empty() {
                    client.chunks.push_front(unanswered);
                }
            }
            crashes_left -= 1;
            life += 1;
            earlier_steps += sim.steps();
            recovering += u32::from(sim.recovering());
            note_batches(&mut batches, &mut sim)?;
            let crash = sim.crash();
            torn += u32::from(crash.kept > 0 && crash.kept < crash.bytes);
            unacknowledged += u32::from(crash.kept > 0 && crash.kept == crash.bytes);
            sim = Sim::start(app(), config(life), load)
                .map_err(|e| format!("restart {life}: {e}"))?;
            across_restarts += u32::from(sim.restarts_between_replayed() > 0);
            idle = false; // a new life: nothing known of it yet
            continue;
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
                None if idle && failing.is_some() => {
                    again.push((i, first));
                    failing = Some(0);
                }
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
            let chunk = client.chunks.front().expect("a chunk").clone();
            let requests = (chunk.iter()).map(|&i| request(i, &ops[i], ids)).collect();
            match sim.try_submit(requests, Some(client.notify.clone())) {
                Some(Ok(tids)) => {
                    client.chunks.pop_front();
                    for (tid, i) in tids.into_iter().zip(chunk) {
                        ledger.gave(tid, i)?;
                        client.submitted.insert(tid, i);
                        if sim.rng().chance(resubmit_percent) {
                            again.push((i, tid));
                        }
                    }
                    idle = false;
                    continue;
                }
                Some(Err(e)) => return Err(format!("a submission was refused: {e}")),
                None if idle && failing.is_some() => failing = Some(0), // stuck: stop it
                None if idle => return Err(stuck(&sim)),
                None => {} // admission waits: let the cluster work
            }
        }
        idle = !sim.step();
        if idle && failing.is_some() {
            // What failed holds the rest up, or would be missing from the final state.
            failing = Some(0);
            continue;
        }
        if idle && waiting.is_empty() && again.is_empty() {
            break;
        }
    }
    note_batches(&mut batches, &mut sim)?;
    if let Some(v) = sim.violations().first() {
        return Err(v.clone());
    }
    for client in &mut clients {
        ledger.hear(client)?;
        if let Some((tid, i)) = client.submitted.iter().next() {
            return Err(format!(
                "liveness: tid {tid} (op #{i}) never completed; {}",
                sim.pending()
            ));
        }
    }
    if ledger.answered.len() != ops.len() {
        let missing = (0..ops.len()).find(|i| !ledger.answered.contains_key(i));
        return Err(format!(
            "{} of {} ops answered; op #{missing:?} was not",
            ledger.answered.len(),
            ops.len()
        ));
    }
    let done: BTreeMap<Tid, (usize, Completion)> = (ledger.answered.into_iter())
        .map(|(i, c)| (c.tid, (i, c)))
        .collect();
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
        steps: earlier_steps + sim.steps(),
        sim,
        done,
        resubmitted: resubmitted.len(),
        crashes: life as u32,
        torn,
        unacknowledged,
        recovering,
        across_restarts,
        failures,
    })
}

fn stuck(sim: &Sim) -> String {
    format!(
        "stuck: nothing to do, yet admission waits: {}",
        sim.pending()
    )
}

/// Adds this life's announced batches to `batches`: a batch id must never name two batches,
/// in one life or across restarts (a batch re-executed after one ends where it ended).
fn note_batches(batches: &mut BTreeMap<u64, Tid>, sim: &mut Sim) -> Result<(), String> {
    for (&batch, &max_tid) in sim.announced_batches() {
        match batches.insert(batch, max_tid) {
            Some(was) if was != max_tid => {
                return Err(format!(
                    "batch id {batch} named two batches: one ending at tid {was}, one at {max_tid}"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
