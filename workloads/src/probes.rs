//! What a driver reads from a system besides its completions, the same for every workload:
//! the work it accepted but has not applied yet, when all of an operation's effects were
//! applied, and the delays injected into its messages. vMODB answers only when everything is
//! applied, so it has no deferred work and no separate visibility latency.

use hdrhistogram::Histogram;
use std::time::Instant;

pub trait Probes {
    /// Accepted work not yet applied (the baseline's undelivered one-way messages), sampled
    /// during the run; `None`: the system defers nothing past its answer.
    fn deferred_backlog(&self) -> Option<u64> {
        None
    }
    /// Measure, for operations submitted in `[from, to)`, when all their effects were applied
    /// (a system that answers before then: the baseline's one-way messages).
    fn measure_visibility(&mut self, _from: Instant, _to: Instant) {}
    /// What `measure_visibility` measured (µs); `None` for a system that answers only when
    /// everything is applied.
    fn visibility(&self) -> Option<Histogram<u64>> {
        None
    }
    /// The injected delays its messages between services got (µs; `None` without jitter).
    fn injected_delays(&self) -> Option<Histogram<u64>> {
        None
    }
}
