//! A data directory: `coordinator/` holds the commit log, `<service>/` each service's
//! checkpoints. The embedded cluster keeps all of them under one directory; in the distributed
//! deployment each node uses its own part (and may have a directory of its own).

use super::log::{LogRecord, RecoveryPlan};
use super::{CheckpointDir, coordinator_identity, service_identity};
use crate::app::App;
use crate::error::BootstrapError;
use crate::message::BatchId;
use crate::schema::Tid;
use crate::store::Store;
use crate::wal::Wal;
use std::path::Path;

/// Opens the coordinator's log under `dir` and reads what recovery must do. A directory of
/// another application, a damaged log (other than a torn tail, which is cut) or an
/// inconsistent one is refused.
pub fn open_log(
    app: &App,
    dir: &Path,
    segment_bytes: u64,
) -> Result<(Wal, RecoveryPlan), BootstrapError> {
    let dir = dir.join("coordinator");
    let identity = coordinator_identity(app.fingerprint());
    let (wal, found) = Wal::open::<LogRecord>(&dir, &identity, segment_bytes)
        .map_err(|e| BootstrapError(format!("commit log: {e}")))?;
    if found.cut_bytes > 0 {
        crate::node::log_warning(&format!(
            "commit log {}: cut a torn tail of {} bytes (a commit step that never became durable)",
            dir.display(),
            found.cut_bytes
        ));
    }
    let plan = RecoveryPlan::from_records(found.records)
        .map_err(|e| BootstrapError(format!("commit log {}: {e}", dir.display())))?;
    Ok((wal, plan))
}

/// The checkpoint directory of service `service` under `dir`.
pub fn checkpoint_dir(
    app: &App,
    dir: &Path,
    service: usize,
) -> Result<CheckpointDir, BootstrapError> {
    let name = &app.services[service].name;
    CheckpointDir::open(&dir.join(name), &service_identity(name, app.fingerprint()))
        .map_err(|e| BootstrapError(format!("service `{name}`: {e}")))
}

/// Fills the empty `store` from checkpoint `(batch, tid)` in `dir`.
pub(crate) fn restore(
    store: &Store,
    dir: &CheckpointDir,
    service: &str,
    (batch, tid): (BatchId, Tid),
) -> Result<(), BootstrapError> {
    let fail = |why: String| {
        BootstrapError(format!(
            "service `{service}` cannot restore checkpoint of batch {batch}: {why}"
        ))
    };
    let checkpoint = dir.read(batch).map_err(|e| fail(e.to_string()))?;
    if checkpoint.tid != tid {
        return Err(fail(format!(
            "it was taken at TID {}, the log says {tid}",
            checkpoint.tid
        )));
    }
    store.restore(&checkpoint.tables, tid).map_err(fail)
}
