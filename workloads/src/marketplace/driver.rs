//! The closed-loop driver: keeps up to `concurrency` operations in flight against any system that
//! implements [`MarketplaceSystem`], for a warm-up and a measured window, and records latency per
//! transaction type. Only completions inside the measured window count.
//!
//! The driver submits the generator's stream strictly in order, so every system driven with the
//! same seed sees the same sequence. It enforces the benchmark's in-flight rules (one customer
//! never has two sessions in flight, one product never has two updates in flight) by head-of-line
//! gating: while any [`Gate`] of the next op is held by an op in flight, that op waits at the head
//! and nothing else is submitted; it is never skipped or reordered. An op holds its gates from
//! submission to completion; a failed submission holds nothing.

use super::generator::{Gate, InputGenerator, KINDS, Op};
use super::model::CustomerOrder;
use super::{MarketplaceState, RunLog};
use crate::open_loop::{self, LoadReport, OpenLoad};
use crate::probes::Probes;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// An operation's end, as a system reports it.
#[derive(Clone, Debug)]
pub struct Done {
    pub id: u64,
    /// From submission to the commit notification (or the answer, for queries).
    pub latency: Duration,
    /// `Err(reason)` when the transaction failed or aborted.
    pub result: Result<(), String>,
    /// vMODB: where the latency went (`None` for a system without batches, or when unknown).
    pub commit: Option<CommitTiming>,
}

impl Done {
    pub fn new(id: u64, latency: Duration, result: Result<(), String>) -> Self {
        Done {
            id,
            latency,
            result,
            commit: None,
        }
    }
}

/// A vMODB transaction's latency, split at its last executed step: from submission to the
/// coordinator to its report of that step, then the wait for its batch to commit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CommitTiming {
    /// (to the last step's report, from there to the commit); `None`: no step reported.
    pub split: Option<(Duration, Duration)>,
    pub batch: u64,
    /// Between the previous batch's commit and this batch's.
    pub batch_interval: Duration,
}

/// A system the marketplace can run on (vMODB, the actor baseline).
pub trait MarketplaceSystem: Probes {
    fn name(&self) -> &'static str;
    /// Starts `op`; its completion comes back through `poll` with the same id.
    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String>;
    /// Completions that arrived, waiting up to `wait` for the first.
    fn poll(&mut self, wait: Duration) -> Vec<Done>;
    /// Waits until nothing is in flight.
    fn quiesce(&mut self, timeout: Duration) -> bool;
    /// Every table, at quiescence.
    fn state(&self) -> Result<MarketplaceState, String>;
    /// What committed, for the checker.
    fn log(&self) -> &RunLog;
    /// The order service's counters (each customer's next order id; no row: 1), at quiescence,
    /// for the state dump. `None`: this system cannot read them.
    fn customer_orders(&self) -> Result<Option<Vec<CustomerOrder>>, String> {
        Ok(None)
    }
    /// Why the system can no longer run (e.g. a node of a distributed cluster was lost); the
    /// driver stops at once when it says so.
    fn fatal(&self) -> Option<String> {
        None
    }
}

#[derive(Clone, Debug)]
pub struct DriveConfig {
    pub warmup: Duration,
    pub duration: Duration,
    pub concurrency: usize,
}

/// Per transaction type: count, failures and latency (µs).
pub struct TypeStats {
    pub committed: u64,
    pub failed: u64,
    pub latency_us: Histogram<u64>,
}

