//! Runs a workload on a cluster and checks everything against serial replay.

use crate::app::{self, Event, Input, Level, Receipt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;
use vmodb::{
    Client, Cluster, ClusterConfig, ClusterState, Completion, CoordinatorConfig, Entity, LinkDelay,
    Outcome, RollbackStats, SequencedInput, Tid, TxError,
};

/// One input: a transaction name and its input.
#[derive(Clone)]
pub struct Op {
    pub tx: &'static str,
    pub input: Input,
}

impl Op {
    pub fn new(tx: &'static str, input: Input) -> Op {
        assert!(app::TRANSACTIONS.contains(&tx), "unknown transaction {tx}");
        Op { tx, input }
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.input;
        write!(f, "{}(uid {} k {} amount {}", self.tx, i.uid, i.k, i.amount)?;
        if i.guard {
            write!(f, " guarded")?;
        }
        if let Some(at) = i.fail.at {
            write!(
                f,
                " fail {:?} at {}",
                i.fail.kind,
                app::SERVICES[at as usize]
            )?;
            if i.fail.delay_ms > 0 {
                write!(f, " after {} ms", i.fail.delay_ms)?;
            }
        }
        write!(f, ")")
    }
}

/// How the workload is run.
#[derive(Clone, Debug)]
pub struct Setup {
    pub window_ms: u64,
    pub max_batch: u32,
    /// `CoordinatorConfig::batch_idle` in µs, if any.
    pub idle_us: Option<u64>,
    /// `CoordinatorConfig::max_in_flight`.
    pub max_in_flight: usize,
    pub workers: usize,
    /// Client threads; chunk `j` of the workload goes to client `j % clients`.
    pub clients: usize,
    /// Inputs per `submit_all` call.
    pub chunk: usize,
    /// A client sleeps this long after each `submit_all` (so later inputs arrive while earlier
    /// batches commit or roll back).
    pub pause_us: u64,
    /// Injected link delay (max µs), if any.
    pub delay_us: Option<u64>,
    pub seed: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            window_ms: 2,
            max_batch: 10_000,
            idle_us: None,
            max_in_flight: 100_000,
            workers: 2,
            clients: 1,
            chunk: 10_000,
            pause_us: 0,
            delay_us: None,
            seed: 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Workload {
    pub setup: Setup,
    pub ops: Vec<Op>,
}

pub fn config(setup: &Setup) -> ClusterConfig {
    ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(setup.window_ms),
            batch_max_txns: setup.max_batch,
            batch_idle: setup.idle_us.map(Duration::from_micros),
            max_in_flight: setup.max_in_flight,
            record_inputs: true,
            seed: setup.seed,
            ..CoordinatorConfig::default()
        },
        workers: setup.workers,
        check_modes: true,
        link_delay: setup.delay_us.map(|max_us| LinkDelay {
            max_us,
            seed: setup.seed,
        }),
        data_dir: None,
    }
}

/// A finished run: the cluster (idle) and, by TID, each op's index and completion.
pub struct Run {
    pub cluster: Cluster,
    pub done: BTreeMap<Tid, (usize, Completion)>,
}

impl Run {
    /// The completion of op `i`.
    pub fn completion(&self, i: usize) -> &Completion {
        self.done
            .values()
            .find(|(j, _)| *j == i)
            .map(|(_, c)| c)
            .expect("every op completed")
    }

    pub fn outcome(&self, i: usize) -> &Outcome {
        &self.completion(i).outcome
    }
}

/// Receives `n` completions, each within 30 s.
/// A completion as one client received it: TID, the input's index, the completion.
type Received = (Tid, usize, Completion);

fn collect(client: &Client, n: usize) -> Result<Vec<Completion>, String> {
    (0..n)
        .map(|i| {
            client
                .completions()
                .recv_timeout(Duration::from_secs(30))
                .map_err(|e| format!("completion {i} of {n} did not arrive: {e}"))
        })
        .collect()
}

