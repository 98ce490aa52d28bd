//! The open-loop driver: operations arrive at a set rate whatever the system does, as users of
//! a web shop do, and each one's latency runs from its *intended* start (its arrival), not from
//! when the driver got to submit it. A system that falls behind is charged for the queue it
//! builds, so its latency percentiles cannot hide a stall (no coordinated omission: the method
//! of wrk2 and HdrHistogram). The closed loop (a fixed number of clients) reports a system's
//! latency floor as its throughput; this one reports what a given load costs.
//!
//! Arrivals are Poisson (exponential gaps) or evenly spaced, seeded, so every system driven
//! with the same seed gets the same arrival times and the same ops.
//!
//! Gates: an arrival that shares a gate (a customer, a product) with an op in flight, or with
//! an earlier arrival still queued, waits in the backlog and is submitted when its gates free,
//! still charged from its arrival. Arrivals with free gates go ahead of it: the backlog keeps
//! the order of ops that share a gate, not of the whole stream.
//!
//! The measured population: every completion inside the window counts for throughput (the
//! achieved rate), and every op that *arrived* inside the window is in the latency histograms,
//! also when it completes after the window; one still queued when the in-flight ops have
//! drained is charged its age at that moment (a lower bound) and counted in `backlog_end`.

pub use crate::measure::LoadReport;
use crate::measure::{Done, DriveResult};
use crate::probes::Probes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrivals {
    /// Exponential gaps with mean 1/rate: independent users.
    Poisson,
    /// Every 1/rate.
    Constant,
}

impl Arrivals {
    pub fn parse(s: &str) -> Option<Arrivals> {
        match s {
            "poisson" => Some(Arrivals::Poisson),
            "constant" => Some(Arrivals::Constant),
            _ => None,
        }
    }
}

/// An open-loop load: `rate` operations per second.
#[derive(Clone, Copy, Debug)]
pub struct OpenLoad {
    pub rate: f64,
    pub arrivals: Arrivals,
    pub seed: u64,
}

/// The arrival times of an open load, as offsets from the start: a function of the seed.
pub struct ArrivalClock {
    gap_s: f64,
    arrivals: Arrivals,
    rng: StdRng,
    next: f64,
}

impl ArrivalClock {
    pub fn new(load: &OpenLoad) -> Self {
        assert!(
            load.rate.is_finite() && load.rate > 0.0,
            "an open load has a positive rate"
        );
        let mut clock = ArrivalClock {
            gap_s: 1.0 / load.rate,
            arrivals: load.arrivals,
            rng: StdRng::seed_from_u64(load.seed ^ 0x6f70_656e_6c6f_6f70),
            next: 0.0,
        };
        clock.next = clock.gap();
        clock
    }

    fn gap(&mut self) -> f64 {
        match self.arrivals {
            Arrivals::Constant => self.gap_s,
            // Inverse transform: -ln(U) / rate, U in (0, 1].
            Arrivals::Poisson => -(1.0 - self.rng.random::<f64>()).ln() * self.gap_s,
        }
    }

    /// The next arrival's offset from the start, if it is at most `now`; advances past it.
    pub fn due(&mut self, now: Duration) -> Option<Duration> {
        let at = Duration::from_secs_f64(self.next);
        if at > now {
            return None;
        }
        self.next += self.gap();
        Some(at)
    }

    /// The offset of the next arrival.
    pub fn peek(&self) -> Duration {
        Duration::from_secs_f64(self.next)
    }
}

/// A system as the open loop sees it (each workload's system trait implements it); its
/// deferred work is sampled every 100 ms.
pub trait Target: Probes {
    type Op;
    fn submit(&mut self, id: u64, op: &Self::Op) -> Result<(), String>;
    fn poll(&mut self, wait: Duration) -> Vec<Done>;
    fn fatal(&self) -> Option<String>;
}

/// One arrival: the op, its gates, its kind, when it arrived.
struct Arrival<Op, G> {
    op: Op,
    gates: Vec<G>,
    kind: &'static str,
    intended: Instant,
    /// When the driver handed it to the system.
    submitted: Instant,
}

/// How far into the backlog one pass looks for an op whose gates are free: bounds a pass's
/// cost when an overloaded system lets the backlog grow without end.
const SCAN_LIMIT: usize = 4096;

