//! The simulator's executor: jobs wait in one list, each with the service that spawned it,
//! until the simulation runs them, one at a time, in an order its seed picks. A long job (a
//! checkpoint being written) is a job like any other: before it runs, no checkpoint file.

use crate::runtime::node::{Executor, Job, Waiter};
use parking_lot::Mutex;
use std::sync::Arc;

/// Jobs spawned under the simulator, waiting for it to run them.
#[derive(Default)]
pub(crate) struct SimJobs {
    queued: Mutex<Vec<(u16, Job)>>,
    /// Services whose process died: what they spawn is dropped.
    dead: Mutex<Vec<u16>>,
}

impl SimJobs {
    pub fn len(&self) -> usize {
        self.queued.lock().len()
    }

    /// Takes queued job `i` (`i < len()`), to run outside the lock.
    pub fn take(&self, i: usize) -> Option<Job> {
        let mut q = self.queued.lock();
        (i < q.len()).then(|| q.swap_remove(i).1)
    }

    /// Service `owner` died: its queued jobs go, and it spawns nothing from now on.
    pub fn kill(&self, owner: u16) {
        self.dead.lock().push(owner);
        self.queued.lock().retain(|(o, _)| *o != owner);
    }

    fn push(&self, owner: u16, job: Job) {
        if !self.dead.lock().contains(&owner) {
            self.queued.lock().push((owner, job));
        }
    }
}

/// The executor of service `owner`, as if it had `workers` threads.
pub(crate) struct SimExecutor {
    pub jobs: Arc<SimJobs>,
    pub owner: u16,
    pub workers: usize,
}

impl Executor for SimExecutor {
    fn spawn(&self, job: Job) {
        self.jobs.push(self.owner, job);
    }

    fn spawn_long(&self, job: Job) -> Result<Waiter, String> {
        // Nothing to wait for: the coordinator asks for the next checkpoint only once this
        // one answered, which only its job does.
        self.jobs.push(self.owner, job);
        Ok(Box::new(|| {}))
    }

    fn workers(&self) -> usize {
        self.workers.max(1)
    }
}