/// Starts a cluster, submits the workload from `setup.clients` threads, collects every
/// completion, and waits until the cluster is idle. Checks that each client hears of exactly
/// its own transactions, once each.
pub fn execute(w: &Workload) -> Result<Run, String> {
    crate::support::util::quiet_deliberate_panics();
    let cluster =
        Cluster::start(app::app(), config(&w.setup), app::load).map_err(|e| e.to_string())?;
    let clients = w.setup.clients.max(1);
    let chunk = w.setup.chunk.max(1);
    let pause = w.setup.pause_us;
    let chunks: Vec<(usize, &[Op])> = w
        .ops
        .chunks(chunk)
        .enumerate()
        .map(|(j, c)| (j * chunk, c))
        .collect();
    let per_client: Vec<Result<Vec<Received>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let client = cluster.client();
                let mine: Vec<(usize, &[Op])> = chunks
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % clients == c)
                    .map(|(_, x)| *x)
                    .collect();
                scope.spawn(move || {
                    let mut submitted: BTreeMap<Tid, usize> = BTreeMap::new();
                    for (first, ops) in mine {
                        let inputs = ops
                            .iter()
                            .map(|op| {
                                let payload =
                                    postcard::to_allocvec(&op.input).expect("input encodes");
                                (op.tx.to_string(), payload)
                            })
                            .collect();
                        let tids = client.submit_all(inputs).map_err(|e| e.to_string())?;
                        for (k, tid) in tids.into_iter().enumerate() {
                            submitted.insert(tid, first + k);
                        }
                        if pause > 0 {
                            std::thread::sleep(Duration::from_micros(pause));
                        }
                    }
                    let got = collect(&client, submitted.len())?;
                    let mut out = Vec::with_capacity(got.len());
                    for c in got {
                        let Some(i) = submitted.remove(&c.tid) else {
                            return Err(format!(
                                "client {c:?} got a completion for tid {} it did not \
                                     submit, or twice",
                                c.tid
                            ));
                        };
                        out.push((c.tid, i, c));
                    }
                    if let Ok(extra) = client.completions().try_recv() {
                        return Err(format!("an extra completion arrived: {extra:?}"));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("client thread panicked".into()))
            })
            .collect()
    });
    let mut done = BTreeMap::new();
    for r in per_client {
        let r = r.map_err(|e| format!("{e}; cluster stats: {:?}", cluster.stats()))?;
        for (tid, i, c) in r {
            if done.insert(tid, (i, c)).is_some() {
                return Err(format!("tid {tid} completed twice"));
            }
        }
    }
    if !cluster.wait_idle(Duration::from_secs(30)) {
        return Err("the cluster did not become idle".into());
    }
    Ok(Run { cluster, done })
}

/// What a case exercised.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaseStats {
    pub transactions: usize,
    pub aborted: usize,
    pub resolutions: u64,
    pub rounds: u64,
    pub reexecuted: u64,
}

fn committed(c: &Completion) -> bool {
    matches!(c.outcome, Outcome::Committed { .. })
}

/// What the checks read from a cluster once a run finished: an embedded one, or one under the
/// simulator.
pub trait Finished {
    fn state(&self) -> ClusterState;
    fn committed_inputs(&self) -> Vec<SequencedInput>;
    fn read_table<E: Entity>(&self, service: &str) -> Result<Vec<E>, String>;
    fn mode_violations(&self) -> (u64, Vec<String>);
    /// Envelopes refused as malformed.
    fn refused(&self) -> u64;
    /// The lowest committed watermark across services.
    fn watermark(&self) -> Tid;
    /// The coordinator's rollback counts, if they cover the whole run (not after a restart).
    fn rollback(&self) -> Option<RollbackStats>;
}

impl Finished for Cluster {
    fn state(&self) -> ClusterState {
        Cluster::state(self)
    }
    fn committed_inputs(&self) -> Vec<SequencedInput> {
        Cluster::committed_inputs(self)
    }
    fn read_table<E: Entity>(&self, service: &str) -> Result<Vec<E>, String> {
        Cluster::read_table(self, service).map_err(|e| e.to_string())
    }
    fn mode_violations(&self) -> (u64, Vec<String>) {
        Cluster::mode_violations(self)
    }
    fn refused(&self) -> u64 {
        self.stats().refused
    }
    fn watermark(&self) -> Tid {
        self.stats().watermark
    }
    fn rollback(&self) -> Option<RollbackStats> {
        Some(self.stats().coordinator.rollback)
    }
}

