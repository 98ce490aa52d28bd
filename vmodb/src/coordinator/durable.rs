//! The coordinator's durability: the commit log, coordinated checkpoints, recovery, and
//! client request ids (a resubmitted request is answered with its first outcome, never run
//! twice).
//!
//! Checkpoints are coordinated: every `checkpoint_every`, the last batch of a commit step is
//! marked in its `CommitBatch`; each service writes its state at that batch and answers
//! `Checkpointed`. When all have, the coordinator logs a `Checkpoint` record, which is the
//! new recovery point. Only one checkpoint is in progress at a time, so a service always holds
//! the last complete checkpoint and at most one newer one.

use super::{Completion, Coordinator, OpenBatch, Outcome, SequencedInput, State, TxRecord};
use crate::durability::log::{CommitLog, LogRecord, RecoveryPlan};
use crate::error::TxError;
use crate::message::{BatchId, Envelope, ServiceId};
use crate::schema::Tid;
use crossbeam_channel::Sender;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// What a commit step logs of its transactions.
#[derive(Default)]
pub(super) struct Logged {
    pub inputs: Vec<SequencedInput>,
    pub requests: Vec<super::LoggedRequest>,
    pub aborted: Vec<(Tid, String, TxError)>,
}

#[derive(Default)]
pub(super) struct DurableState {
    /// Batches up to here are in the log already (re-executed after a restart, not re-logged).
    pub logged_through: BatchId,
    /// The last checkpoint every service completed: (batch, watermark).
    pub(super) last_checkpoint: (BatchId, Tid),
    /// After a restart: (checkpoint batch, transactions re-executed).
    pub(super) recovered: Option<(BatchId, u64)>,
    /// The one before it: request ids from there on are remembered.
    previous_checkpoint: BatchId,
    /// The checkpoint in progress: its batch, watermark and the services yet to report.
    pending: Option<(BatchId, Tid, Vec<bool>)>,
    started: Option<Instant>,
    /// Outcomes of requests with an id, since the previous checkpoint.
    done: HashMap<Arc<str>, Completion>,
    done_order: VecDeque<(BatchId, Arc<str>)>,
    /// Requests with an id sequenced and not yet durably committed.
    pub(super) in_flight: HashMap<Arc<str>, Tid>,
    /// Resubmissions of requests whose commit is being made durable: told at `announce`.
    pub(super) waiting: HashMap<Arc<str>, Vec<Sender<Completion>>>,
}

impl DurableState {
    pub fn remember(&mut self, request: Arc<str>, completion: &Completion) {
        self.in_flight.remove(&request);
        self.done_order
            .push_back((completion.batch, Arc::clone(&request)));
        self.done.insert(request, completion.clone());
    }

    /// Remembers durable outcomes; returns the notifications owed to resubmissions that came
    /// while they were being made durable.
    pub(super) fn remember_all(
        &mut self,
        outcomes: Vec<(Arc<str>, Completion)>,
    ) -> Vec<super::Notify> {
        let mut owed = Vec::new();
        for (request, completion) in outcomes {
            for n in self.waiting.remove(&request).unwrap_or_default() {
                owed.push((Some(n), completion.clone()));
            }
            self.remember(request, &completion);
        }
        owed
    }

    /// Forgets requests committed at or before `batch`.
    fn forget_through(&mut self, batch: BatchId) {
        while let Some((b, _)) = self.done_order.front()
            && *b <= batch
        {
            if let Some((_, r)) = self.done_order.pop_front() {
                self.done.remove(&r);
            }
        }
    }
}

/// A transaction input from a client, with the request id it may carry.
pub struct Request {
    pub transaction: String,
    pub payload: Vec<u8>,
    /// Resubmitting an id already sequenced answers with that transaction's outcome instead
    /// of running it again (ids are remembered for at least one checkpoint interval).
    pub id: Option<Arc<str>>,
}

impl Coordinator {
    /// Logs every commit to `log` from now on; nobody hears of a commit before its record is
    /// durable. Call before `recover` and before the first submission.
    pub fn log_to(&self, log: CommitLog) {
        let _ = self.log.set(log);
        self.state.lock().durable.started = Some(Instant::now());
    }

    /// Stops the commit log after what is queued (its continuations run first).
    pub fn stop_log(&self) {
        if let Some(log) = self.log.get() {
            log.stop();
        }
    }

