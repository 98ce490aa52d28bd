//! A data directory: `coordinator/` holds the commit log, `<service>/` each service's
//! checkpoints. The embedded cluster keeps all of them under one directory; in the distributed
//! deployment each node uses its own part (and may have a directory of its own).

use super::log::{LogRecord, RecoveryPlan};
use super::{CheckpointDir, coordinator_identity, service_identity};
use crate::app::App;
use crate::model::error::BootstrapError;
use crate::model::schema::BatchId;
use crate::model::schema::Tid;
use crate::storage::store::Store;
use crate::storage::wal::Wal;
use std::path::Path;

/// Opens the coordinator's log under `dir` and reads what recovery must do. A directory of
/// another application, a damaged log (other than a torn tail, which is cut) or an
/// inconsistent one is refused; so is a log with transactions to re-execute that another
/// build of the application wrote (`check_build`), unless `allow_new_build`.
pub fn open_log(
    app: &App,
    dir: &Path,
    segment_bytes: u64,
    settings: &str,
    allow_new_build: bool,
) -> Result<(Wal, RecoveryPlan), BootstrapError> {
    let dir = dir.join("coordinator");
    let identity = coordinator_identity(app.fingerprint(), settings);
    let (wal, found) = Wal::open::<LogRecord>(&dir, &identity, segment_bytes)
        .map_err(|e| BootstrapError(format!("commit log: {e}")))?;
    if found.cut_bytes > 0 {
        tracing::warn!(
            "commit log {}: cut a torn tail of {} bytes (a commit step that never became durable)",
            dir.display(),
            found.cut_bytes
        );
    }
    let plan = RecoveryPlan::from_records(found.records)
        .map_err(|e| BootstrapError(format!("commit log {}: {e}", dir.display())))?;
    check_build(app, &dir, !plan.replay.is_empty(), allow_new_build)?;
    Ok((wal, plan))
}

/// The `BUILD` file next to the log names the build that writes it (`App::build_id`).
/// Recovery re-executes logged transactions with this build's handlers: if another build wrote
/// transactions still to re-execute, they might reach another state than the one committed, so
/// starting is refused, or (with `allow_new_build`) goes on with a loud warning. A log with
/// nothing to re-execute just changes hands.
fn check_build(
    app: &App,
    dir: &Path,
    to_reexecute: bool,
    allow_new_build: bool,
) -> Result<(), BootstrapError> {
    let path = dir.join("BUILD");
    let mine = format!("{:016x}", app.build_id());
    let found = std::fs::read_to_string(&path).ok();
    let theirs = found.as_deref().map(str::trim);
    if let Some(theirs) = theirs.filter(|t| *t != mine && to_reexecute) {
        let what = format!(
            "commit log {}: written by build {theirs} of the application, and this is build \
             {mine}; recovery would re-execute its logged transactions with other handler code",
            dir.display()
        );
        if !allow_new_build {
            return Err(BootstrapError(format!(
                "{what}. Refusing to start: run the build that wrote it, or allow a new build \
                 (`--allow-new-build`, `CoordinatorConfig::allow_new_build`) to recover anyway. \
                 Builds that declare one version (`AppBuilder::version`) count as one"
            )));
        }
        tracing::warn!(
            "{what}: going on because a new build is allowed; the recovered state is only right \
             if the handlers behave as before"
        );
    }
    if theirs != Some(mine.as_str()) {
        let tmp = dir.join("BUILD.tmp");
        std::fs::write(&tmp, format!("{mine}\n"))
            .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| BootstrapError(format!("{}: {e}", path.display())))?;
        crate::storage::wal::sync_dir(dir).map_err(|e| BootstrapError(e.to_string()))?;
    }
    Ok(())
}

/// The checkpoint directory of service `service` under `dir`.
pub fn checkpoint_dir(
    app: &App,
    dir: &Path,
    service: usize,
    settings: &str,
) -> Result<CheckpointDir, BootstrapError> {
    let name = &app.services[service].name;
    CheckpointDir::open(
        &dir.join(name),
        &service_identity(name, app.fingerprint(), settings),
    )
    .map_err(|e| BootstrapError(format!("service `{name}`: {e}")))
}

/// Refuses to start service `service` from the initial data when it holds checkpoints while
/// the coordinator's log is empty: the log that named them is missing (or another directory's).
pub(crate) fn check_fresh(dir: &CheckpointDir, service: &str) -> Result<(), BootstrapError> {
    let held = dir.batches().map_err(|e| BootstrapError(e.to_string()))?;
    match held.last() {
        None => Ok(()),
        Some(b) => Err(BootstrapError(format!(
            "service `{service}` holds checkpoints (up to batch {b}) but the coordinator's log \
             has none: the log is missing or from another data directory; refusing to start \
             from the initial data"
        ))),
    }
}

/// The embedded cluster's data directory, opened: the log, what it says to do, and every
/// service's checkpoint directory.
pub(crate) struct Opened {
    pub wal: Wal,
    pub plan: RecoveryPlan,
    pub dirs: Vec<CheckpointDir>,
}

impl Opened {
    pub fn open(
        app: &App,
        dir: &Path,
        segment_bytes: u64,
        allow_new_build: bool,
    ) -> Result<Opened, BootstrapError> {
        let (wal, plan) = open_log(app, dir, segment_bytes, "", allow_new_build)?;
        let dirs = (0..app.services.len())
            .map(|i| checkpoint_dir(app, dir, i, ""))
            .collect::<Result<Vec<_>, _>>()?;
        // Checkpoints without any log: the log is missing. (With a log but no checkpoint
        // record, they are unconfirmed ones a crash left behind, newer than the recovery point.)
        if plan.last_batch == 0 {
            for (i, d) in dirs.iter().enumerate() {
                check_fresh(d, &app.services[i].name)?;
            }
        }
        Ok(Opened { wal, plan, dirs })
    }

    /// The services' stores: restored from the plan's checkpoint, or loaded with `load` when
    /// there is none yet.
    pub fn stores(
        &self,
        app: &App,
        load: impl FnOnce(&crate::app::load::Loader) -> Result<(), BootstrapError>,
    ) -> Result<Vec<std::sync::Arc<Store>>, BootstrapError> {
        if self.plan.checkpoint.0 == 0 {
            return crate::app::load::build_stores(app, load);
        }
        let stores = crate::app::load::build_stores(app, |_| Ok(()))?;
        for (i, (store, dir)) in stores.iter().zip(&self.dirs).enumerate() {
            restore(store, dir, &app.services[i].name, self.plan.checkpoint)?;
        }
        Ok(stores)
    }
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
    // A full checkpoint, then the incremental ones over it, up to `batch`'s.
    let chain = dir.read_chain(batch).map_err(|e| fail(e.to_string()))?;
    let last_tid = chain.last().map_or(0, |c| c.tid);
    if last_tid != tid {
        return Err(fail(format!(
            "it was taken at TID {last_tid}, the log says {tid}"
        )));
    }
    if let Some(w) = chain.windows(2).find(|w| w[1].tid < w[0].tid) {
        return Err(fail(format!(
            "checkpoint of batch {} (TID {}) builds on one taken later (TID {})",
            w[1].batch, w[1].tid, w[0].tid
        )));
    }
    for (i, checkpoint) in chain.iter().enumerate() {
        if i == 0 {
            store.restore(&checkpoint.tables, checkpoint.tid)
        } else {
            store.apply_delta(&checkpoint.tables, checkpoint.tid)
        }
        .map_err(|e| fail(format!("checkpoint of batch {}: {e}", checkpoint.batch)))?;
    }
    Ok(())
}
