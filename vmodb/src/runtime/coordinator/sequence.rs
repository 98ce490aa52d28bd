//! Sequencing: TIDs, predecessors and batches, decided in the submitting thread under the
//! coordinator lock, and the sealing of batches (by size at submission, by window or arrival
//! gap on the coordinator thread).

use super::{Coordinator, State, TxRecord};
use crate::model::error::SubmitError;
use crate::model::schema::Tid;
use crate::runtime::clock::micros;
use crate::runtime::message::{BatchId, Envelope, NodeId, ServiceId, ToService};
use crate::storage::tx::TxEnv;
use crossbeam_channel::Sender;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::durable::Request;
use super::{Completion, Input, Notifier};

pub(super) struct OpenBatch {
    pub id: BatchId,
    /// On the coordinator's clock (`mono_us`).
    pub opened_at: u64,
    pub last_arrival: u64,
    pub size: u32,
    /// TIDs of this batch per service.
    pub counts: Vec<u32>,
}

pub(super) struct SealedBatch {
    pub max_tid: Tid,
    /// Participants that have not reported the batch executed.
    pub waiting: Vec<bool>,
    pub waiting_count: usize,
}

/// Hands out TIDs and batch ids, and fills the open batch.
pub(super) struct Sequencer {
    pub next_tid: Tid,
    /// The last TID sequenced at each service (the next one's predecessor there).
    pub last_tid_at: Vec<Tid>,
    pub next_batch: BatchId,
    pub open: Option<OpenBatch>,
}

impl Sequencer {
    pub fn new(services: usize) -> Self {
        Sequencer {
            next_tid: 1,
            last_tid_at: vec![0; services],
            next_batch: 1,
            open: None,
        }
    }
}

/// Sealed batches until they commit, in batch order.
pub(super) struct BatchTracker {
    pub sealed: BTreeMap<BatchId, SealedBatch>,
    pub last_committed: BatchId,
    /// When the last batch committed (the coordinator's start before the first).
    pub last_commit_at: u64,
    /// The batch that commits next (`last_committed + 1`, but after a restart's jump).
    pub next_commit: BatchId,
    /// Commits whose records are gone but whose `CommitBatch` messages are still being sent
    /// (so `wait_idle` cannot return between the two).
    pub committing: usize,
}

impl BatchTracker {
    /// A tracker made at `now` (the clock's `mono_us`).
    pub fn new(now: u64) -> Self {
        BatchTracker {
            sealed: BTreeMap::new(),
            last_committed: 0,
            last_commit_at: now,
            next_commit: 1,
            committing: 0,
        }
    }
}

impl Coordinator {
    /// Sequences inputs `(transaction, payload)` and sends each to its entry service at once.
    pub fn submit(
        self: &Arc<Self>,
        inputs: Vec<(String, Vec<u8>)>,
        notify: Option<Sender<Completion>>,
    ) -> Result<Vec<Tid>, SubmitError> {
        let notify = notify.map(Notifier::channel);
        let requests = inputs.into_iter().map(|(transaction, payload)| Request {
            transaction,
            payload,
            id: None,
        });
        self.submit_requests(requests.collect(), notify)
    }

