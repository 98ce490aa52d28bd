//! What a run measures, whatever drives it (the closed-loop driver, an open load) and whatever
//! the workload: an operation's end (`Done`), per-type counts and latency (`DriveResult`), and
//! what an open load offered and left behind (`LoadReport`).

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

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

/// What an open-loop run measured beyond `DriveResult`'s counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Arrivals per second inside the window (`None`: a closed loop).
    pub offered_tps: Option<f64>,
    /// Arrivals inside the window.
    pub arrived: u64,
    /// Arrivals not yet submitted when the window ended.
    pub backlog_end: u64,
    /// Ops submitted and not completed when the window ended.
    pub in_flight_end: u64,
    /// The system's deferred work (e.g. undelivered one-way messages), sampled: (seconds since
    /// the start, count).
    pub deferred_samples: Vec<(f64, u64)>,
}

impl LoadReport {
    /// The largest sampled deferred backlog inside the window.
    pub fn deferred_max(&self, from_s: f64) -> Option<u64> {
        self.deferred_samples
            .iter()
            .filter(|(t, _)| *t >= from_s)
            .map(|(_, n)| *n)
            .max()
    }

    /// Whether the deferred backlog grew over the window: the mean of its last quarter exceeds
    /// the first quarter's by more than `slack` messages and by half. A rate whose one-way work
    /// piles up is not sustained, whatever the client saw.
    pub fn deferred_grows(&self, from_s: f64, slack: u64) -> bool {
        let inside: Vec<u64> = self
            .deferred_samples
            .iter()
            .filter(|(t, _)| *t >= from_s)
            .map(|(_, n)| *n)
            .collect();
        if inside.len() < 8 {
            return false;
        }
        let q = inside.len() / 4;
        let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len() as f64;
        let (first, last) = (mean(&inside[..q]), mean(&inside[inside.len() - q..]));
        last > first * 1.5 && last - first > slack as f64
    }
}
