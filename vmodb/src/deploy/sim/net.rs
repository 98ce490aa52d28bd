//! The simulated network: one FIFO queue per link, as TCP keeps a connection's messages in
//! order; which link delivers next is the simulation's choice.

use crate::runtime::message::{Message, NodeId, Transport};
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};

/// The coordinator's index on a link (services are `0..n`).
pub(super) const COORDINATOR: u16 = u16::MAX;

pub(super) fn index(node: NodeId) -> u16 {
    match node {
        NodeId::Coordinator => COORDINATOR,
        NodeId::Service(i) => i,
    }
}

/// Per-link FIFO queues: `(from, to)` → messages in send order.
#[derive(Default)]
pub(super) struct SimNet {
    pub(super) links: Mutex<BTreeMap<(u16, u16), VecDeque<Message>>>,
}

impl Transport for SimNet {
    fn send(&self, from: NodeId, to: NodeId, message: Message) {
        let mut links = self.links.lock();
        links
            .entry((index(from), index(to)))
            .or_default()
            .push_back(message);
    }
}

impl SimNet {
    /// The links with something queued, in link order.
    pub(super) fn busy(&self) -> Vec<(u16, u16)> {
        let links = self.links.lock();
        links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(l, _)| *l)
            .collect()
    }

    pub(super) fn pop(&self, link: (u16, u16)) -> Option<Message> {
        self.links
            .lock()
            .get_mut(&link)
            .and_then(VecDeque::pop_front)
    }
}

/// A message's kind and first TID, for the trace.
pub(super) fn tag(m: &Message) -> u64 {
    use crate::runtime::message::{Control, ToCoordinator as C, ToService as S};
    let (kind, n): (u64, u64) = match m {
        Message::ToService(S::Events(e)) => (1, e.first().map_or(0, |e| e.tid())),
        Message::ToService(S::CloseBatch { batch, .. }) => (2, *batch),
        Message::ToService(S::CommitBatch { batch, .. }) => (3, *batch),
        Message::ToCoordinator(C::Reports { reports, .. }) => (4, reports.len() as u64),
        Message::ToCoordinator(C::BatchDone { batch, .. }) => (5, *batch),
        Message::ToService(S::ListTasks { round, .. }) => (6, *round as u64),
        Message::ToCoordinator(C::Tasks { round, .. }) => (7, *round as u64),
        Message::ToService(S::Rollback { round, .. }) => (8, *round as u64),
        Message::ToCoordinator(C::RolledBack { round, .. }) => (9, *round as u64),
        Message::ToCoordinator(C::RoundDone { round, .. }) => (10, *round as u64),
        Message::Control(Control::Ask { id, .. }) => (11, *id),
        _ => (12, 0),
    };
    (kind << 56) ^ n
}
