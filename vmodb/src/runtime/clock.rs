//! Time as the runtime reads it: given, never taken. A deployment gives the system clock
//! (`deploy::threads::SystemClock`); the simulator gives its virtual time, so batch
//! windows, checkpoint cadence, latencies and the transactions' timestamps all follow the seed
//! there.

use std::time::Duration;

/// Where the coordinator's time comes from. Both readings in µs.
pub(crate) trait Clock: Send + Sync {
    /// Since the Unix epoch: the transactions' timestamps (`TxEnv::timestamp_us`).
    fn wall_us(&self) -> u64;
    /// On a clock that never goes back: windows, latencies, cadences.
    fn mono_us(&self) -> u64;
}

/// `d` in µs; a duration too long to count (`Duration::MAX`: never) is `u64::MAX`.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
