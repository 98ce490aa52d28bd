//! The per-service predecessor chain: which arrived tasks may start now.
//!
//! Every task names its predecessor at this service (`prev`). The chain walk starts at the last
//! admitted TID and follows successor links, admitting each task whose footprint does not conflict
//! with a running *earlier* writer; the first task that conflicts stops the walk (head-of-line).
//! Invariant (enforced by `admit`): a task starts only after every earlier task of this service has
//! started, and never while an earlier task it conflicts with is running. Together with TID-tagged
//! versions this makes each service's execution equivalent to running its share in TID order.
//!
//! Conflicts (between a running earlier task `a` and a candidate `b`):
//! - `a` read-only: none. `b` writes versions newer than anything `a` can see.
//! - otherwise by mode: single conflicts with everything; parallel with single and partitioned;
//!   partitioned with single, parallel and partitioned tasks sharing a key.
//!   A read-only `b` conflicts like a writer would (it must see `a`'s writes).

use crate::app::service::PartitionKeys;
use crate::model::schema::Tid;
use rustc_hash::FxHashMap;

/// What a task may touch, as declared by its handler.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Footprint {
    /// Touches nothing (a "nothing for you" marker, or a payload that could not be decoded).
    Empty,
    Single {
        writes: bool,
    },
    Parallel {
        writes: bool,
    },
    Partitioned {
        writes: bool,
        keys: PartitionKeys,
    },
}

impl Footprint {
    pub(crate) fn writes(&self) -> bool {
        match self {
            Footprint::Empty => false,
            Footprint::Single { writes } | Footprint::Parallel { writes } => *writes,
            Footprint::Partitioned { writes, .. } => *writes,
        }
    }
}

/// A set of writers: those running now (the chain), or those whose effects a rollback round
/// changes (`rollback::plan_round`). Readers are not tracked: nothing later depends on them.
#[derive(Default, Debug)]
pub(crate) struct Running {
    single: u32,
    parallel: u32,
    partitioned: u32,
    keys: FxHashMap<u64, u32>,
}

impl Running {
    /// Whether a later task with footprint `f` may touch what one of these writers wrote.
    pub(crate) fn conflicts(&self, f: &Footprint) -> bool {
        match f {
            Footprint::Empty => false,
            Footprint::Single { .. } => self.single + self.parallel + self.partitioned > 0,
            Footprint::Parallel { .. } => self.single + self.partitioned > 0,
            Footprint::Partitioned { keys, .. } => {
                self.single + self.parallel > 0 || keys.iter().any(|k| self.keys.contains_key(k))
            }
        }
    }

    pub(crate) fn add(&mut self, f: &Footprint) {
        if !f.writes() {
            return;
        }
        match f {
            Footprint::Empty => {}
            Footprint::Single { .. } => self.single += 1,
            Footprint::Parallel { .. } => self.parallel += 1,
            Footprint::Partitioned { keys, .. } => {
                self.partitioned += 1;
                for k in keys {
                    *self.keys.entry(*k).or_insert(0) += 1;
                }
            }
        }
    }

    fn remove(&mut self, f: &Footprint) {
        if !f.writes() {
            return;
        }
        match f {
            Footprint::Empty => {}
            Footprint::Single { .. } => self.single -= 1,
            Footprint::Parallel { .. } => self.parallel -= 1,
            Footprint::Partitioned { keys, .. } => {
                self.partitioned -= 1;
                for k in keys {
                    if let Some(n) = self.keys.get_mut(k) {
                        *n -= 1;
                        if *n == 0 {
                            self.keys.remove(k);
                        }
                    }
                }
            }
        }
    }
}

/// A task waiting in, or admitted from, the chain.
pub struct Slot<T> {
    pub tid: Tid,
    pub prev: Tid,
    pub footprint: Footprint,
    pub task: T,
}

/// The chain of one service. `T` is whatever the runtime needs to run the task.
pub struct Chain<T> {
    /// Arrived tasks not yet reached by the walk, keyed by their predecessor.
    waiting: FxHashMap<Tid, Slot<T>>,
    /// The TID of the last admitted task: the next one to admit has `prev == last_admitted`.
    last_admitted: Tid,
    running: Running,
}

#[derive(Debug, PartialEq, Eq)]
pub enum InsertError {
    /// Two tasks claim the same predecessor, or the predecessor was already passed: the peer
    /// that sent it is broken. The task is refused; the chain is unaffected.
    Corrupt { tid: Tid, prev: Tid },
}

impl<T> Chain<T> {
    /// A chain whose next task has predecessor `start` (the last TID already executed here).
    pub fn new(start: Tid) -> Self {
        Chain {
            waiting: FxHashMap::default(),
            last_admitted: start,
            running: Running::default(),
        }
    }

    pub fn insert(&mut self, slot: Slot<T>) -> Result<(), InsertError> {
        if slot.prev < self.last_admitted
            || slot.prev >= slot.tid
            || self.waiting.contains_key(&slot.prev)
        {
            return Err(InsertError::Corrupt {
                tid: slot.tid,
                prev: slot.prev,
            });
        }
        self.waiting.insert(slot.prev, slot);
        Ok(())
    }

    /// Walks the chain and returns the tasks that may start now, marking them running.
    pub fn admit(&mut self) -> Vec<Slot<T>> {
        let mut out = Vec::new();
        while let Some(next) = self.waiting.get(&self.last_admitted) {
            if self.running.conflicts(&next.footprint) {
                break;
            }
            let slot = self.waiting.remove(&self.last_admitted).expect("present");
            self.running.add(&slot.footprint);
            self.last_admitted = slot.tid;
            out.push(slot);
        }
        out
    }

    /// A task admitted earlier has finished.
    pub fn finish(&mut self, footprint: &Footprint) {
        self.running.remove(footprint);
    }

    pub fn waiting_len(&self) -> usize {
        self.waiting.len()
    }

    pub fn last_admitted(&self) -> Tid {
        self.last_admitted
    }
}
