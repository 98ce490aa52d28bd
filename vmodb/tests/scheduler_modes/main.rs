//! Execution modes: the per-service chain (`vmodb::internals::Chain`) as pure logic, then the same
//! rules observed on a running cluster through handlers that log when they run.
//!
//! Rules (module doc of `scheduler.rs`): a running read-only task never blocks later tasks; a
//! single task conflicts with every running writer; a parallel task with running single and
//! partitioned writers; a partitioned task with running single, parallel and key-sharing
//! partitioned writers; a read-only candidate conflicts like a writer would. An empty footprint
//! (nothing to run) touches nothing.

#[path = "../support/mod.rs"]
mod support;

mod chain;
mod cluster;
mod foreign_keys;
mod modes;
mod pipeline;
