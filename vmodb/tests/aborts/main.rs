//! Cross-service aborts (issue 8): rollback rounds must make a transaction that fails anywhere
//! leave no trace anywhere, re-execute what read its writes, and tell every client the outcome
//! serial execution in TID order gives.
//!
//! - `app.rs` (rows and events in `model.rs`): a four-service application (chains, a fork, single-service transactions; single,
//!   partitioned and parallel handlers; read-only ones) with failures of every kind injectable
//!   at any service, and state-dependent ones (overdrafts, negative levels, duplicate
//!   registrations).
//! - `run.rs`: runs one workload on a cluster and checks it against serial replay: the state
//!   equals the replay of the committed transactions only (and of all, failures undone), every
//!   client gets each of its outcomes once, each outcome (service and error) is the one replay
//!   finds, each committed output matches the state, and the mode checker saw no violation.
//! - `random.rs`: the property test (random workloads from `strategy.rs`: inputs, failures,
//!   batch settings, clients, link delay). `tests/sim` runs the same workloads under the
//!   simulator.
//! - `focused.rs`: deterministic cases (a chain's last step undoes its first, a reader of an
//!   aborted write is re-executed, a fork's branch undoes its sibling, exactness both ways,
//!   re-executions whose downstream task moves, local failures need no round, and the
//!   regression of a round with only final aborts).

#[path = "../support/mod.rs"]
mod support;

mod app;
mod focused;
mod model;
mod random;
mod run;
mod strategy;
