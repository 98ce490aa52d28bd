//! What running tasks send — events to downstream services, reports to the coordinator, batch
//! and round progress — gathered per pool job and sent as shared frames.

use super::ServiceNode;
use crate::runtime::message::{
    BatchId, Envelope, NodeId, ServiceId, TaskReport, ToCoordinator, ToService,
};
use std::collections::BTreeMap;

/// Messages produced while running tasks, sent in frames.
#[derive(Default)]
pub(super) struct Outbox {
    pub events: BTreeMap<ServiceId, Vec<Envelope>>,
    pub reports: Vec<TaskReport>,
    pub pending: usize,
    /// Tasks executed per batch, counted once the outbox is sent.
    pub executed: smallvec::SmallVec<[(BatchId, u32); 2]>,
    /// Re-executed tasks of the current rollback round, counted likewise.
    pub round_executed: u32,
}

impl Outbox {
    pub fn count(&mut self, batch: BatchId) {
        match self.executed.iter_mut().find(|(b, _)| *b == batch) {
            Some((_, n)) => *n += 1,
            None => self.executed.push((batch, 1)),
        }
    }
}

impl ServiceNode {
    /// Tells the coordinator every TID of `batch` has executed here.
    pub(super) fn report_done(&self, batch: BatchId) {
        let message = ToCoordinator::BatchDone {
            batch,
            service: self.id,
        };
        self.transport().to_coordinator(message);
    }

    /// Sends the outbox, then counts its tasks as executed. Counting only after the reports
    /// left is what guarantees the coordinator has every report of a batch before its BatchDone,
    /// whichever worker runs the batch's last task.
    pub(super) fn flush(&self, outbox: &mut Outbox) {
        if !outbox.reports.is_empty() {
            let reports = std::mem::take(&mut outbox.reports);
            let message = ToCoordinator::Reports {
                service: self.id,
                reports,
            };
            self.transport().to_coordinator(message);
        }
        for (to, events) in std::mem::take(&mut outbox.events) {
            let message = ToService::Events(events);
            self.transport()
                .to_service(NodeId::Service(self.id), to, message);
        }
        outbox.pending = 0;
        if outbox.round_executed > 0 {
            let n = std::mem::take(&mut outbox.round_executed);
            let done = {
                let mut st = self.state.lock();
                st.round.as_mut().and_then(|r| {
                    r.executed += n;
                    debug_assert!(r.executed <= r.expected, "more re-executions than planned");
                    (r.executed == r.expected).then(|| (r.id, std::mem::take(&mut r.widened)))
                })
            };
            if let Some((round, widened)) = done {
                let message = ToCoordinator::RoundDone {
                    service: self.id,
                    round,
                    widened,
                };
                self.transport().to_coordinator(message);
            }
        }
        if outbox.executed.is_empty() {
            return;
        }
        let mut done = smallvec::SmallVec::<[BatchId; 2]>::new();
        {
            let mut st = self.state.lock();
            for (batch, n) in outbox.executed.drain(..) {
                st.batches.entry(batch).or_default().executed += n;
                if Self::take_if_done(&mut st, batch) {
                    done.push(batch);
                }
            }
        }
        for batch in done {
            self.report_done(batch);
        }
    }
}
