//! Keeps foreign-key checks serial. A check reads rows that no execution mode declares (the
//! parent of a child being written, the referrers of a row being deleted), so two tasks the
//! modes let run together may disagree with serial order: a child inserted under a parent an
//! earlier task deletes. A task whose check read such a row while an earlier task of this
//! service was still running (`TxCtx::fk_settled`) is undone and parked here, still counted
//! as running (later conflicting tasks keep waiting), and runs again once no earlier task
//! runs: its checks then read the final versions, as serial execution would.
//!
//! Only stores with foreign keys pay for it: the set of running TIDs is kept only there.

use super::Task;
use crate::model::schema::Tid;
use crate::runtime::scheduler::Slot;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub(super) struct FkGuard {
    /// Admitted tasks not finished (a parked one included).
    running: BTreeSet<Tid>,
    /// Tasks to run again once nothing earlier runs.
    parked: BTreeMap<Tid, Slot<Task>>,
}

impl FkGuard {
    pub fn admitted<'a>(&mut self, slots: impl IntoIterator<Item = &'a Slot<Task>>) {
        self.running.extend(slots.into_iter().map(|s| s.tid));
    }

    /// Whether a task earlier than `tid` is still running.
    pub fn earlier_running(&self, tid: Tid) -> bool {
        self.running.range(..tid).next().is_some()
    }

    pub fn finished(&mut self, tid: Tid) {
        self.running.remove(&tid);
    }

    pub fn park(&mut self, slot: Slot<Task>) {
        debug_assert!(self.running.contains(&slot.tid), "a parked task is running");
        self.parked.insert(slot.tid, slot);
    }

    /// The parked task that may run again now, if any: the earliest, once nothing earlier
    /// runs (a later parked one always has it running before it).
    pub fn ready(&mut self) -> Option<Slot<Task>> {
        let (&tid, _) = self.parked.first_key_value()?;
        if self.earlier_running(tid) {
            return None;
        }
        self.parked.remove(&tid)
    }
}
