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
pub use crate::measure::{CommitTiming, Done, DriveResult, TypeStats};
use crate::open_loop::{self, OpenLoad};
use crate::probes::Probes;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

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
