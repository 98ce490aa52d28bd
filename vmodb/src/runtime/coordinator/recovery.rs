//! Recovery: the coordinator's start from a data directory's log. The batches logged after the
//! last checkpoint are sequenced again exactly as logged and re-executed; where the log holds a
//! restart between two of them, numbering jumps as it did then, once everything before has
//! committed. None of it waits: `recover` sequences what it can, and `progress` the rest as
//! commits make room, so the same steps run on the coordinator's thread and in the simulator.

use super::numbering::{BATCH_RESERVE, LOST_KEPT, Numbering, TID_RESERVE};
use super::{Completion, Coordinator, Outcome, SequencedInput, State};
use crate::durability::log::{LogRecord, RecoveryPlan};
use crate::model::error::TxError;
use crate::model::schema::Tid;
use crate::runtime::message::{BatchId, Envelope, ServiceId, ToService};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// A logged batch still to sequence again.
pub(super) struct PendingBatch {
    batch: BatchId,
    /// A restart was logged before this batch: numbering jumps here first.
    resumes_at: Option<(Tid, BatchId)>,
    inputs: Vec<(SequencedInput, Option<Arc<str>>)>,
}

impl Coordinator {
    /// Starts from `plan` with the commit log the coordinator was made with: services hold the
    /// checkpoint's state (restored before this call). First, numbers above every one ever
    /// handed out are reserved and the restart is logged, durably. Then the batches logged
    /// after the checkpoint are sequenced again with their logged TIDs, environments and
    /// boundaries and re-executed, but not logged again; new submissions wait until they
    /// committed, and then get TIDs and batch ids from the reservation on. Call before any
    /// submission. Never waits for a commit: batches after a restart logged between them are
    /// sequenced by `progress` once everything before has committed.
    pub fn recover(&self, plan: &RecoveryPlan) -> Result<(), String> {
        let log = self.log.as_ref().ok_or("recover needs a commit log")?;
        // What can be refused is refused now, while starting, not halfway through re-execution.
        let mut inputs = plan.replay.iter().flat_map(|b| &b.inputs);
        if let Some(i) = inputs.find(|i| !self.app.dag_by_name.contains_key(&i.transaction)) {
            return Err(format!(
                "the log holds unknown transaction `{}`",
                i.transaction
            ));
        }
        let (tid, batch) = plan.reserved;
        let mut lost = plan.lost.clone();
        if plan.last_tid + 1 < tid {
            lost.push((plan.last_tid + 1, tid - 1));
        }
        if lost.len() > LOST_KEPT {
            lost.drain(..lost.len() - LOST_KEPT);
        }
        let reserved = (tid + TID_RESERVE, batch + BATCH_RESERVE);
        log.append_durably(vec![
            LogRecord::Reserve {
                tid: reserved.0,
                batch: reserved.1,
            },
            LogRecord::Resume {
                tid,
                batch,
                lost: lost.clone(),
            },
        ])
        .map_err(|e| format!("cannot log the restart: {e}"))?;
        let (ckpt_batch, ckpt_tid) = plan.checkpoint;
        let retention = self.config.request_retention.as_micros() as u64;
        {
            let mut st = self.state.lock();
            debug_assert!(st.records.is_empty(), "recover a fresh coordinator");
            st.seq.next_tid = ckpt_tid + 1;
            st.first_tid = ckpt_tid + 1;
            st.seq.last_tid_at.iter_mut().for_each(|t| *t = ckpt_tid);
            st.seq.next_batch = ckpt_batch + 1;
            st.batches.last_committed = ckpt_batch;
            st.batches.next_commit = ckpt_batch + 1;
            self.announced
                .store(ckpt_tid, std::sync::atomic::Ordering::Release);
            let target = plan.replay.last().map_or(ckpt_tid, |b| b.max_tid);
            self.recovery_target
                .store(target, std::sync::atomic::Ordering::Release);
            let d = &mut st.durable;
            d.logged_through = plan.last_batch;
            d.last_checkpoint = plan.checkpoint;
            d.committed = plan.committed;
            self.settled
                .store(plan.committed, std::sync::atomic::Ordering::Release);
            let now = self.clock.mono_us();
            d.uptime = super::durable::Uptime {
                base_us: plan.uptime_us,
                since: now,
            };
            d.numbering = Numbering {
                reserved,
                reserving: false,
                recovering_through: (!plan.replay.is_empty()).then_some(plan.last_batch),
                resume_at: (tid, batch),
                lost,
            };
            let replayed = plan.replay.iter().map(|b| b.inputs.len() as u64).sum();
            if plan.checkpoint.0 > 0 || replayed > 0 {
                d.recovered = Some((ckpt_batch, replayed));
            }
            // Re-executed work is due a checkpoint at once, so that a cluster that keeps
            // crashing faster than the interval still moves its recovery point forward (unless
            // checkpoints are off).
            if replayed > 0 && !self.config.checkpoints_off() {
                d.next_checkpoint_at = Some(now);
            }
            for commit in &plan.before {
                // Ids committed longer ago than the retention (in running time) are forgotten.
                if plan.uptime_us.saturating_sub(commit.uptime_us) > retention {
                    continue;
                }
                for (id, completion) in logged_outcomes(commit) {
                    d.remember_at(id, &completion, commit.uptime_us);
                }
            }
            if self.config.record_inputs {
                st.committed_inputs = plan.before.iter().flat_map(|c| c.inputs.clone()).collect();
            }
            if plan.replay.is_empty() {
                Self::resume_numbering(&mut st);
            }
        }
        let replay = plan.replay.iter().map(|logged| PendingBatch {
            batch: logged.batch,
            resumes_at: logged.resumes_at,
            inputs: logged
                .inputs
                .iter()
                .map(|i| {
                    let id = plan.requests.get(&i.env.tid).map(|r| Arc::from(r.as_str()));
                    (i.clone(), id)
                })
                .collect(),
        });
        let mut st = self.state.lock();
        st.durable.replay = replay.collect();
        let sends = self.replay_next(&mut st)?;
        drop(st);
        self.send_replayed(sends);
        Ok(())
    }

