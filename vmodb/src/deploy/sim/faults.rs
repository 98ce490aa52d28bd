//! Faults: what the simulation may do to a cluster besides running it. A crash drops all
//! memory, and of the log records appended but not synced keeps none, all or a torn prefix; a
//! failure short of one (a service's death, a broken link) loses what the failed part holds
//! or would carry while the rest runs on, until the driver crashes the cluster.

use super::{Sim, net};
use crate::runtime::message::{Control, Message, NodeId, ServiceId};

/// What a crash left in the log of what was appended and not yet synced: `records` took
/// `bytes`, of which `kept` reached the file (all of them: records never acknowledged; fewer: a
/// torn last record, which recovery must cut).
#[derive(Clone, Copy, Debug, Default)]
pub struct Crash {
    pub records: usize,
    pub kept: usize,
    pub bytes: usize,
}

/// A failure short of a crash, as a deployment of processes meets it: a service process dies,
/// or one link between two nodes breaks. The nodes are not told (detection takes time): what
/// the failed part would carry is lost, the rest goes on, until the cluster stops (`crash`), as
/// every node that loses a peer stops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Service `0` dies: its memory, its queued jobs and every link to and from it are gone.
    Service(ServiceId),
    /// The link from the first node to the second breaks (the coordinator is
    /// `NodeId::Coordinator`): what it holds is lost, and what is sent on it later.
    Link(NodeId, NodeId),
}

impl Sim {
    /// Whether a crash now can be recovered from: only with a data directory. Any step will
    /// do, also while re-executing the log after an earlier crash.
    pub fn may_crash(&self) -> bool {
        self.log.is_some()
    }

    /// Logged batches are being re-executed (after a crash); new work waits.
    pub fn recovering(&self) -> bool {
        self.coordinator.recovering()
    }

    /// How many restarts the log holds between the batches this start re-executes (numbering
    /// jumps there, once all before committed).
    pub fn restarts_between_replayed(&self) -> usize {
        self.restarts_between
    }

    /// This start recovered commits from the data directory's log (after a crash).
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// Records were appended to the log and not yet synced (a crash now may tear one).
    pub fn log_unsynced(&self) -> bool {
        self.log.as_ref().is_some_and(|l| l.unsynced())
    }

    /// The power goes out: everything in memory is gone, the data directory stays as synced,
    /// except that records appended to the log and not yet synced may have reached it in part
    /// (the seed says how much: none, a torn last record, or whole records never acknowledged).
    pub fn crash(mut self) -> Crash {
        let cut = self.rng.next_u64();
        let Some(log) = &self.log else {
            return Crash::default();
        };
        // Nothing reached the disk, all of it did (never acknowledged), or a prefix (torn).
        let (records, (kept, bytes)) = log.crash_mid_write(|n| match cut % 3 {
            0 => 0,
            1 => n,
            _ => (cut >> 8) as usize % (n + 1),
        });
        Crash {
            records,
            kept,
            bytes,
        }
    }

    /// `failure` happens now (see `Failure`); the driver crashes the cluster some steps later.
    pub fn fail(&mut self, failure: Failure) {
        let lost = match failure {
            Failure::Service(s) => {
                self.record(9, s as u64);
                self.jobs.kill(s);
                self.net.kill(s)
            }
            Failure::Link(from, to) => {
                let link = (net::index(from), net::index(to));
                self.record(10, ((link.0 as u64) << 16) | link.1 as u64);
                self.net.cut(link)
            }
        };
        // Reads in flight on what broke are never answered.
        let asks = lost
            .iter()
            .filter(|m| matches!(m, Message::Control(Control::Ask { .. })))
            .count();
        self.reads -= asks;
    }
}
