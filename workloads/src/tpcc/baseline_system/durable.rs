//! Durability for TPC-C on the baseline (`vbench run --workload tpcc --durability fsync`), as the
//! marketplace's (`marketplace::baseline_system::durable`): each writing transaction's input is
//! logged to an [`AppendLog`] when it starts, and the driver hears of its completion only once
//! that record is synced, the rule vMODB's commit log keeps. Order-Status and Stock-Level are
//! read-only and not logged, as vMODB logs no query.

use crate::tpcc::generator::TpccOp;
use baseline::AppendLog;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// One logged transaction: the driver's id and the terminal's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedTpccOp<'a> {
    pub id: u64,
    pub op: Cow<'a, TpccOp>,
}

/// The log record of transaction `id`, or `None` for a read-only one.
pub(super) fn record(id: u64, op: &TpccOp) -> Result<Option<Vec<u8>>, String> {
    if matches!(op, TpccOp::OrderStatus(_) | TpccOp::StockLevel(_)) {
        return Ok(None);
    }
    let logged = LoggedTpccOp {
        id,
        op: Cow::Borrowed(op),
    };
    postcard::to_allocvec(&logged)
        .map(Some)
        .map_err(|e| format!("cannot encode the log record: {e}"))
}

/// Decodes a record written by the baseline's TPC-C log.
pub fn decode(bytes: &[u8]) -> Result<LoggedTpccOp<'static>, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("not a baseline TPC-C log record: {e}"))
}

/// Opens the log of a run, naming the file in the error.
pub(super) fn open(path: &std::path::Path) -> Result<AppendLog, String> {
    AppendLog::open(path).map_err(|e| format!("cannot open the log {}: {e}", path.display()))
}
