//! The coordinator's durability: the commit log, coordinated checkpoints, recovery, and
//! client request ids (a resubmitted request is answered with its first outcome, never run
//! twice).
//!
//! Checkpoints are coordinated: every `checkpoint_every`, the last batch of a commit step is
//! marked in its `CommitBatch`; each service writes its state at that batch and answers
//! `Checkpointed`. When all have, the coordinator logs a `Checkpoint` record, which is the
//! new recovery point. Only one checkpoint is in progress at a time, so a service always holds
//! the last complete checkpoint and at most one newer one.

use super::{Completion, Coordinator, Notifier, SequencedInput, State, TxRecord};
use crate::durability::log::LogRecord;
use crate::model::error::TxError;
use crate::model::schema::Tid;
use crate::runtime::clock::micros;
use crate::runtime::message::{BatchId, ServiceId};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::numbering::Numbering;

/// What a commit step logs of its transactions.
#[derive(Default)]
pub(super) struct Logged {
    pub inputs: Vec<SequencedInput>,
    pub requests: Vec<super::LoggedRequest>,
    pub aborted: Vec<(Tid, String, TxError)>,
}

/// A checkpoint every service is writing: its batch, watermark, the transactions committed up
/// to it, the running time, who has not answered yet, and the first failure reported.
struct PendingCheckpoint {
    batch: BatchId,
    tid: Tid,
    committed: u64,
    uptime_us: u64,
    waiting: Vec<bool>,
    failed: Option<String>,
}

/// The cluster's running time, counted across restarts with a log (time down does not count).
pub(super) struct Uptime {
    pub base_us: u64,
    /// When `base_us` was reached, on the coordinator's clock (`mono_us`).
    pub since: u64,
}

impl Uptime {
    /// The running time at `now` (the clock's `mono_us`).
    pub(super) fn at(&self, now: u64) -> u64 {
        self.base_us + now.saturating_sub(self.since)
    }
}

pub(super) struct DurableState {
    /// Batches up to here are in the log already (re-executed after a restart, not re-logged).
    pub logged_through: BatchId,
    /// The last checkpoint every service completed: (batch, watermark).
    pub(super) last_checkpoint: (BatchId, Tid),
    /// After a restart: (checkpoint batch, transactions re-executed).
    pub(super) recovered: Option<(BatchId, u64)>,
    /// Transactions committed over the cluster's life (with a log, across restarts).
    pub(super) committed: u64,
    pending: Option<PendingCheckpoint>,
    /// When the next checkpoint is due (`checkpoint_every` after the last one started), on
    /// the coordinator's clock; `None` without a log.
    pub(super) next_checkpoint_at: Option<u64>,
    pub(super) uptime: Uptime,
    /// Outcomes of requests with an id, for `request_retention` after their commit.
    done: HashMap<Arc<str>, Completion>,
    done_order: VecDeque<(u64, Arc<str>)>,
    /// Requests with an id sequenced and not yet (durably) committed: TID and first notifier.
    pub(super) in_flight: HashMap<Arc<str>, (Tid, Option<Notifier>)>,
    /// Resubmissions of requests whose commit is being announced: told at `announce`.
    pub(super) waiting: HashMap<Arc<str>, Vec<Notifier>>,
    pub(super) numbering: Numbering,
    /// After a restart: logged batches not yet sequenced again (`recovery.rs`).
    pub(super) replay: VecDeque<super::recovery::PendingBatch>,
}

impl DurableState {
    /// With a commit log, whose first checkpoint is due at `first_checkpoint_at`: nothing may
    /// be handed out before `recover` reserved numbers.
    pub(super) fn start_logging(&mut self, first_checkpoint_at: u64) {
        self.next_checkpoint_at = Some(first_checkpoint_at);
        self.numbering.reserved = (0, 0);
        self.numbering.recovering_through = Some(BatchId::MAX);
    }
}

impl DurableState {
    /// A coordinator's, made at `now` (its clock's `mono_us`).
    pub(super) fn new(now: u64) -> Self {
        DurableState {
            logged_through: 0,
            last_checkpoint: (0, 0),
            recovered: None,
            committed: 0,
            pending: None,
            next_checkpoint_at: None,
            uptime: Uptime {
                base_us: 0,
                since: now,
            },
            done: HashMap::new(),
            done_order: VecDeque::new(),
            in_flight: HashMap::new(),
            waiting: HashMap::new(),
            numbering: Numbering::default(),
            replay: VecDeque::new(),
        }
    }
}

