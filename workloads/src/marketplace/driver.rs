//! The closed-loop driver: keeps `concurrency` operations in flight against any system that
//! implements [`MarketplaceSystem`], for a warm-up and a measured window, and records latency per
//! transaction type. Only completions inside the measured window count.

use super::generator::{InputGenerator, KINDS, Op};
use super::{MarketplaceState, RunLog};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// An operation's end, as a system reports it.
#[derive(Clone, Debug)]
pub struct Done {
    pub id: u64,
    /// From submission to the commit notification (or the answer, for queries).
    pub latency: Duration,
    /// `Err(reason)` when the transaction failed or aborted.
    pub result: Result<(), String>,
}

/// A system the marketplace can run on (vMODB, the actor baseline).
pub trait MarketplaceSystem {
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

impl TypeStats {
    fn new() -> Self {
        TypeStats {
            committed: 0,
            failed: 0,
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds"),
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
}

impl DriveResult {
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
    let mut in_flight: HashMap<u64, Op> = HashMap::new();
    let mut next_id = 0u64;
    let mut result = DriveResult {
        per_type: KINDS.iter().map(|k| (*k, TypeStats::new())).collect(),
        measured: config.duration,
        committed: 0,
        failed: 0,
        failures: Vec::new(),
    };
    let mut last_progress = start;
    loop {
        let now = Instant::now();
        if now < end {
            let mut stalled = 0;
            while in_flight.len() < config.concurrency && stalled < 8 {
                let Some(op) = generator.next_op() else {
                    stalled += 1;
                    continue;
                };
                next_id += 1;
                match system.submit(next_id, &op) {
                    Ok(()) => {
                        in_flight.insert(next_id, op);
                    }
                    Err(e) => {
                        generator.release(&op);
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
            let Some(op) = in_flight.remove(&done.id) else {
                continue;
            };
            generator.release(&op);
            let at = Instant::now();
            if at < measure_from || at > end {
                continue; // warm-up, or after the window: not measured
            }
            let stats = result.per_type.get_mut(op.kind()).expect("known kind");
            match done.result {
                Ok(()) => {
                    stats.committed += 1;
                    result.committed += 1;
                    let _ = stats
                        .latency_us
                        .record(done.latency.as_micros().max(1) as u64);
                }
                Err(e) => {
                    stats.failed += 1;
                    result.failed += 1;
                    if result.failures.len() < 10 {
                        result.failures.push(format!("{}: {e}", op.kind()));
                    }
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_millis(100) {
            last_progress = Instant::now();
            progress(start.elapsed(), result.committed);
        }
        if Instant::now() > end + Duration::from_secs(60) {
            break; // the system stopped answering; the caller reports what is missing
        }
    }
    progress(start.elapsed(), result.committed);
    result
}
