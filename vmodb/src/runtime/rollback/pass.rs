//! Which transactions a rollback round aborts and which it re-executes.

use crate::model::schema::Tid;
use crate::runtime::message::ServiceId;
use crate::runtime::scheduler::{Footprint, Running};
use std::collections::BTreeMap;

/// A failed transaction, as a round sees it.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The failure left writes at other services (`DagNode::cascades`).
    pub cascades: bool,
    /// Services where a task of it failed. A failed task's writes were undone before any later
    /// task of its service could read them, so it changes nothing for them.
    pub at: smallvec::SmallVec<[ServiceId; 2]>,
}

/// What changed since the tasks listed last executed.
#[derive(Default, Debug, Clone)]
pub(crate) struct Seeds {
    /// Failed transactions.
    pub failures: BTreeMap<Tid, Failure>,
    /// Re-executed tasks whose footprint now reaches beyond the one they had (service, TID).
    pub widened: Vec<(ServiceId, Tid)>,
}

impl Seeds {
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty() && self.widened.is_empty()
    }

    pub fn fail(&mut self, tid: Tid, cascades: bool, at: ServiceId) {
        let f = self.failures.entry(tid).or_default();
        f.cascades |= cascades;
        if !f.at.contains(&at) {
            f.at.push(at);
        }
    }
}

#[derive(Default, Debug, PartialEq, Eq)]
pub(crate) struct RoundPlan {
    /// Final aborts, ascending.
    pub aborted: Vec<Tid>,
    /// Aborted transactions whose writes elsewhere must be dropped, ascending.
    pub undo_aborted: Vec<Tid>,
    /// Transactions to roll back and re-execute, ascending.
    pub rerun: Vec<Tid>,
}

/// Plans a round. `tasks[s]` lists service `s`'s uncommitted tasks (any order); markers are
/// absent. Tasks before the lowest seed are untouched.
///
/// Why this is exact: a task's result can change only if it reads something written by an
/// earlier task whose effects change (aborted, or re-executed), and by the mode rules (verified
/// by the mode checker) that needs their footprints to conflict at the same service. Walking in
/// TID order, every such earlier task has been classified before the later one is looked at.
pub(crate) fn plan_round(seeds: &Seeds, tasks: &[Vec<(Tid, Footprint)>]) -> RoundPlan {
    let mut plan = RoundPlan::default();
    let Some(start) = seeds
        .failures
        .keys()
        .copied()
        .chain(seeds.widened.iter().map(|(_, t)| *t))
        .min()
    else {
        return plan;
    };
    let mut by_tid: BTreeMap<Tid, Vec<(usize, &Footprint)>> = BTreeMap::new();
    for (s, list) in tasks.iter().enumerate() {
        for (tid, f) in list {
            if *tid >= start {
                by_tid.entry(*tid).or_default().push((s, f));
            }
        }
    }
    for tid in seeds.failures.keys() {
        by_tid.entry(*tid).or_default();
    }
    let mut widened: BTreeMap<Tid, Vec<usize>> = BTreeMap::new();
    for (s, tid) in &seeds.widened {
        widened.entry(*tid).or_default().push(*s as usize);
    }
    let mut changed: Vec<Running> = (0..tasks.len()).map(|_| Running::default()).collect();
    for (tid, entries) in &by_tid {
        let affected = entries.iter().any(|(s, f)| changed[*s].conflicts(f));
        match seeds.failures.get(tid) {
            Some(failure) if !affected => {
                plan.aborted.push(*tid);
                if failure.cascades {
                    plan.undo_aborted.push(*tid);
                    // Its surviving writes go: later tasks that may have read them change.
                    for (s, f) in entries {
                        if !failure.at.contains(&(*s as ServiceId)) {
                            changed[*s].add(f);
                        }
                    }
                }
            }
            _ if affected => {
                plan.rerun.push(*tid);
                for (s, f) in entries {
                    changed[*s].add(f);
                }
            }
            _ => {}
        }
        // A kept task that now writes beyond its old footprint: anything later at that service
        // may have missed its writes.
        for s in widened.get(tid).into_iter().flatten() {
            if let Some(c) = changed.get_mut(*s) {
                c.add(&Footprint::Single { writes: true });
            }
        }
    }
    plan
}

/// Whether a re-executed task's new footprint stays within its old one (`None`: it was a marker
/// or absent), i.e. every later task that conflicts with `new` also conflicted with `old`.
pub(crate) fn within(new: &Footprint, old: Option<&Footprint>) -> bool {
    if !new.writes() {
        return true;
    }
    let Some(old) = old else {
        return false;
    };
    match (new, old) {
        (_, Footprint::Single { writes: true }) => true,
        (Footprint::Parallel { .. }, Footprint::Parallel { writes: true }) => true,
        (
            Footprint::Partitioned { keys: new, .. },
            Footprint::Partitioned {
                writes: true,
                keys: old,
            },
        ) => new.iter().all(|k| old.contains(k)),
        _ => false,
    }
}