/// Drives `target` with arrivals at `load`'s rate for `warmup + duration`, then lets what is in
/// flight finish (at most 60 s). `next` produces the stream: op, gates, kind.
pub fn drive<T: Target + ?Sized, G: Hash + Eq + Copy>(
    target: &mut T,
    load: &OpenLoad,
    warmup: Duration,
    duration: Duration,
    kinds: &[&'static str],
    mut next: impl FnMut() -> (T::Op, Vec<G>, &'static str),
    progress: &mut dyn FnMut(Duration, u64),
) -> DriveResult {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut clock = ArrivalClock::new(load);
    let mut result = DriveResult::new(kinds, duration);
    let mut backlog: VecDeque<Arrival<T::Op, G>> = VecDeque::new();
    let mut in_flight: HashMap<u64, Arrival<T::Op, G>> = HashMap::new();
    let mut held: HashSet<G> = HashSet::new();
    let mut report = LoadReport::default();
    let mut next_id = 0u64;
    let mut last_sample = start;
    let mut changed = true;
    let mut window_closed = false;
    loop {
        let now = Instant::now();
        if now < end {
            while let Some(at) = clock.due(now - start) {
                let (op, gates, kind) = next();
                let intended = start + at;
                if intended >= measure_from {
                    report.arrived += 1;
                }
                backlog.push_back(Arrival {
                    op,
                    gates,
                    kind,
                    intended,
                    submitted: intended,
                });
                changed = true;
            }
            if changed {
                changed = false;
                submit_free(
                    target,
                    &mut backlog,
                    &mut in_flight,
                    &mut held,
                    &mut next_id,
                    &mut result,
                );
            }
        } else if !window_closed {
            window_closed = true;
            report.backlog_end = backlog.len() as u64;
            report.in_flight_end = in_flight.len() as u64;
        }
        if window_closed && in_flight.is_empty() {
            break;
        }
        let wait = if window_closed {
            Duration::from_millis(1)
        } else {
            (start + clock.peek())
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(1))
        };
        for done in target.poll(wait) {
            let Some(a) = in_flight.remove(&done.id) else {
                continue;
            };
            for g in &a.gates {
                held.remove(g);
            }
            changed = true;
            let at = Instant::now();
            // Charged from the arrival: the wait in the backlog plus the system's latency.
            let done = Done {
                latency: (a.submitted - a.intended) + done.latency,
                ..done
            };
            if at >= measure_from && at <= end {
                result.record(a.kind, done);
            } else if a.intended >= measure_from && a.intended < end {
                result.record_latency_only(a.kind, &done);
            }
        }
        if last_sample.elapsed() >= Duration::from_millis(100) {
            last_sample = Instant::now();
            if let Some(n) = target.deferred_backlog() {
                report
                    .deferred_samples
                    .push(((last_sample - start).as_secs_f64(), n));
            }
            progress(start.elapsed(), result.committed);
        }
        if Instant::now() > end + Duration::from_secs(60) || target.fatal().is_some() {
            break;
        }
    }
    // Never submitted: charged their age now (a lower bound on what they would have waited).
    let now = Instant::now();
    for a in backlog {
        if a.intended >= measure_from && a.intended < end {
            let done = Done::new(0, now - a.intended, Err("never submitted".into()));
            result.record_latency_only(a.kind, &done);
        }
    }
    report.offered_tps = Some(report.arrived as f64 / duration.as_secs_f64().max(1e-9));
    result.load = report;
    progress(start.elapsed(), result.committed);
    result
}

/// Submits, in backlog order, every queued op whose gates are free of ops in flight and of
/// earlier queued ops (so ops that share a gate keep their order).
fn submit_free<T: Target + ?Sized, G: Hash + Eq + Copy>(
    target: &mut T,
    backlog: &mut VecDeque<Arrival<T::Op, G>>,
    in_flight: &mut HashMap<u64, Arrival<T::Op, G>>,
    held: &mut HashSet<G>,
    next_id: &mut u64,
    result: &mut DriveResult,
) {
    let mut blocked: HashSet<G> = HashSet::new();
    let mut i = 0;
    let mut refused = 0;
    while i < backlog.len().min(SCAN_LIMIT) && refused < 8 {
        let a = &backlog[i];
        if a.gates
            .iter()
            .any(|g| held.contains(g) || blocked.contains(g))
        {
            blocked.extend(a.gates.iter().copied());
            i += 1;
            continue;
        }
        *next_id += 1;
        let submitted = Instant::now();
        match target.submit(*next_id, &a.op) {
            Ok(()) => {
                let Some(mut a) = backlog.remove(i) else {
                    break;
                };
                a.submitted = submitted;
                held.extend(a.gates.iter().copied());
                in_flight.insert(*next_id, a);
            }
            Err(e) => {
                // Stays queued (and charged); tried again on the next pass.
                refused += 1;
                if result.failures.len() < 10 {
                    result.failures.push(format!("submit {}: {e}", a.kind));
                }
                blocked.extend(a.gates.iter().copied());
                i += 1;
            }
        }
    }
}

/// The gate type of a stream without gates (TPC-C's open loop).
pub type NoGate = u8;