impl PendingCheckpoint {
    /// Records `service`'s answer (`error`: why its checkpoint failed). `Some(ok)` once every
    /// service has answered (so no service still writes this checkpoint when the next one
    /// starts), `ok` if all of them wrote it; answers from non-participants or a second answer
    /// from one (a confused peer) change nothing.
    fn answer(&mut self, service: ServiceId, error: Option<String>) -> Option<bool> {
        match self.waiting.get_mut(service as usize) {
            Some(w) if *w => *w = false,
            _ => return None,
        }
        if let Some(e) = error {
            self.failed.get_or_insert(e);
        }
        (!self.waiting.iter().any(|w| *w)).then_some(self.failed.is_none())
    }
}

impl DurableState {
    pub(super) fn remember_at(
        &mut self,
        request: Arc<str>,
        completion: &Completion,
        uptime_us: u64,
    ) {
        self.in_flight.remove(&request);
        self.done_order.push_back((uptime_us, Arc::clone(&request)));
        self.done.insert(request, completion.clone());
    }

    /// Remembers outcomes committed (durably, with a log) just now and forgets those older than
    /// `retention`; returns the notifications owed to resubmissions that came meanwhile.
    pub(super) fn remember_all(
        &mut self,
        outcomes: Vec<(Arc<str>, Completion)>,
        retention: Duration,
        clock_now: u64,
    ) -> Vec<super::Notify> {
        let now = self.uptime.at(clock_now);
        let mut owed = Vec::new();
        for (request, completion) in outcomes {
            for n in self.waiting.remove(&request).unwrap_or_default() {
                owed.push((Some(n), completion.clone()));
            }
            self.remember_at(request, &completion, now);
        }
        let horizon = now.saturating_sub(retention.as_micros() as u64);
        while let Some((t, _)) = self.done_order.front()
            && *t < horizon
        {
            if let Some((_, r)) = self.done_order.pop_front() {
                self.done.remove(&r);
            }
        }
        owed
    }

    /// Drops every notifier (a coordinator that lost a node never completes what is in flight).
    pub(super) fn abandon(&mut self) {
        self.waiting.clear();
        for (_, n) in self.in_flight.values_mut() {
            *n = None;
        }
    }
}

/// A transaction input from a client, with the request id it may carry.
pub struct Request {
    pub transaction: String,
    pub payload: Vec<u8>,
    /// Resubmitting an id already sequenced answers with that transaction's outcome instead
    /// of running it again (ids are remembered for `CoordinatorConfig::request_retention`
    /// after their commit).
    pub id: Option<Arc<str>>,
}

impl Coordinator {
    /// Stops the commit log after what is queued (its continuations run first).
    pub fn stop_log(&self) {
        if let Some(log) = &self.log {
            log.stop();
        }
    }

