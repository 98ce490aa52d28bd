//! The storage layer: per-service multi-version stores (`store`), the transaction context that
//! reads and writes them (`tx`), and the log file format (`wal`). Imports only the model.

pub(crate) mod store;
pub(crate) mod tx;
pub mod wal;