/// Every check of a finished run against serial replay.
pub fn check(w: &Workload, run: &Run) -> Result<CaseStats, String> {
    check_finished(w, &run.done, &run.cluster)
}

/// `check` of a run whose completions, by TID, are `done` (each with its op's index), on
/// `cluster`.
pub fn check_finished(
    w: &Workload,
    done: &BTreeMap<Tid, (usize, Completion)>,
    cluster: &impl Finished,
) -> Result<CaseStats, String> {
    let n = w.ops.len();
    if done.len() != n {
        return Err(format!("{} completions for {n} inputs", done.len()));
    }
    for (tid, (i, c)) in done {
        if &*c.transaction != w.ops[*i].tx {
            return Err(format!(
                "tid {tid}: completion names {} but op #{i} is {:?}",
                c.transaction, w.ops[*i]
            ));
        }
    }
    let inputs = cluster.committed_inputs();
    let tids: Vec<Tid> = inputs.iter().map(|i| i.env.tid).collect();
    let sequenced: Vec<Tid> = done.keys().copied().collect();
    if tids != sequenced {
        return Err(format!(
            "recorded inputs {} (tids {:?}..) differ from the completed tids",
            tids.len(),
            tids.first()
        ));
    }

    // (1) The state: replay of the committed only, and replay of all with failures undone.
    let (all_state, expected) =
        vmodb::serial_replay_outcomes(&app::app(), app::load, &inputs).map_err(|e| e.0)?;
    let committed_only: Vec<_> = inputs
        .iter()
        .filter(|i| committed(&done[&i.env.tid].1))
        .cloned()
        .collect();
    let (committed_state, committed_outcomes) =
        vmodb::serial_replay_outcomes(&app::app(), app::load, &committed_only).map_err(|e| e.0)?;
    let state = cluster.state();
    let describe = |tid: Tid| {
        let (i, c) = &done[&tid];
        format!("tid {tid} batch {} {:?}", c.batch, w.ops[*i])
    };
    if state != committed_state {
        return Err(format!(
            "the state differs from the serial replay of the committed transactions only:\n{}",
            state_diff(&state, &committed_state, "cluster", "replay of committed")
        ));
    }
    if all_state != committed_state {
        return Err(format!(
            "serial replay of every input (failures undone) differs from the replay of the \
             committed only:\n{}",
            state_diff(
                &all_state,
                &committed_state,
                "replay of all",
                "replay of committed"
            )
        ));
    }
    // Exactness: what committed also commits when run alone in TID order.
    let failing: Vec<String> = committed_outcomes
        .iter()
        .filter_map(|(tid, o)| {
            o.as_ref()
                .map(|(s, e)| format!("{} fails at {s}: {e}", describe(*tid)))
        })
        .collect();
    if !failing.is_empty() {
        return Err(format!(
            "{} transactions reported committed fail in a serial run of the committed ones, \
             e.g.\n{}",
            failing.len(),
            failing[..failing.len().min(5)].join("\n")
        ));
    }

    // (2) Every outcome is the one serial replay finds.
    let mut wrong = Vec::new();
    for (tid, want) in &expected {
        let (_, c) = &done[tid];
        let ok = match (&c.outcome, want) {
            (Outcome::Committed { .. }, None) => true,
            (Outcome::Aborted { service, error }, Some((s, e))) => service == s && error == e,
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{}: got {:?}, serial replay: {:?}",
                describe(*tid),
                c.outcome,
                want
            ));
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "{} of {n} outcomes differ from serial replay:\n{}",
            wrong.len(),
            wrong[..wrong.len().min(8)].join("\n")
        ));
    }

    // Committed outputs against the state (which equals serial replay).
    let receipts: BTreeMap<u64, Receipt> = cluster
        .read_table::<Receipt>("stock")?
        .into_iter()
        .map(|r| (r.uid, r))
        .collect();
    let events: BTreeMap<u64, Event> = cluster
        .read_table::<Event>("stats")?
        .into_iter()
        .map(|r| (r.uid, r))
        .collect();
    for (tid, (i, c)) in done {
        let Outcome::Committed { output } = &c.outcome else {
            continue;
        };
        let op = &w.ops[*i];
        let uid = op.input.uid;
        let bad = |why: String| Err(format!("{}: output {output:?}: {why}", describe(*tid)));
        match (op.tx, output) {
            ("transfer", Some(o)) => {
                let got: Receipt = o.decode().map_err(|e| e.to_string())?;
                if &*o.event != "receipt" || receipts.get(&uid) != Some(&got) {
                    return bad(format!("stored receipt {:?}", receipts.get(&uid)));
                }
            }
            ("transfer", None) => {
                if receipts.contains_key(&uid) {
                    return bad("a receipt is stored".into());
                }
            }
            ("peek" | "audit", Some(o)) => {
                let got: Event = o.decode().map_err(|e| e.to_string())?;
                if events.get(&uid) != Some(&got) {
                    return bad(format!("stored event {:?}", events.get(&uid)));
                }
            }
            ("look", Some(o)) => {
                let got: Level = o.decode().map_err(|e| e.to_string())?;
                if got.slot != op.input.k || got.level.is_none() {
                    return bad("wrong slot".into());
                }
            }
            ("fork" | "bump" | "withdraw" | "register" | "unregister" | "restock", None) => {}
            _ => return bad("unexpected output".into()),
        }
    }

    // (3) The modes were declared truthfully, and nothing was refused.
    let (violations, examples) = cluster.mode_violations();
    if violations > 0 {
        return Err(format!("{violations} mode violations: {examples:?}"));
    }
    if cluster.refused() > 0 {
        return Err(format!("{} envelopes refused", cluster.refused()));
    }
    // TIDs are dense unless a restart skipped some: the last one committed.
    let last = tids.last().copied().unwrap_or(0);
    if cluster.watermark() != last {
        return Err(format!(
            "watermark {} after {n} commits, the last at tid {last}",
            cluster.watermark()
        ));
    }
    let aborted = done.values().filter(|(_, c)| !committed(c)).count();
    let counted = cluster.rollback();
    let r = counted.unwrap_or_default();
    if counted.is_some() && r.aborted != aborted as u64 {
        return Err(format!(
            "stats count {} aborts, clients saw {aborted}",
            r.aborted
        ));
    }
    Ok(CaseStats {
        transactions: n,
        aborted,
        resolutions: r.resolutions,
        rounds: r.rounds,
        reexecuted: r.reexecuted,
    })
}

