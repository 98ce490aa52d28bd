//! The eventually consistent peer vMODB is compared against: Orleans-style virtual actors on
//! the kameo actor framework, the design most teams use today (see ARCHITECTURE.md, "Baseline").
//!
//! - [`grain`]: grains addressed by type and key, activated on first message, one message at a
//!   time; `ask` for requests, `tell` for one-way messages.
//! - [`silo`]: the runtime, the logical clock, injected jitter on one-way messages, quiescence.
//! - [`effects`]: an operation followed through every message it causes (visibility latency).
//! - [`append_log`]: an append-only log with group commit on its own thread, for runs with
//!   durability (`--durability fsync`), the counterpart of vMODB's write-ahead log.
//!
//! There are no transactions and no compensation: a workload written on it gets exactly the
//! consistency that message order and single-threaded grains give.

pub mod append_log;
pub mod effects;
pub mod grain;
pub mod silo;
mod timer;

pub use append_log::{AppendLog, AppendLogStats, Ticket};
pub use effects::{Effects, traced};
pub use grain::{Directory, Grain, Handles, World, ask, tell};
pub use silo::{Jitter, Silo, SiloConfig, SiloError};
