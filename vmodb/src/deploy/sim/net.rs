//! The simulated network: one FIFO queue per link, as TCP keeps a connection's messages in
//! order; which link delivers next is the simulation's choice.

use crate::runtime::message::{Message, NodeId, Transport};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
    broken: Mutex<Broken>,
}

/// Links broken, and nodes dead (every link to and from them): what they would carry is lost.
#[derive(Default)]
struct Broken {
    links: BTreeSet<(u16, u16)>,
    nodes: BTreeSet<u16>,
}

impl Transport for SimNet {
    fn send(&self, from: NodeId, to: NodeId, message: Message) {
        let link = (index(from), index(to));
        if !self.carries(link) {
            return;
        }
        let mut links = self.links.lock();
        links.entry(link).or_default().push_back(message);
    }
}

impl SimNet {
    /// Whether `link` still carries messages.
    pub(super) fn carries(&self, link: (u16, u16)) -> bool {
        let broken = self.broken.lock();
        !broken.links.contains(&link)
            && !broken.nodes.contains(&link.0)
            && !broken.nodes.contains(&link.1)
    }

    /// `link` breaks: what it holds is lost, and what is sent on it from now on. Returns what
    /// was lost.
    pub(super) fn cut(&self, link: (u16, u16)) -> Vec<Message> {
        self.broken.lock().links.insert(link);
        self.links
            .lock()
            .remove(&link)
            .map_or_else(Vec::new, Vec::from)
    }

    /// `node` dies: every link to and from it breaks. Returns what they held.
    pub(super) fn kill(&self, node: u16) -> Vec<Message> {
        self.broken.lock().nodes.insert(node);
        let mut links = self.links.lock();
        let gone: Vec<(u16, u16)> = links
            .keys()
            .filter(|(a, b)| *a == node || *b == node)
            .copied()
            .collect();
        gone.iter()
            .filter_map(|l| links.remove(l))
            .flat_map(Vec::from)
            .collect()
    }

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