/// Runs and checks a workload.
pub fn run_and_check(w: &Workload) -> Result<(Run, CaseStats), String> {
    let run = execute(w)?;
    let stats = check(w, &run)?;
    Ok((run, stats))
}

/// The rows that differ, per table.
pub fn state_diff(a: &ClusterState, b: &ClusterState, a_name: &str, b_name: &str) -> String {
    let mut out = String::new();
    let services: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for s in services {
        let empty = Default::default();
        let (ta, tb) = (a.get(s).unwrap_or(&empty), b.get(s).unwrap_or(&empty));
        let tables: BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
        for t in tables {
            let rows = |x: &vmodb::ServiceState| -> BTreeSet<String> {
                x.get(t)
                    .map(|ts| {
                        ts.rows
                            .iter()
                            .map(|r| {
                                let cells: Vec<String> = ts
                                    .columns
                                    .iter()
                                    .zip(r)
                                    .map(|(c, v)| format!("{c}={v}"))
                                    .collect();
                                cells.join(" ")
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (ra, rb) = (rows(ta), rows(tb));
            for r in ra.difference(&rb).take(10) {
                out.push_str(&format!("  {s}.{t}: only in {a_name}: {r}\n"));
            }
            for r in rb.difference(&ra).take(10) {
                out.push_str(&format!("  {s}.{t}: only in {b_name}: {r}\n"));
            }
        }
    }
    out
}

/// The input `TxError::abort` the app's failure injection produces at `service`.
pub fn injected_abort(service: &str) -> TxError {
    TxError::abort(format!("input asked {service} to abort"))
}

/// An input with the given fields (uid, key, amount), no guard, no failure.
pub fn input(uid: u64, k: u32, amount: i64) -> Input {
    Input {
        uid,
        k,
        amount,
        guard: false,
        fail: app::Fail::NONE,
    }
}