impl Default for TypeStats {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeStats {
    pub fn new() -> Self {
        TypeStats {
            committed: 0,
            failed: 0,
            latency_us: histogram(),
        }
    }
}

pub struct DriveResult {
    pub per_type: BTreeMap<&'static str, TypeStats>,
    pub measured: Duration,
    pub committed: u64,
    pub failed: u64,
    /// Failure reasons seen (first few).
    pub failures: Vec<String>,
    /// The open loop's offered rate and backlog (defaults for a closed loop).
    pub load: LoadReport,
    /// vMODB: time to the last executed step, and the wait for the batch's commit, of
    /// committed transactions in the window (µs; empty for other systems).
    pub executed_us: Histogram<u64>,
    pub commit_wait_us: Histogram<u64>,
    /// vMODB: the interval between consecutive batch commits seen in the window (µs).
    pub batch_interval_us: Histogram<u64>,
    /// Batches already counted in `batch_interval_us`.
    batches_seen: HashSet<u64>,
    /// The baseline: from an op's submission until all its effects, one-way messages
    /// included, were applied (µs), for ops submitted in the window; `None` when not measured.
    pub visibility_us: Option<Histogram<u64>>,
    /// How long the system took to finish its deferred work after the last completion.
    pub quiesce: Option<Duration>,
    /// The injected delays the system's messages between services got (µs), with jitter.
    pub injected_delay_us: Option<Histogram<u64>>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds")
}

impl DriveResult {
    pub fn new(kinds: &[&'static str], measured: Duration) -> Self {
        DriveResult {
            per_type: kinds.iter().map(|k| (*k, TypeStats::new())).collect(),
            measured,
            committed: 0,
            failed: 0,
            failures: Vec::new(),
            load: LoadReport::default(),
            executed_us: histogram(),
            commit_wait_us: histogram(),
            batch_interval_us: histogram(),
            batches_seen: HashSet::new(),
            visibility_us: None,
            quiesce: None,
            injected_delay_us: None,
        }
    }

    /// Records only the latency of an op that arrived in the window and completed after it
    /// (the open loop charges it; the throughput counts completions in the window only).
    pub fn record_latency_only(&mut self, kind: &'static str, done: &Done) {
        let stats = self.per_type.entry(kind).or_default();
        let _ = stats
            .latency_us
            .record(done.latency.as_micros().max(1) as u64);
    }

    /// Counts a completion inside the measured window: committed with its latency, or failed
    /// with its reason (the first few kept).
    pub fn record(&mut self, kind: &'static str, done: Done) {
        let stats = self.per_type.entry(kind).or_default();
        match done.result {
            Ok(()) => {
                stats.committed += 1;
                self.committed += 1;
                let _ = stats
                    .latency_us
                    .record(done.latency.as_micros().max(1) as u64);
                if let Some(c) = done.commit {
                    if let Some((executed, wait)) = c.split {
                        let _ = self.executed_us.record(executed.as_micros().max(1) as u64);
                        let _ = self.commit_wait_us.record(wait.as_micros().max(1) as u64);
                    }
                    if self.batches_seen.insert(c.batch) {
                        let us = c.batch_interval.as_micros().max(1) as u64;
                        let _ = self.batch_interval_us.record(us);
                    }
                }
            }
            Err(e) => {
                stats.failed += 1;
                self.failed += 1;
                if self.failures.len() < 10 {
                    self.failures.push(format!("{kind}: {e}"));
                }
            }
        }
    }

    pub fn throughput(&self) -> f64 {
        self.committed as f64 / self.measured.as_secs_f64().max(1e-9)
    }
}

/// Progress as the driver reports it: elapsed, committed in the window so far.
pub type Progress<'a> = dyn FnMut(Duration, u64) + 'a;

pub fn drive(
    system: &mut dyn MarketplaceSystem,
    generator: &mut InputGenerator,
    config: &DriveConfig,
    progress: &mut Progress<'_>,
) -> DriveResult {
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    system.measure_visibility(measure_from, end);
    let mut in_flight: HashMap<u64, (Op, Vec<Gate>)> = HashMap::new();
    // Gates held by ops in flight; an op is submitted only when none of its gates is held, so
    // each gate has at most one holder.
    let mut held: HashSet<Gate> = HashSet::new();
    // The next op of the stream, waiting for its gates.
    let mut head: Option<(Op, Vec<Gate>)> = None;
    let mut next_id = 0u64;
    let mut result = DriveResult::new(&KINDS, config.duration);
    let mut last_progress = start;
    loop {
        let now = Instant::now();
        if now < end {
            let mut refused = 0;
            while in_flight.len() < config.concurrency && refused < 8 {
                let (op, gates) = head.take().unwrap_or_else(|| {
                    let op = generator.next_op();
                    let gates = generator.gates(&op);
                    (op, gates)
                });
                if gates.iter().any(|g| held.contains(g)) {
                    head = Some((op, gates));
                    break; // head of line: wait for completions
                }
                next_id += 1;
                match system.submit(next_id, &op) {
                    Ok(()) => {
                        held.extend(gates.iter().copied());
                        in_flight.insert(next_id, (op, gates));
                    }
                    Err(e) => {
                        refused += 1;
                        if result.failures.len() < 10 {
                            result.failures.push(format!("submit {}: {e}", op.kind()));
                        }
                    }
                }
            }
        } else if in_flight.is_empty() {
            break;
        }
        for done in system.poll(Duration::from_millis(1)) {
            let Some((op, gates)) = in_flight.remove(&done.id) else {
                continue;
            };
            for g in &gates {
                held.remove(g);
            }
            let at = Instant::now();
            if at < measure_from || at > end {
                continue; // warm-up, or after the window: not measured
            }
            result.record(op.kind(), done);
        }
        if last_progress.elapsed() >= Duration::from_millis(100) {
            last_progress = Instant::now();
            progress(start.elapsed(), result.committed);
        }
        if Instant::now() > end + Duration::from_secs(60) || system.fatal().is_some() {
            break; // the system stopped answering; the caller reports what is missing
        }
    }
    progress(start.elapsed(), result.committed);
    result
}

/// Open-loop marketplace: arrivals at `load`'s rate take the generator's stream in order; an
/// arrival whose gate is held waits (charged from its arrival), see [`crate::open_loop`].
pub fn drive_open(
    system: &mut dyn MarketplaceSystem,
    generator: &mut InputGenerator,
    config: &DriveConfig,
    load: &OpenLoad,
    progress: &mut Progress<'_>,
) -> DriveResult {
    let next = || {
        let op = generator.next_op();
        let gates = generator.gates(&op);
        let kind = op.kind();
        (op, gates, kind)
    };
    let from = Instant::now() + config.warmup;
    system.measure_visibility(from, from + config.duration);
    open_loop::drive(
        system,
        load,
        config.warmup,
        config.duration,
        &KINDS,
        next,
        progress,
    )
}

impl open_loop::Target for dyn MarketplaceSystem + '_ {
    type Op = Op;
    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
        MarketplaceSystem::submit(self, id, op)
    }
    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        MarketplaceSystem::poll(self, wait)
    }
    fn fatal(&self) -> Option<String> {
        MarketplaceSystem::fatal(self)
    }
}
