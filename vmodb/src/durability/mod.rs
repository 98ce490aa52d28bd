//! Durability: the coordinator's commit log (`log.rs`, over `wal.rs`), the services'
//! checkpoints (`checkpoint.rs`), and recovery from them. See ARCHITECTURE.md, "Durability".

pub mod checkpoint;
pub(crate) mod data_dir;
pub mod log;
mod service;
pub(crate) mod writer;

pub use checkpoint::{Checkpoint, CheckpointDir};
pub use log::{LogRecord, LoggedBatch, RecoveryPlan};

/// The identity written in the coordinator's log directory: the application's fingerprint and
/// a digest of what else decides the data (`NodeOptions::config_digest`; 0 when embedded).
pub fn coordinator_identity(fingerprint: u64, config: u64) -> String {
    format!("vmodb coordinator, application {fingerprint:016x}, configuration {config:016x}")
}

/// The identity written in a service's checkpoint directory.
pub fn service_identity(service: &str, fingerprint: u64, config: u64) -> String {
    format!(
        "vmodb service `{service}`, application {fingerprint:016x}, configuration {config:016x}"
    )
}