    /// The record to log for commit step `commits`, or `None` if all of it is logged already.
    pub(super) fn commit_record(
        &self,
        commits: &[(BatchId, Tid)],
        logged: Logged,
    ) -> Option<LogRecord> {
        let through = self.state.lock().durable.logged_through;
        let batches: Vec<_> = commits
            .iter()
            .copied()
            .filter(|(b, _)| *b > through)
            .collect();
        if batches.is_empty() {
            return None;
        }
        Some(LogRecord::Commit(super::LoggedCommit {
            batches,
            inputs: logged.inputs,
            requests: logged.requests,
            aborted: logged.aborted,
        }))
    }

    /// The commit log failed: a commit that cannot be made durable is never announced, and the
    /// coordinator stops (`failure` says why).
    pub(super) fn log_failed(&self, why: &str) {
        crate::node::log_warning(&format!("coordinator: the commit log failed: {why}"));
        let _ = self.failed.set(format!("the commit log failed: {why}"));
        self.abandon();
        self.state.lock().committing -= 1;
        self.shut_down();
    }

    /// Whether this commit step starts a checkpoint: (its batch, checkpoints to keep from).
    pub(super) fn checkpoint_due(
        &self,
        st: &mut State,
        commits: &[(BatchId, Tid)],
    ) -> Option<(BatchId, BatchId)> {
        let d = &mut st.durable;
        let &(batch, tid) = commits.last()?;
        // Never at a re-executed batch: its commit step may group batches differently from
        // the logged one, and the log before it is still needed.
        let due = self.log.get().is_some()
            && d.pending.is_none()
            && batch > d.logged_through
            && d.started
                .is_some_and(|s| s.elapsed() >= self.config.checkpoint_every);
        if !due {
            return None;
        }
        d.pending = Some((batch, tid, vec![true; self.app.services.len()]));
        d.started = Some(Instant::now());
        Some((batch, d.last_checkpoint.0))
    }

    pub(super) fn on_checkpointed(
        &self,
        service: ServiceId,
        batch: BatchId,
        error: Option<String>,
    ) {
        let mut st = self.state.lock();
        let d = &mut st.durable;
        let Some((b, tid, waiting)) = d.pending.as_mut() else {
            return;
        };
        if *b != batch {
            return;
        }
        if let Some(e) = error {
            // Not fatal: the last complete checkpoint stays the recovery point; try again later.
            crate::node::log_warning(&format!(
                "checkpoint of batch {batch} failed at service #{service}: {e}"
            ));
            d.pending = None;
            return;
        }
        if let Some(w) = waiting.get_mut(service as usize) {
            *w = false;
        }
        if waiting.iter().any(|w| *w) {
            return;
        }
        let done = (*b, *tid);
        d.pending = None;
        d.previous_checkpoint = d.last_checkpoint.0;
        d.last_checkpoint = done;
        let forget = d.previous_checkpoint;
        d.forget_through(forget);
        drop(st);
        if let Some(log) = self.log.get() {
            let record = LogRecord::Checkpoint {
                batch: done.0,
                tid: done.1,
            };
            log.append(Some(record), None);
        }
    }

    /// Restarts from `plan`: services hold the checkpoint's state (restored before this call);
    /// the batches logged after it are sequenced again with their logged TIDs, environments
    /// and boundaries and re-executed, but not logged again. Call after `log_to`, before any
    /// submission.
    pub fn recover(&self, plan: &RecoveryPlan) -> Result<(), String> {
        let (batch, tid) = plan.checkpoint;
        {
            let mut st = self.state.lock();
            debug_assert!(
                st.next_tid == 1 && st.records.is_empty(),
                "recover a fresh coordinator"
            );
            st.next_tid = tid + 1;
            st.first_tid = tid + 1;
            st.last_tid_at.iter_mut().for_each(|t| *t = tid);
            st.next_batch = batch + 1;
            st.last_committed = batch;
            let d = &mut st.durable;
            d.logged_through = plan.last_batch;
            d.last_checkpoint = plan.checkpoint;
            let replayed = plan.replay.iter().map(|b| b.inputs.len() as u64).sum();
            d.recovered = Some((batch, replayed));
            // Re-executed work is due a checkpoint at once, so that a cluster that keeps
            // crashing faster than the interval still moves its recovery point forward.
            if replayed > 0 {
                d.started = Instant::now()
                    .checked_sub(self.config.checkpoint_every)
                    .or(d.started);
            }
            for commit in &plan.before {
                let batches: BTreeMap<Tid, BatchId> =
                    commit.batches.iter().map(|(b, t)| (*t, *b)).collect();
                let batch_of = |t: Tid| batches.range(t..).next().map_or(0, |(_, b)| *b);
                let aborted: HashMap<Tid, &(Tid, String, TxError)> =
                    commit.aborted.iter().map(|a| (a.0, a)).collect();
                let names: HashMap<Tid, &str> = commit
                    .inputs
                    .iter()
                    .map(|i| (i.env.tid, i.transaction.as_str()))
                    .collect();
                for r in &commit.requests {
                    let (t, id) = (&r.tid, &r.id);
                    let name = Arc::from(names.get(t).copied().unwrap_or(""));
                    let outcome = match aborted.get(t) {
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
                        tid: *t,
                        batch: batch_of(*t),
                        transaction: name,
                        outcome,
                        latency: std::time::Duration::ZERO,
                    };
                    d.remember(Arc::from(id.as_str()), &completion);
                }
            }
            if self.config.record_inputs {
                st.committed_inputs = plan.before.iter().flat_map(|c| c.inputs.clone()).collect();
            }
        }
        for logged in &plan.replay {
            let inputs = logged.inputs.iter().map(|i| {
                let id = plan.requests.get(&i.env.tid).map(|r| Arc::from(r.as_str()));
                (i, id)
            });
            self.sequence_logged(inputs.collect(), logged.batch)?;
        }
        Ok(())
    }