    /// Sequences the logged batches still pending, up to one that must wait: a restart logged
    /// before it makes numbering jump, which keeps TIDs dense only with nothing in flight.
    /// Returns what to send.
    pub(super) fn replay_next(
        &self,
        st: &mut State,
    ) -> Result<Vec<(ServiceId, ToService)>, String> {
        let mut sends = Vec::new();
        while let Some(next) = st.durable.replay.front() {
            if let Some((tid, batch)) = next.resumes_at {
                if !st.records.is_empty() || !st.batches.sealed.is_empty() || st.seq.open.is_some()
                {
                    break; // `progress` calls again after the next commit
                }
                st.seq.next_tid = tid;
                st.first_tid = tid;
                st.seq.next_batch = batch;
                st.batches.next_commit = batch;
            }
            let Some(next) = st.durable.replay.pop_front() else {
                break;
            };
            if let Err(e) = self.sequence_logged(st, next.inputs, next.batch, &mut sends) {
                st.seq.open = None; // nothing half-sequenced is sealed later
                return Err(e);
            }
        }
        Ok(sends)
    }

    pub(super) fn send_replayed(&self, sends: Vec<(ServiceId, ToService)>) {
        for (to, m) in sends {
            self.transport()
                .to_service(crate::runtime::message::NodeId::Coordinator, to, m);
        }
    }

    /// Sequences one logged batch again, exactly as logged, and seals it.
    fn sequence_logged(
        &self,
        st: &mut State,
        inputs: Vec<(SequencedInput, Option<Arc<str>>)>,
        batch: BatchId,
        sends: &mut Vec<(ServiceId, ToService)>,
    ) -> Result<(), String> {
        let mut frames: BTreeMap<ServiceId, Vec<Envelope>> = BTreeMap::new();
        let closes = {
            let now = self.clock.mono_us();
            debug_assert_eq!(st.seq.next_batch, batch, "logged batches are consecutive");
            st.seq.next_batch = batch + 1;
            st.seq.open = Some(super::sequence::OpenBatch {
                id: batch,
                opened_at: now,
                last_arrival: now,
                size: 0,
                counts: vec![0; self.app.services.len()],
            });
            for (input, id) in inputs {
                let input = &input;
                let dag_index = *self
                    .app
                    .dag_by_name
                    .get(&input.transaction)
                    .ok_or_else(|| {
                        format!("the log holds unknown transaction `{}`", input.transaction)
                    })?;
                if input.env.tid != st.seq.next_tid {
                    return Err(format!(
                        "the log holds TID {} where {} was expected",
                        input.env.tid, st.seq.next_tid
                    ));
                }
                st.seq.next_tid += 1;
                if let Some(id) = &id {
                    st.durable
                        .in_flight
                        .insert(Arc::clone(id), (input.env.tid, None));
                }
                let (entry, envelope) = self.sequence_one(
                    st,
                    dag_index,
                    input.payload.clone(),
                    input.env,
                    now,
                    None,
                    id,
                );
                if st.rollback.round.is_some() {
                    st.rollback.held.push((entry, envelope)); // sent when the round ends
                } else {
                    frames.entry(entry).or_default().push(envelope);
                }
            }
            let max_tid = st.seq.next_tid - 1;
            Self::seal(st, max_tid)
        };
        // As `send_sequenced`: the inputs, then the close messages, on the same links.
        sends.extend(
            frames
                .into_iter()
                .map(|(s, envelopes)| (s, ToService::Events(envelopes))),
        );
        sends.extend(closes);
        Ok(())
    }
}

/// The outcomes of the requests with an id in a logged commit, as completions.
fn logged_outcomes(commit: &super::LoggedCommit) -> Vec<(Arc<str>, Completion)> {
    let batches: BTreeMap<Tid, BatchId> = commit.batches.iter().map(|(b, t)| (*t, *b)).collect();
    let batch_of = |t: Tid| batches.range(t..).next().map_or(0, |(_, b)| *b);
    let aborted: HashMap<Tid, &(Tid, String, TxError)> =
        commit.aborted.iter().map(|a| (a.0, a)).collect();
    let names: HashMap<Tid, &str> = commit
        .inputs
        .iter()
        .map(|i| (i.env.tid, i.transaction.as_str()))
        .collect();
    commit
        .requests
        .iter()
        .map(|r| {
            let name = Arc::from(names.get(&r.tid).copied().unwrap_or(""));
            let outcome = match aborted.get(&r.tid) {
                Some((_, service, error)) => Outcome::Aborted {
                    service: service.clone(),
                    error: error.clone(),
                },
                None => Outcome::Committed {
                    output: r.output.as_ref().map(|(event, payload)| super::Output {
                        event: Arc::from(event.as_str()),
                        payload: payload.clone(),
                    }),
                },
            };
            let completion = Completion {
                tid: r.tid,
                batch: batch_of(r.tid),
                transaction: name,
                outcome,
                latency: Duration::ZERO,
                executed: None,
                batch_interval: Duration::ZERO,
            };
            (Arc::from(r.id.as_str()), completion)
        })
        .collect()
}
