//! Where a service node's work runs. The runtime only hands jobs to an `Executor`: a
//! deployment's worker threads (`deploy::threads`), or the simulator's list of jobs, which it
//! runs one at a time in an order its seed picks. `WorkerPool` adds the count of busy workers,
//! so that a job hands work to an idle worker instead of queueing it behind itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Waits for a long job to finish.
pub(crate) type Waiter = Box<dyn FnOnce() + Send>;

/// What runs the jobs of the services of one process.
pub(crate) trait Executor: Send + Sync {
    /// Runs `job` soon, on one of the workers.
    fn spawn(&self, job: Job);
    /// Runs `job` off the workers, at a lower priority, where it may take long (a checkpoint
    /// being written); the waiter waits for it. An error if it cannot start.
    fn spawn_long(&self, job: Job) -> Result<Waiter, String>;
    /// How many workers run jobs at once.
    fn workers(&self) -> usize;
}

/// The executor shared by a process's services, with a count of busy workers.
pub(crate) struct WorkerPool {
    exec: Arc<dyn Executor>,
    busy: AtomicUsize,
}

/// Marks a worker busy while alive.
pub(crate) struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl WorkerPool {
    pub fn new(exec: Arc<dyn Executor>) -> Self {
        WorkerPool {
            exec,
            busy: AtomicUsize::new(0),
        }
    }

    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.exec.spawn(Box::new(job));
    }

    pub fn spawn_long(&self, job: impl FnOnce() + Send + 'static) -> Result<Waiter, String> {
        self.exec.spawn_long(Box::new(job))
    }

    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(&self.busy)
    }

    pub fn has_idle_worker(&self) -> bool {
        self.busy.load(Ordering::Relaxed) < self.exec.workers()
    }
}
