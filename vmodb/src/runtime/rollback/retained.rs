//! A service's record of its uncommitted tasks: footprint and write set per TID, kept until the
//! task's batch commits so a rollback round can list footprints and drop versions.

use crate::model::schema::Tid;
use crate::runtime::scheduler::Footprint;
use crate::storage::store::Store;
use crate::storage::tx::WriteSet;
use std::collections::BTreeMap;

struct Task {
    footprint: Footprint,
    writes: WriteSet,
}

/// Kept in TID order, so a commit splits off the committed prefix instead of scanning.
#[derive(Default)]
pub(crate) struct Retained {
    tasks: BTreeMap<Tid, Task>,
}

/// Tasks forgotten at a commit: drop them after releasing the service's lock.
pub(crate) struct Committed(#[allow(dead_code)] BTreeMap<Tid, Task>);

impl Retained {
    /// Records an executed task, replacing what an earlier execution of its TID left (markers
    /// and undecodable payloads touch nothing: not kept).
    pub fn record(&mut self, tid: Tid, footprint: Footprint, writes: WriteSet) {
        if footprint == Footprint::Empty {
            self.tasks.remove(&tid);
        } else {
            self.tasks.insert(tid, Task { footprint, writes });
        }
    }

    /// The footprint `tid` had when it last executed here, if it touched anything.
    pub fn footprint(&self, tid: Tid) -> Option<&Footprint> {
        self.tasks.get(&tid).map(|t| &t.footprint)
    }

    /// Footprints of the tasks from `from` on, ascending.
    pub fn footprints_from(&self, from: Tid) -> Vec<(Tid, Footprint)> {
        self.tasks
            .range(from..)
            .map(|(t, task)| (*t, task.footprint.clone()))
            .collect()
    }

    /// Drops the versions `tid` wrote here; its footprint stays listed.
    pub fn undo(&mut self, store: &Store, tid: Tid) {
        if let Some(task) = self.tasks.get_mut(&tid) {
            std::mem::take(&mut task.writes).undo(store, tid);
        }
    }

    /// Forgets the tasks of committed batches (up to `watermark`).
    pub fn commit(&mut self, watermark: Tid) -> Committed {
        let kept = self.tasks.split_off(&(watermark + 1));
        Committed(std::mem::replace(&mut self.tasks, kept))
    }
}
