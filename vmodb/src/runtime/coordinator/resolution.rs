//! The coordinator's side of rollback rounds (the mechanism is described in `rollback/mod.rs`):
//! pause dispatch, drain, list footprints, plan, roll back, re-execute, repeat until settled.
//!
//! Invariant (enforced in `Coordinator::progress`): no batch commits while a failure that
//! cascades, at a TID of that batch or earlier, is unsettled, and no batch commits while a round
//! runs. Inputs sequenced during a round keep their TIDs and predecessors; only their dispatch
//! waits, so the order every service sees is unchanged.

use super::{Coordinator, Progress, RollbackStats, State};
use crate::model::schema::Tid;
use crate::runtime::message::{BatchId, Envelope, ServiceId, ToCoordinator, ToService};
use crate::runtime::rollback::{Seeds, plan_round};
use crate::runtime::scheduler::Footprint;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) struct Resolution {
    round: u32,
    phase: Phase,
    /// Every dispatched TID belongs to a batch up to this one.
    drain_batch: BatchId,
    /// The last dispatched TID: the round covers the uncommitted TIDs up to it.
    last_dispatched: Tid,
    /// What changed in the executions since the last plan.
    seeds: Seeds,
}

enum Phase {
    /// Waiting until every dispatched transaction has executed everywhere.
    Draining,
    /// Waiting for every service's footprints.
    Listing {
        waiting: Vec<bool>,
        tasks: Vec<Vec<(Tid, Footprint)>>,
    },
    /// Waiting until every service dropped the versions of `rerun` (and of final aborts).
    RollingBack { waiting: Vec<bool>, rerun: Vec<Tid> },
    /// Waiting until every re-executed task ran.
    Rerunning { waiting: Vec<bool> },
}

/// Failures and the rollback rounds that resolve them.
#[derive(Default)]
pub(super) struct RollbackState {
    /// Failures that left writes at other services, not yet resolved by a rollback round.
    pub unsettled: std::collections::BTreeSet<Tid>,
    /// The rollback round in progress; while set, new inputs are sequenced but held.
    pub round: Option<Resolution>,
    pub held: Vec<(ServiceId, Envelope)>,
    pub stats: RollbackStats,
}

impl Coordinator {
    /// A task failed; a failure that cascades must be settled before its batch commits.
    pub(super) fn note_failure(st: &mut State, tid: Tid, cascades: bool, at: ServiceId) {
        match st.rollback.round.as_mut() {
            Some(r) if matches!(r.phase, Phase::Rerunning { .. }) => {
                r.seeds.fail(tid, cascades, at)
            }
            _ if cascades => {
                st.rollback.unsettled.insert(tid);
            }
            _ => {}
        }
    }

    /// Pauses dispatch: seals the open batch (every dispatched TID is then in a sealed batch)
    /// and waits for those batches to execute.
    pub(super) fn start_resolution(&self, st: &mut State) -> Vec<(ServiceId, ToService)> {
        let last_dispatched = st.seq.next_tid - 1;
        let closes = Self::seal(st, last_dispatched);
        st.rollback.stats.resolutions += 1;
        st.rollback.round = Some(Resolution {
            round: 0,
            phase: Phase::Draining,
            drain_batch: st.seq.next_batch - 1,
            last_dispatched,
            seeds: Seeds::default(),
        });
        let mut sends = closes;
        sends.extend(self.drain_step(st));
        sends
    }

    /// While draining: once quiescent, begins round 1 with every failure in flight as a seed.
    pub(super) fn drain_step(&self, st: &mut State) -> Vec<(ServiceId, ToService)> {
        let Some(r) = st.rollback.round.as_ref() else {
            return Vec::new();
        };
        let drained = st
            .batches
            .sealed
            .range(..=r.drain_batch)
            .all(|(_, b)| b.waiting_count == 0);
        if !matches!(r.phase, Phase::Draining) || !drained {
            return Vec::new();
        }
        let last = r.last_dispatched;
        let mut seeds = Seeds::default();
        for (i, rec) in st.records.iter().enumerate() {
            let tid = st.first_tid + i as Tid;
            if tid > last {
                break;
            }
            // The node was checked when the report arrived.
            let node = rec.failure.as_ref().and_then(|(n, ..)| {
                let dag = self.app.dags.get(rec.dag as usize)?;
                dag.nodes.get(*n as usize)
            });
            if let Some(node) = node {
                seeds.fail(tid, node.cascades, node.service as ServiceId);
            }
        }
        self.begin_round(st, seeds)
    }