    /// The record to log for commit step `commits`, or `None` if all of it is logged already.
    pub(super) fn commit_record(
        &self,
        commits: &[(BatchId, Tid)],
        logged: Logged,
    ) -> Option<LogRecord> {
        let (through, uptime_us) = {
            let st = self.state.lock();
            let now = self.clock.mono_us();
            (st.durable.logged_through, st.durable.uptime.at(now))
        };
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
            uptime_us,
        }))
    }

    /// The commit log failed: a commit that cannot be made durable is never announced, and the
    /// coordinator stops (`failure` says why).
    pub(super) fn log_failed(&self, why: &str, committing: bool) {
        if committing {
            self.state.lock().batches.committing -= 1;
        }
        self.stop_failed(&format!("the commit log failed: {why}"));
    }

    /// The coordinator cannot go on: it takes no more work, releases every waiting client,
    /// and `failure` says why from now on.
    pub(super) fn stop_failed(&self, why: &str) {
        tracing::warn!("coordinator: {why}");
        let _ = self.failed.set(why.to_string());
        self.abandon();
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
        let now = self.clock.mono_us();
        let due = self.log.is_some()
            && d.pending.is_none()
            && batch > d.logged_through
            && d.next_checkpoint_at.is_some_and(|at| now >= at);
        if !due {
            return None;
        }
        d.pending = Some(PendingCheckpoint {
            batch,
            tid,
            committed: d.committed,
            uptime_us: d.uptime.at(now),
            waiting: vec![true; self.app.services.len()],
            failed: None,
        });
        d.next_checkpoint_at = Some(now.saturating_add(micros(self.config.checkpoint_every)));
        Some((batch, d.last_checkpoint.0))
    }

    /// A service's answer for the checkpoint in progress. It stays in progress until every
    /// service answered (so no second one starts while a service still writes this one); it
    /// becomes the recovery point only if none failed.
    pub(super) fn on_checkpointed(
        &self,
        service: ServiceId,
        batch: BatchId,
        error: Option<String>,
    ) {
        let mut st = self.state.lock();
        let d = &mut st.durable;
        let Some(p) = d.pending.as_mut().filter(|p| p.batch == batch) else {
            return;
        };
        if let Some(e) = &error {
            tracing::warn!("checkpoint of batch {batch} failed at service #{service}: {e}");
        }
        match p.answer(service, error) {
            None => return,
            // Not fatal: the last complete checkpoint stays the recovery point; try again later.
            Some(false) => {
                d.pending = None;
                return;
            }
            Some(true) => {}
        }
        let Some(p) = d.pending.take() else { return };
        d.last_checkpoint = (p.batch, p.tid);
        drop(st);
        if let Some(log) = &self.log {
            let record = LogRecord::Checkpoint {
                batch: p.batch,
                tid: p.tid,
                committed: p.committed,
                uptime_us: p.uptime_us,
            };
            log.append(Some(record), None);
        }
    }

    /// For a request id already sequenced: its completion if committed (to send to `notify`
    /// at once), or its TID while in flight (`notify` then hears of it at commit, once).
    pub(super) fn known_request(
        &self,
        st: &mut State,
        id: &Arc<str>,
        notify: &Option<Notifier>,
    ) -> Option<(Tid, Option<Completion>)> {
        if let Some(c) = st.durable.done.get(id) {
            return Some((c.tid, Some(c.clone())));
        }
        let (tid, first) = st.durable.in_flight.get(id).cloned()?;
        let Some(n) = notify else {
            return Some((tid, None));
        };
        let first_tid = st.first_tid;
        let rec: Option<&mut TxRecord> = tid
            .checked_sub(first_tid)
            .and_then(|i| st.records.get_mut(i as usize));
        let told = |to: &Option<Notifier>| to.as_ref().is_some_and(|t| t.same(n));
        match rec {
            Some(rec) if rec.notify.is_none() => {
                rec.notify = Some(n.clone());
                if let Some(f) = st.durable.in_flight.get_mut(id) {
                    f.1 = Some(n.clone());
                }
            }
            // Its first submitter's notifier: told once.
            Some(rec) if told(&rec.notify) => {}
            // Committing: its first submitter hears of it at `announce`.
            None if told(&first) => {}
            // Another submitter still waits, or its commit is being announced: told then.
            _ => {
                let waiting = st.durable.waiting.entry(Arc::clone(id)).or_default();
                if !waiting.iter().any(|w| w.same(n)) {
                    waiting.push(n.clone());
                }
            }
        }
        Some((tid, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint one service failed stays in progress until every service answered: the
    /// next one must not start while another service still writes this one.
    #[test]
    fn a_failed_checkpoint_waits_for_every_answer() {
        let mut p = PendingCheckpoint {
            batch: 7,
            tid: 70,
            committed: 70,
            uptime_us: 0,
            waiting: vec![true; 3],
            failed: None,
        };
        assert_eq!(p.answer(1, Some("disk full".into())), None);
        assert_eq!(p.answer(1, None), None, "a second answer changes nothing");
        assert_eq!(p.answer(9, None), None, "not a participant");
        assert_eq!(p.answer(0, None), None);
        assert_eq!(p.answer(2, None), Some(false), "all answered, one failed");
        let mut q = PendingCheckpoint {
            failed: None,
            waiting: vec![true; 2],
            ..p
        };
        assert_eq!(q.answer(0, None), None);
        assert_eq!(q.answer(1, None), Some(true));
    }
}
