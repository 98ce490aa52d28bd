//! Durability: the coordinator's commit log (`log.rs`, over `wal.rs`), the services'
//! checkpoints (`checkpoint.rs`), and recovery from them. See ARCHITECTURE.md, "Durability".

pub mod checkpoint;
pub(crate) mod data_dir;
pub mod log;
pub(crate) mod writer;

pub use checkpoint::{Checkpoint, CheckpointDir, yield_cpu_to_workers};
pub use log::{LogRecord, LoggedBatch, RecoveryPlan};

/// The identity written in the coordinator's log directory: the application's fingerprint and
/// the settings that decide the data (`NodeOptions::state_settings`, one `key = value` per
/// line; empty when embedded). Only these bind a directory, and a mismatch names them.
pub fn coordinator_identity(fingerprint: u64, settings: &str) -> String {
    format!("vmodb coordinator, application {fingerprint:016x}\n{settings}")
        .trim_end()
        .to_string()
}

/// The identity written in a service's checkpoint directory.
pub fn service_identity(service: &str, fingerprint: u64, settings: &str) -> String {
    format!("vmodb service `{service}`, application {fingerprint:016x}\n{settings}")
        .trim_end()
        .to_string()
}