    fn begin_round(&self, st: &mut State, seeds: Seeds) -> Vec<(ServiceId, ToService)> {
        let services = self.app.services.len();
        let from_tid = st.first_tid;
        // Round ids never repeat within a cluster's life, so a stale reply cannot pass for a
        // current one.
        let round = st.rollback.stats.rounds as u32 + 1;
        let r = st.rollback.round.as_mut().expect("a resolution runs");
        r.round = round;
        r.seeds = seeds;
        r.phase = Phase::Listing {
            waiting: vec![true; services],
            tasks: vec![Vec::new(); services],
        };
        st.rollback.stats.rounds += 1;
        (0..services)
            .map(|s| {
                let to = s as ServiceId;
                (to, ToService::ListTasks { round, from_tid })
            })
            .collect()
    }

    /// `Tasks`, `RolledBack` and `RoundDone` from the services.
    pub(super) fn on_round_message(self: &Arc<Self>, message: ToCoordinator) {
        let progress = {
            let mut st = self.state.lock();
            let sends = match message {
                ToCoordinator::Tasks {
                    service,
                    round,
                    tasks,
                } => self.on_tasks(&mut st, service, round, tasks),
                ToCoordinator::RolledBack { service, round } => {
                    self.on_rolled_back(&mut st, service, round)
                }
                ToCoordinator::RoundDone {
                    service,
                    round,
                    widened,
                } => self.on_round_done(&mut st, service, round, widened),
                _ => None,
            };
            match sends {
                Some(sends) => Progress {
                    sends,
                    ..Progress::default()
                },
                // The resolution ended: dispatch what was held, then commit what may commit.
                None if st.rollback.round.is_none() => {
                    let mut p = self.progress(&mut st);
                    let held = std::mem::take(&mut st.rollback.held);
                    let mut frames: BTreeMap<ServiceId, Vec<Envelope>> = BTreeMap::new();
                    for (s, e) in held {
                        frames.entry(s).or_default().push(e);
                    }
                    let mut sends: Vec<(ServiceId, ToService)> = frames
                        .into_iter()
                        .map(|(s, es)| (s, ToService::Events(es)))
                        .collect();
                    sends.append(&mut p.sends);
                    p.sends = sends;
                    p
                }
                None => Progress::default(),
            }
        };
        self.apply(progress);
    }

    /// The current round, if `round` names it (anything else is a stale or confused message).
    fn current(st: &mut State, round: u32) -> Option<&mut Resolution> {
        st.rollback.round.as_mut().filter(|r| r.round == round)
    }

    fn on_tasks(
        &self,
        st: &mut State,
        service: ServiceId,
        round: u32,
        list: Vec<(Tid, Footprint)>,
    ) -> Option<Vec<(ServiceId, ToService)>> {
        let first = st.first_tid;
        let r = Self::current(st, round)?;
        let Phase::Listing { waiting, tasks } = &mut r.phase else {
            return Some(Vec::new());
        };
        let Some(last) = answer(waiting, service) else {
            return Some(Vec::new());
        };
        if let Some(slot) = tasks.get_mut(service as usize) {
            *slot = list;
        }
        if !last {
            return Some(Vec::new());
        }
        let last = r.last_dispatched;
        let mut tasks = std::mem::take(tasks);
        // Only TIDs in flight and dispatched can change (a confused peer may list others).
        for list in &mut tasks {
            list.retain(|(t, _)| (first..=last).contains(t));
        }
        r.seeds.widened.retain(|(_, t)| (first..=last).contains(t));
        let plan = plan_round(&r.seeds, &tasks);
        debug_assert!(plan.rerun.iter().all(|t| *t <= last));
        let mut undo: Vec<Tid> = plan
            .undo_aborted
            .iter()
            .chain(&plan.rerun)
            .copied()
            .collect();
        undo.sort_unstable();
        if undo.is_empty() {
            self.finish(st);
            return None;
        }
        let mut counts = vec![0u32; self.app.services.len()];
        for tid in &plan.rerun {
            let Some(rec) = st.records.get_mut((tid - first) as usize) else {
                continue; // unreachable: seeds and tasks are in first..=last
            };
            rec.failure = None;
            rec.output = None;
            for s in self.app.dags[rec.dag as usize].participants() {
                counts[s] += 1;
            }
        }
        st.rollback.stats.reexecuted += plan.rerun.len() as u64;
        let r = st.rollback.round.as_mut().expect("a resolution runs");
        r.phase = Phase::RollingBack {
            waiting: vec![true; counts.len()],
            rerun: plan.rerun,
        };
        Some(
            counts
                .iter()
                .enumerate()
                .map(|(s, n)| {
                    let message = ToService::Rollback {
                        round,
                        undo: undo.clone(),
                        rerun: *n,
                    };
                    (s as ServiceId, message)
                })
                .collect(),
        )
    }