    /// Sequences one logged batch again, exactly as logged, and seals it.
    fn sequence_logged(
        &self,
        inputs: Vec<(&SequencedInput, Option<Arc<str>>)>,
        batch: BatchId,
    ) -> Result<(), String> {
        let mut frames: BTreeMap<ServiceId, Vec<Envelope>> = BTreeMap::new();
        let closes = {
            let mut st = self.state.lock();
            let now = Instant::now();
            debug_assert_eq!(st.next_batch, batch, "logged batches are consecutive");
            st.next_batch = batch + 1;
            st.open = Some(OpenBatch {
                id: batch,
                opened_at: now,
                last_arrival: now,
                size: 0,
                counts: vec![0; self.app.services.len()],
            });
            for (input, id) in inputs {
                let dag_index = *self
                    .app
                    .dag_by_name
                    .get(&input.transaction)
                    .ok_or_else(|| {
                        format!("the log holds unknown transaction `{}`", input.transaction)
                    })?;
                if input.env.tid != st.next_tid {
                    return Err(format!(
                        "the log holds TID {} where {} was expected",
                        input.env.tid, st.next_tid
                    ));
                }
                st.next_tid += 1;
                if let Some(id) = &id {
                    st.durable.in_flight.insert(Arc::clone(id), input.env.tid);
                }
                let (entry, envelope) = self.sequence_one(
                    &mut st,
                    dag_index,
                    input.payload.clone(),
                    input.env,
                    now,
                    None,
                    id,
                );
                if st.resolution.is_some() {
                    st.held.push((entry, envelope)); // sent when the round ends
                } else {
                    frames.entry(entry).or_default().push(envelope);
                }
            }
            let max_tid = st.next_tid - 1;
            Self::seal(&mut st, max_tid)
        };
        self.send_sequenced(frames, closes);
        Ok(())
    }

    /// For a request id already sequenced: its completion if committed (sent to `notify` at
    /// once), or its TID while in flight (`notify` then hears of it at commit).
    pub(super) fn known_request(
        &self,
        st: &mut State,
        id: &Arc<str>,
        notify: &Option<Sender<Completion>>,
    ) -> Option<(Tid, Option<Completion>)> {
        if let Some(c) = st.durable.done.get(id) {
            return Some((c.tid, Some(c.clone())));
        }
        let tid = *st.durable.in_flight.get(id)?;
        let first_tid = st.first_tid;
        let rec: Option<&mut TxRecord> = tid
            .checked_sub(first_tid)
            .and_then(|i| st.records.get_mut(i as usize));
        match (rec, notify) {
            (Some(rec), Some(n)) if rec.notify.is_none() => rec.notify = Some(n.clone()),
            // Its first submitter's channel (the front door's shared client): told once.
            (Some(rec), Some(n)) if rec.notify.as_ref().is_some_and(|r| r.same_channel(n)) => {}
            // Its first submitter still waits, or its commit is being made durable: told then.
            (_, Some(n)) => st
                .durable
                .waiting
                .entry(Arc::clone(id))
                .or_default()
                .push(n.clone()),
            (_, None) => {}
        }
        Some((tid, None))
    }
}
