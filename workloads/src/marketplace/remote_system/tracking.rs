//! Ops sent with `?wait=false` and followed by TID, as a client that only tracks TIDs against
//! the commit stream would (`RemoteMarketplace::track_by_tid`). An op's transactions are
//! believed committed once the stream reached their TIDs, unless `/status` lists a TID as lost
//! (handed out before a crash, never committed). Each belief is then checked by resubmitting
//! the op's request ids and waiting: a TID believed committed must come back as that
//! transaction's outcome (answered from the id, not run again); one believed lost runs now,
//! under a new TID.

use super::Grouped;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vmodb::Tid;
use vmodb::front_door::{TxRequest, TxResult};

/// An op sent detached: what its answer needs, its requests, and its TIDs once known.
type Sent = (Grouped, Vec<TxRequest>, Option<Vec<Tid>>);

pub(super) struct Tracking {
    /// Every `every`-th op (by id) is tracked.
    pub every: u64,
    /// The highest TID the commit stream announced.
    pub committed: Arc<AtomicU64>,
    last_probe: Instant,
    /// Ops sent detached, with their TIDs once the front door answered `submitted`.
    sent: HashMap<u64, Sent>,
    /// Ops being fetched: per transaction, the TID believed committed (`None`: believed lost).
    fetching: HashMap<u64, Vec<(Tid, bool)>>,
    pub report: TrackingReport,
}

/// What TID tracking found.
#[derive(Clone, Debug, Default)]
pub struct TrackingReport {
    /// Transactions whose TID was believed committed, and confirmed so.
    pub committed: u64,
    /// Transactions whose TID was believed lost in a crash, and ran again under a new one.
    pub lost: u64,
    /// Beliefs the outcomes contradicted (a lost TID taken for committed, or a TID reused).
    pub wrong: Vec<String>,
}

impl Tracking {
    pub fn new(every: u64) -> Self {
        Tracking {
            every: every.max(1),
            committed: Arc::new(AtomicU64::new(0)),
            last_probe: Instant::now(),
            sent: HashMap::new(),
            fetching: HashMap::new(),
            report: TrackingReport::default(),
        }
    }

    pub fn sent(&mut self, op: Grouped, requests: Vec<TxRequest>) {
        self.sent.insert(op.id, (op, requests, None));
    }

    /// The front door's `submitted` answer for op `id`.
    pub fn submitted(&mut self, id: u64, results: &[TxResult]) {
        if let Some(s) = self.sent.get_mut(&id) {
            s.2 = Some(results.iter().map(|r| r.tid).collect());
        }
    }

    /// Forgets op `id` (it met a down cluster and will be resubmitted, waiting).
    pub fn drop_op(&mut self, id: u64) {
        self.sent.remove(&id);
    }

    /// The ops whose every TID the stream has passed: what to fetch now (requests as first
    /// sent), remembering what was believed of each TID. `status` reads the last committed
    /// TID and the lost ranges (after the stream position, so that a restart the stream
    /// passed is in them); it also tells of commits the stream missed while reconnecting.
    pub fn decided(
        &mut self,
        status: impl FnOnce() -> Option<(Tid, Vec<(Tid, Tid)>)>,
    ) -> Vec<(Grouped, Vec<TxRequest>)> {
        if self.sent.is_empty() || self.last_probe.elapsed() < Duration::from_millis(100) {
            return Vec::new();
        }
        self.last_probe = Instant::now();
        let streamed = self.committed.load(Ordering::Acquire);
        let Some((committed, lost)) = status() else {
            return Vec::new(); // the cluster is down: decide once it answers
        };
        let reached = streamed.max(committed);
        let ready: Vec<u64> = self
            .sent
            .iter()
            .filter(|(_, (_, _, tids))| {
                tids.as_ref()
                    .is_some_and(|t| t.iter().all(|tid| *tid <= reached))
            })
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in ready {
            let Some((op, requests, Some(tids))) = self.sent.remove(&id) else {
                continue;
            };
            let beliefs = tids
                .iter()
                .map(|t| (*t, !lost.iter().any(|(a, b)| a <= t && t <= b)))
                .collect();
            self.fetching.insert(id, beliefs);
            out.push((op, requests));
        }
        out
    }

    /// The fetched outcomes of op `id`: checks them against what was believed.
    pub fn fetched(&mut self, id: u64, results: &[TxResult]) {
        let Some(beliefs) = self.fetching.remove(&id) else {
            return;
        };
        for ((tid, committed), r) in beliefs.iter().zip(results) {
            match (committed, r.tid == *tid) {
                (true, true) => self.report.committed += 1,
                (false, false) => self.report.lost += 1,
                (true, false) => self.report.wrong.push(format!(
                    "TID {tid} ({}) was taken for committed, but its id ran as TID {}",
                    r.transaction, r.tid
                )),
                (false, true) => self.report.wrong.push(format!(
                    "TID {tid} ({}) was reported lost, but its id answers with it",
                    r.transaction
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmodb::front_door::TxOutcome;

    fn op(id: u64) -> Grouped {
        Grouped {
            id,
            kind: "price_update",
            customer: 0,
        }
    }

    fn result(tid: Tid) -> TxResult {
        TxResult {
            tid,
            transaction: "price_update".into(),
            outcome: TxOutcome::Submitted,
        }
    }

    /// A TID the stream passed is believed committed unless a lost range holds it; the fetched
    /// outcomes confirm or contradict each belief.
    #[test]
    fn beliefs_follow_the_stream_and_the_lost_ranges() {
        let mut t = Tracking::new(1);
        for id in 1..=4 {
            t.sent(op(id), Vec::new());
        }
        t.submitted(1, &[result(10)]);
        t.submitted(2, &[result(11)]);
        t.submitted(3, &[result(12)]);
        t.submitted(4, &[result(99)]);
        t.committed.store(20, Ordering::Release);
        t.last_probe -= Duration::from_secs(1);
        // TID 12 was handed out before a crash; the new epoch passed it (20). 99: not yet.
        let fetch = t.decided(|| Some((20, vec![(12, 15)])));
        let mut ids: Vec<u64> = fetch.iter().map(|(g, _)| g.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2, 3]);
        t.fetched(1, &[result(10)]); // committed at 10, as believed
        t.fetched(3, &[result(21)]); // lost, ran again: as believed
        t.fetched(2, &[result(22)]); // believed committed, but it ran again: wrong
        assert_eq!((t.report.committed, t.report.lost), (1, 1));
        assert_eq!(t.report.wrong.len(), 1, "{:?}", t.report.wrong);
        assert!(t.report.wrong[0].contains("TID 11"));
    }
}