    fn on_rolled_back(
        &self,
        st: &mut State,
        service: ServiceId,
        round: u32,
    ) -> Option<Vec<(ServiceId, ToService)>> {
        let r = Self::current(st, round)?;
        let Phase::RollingBack { waiting, rerun } = &mut r.phase else {
            return Some(Vec::new());
        };
        if answer(waiting, service) != Some(true) {
            return Some(Vec::new());
        }
        let rerun = std::mem::take(rerun);
        if rerun.is_empty() {
            // Only final aborts to drop: nothing runs again, nothing new can fail.
            self.finish(st);
            return None;
        }
        let services = self.app.services.len();
        // Re-executed transactions are linked in TID order per service, among themselves only:
        // everything else here has executed and stays.
        let mut last_at = vec![0 as Tid; services];
        let mut expecting = vec![false; services];
        let mut frames: BTreeMap<ServiceId, Vec<Envelope>> = BTreeMap::new();
        for tid in rerun {
            let Some(rec) = st.records.get((tid - st.first_tid) as usize) else {
                continue; // unreachable: planned from TIDs in flight
            };
            let dag = &self.app.dags[rec.dag as usize];
            let prevs: Arc<[Tid]> = dag
                .nodes
                .iter()
                .map(|n| {
                    expecting[n.service] = true;
                    std::mem::replace(&mut last_at[n.service], tid)
                })
                .collect();
            frames
                .entry(dag.nodes[0].service as ServiceId)
                .or_default()
                .push(Envelope {
                    env: rec.env,
                    batch: rec.batch,
                    dag: rec.dag,
                    node: 0,
                    prevs,
                    payload: Some(rec.input.clone()),
                    round,
                });
        }
        let r = st.rollback.round.as_mut().expect("a resolution runs");
        r.seeds = Seeds::default();
        r.phase = Phase::Rerunning { waiting: expecting };
        Some(
            frames
                .into_iter()
                .map(|(s, es)| (s, ToService::Events(es)))
                .collect(),
        )
    }

    fn on_round_done(
        &self,
        st: &mut State,
        service: ServiceId,
        round: u32,
        widened: Vec<Tid>,
    ) -> Option<Vec<(ServiceId, ToService)>> {
        let r = Self::current(st, round)?;
        let Phase::Rerunning { waiting } = &mut r.phase else {
            return Some(Vec::new());
        };
        let Some(last) = answer(waiting, service) else {
            return Some(Vec::new());
        };
        r.seeds
            .widened
            .extend(widened.into_iter().map(|t| (service, t)));
        if !last {
            return Some(Vec::new());
        }
        if r.seeds.is_empty() {
            self.finish(st);
            return None;
        }
        let seeds = std::mem::take(&mut r.seeds);
        Some(self.begin_round(st, seeds))
    }

    /// Every failure up to the last dispatched TID is settled.
    fn finish(&self, st: &mut State) {
        if let Some(r) = st.rollback.round.take() {
            let last = r.last_dispatched;
            st.rollback.unsettled.retain(|t| *t > last);
        }
    }
}

/// Counts `service`'s answer to the current phase. `None`: it was not awaited (unknown, or it
/// answered already): ignore the message. `Some(last)`: counted; `last` when no answer is left.
fn answer(waiting: &mut [bool], service: ServiceId) -> Option<bool> {
    let w = waiting.get_mut(service as usize).filter(|w| **w)?;
    *w = false;
    Some(!waiting.iter().any(|w| *w))
}