    /// Like `submit`, for inputs that may carry a request id: an id already sequenced (also
    /// earlier in the same call) is not sequenced again; its TID is returned and `notify`
    /// hears of its outcome once (at once if it committed already).
    pub fn submit_requests(
        self: &Arc<Self>,
        inputs: Vec<Request>,
        notify: Option<Notifier>,
    ) -> Result<Vec<Tid>, SubmitError> {
        let mut resolved = Vec::with_capacity(inputs.len());
        for r in inputs {
            let dag = *self
                .app
                .dag_by_name
                .get(&r.transaction)
                .ok_or(SubmitError::UnknownTransaction(r.transaction.clone()))?;
            if r.payload.len() > crate::runtime::message::MAX_PAYLOAD {
                return Err(SubmitError::Encode {
                    transaction: r.transaction,
                    detail: format!(
                        "an input of {} bytes, over the {}-byte limit",
                        r.payload.len(),
                        crate::runtime::message::MAX_PAYLOAD
                    ),
                });
            }
            if let Some(id) = &r.id
                && id.len() > crate::runtime::message::MAX_REQUEST_ID
            {
                return Err(SubmitError::RequestIdTooLong {
                    len: id.len(),
                    max: crate::runtime::message::MAX_REQUEST_ID,
                });
            }
            if let Some(v) = &self.app.dags[dag].validate {
                (v.check)(&r.payload).map_err(|detail| SubmitError::Invalid {
                    transaction: r.transaction.clone(),
                    detail,
                })?;
            }
            resolved.push((dag, r.payload, r.id));
        }
        let mut frames: BTreeMap<ServiceId, Vec<Envelope>> = BTreeMap::new();
        let mut closes = Vec::new();
        let mut tids = Vec::with_capacity(resolved.len());
        let mut answered = Vec::new();
        let mut wake = false;
        {
            let mut st = self.state.lock();
            // Admission waits before sequencing anything: a call never holds sequenced but unsent
            // inputs while it waits (that could keep their batch, and so room, from ever freeing).
            // After a restart, new work also waits until the re-executed batches committed.
            loop {
                while (st.records.len() >= self.config.max_in_flight
                    || st.durable.numbering.recovering_through.is_some())
                    && !st.shut_down
                {
                    self.room.wait(&mut st);
                }
                // Numbers are durably reserved before they are handed out (with a log).
                if !self.reserve_numbers(&mut st, resolved.len() as u64) {
                    return Err(SubmitError::ShutDown);
                }
                if st.records.len() < self.config.max_in_flight
                    && st.durable.numbering.recovering_through.is_none()
                {
                    break;
                }
            }
            if st.shut_down {
                return Err(SubmitError::ShutDown);
            }
            // One clock reading per call: the inputs of one call arrive together.
            let arrived = self.clock.mono_us();
            let timestamp_us = self.clock.wall_us();
            for (dag_index, payload, id) in resolved {
                if let Some(id) = &id
                    && let Some((tid, done)) = self.known_request(&mut st, id, &notify)
                {
                    answered.extend(done);
                    tids.push(tid);
                    continue;
                }
                let tid = st.seq.next_tid;
                st.seq.next_tid += 1;
                if st.seq.open.is_none() {
                    let id = st.seq.next_batch;
                    st.seq.next_batch += 1;
                    let counts = vec![0; self.app.services.len()];
                    st.seq.open = Some(OpenBatch {
                        id,
                        opened_at: arrived,
                        last_arrival: arrived,
                        size: 0,
                        counts,
                    });
                    wake = true;
                }
                if let Some(id) = &id {
                    let first = (tid, notify.clone());
                    st.durable.in_flight.insert(Arc::clone(id), first);
                }
                let env = TxEnv {
                    tid,
                    timestamp_us,
                    seed: mix(self.config.seed, tid),
                };
                let (entry, envelope) = self.sequence_one(
                    &mut st,
                    dag_index,
                    payload,
                    env,
                    arrived,
                    notify.clone(),
                    id,
                );
                if st.rollback.round.is_some() {
                    st.rollback.held.push((entry, envelope)); // sent when the round ends
                } else {
                    frames.entry(entry).or_default().push(envelope);
                }
                if st
                    .seq
                    .open
                    .as_ref()
                    .is_some_and(|o| o.size >= self.config.batch_max_txns)
                {
                    closes.extend(Self::seal(&mut st, tid));
                }
                tids.push(tid);
            }
        }
        if wake {
            let _ = self.inbox.send(Input::Wake);
        }
        self.send_sequenced(frames, closes);
        if let Some(n) = &notify {
            // One completion per TID, however often its id was repeated in this call.
            let mut told = std::collections::HashSet::new();
            for c in answered {
                if told.insert(c.tid) {
                    n.send(c);
                }
            }
        }
        Ok(tids)
    }

