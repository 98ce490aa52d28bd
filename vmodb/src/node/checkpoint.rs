//! A service's side of checkpoints: written when the coordinator marks a commit, from a
//! snapshot pinned at that commit, on a thread of its own so that tasks go on meanwhile.

use super::ServiceNode;
use crate::message::{BatchId, Message, NodeId};
use crate::schema::Tid;
use std::sync::Arc;

impl ServiceNode {
    /// Writes checkpoints to `dir` when the coordinator asks.
    pub fn keep_checkpoints(&self, dir: crate::durability::CheckpointDir) {
        let _ = self.checkpoints.set(dir);
    }

    /// Writes a checkpoint of the committed batch `batch` (watermark `max_tid`) on a thread of
    /// its own, reading a pinned snapshot while tasks go on, then deletes checkpoints older
    /// than `keep_from` and tells the coordinator.
    pub(crate) fn checkpoint(self: &Arc<Self>, batch: BatchId, max_tid: Tid, keep_from: BatchId) {
        let pin = self.store.pin_snapshot();
        debug_assert_eq!(
            pin.at, max_tid,
            "the checkpoint reads the batch just committed"
        );
        let node = Arc::clone(self);
        let write = move || {
            crate::durability::yield_cpu_to_workers();
            let error = match node.checkpoints.get() {
                None => Some("this service has no data directory".to_string()),
                Some(dir) => match node.store.checkpoint_tables(pin.at) {
                    Err(e) => Some(e),
                    Ok(tables) => {
                        let checkpoint = crate::durability::Checkpoint {
                            batch,
                            tid: pin.at,
                            tables,
                        };
                        drop(pin);
                        dir.write(&checkpoint)
                            .and_then(|_| dir.prune(keep_from, batch))
                            .err()
                            .map(|e| e.to_string())
                    }
                },
            };
            let message = Message::Checkpointed {
                service: node.id,
                batch,
                error,
            };
            node.transport()
                .send(NodeId::Service(node.id), NodeId::Coordinator, message);
        };
        let spawned = std::thread::Builder::new()
            .name("vmodb-checkpoint".into())
            .spawn(write);
        let previous = match spawned {
            Ok(handle) => self.checkpointing.lock().replace(handle),
            Err(e) => {
                let message = Message::Checkpointed {
                    service: self.id,
                    batch,
                    error: Some(format!("no checkpoint thread: {e}")),
                };
                self.transport()
                    .send(NodeId::Service(self.id), NodeId::Coordinator, message);
                None
            }
        };
        // One checkpoint at a time: the previous one answered before this was asked for.
        if let Some(h) = previous {
            let _ = h.join();
        }
    }

    /// Waits for the checkpoint being written, if any (a node that stops leaves no writer
    /// behind in its data directory).
    pub(crate) fn wait_checkpoint(&self) {
        let handle = self.checkpointing.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}
