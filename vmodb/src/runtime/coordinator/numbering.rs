//! How TIDs and batch ids are handed out with a commit log: never above a durable reservation
//! (`LogRecord::Reserve`), reserved ahead of need so that this rarely waits, and after a
//! restart, once the re-executed batches committed, from the last reservation on
//! (`LogRecord::Resume`): no number handed out before a crash is ever handed out again.

use super::{Coordinator, State};
use crate::durability::log::LogRecord;
use crate::model::schema::Tid;
use crate::runtime::message::BatchId;
use std::sync::Arc;

/// TIDs reserved per `Reserve` record: a restart skips at most this many.
pub(super) const TID_RESERVE: Tid = 1 << 20;
/// Batch ids reserved per `Reserve` record.
pub(super) const BATCH_RESERVE: BatchId = 1 << 16;
/// Lost TID ranges remembered in `Resume` records (the most recent restarts).
pub(super) const LOST_KEPT: usize = 32;

/// How TIDs and batch ids are handed out with a commit log: never above the durable
/// reservation, and after a restart only once re-execution is done, from the reservation on.
pub(super) struct Numbering {
    /// TIDs below `.0` and batch ids below `.1` may be handed out (durably reserved).
    pub reserved: (Tid, BatchId),
    /// A further reservation is being made durable.
    pub reserving: bool,
    /// After a restart: the last re-executed batch; new work waits until it committed.
    pub recovering_through: Option<BatchId>,
    /// Where numbering resumes once it has.
    pub resume_at: (Tid, BatchId),
    /// TIDs handed out (or reserved) before a crash and never committed.
    pub lost: Vec<(Tid, Tid)>,
}

impl Default for Numbering {
    fn default() -> Self {
        // Without a log nothing survives a restart, so nothing can be reused: no limit.
        Numbering {
            reserved: (Tid::MAX, BatchId::MAX),
            reserving: false,
            recovering_through: None,
            resume_at: (1, 1),
            lost: Vec::new(),
        }
    }
}

impl Coordinator {
    /// Re-execution is over (or there was none): numbering jumps to where it resumes, and
    /// submissions may go on.
    pub(super) fn resume_numbering(st: &mut State) {
        let n = &mut st.durable.numbering;
        n.recovering_through = None;
        let (tid, batch) = n.resume_at;
        debug_assert!(
            st.records.is_empty() && st.seq.open.is_none() && st.batches.sealed.is_empty(),
            "numbering jumps only when nothing is in flight"
        );
        st.seq.next_tid = tid;
        st.first_tid = tid;
        st.seq.next_batch = batch;
        st.batches.next_commit = batch;
    }

    /// Waits until TIDs and batch ids for `n` more inputs are durably reserved (reserving more
    /// ahead of need, so that this rarely waits). Call with the state locked; false if the
    /// coordinator shut down meanwhile.
    pub(super) fn reserve_numbers(
        self: &Arc<Self>,
        st: &mut parking_lot::MutexGuard<'_, State>,
        n: u64,
    ) -> bool {
        loop {
            if st.shut_down {
                return false;
            }
            if self.reserve_ahead(st, n) {
                return true;
            }
            self.room.wait(st);
        }
    }

    /// Whether numbers for `n` more inputs are durably reserved now; starts a further
    /// reservation (one at a time) once less than half a reservation is left.
    pub(super) fn reserve_ahead(self: &Arc<Self>, st: &mut State, n: u64) -> bool {
        let need = (st.seq.next_tid + n, st.seq.next_batch + n);
        let numbering = &st.durable.numbering;
        let (tid, batch) = numbering.reserved;
        let half = (TID_RESERVE / 2, BATCH_RESERVE / 2);
        if !numbering.reserving
            && (need.0 + half.0 >= tid || need.1 + half.1 >= batch)
            && let Some(log) = &self.log
        {
            let next = (
                tid.max(need.0) + TID_RESERVE,
                batch.max(need.1) + BATCH_RESERVE,
            );
            st.durable.numbering.reserving = true;
            let me = Arc::downgrade(self);
            let then: crate::durability::writer::Then = Box::new(move |durable| {
                let Some(me) = me.upgrade() else { return };
                match durable {
                    Ok(()) => {
                        let mut st = me.state.lock();
                        let n = &mut st.durable.numbering;
                        n.reserving = false;
                        n.reserved = (n.reserved.0.max(next.0), n.reserved.1.max(next.1));
                        drop(st);
                        me.room.notify_all();
                    }
                    Err(e) => me.log_failed(&e, false),
                }
            });
            let record = LogRecord::Reserve {
                tid: next.0,
                batch: next.1,
            };
            log.append(Some(record), Some(then));
        }
        need.0 < tid && need.1 < batch
    }

    /// Whether `submit` of `n` inputs would go in now without waiting (for in-flight room, the
    /// end of re-execution, or reserved numbers): the simulator's admission check. Starts a
    /// reservation if numbers run low.
    pub(crate) fn admits(self: &Arc<Self>, n: u64) -> bool {
        let mut st = self.state.lock();
        if st.shut_down {
            return true; // a submit fails at once
        }
        st.records.len() < self.config.max_in_flight
            && st.durable.numbering.recovering_through.is_none()
            && self.reserve_ahead(&mut st, n)
    }

    /// Re-executing logged batches after a restart (new work waits meanwhile).
    pub(crate) fn recovering(&self) -> bool {
        self.state
            .lock()
            .durable
            .numbering
            .recovering_through
            .is_some()
    }
}
