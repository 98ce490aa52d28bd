//! A service's side of checkpoints: written when the coordinator marks a commit, from a
//! snapshot pinned at that commit, off the workers so that tasks go on meanwhile.
//! Incremental (only what changed since this service's previous checkpoint) unless there is
//! none since the service started, or the incremental ones since the last full checkpoint add
//! up to as much as it: then full, so a restore reads at most about twice a full checkpoint.

use super::ServiceNode;
use crate::model::schema::Tid;
use crate::runtime::message::{BatchId, ToCoordinator};
use std::sync::Arc;

/// A checkpoint written: the next one's base.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written {
    batch: BatchId,
    tid: Tid,
    /// Bytes of the last full checkpoint, and of the incremental ones written since.
    full_bytes: u64,
    since_full_bytes: u64,
}

impl ServiceNode {
    /// Writes checkpoints to `dir` when the coordinator asks.
    pub fn keep_checkpoints(&self, dir: crate::durability::CheckpointDir) {
        self.store.track_deletes();
        let _ = self.checkpoints.set(dir);
    }

    /// Writes a checkpoint of the committed batch `batch` (watermark `max_tid`) off the workers
    /// (`Executor::spawn_long`), reading a pinned snapshot while tasks go on, then deletes checkpoints older
    /// than `keep_from` and tells the coordinator.
    pub(crate) fn checkpoint(self: &Arc<Self>, batch: BatchId, max_tid: Tid, keep_from: BatchId) {
        let pin = self.store.pin_snapshot();
        debug_assert_eq!(
            pin.at, max_tid,
            "the checkpoint reads the batch just committed"
        );
        let node = Arc::clone(self);
        let write = move || {
            let error = match node.checkpoints.get() {
                None => Some("this service has no data directory".to_string()),
                Some(dir) => node.write_checkpoint(dir, pin, batch, keep_from).err(),
            };
            let message = ToCoordinator::Checkpointed {
                service: node.id,
                batch,
                error,
            };
            node.transport().to_coordinator(message);
        };
        // Under the simulator, a job it runs when its seed says: before it, no checkpoint file.
        let previous = match self.pool.spawn_long(write) {
            Ok(waiter) => self.checkpointing.lock().replace(waiter),
            Err(e) => {
                let message = ToCoordinator::Checkpointed {
                    service: self.id,
                    batch,
                    error: Some(format!("cannot write a checkpoint: {e}")),
                };
                self.transport().to_coordinator(message);
                None
            }
        };
        // One checkpoint at a time: the previous one answered before this was asked for.
        if let Some(wait) = previous {
            wait();
        }
    }

    /// Writes the checkpoint of `batch` from the snapshot `pin` holds into `dir`: incremental
    /// over this service's last one while those since the last full one add up to less than
    /// it, full otherwise. Then prunes what `keep_from` no longer needs.
    fn write_checkpoint(
        &self,
        dir: &crate::durability::CheckpointDir,
        pin: crate::storage::store::SnapshotPin,
        batch: BatchId,
        keep_from: BatchId,
    ) -> Result<(), String> {
        let base = (*self.last_checkpoint.lock()).filter(|l| l.since_full_bytes < l.full_bytes);
        let (tid, started) = (pin.at, std::time::Instant::now());
        let written = (self.store)
            .checkpoint_tables(tid, base.map(|b| b.tid))
            .and_then(|tables| {
                drop(pin);
                let checkpoint = crate::durability::Checkpoint {
                    batch,
                    tid,
                    base: base.map(|b| b.batch),
                    tables,
                };
                dir.write(&checkpoint).map_err(|e| e.to_string())?;
                Ok(checkpoint.bytes())
            });
        let bytes = match written {
            Ok(bytes) => bytes,
            Err(e) => {
                // The deletes listed up to here may be gone: the next checkpoint is full.
                *self.last_checkpoint.lock() = None;
                return Err(e);
            }
        };
        *self.last_checkpoint.lock() = Some(match base {
            Some(b) => Written {
                batch,
                tid,
                since_full_bytes: b.since_full_bytes + bytes,
                ..b
            },
            None => Written {
                batch,
                tid,
                full_bytes: bytes,
                since_full_bytes: 0,
            },
        });
        tracing::debug!(
            service = self.id,
            batch,
            incremental = base.is_some(),
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        dir.prune(keep_from, batch)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Waits for the checkpoint being written, if any (a node that stops leaves no writer
    /// behind in its data directory).
    pub(crate) fn wait_checkpoint(&self) {
        let waiter = self.checkpointing.lock().take();
        if let Some(wait) = waiter {
            wait();
        }
    }
}