    /// Adds TID `env.tid` (the next one) of DAG `dag_index` to the open batch: its
    /// predecessors, its record, and the envelope for its entry service.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sequence_one(
        &self,
        st: &mut State,
        dag_index: usize,
        payload: Vec<u8>,
        env: TxEnv,
        arrived: u64,
        notify: Option<Notifier>,
        request: Option<Arc<str>>,
    ) -> (ServiceId, Envelope) {
        let dag = &self.app.dags[dag_index];
        let tid = env.tid;
        let prevs: Arc<[Tid]> = dag
            .nodes
            .iter()
            .map(|n| std::mem::replace(&mut st.seq.last_tid_at[n.service], tid))
            .collect();
        let open = st.seq.open.as_mut().expect("batch open");
        open.last_arrival = arrived;
        let batch = open.id;
        open.size += 1;
        for s in dag.participants() {
            open.counts[s] += 1;
        }
        st.records.push_back(TxRecord {
            dag: dag_index as u16,
            batch,
            env,
            submitted_at: arrived,
            reported_at: None,
            notify,
            output: None,
            failure: None,
            input: payload.clone(),
            request,
        });
        let envelope = Envelope {
            env,
            batch,
            dag: dag_index as u16,
            node: 0,
            prevs,
            payload: Some(payload),
            round: 0,
        };
        (dag.nodes[0].service as ServiceId, envelope)
    }

    /// Seals the open batch (whose last TID is `max_tid`); returns the close messages to send.
    pub(super) fn seal(st: &mut State, max_tid: Tid) -> Vec<(ServiceId, ToService)> {
        let Some(open) = st.seq.open.take() else {
            return Vec::new();
        };
        let waiting: Vec<bool> = open.counts.iter().map(|c| *c > 0).collect();
        let waiting_count = waiting.iter().filter(|w| **w).count();
        debug_assert!(waiting_count > 0, "a batch has participants");
        st.batches.sealed.insert(
            open.id,
            SealedBatch {
                max_tid,
                waiting,
                waiting_count,
            },
        );
        open.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(s, c)| {
                (
                    s as ServiceId,
                    ToService::CloseBatch {
                        batch: open.id,
                        expected: *c,
                    },
                )
            })
            .collect()
    }

    /// Sends sequenced inputs to their entry services, then the close messages of sealed
    /// batches (after their inputs, on the same links).
    pub(super) fn send_sequenced(
        &self,
        frames: BTreeMap<ServiceId, Vec<Envelope>>,
        closes: Vec<(ServiceId, ToService)>,
    ) {
        for (service, envelopes) in frames {
            let message = ToService::Events(envelopes);
            self.transport()
                .to_service(NodeId::Coordinator, service, message);
        }
        self.send_closes(closes);
    }

    pub(super) fn send_closes(&self, closes: Vec<(ServiceId, ToService)>) {
        for (service, m) in closes {
            self.transport().to_service(NodeId::Coordinator, service, m);
        }
    }

    /// When the open batch must be sealed (if nothing fills it first), on the clock.
    fn seal_deadline(&self, open: &OpenBatch) -> u64 {
        let window = open
            .opened_at
            .saturating_add(micros(self.config.batch_window));
        match self.config.batch_idle {
            Some(gap) => window.min(open.last_arrival.saturating_add(micros(gap))),
            None => window,
        }
    }

    /// How long until the open batch must be sealed; `None` with no batch open.
    pub(crate) fn seal_due_in(&self) -> Option<std::time::Duration> {
        let deadline = self
            .state
            .lock()
            .seq
            .open
            .as_ref()
            .map(|o| self.seal_deadline(o))?;
        let left = deadline.saturating_sub(self.clock.mono_us());
        Some(std::time::Duration::from_micros(left))
    }

    /// Seals the open batch now, whatever its window says (the simulator's timer).
    pub(crate) fn seal_now(&self) {
        let closes = {
            let mut st = self.state.lock();
            let max_tid = st.seq.next_tid - 1;
            Self::seal(&mut st, max_tid)
        };
        self.send_closes(closes);
    }

    /// Whether a batch is open (something to seal) and how many transactions are in flight.
    pub(crate) fn pending(&self) -> (bool, usize) {
        let st = self.state.lock();
        (st.seq.open.is_some(), st.records.len())
    }

    /// Seals the open batch if its window (or arrival gap) has passed.
    pub(crate) fn seal_if_due(&self) {
        let closes = {
            let mut st = self.state.lock();
            let due = st
                .seq
                .open
                .as_ref()
                .is_some_and(|o| self.clock.mono_us() >= self.seal_deadline(o));
            if !due {
                return;
            }
            let max_tid = st.seq.next_tid - 1;
            Self::seal(&mut st, max_tid)
        };
        self.send_closes(closes);
    }
}

/// SplitMix64 finaliser: a well-spread per-TID seed.
pub(crate) fn mix(seed: u64, tid: Tid) -> u64 {
    let mut z = seed ^ tid.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
