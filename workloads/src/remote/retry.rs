//! Resubmission across cluster restarts, for any workload's remote client. Every transaction
//! request carries an id (`<nonce>/<op>/<k>`), so a resubmission is answered with the first
//! outcome if the first submission committed, and runs once otherwise: exactly once either way.

use super::FrontDoorClient;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use vmodb::Tid;
use vmodb::front_door::{TxRequest, TxResult};

/// The requests of ops in flight (with what their answer needs, `M`), the ops waiting for a
/// down cluster to come back, and every outcome the client was told.
pub struct Retry<M> {
    nonce: String,
    sent: HashMap<u64, (M, Vec<TxRequest>)>,
    /// Ops whose answer said the cluster is down, waiting for it to come back.
    waiting: Vec<u64>,
    last_probe: Instant,
    /// Every transaction outcome the client was told: (TID, transaction).
    seen: Vec<(Tid, String)>,
    resubmitted: u64,
    /// Every this many ops (by id) resubmit only after the checkpoint that follows the restart
    /// (0: none), counted from when the cluster was first seen serving again.
    late_every: u64,
    up_since: Option<Instant>,
    late: u64,
}

impl<M: Clone> Retry<M> {
    /// `nonce` makes this client's request ids unique.
    pub fn new(nonce: &str) -> Self {
        Retry {
            nonce: nonce.to_string(),
            sent: HashMap::new(),
            waiting: Vec::new(),
            last_probe: Instant::now(),
            seen: Vec::new(),
            resubmitted: 0,
            late_every: 0,
            up_since: None,
            late: 0,
        }
    }

    /// Every `every`-th op that met a down cluster is resubmitted only once the checkpoint
    /// that follows the restart has completed (the checkpoint that used to make a restarted
    /// cluster forget request ids); the others promptly, so that their traffic brings that
    /// checkpoint about.
    pub fn resubmit_late(&mut self, every: u64) {
        self.late_every = every;
    }

    /// Names op `id`'s requests and keeps them (with `meta`) until it is answered.
    pub fn sending(&mut self, id: u64, meta: M, requests: &mut [TxRequest]) {
        for (k, r) in requests.iter_mut().enumerate() {
            r.id = Some(format!("{}/{id}/{k}", self.nonce));
        }
        self.sent.insert(id, (meta, requests.to_vec()));
    }

    /// Op `id` met a down cluster: it waits for the cluster to come back.
    pub fn hold(&mut self, id: u64) {
        self.waiting.push(id);
    }

    /// Op `id` was answered (`results`: the outcomes it was told, if any): forgotten.
    pub fn answered(&mut self, id: u64, results: Option<&[TxResult]>) {
        self.sent.remove(&id);
        if let Some(results) = results {
            let told = results.iter().map(|t| (t.tid, t.transaction.clone()));
            self.seen.extend(told);
        }
    }

    /// What op `id` was sent with.
    pub fn requests(&self, id: u64) -> Option<&(M, Vec<TxRequest>)> {
        self.sent.get(&id)
    }

    /// The ops to resubmit now: those waiting, once the front door answers again (probed at
    /// most every 200 ms), less the late ones still held back.
    pub fn due(&mut self, client: &FrontDoorClient) -> Vec<u64> {
        if self.waiting.is_empty() || self.last_probe.elapsed() < Duration::from_millis(200) {
            return Vec::new();
        }
        self.last_probe = Instant::now();
        let Ok(status) = client.status() else {
            return Vec::new();
        };
        if status.failure.is_some() {
            self.up_since = None;
            return Vec::new();
        }
        // Late ops wait for the checkpoint after the restart. Only commits bring it about, so
        // with no traffic but theirs they give up waiting after 10 s.
        let up_since = *self.up_since.get_or_insert_with(Instant::now);
        let checkpointed = status
            .recovered
            .is_none_or(|(from, _)| status.last_checkpoint > from);
        let hold = !checkpointed && up_since.elapsed() < Duration::from_secs(10);
        let every = self.late_every;
        let (later, now): (Vec<u64>, Vec<u64>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|id| hold && every > 0 && id.is_multiple_of(every));
        if later.is_empty() {
            self.up_since = None;
        } else {
            self.waiting = later;
        }
        if !hold && every > 0 {
            self.late += now.iter().filter(|id| id.is_multiple_of(every)).count() as u64;
        }
        self.resubmitted += now.len() as u64;
        now
    }

    /// Every outcome the client was told, (TID, transaction), and how many ops were
    /// resubmitted.
    pub fn seen(&self) -> (Vec<(Tid, String)>, u64) {
        (self.seen.clone(), self.resubmitted)
    }

    /// How many ops were resubmitted late.
    pub fn resubmitted_late(&self) -> u64 {
        self.late
    }
}
