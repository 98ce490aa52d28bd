//! The baseline's visibility latency: from an operation's submission until every message it
//! caused was handled (`baseline::Effects`), for operations submitted inside the measured
//! window. vMODB needs none: a client hears of a transaction when all of it committed.

use baseline::Effects;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Visibility {
    window: Mutex<Option<(Instant, Instant)>>,
    latency_us: Mutex<Option<Histogram<u64>>>,
}

impl Visibility {
    /// Measures operations submitted in `[from, to)` from now on.
    pub fn measure(&self, from: Instant, to: Instant) {
        *self.window.lock() = Some((from, to));
        *self.latency_us.lock() =
            Some(Histogram::new_with_bounds(1, 600_000_000, 3).expect("bounds"));
    }

    /// The token to trace an operation submitted at `submitted` with, if it is measured.
    pub fn effects(self: &Arc<Self>, submitted: Instant) -> Option<Effects> {
        let (from, to) = (*self.window.lock())?;
        if submitted < from || submitted >= to {
            return None;
        }
        let me = Arc::clone(self);
        let on_applied = Arc::new(move |d: Duration| {
            if let Some(h) = me.latency_us.lock().as_mut() {
                let _ = h.record(d.as_micros().max(1) as u64);
            }
        });
        Some(Effects::new(submitted, on_applied))
    }

    /// What was measured (`None` if nothing was asked).
    pub fn histogram(&self) -> Option<Histogram<u64>> {
        self.latency_us.lock().clone()
    }
}
