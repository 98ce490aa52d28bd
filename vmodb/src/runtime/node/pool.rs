//! The worker pool the services of one process share (rayon-core, one thread per core), with a
//! count of busy workers so that a job hands work to an idle worker instead of queueing it
//! behind itself. Under the simulator the pool only queues jobs (`SimJobs`); the simulator runs
//! them one at a time, in an order its seed picks.

use crate::model::error::BootstrapError;
use parking_lot::Mutex;
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send>;

/// Jobs spawned under the simulator, each with the service that spawned it, waiting for the
/// simulator to run them.
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

enum Exec {
    Threads(rayon_core::ThreadPool),
    Simulated {
        jobs: Arc<SimJobs>,
        workers: usize,
        owner: u16,
    },
}

/// The worker pool shared by all services, with a count of busy workers so a job hands work to
/// an idle worker instead of queueing it behind itself.
pub(crate) struct WorkerPool {
    exec: Exec,
    busy: std::sync::atomic::AtomicUsize,
}

/// Marks a worker busy while alive.
pub(crate) struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl WorkerPool {
    pub fn new(pool: rayon_core::ThreadPool) -> Self {
        WorkerPool {
            exec: Exec::Threads(pool),
            busy: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A pool of service `owner` that only queues its jobs in `jobs`, as if it had `workers`
    /// threads.
    pub fn simulated(jobs: Arc<SimJobs>, workers: usize, owner: u16) -> Self {
        WorkerPool {
            exec: Exec::Simulated {
                jobs,
                workers: workers.max(1),
                owner,
            },
            busy: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        match &self.exec {
            Exec::Threads(pool) => pool.spawn_fifo(job),
            Exec::Simulated { jobs, owner, .. } => jobs.push(*owner, Box::new(job)),
        }
    }

    /// The simulator runs this pool's jobs (and whatever would run on a thread of its own).
    pub fn is_simulated(&self) -> bool {
        matches!(self.exec, Exec::Simulated { .. })
    }

    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Busy(&self.busy)
    }

    pub fn has_idle_worker(&self) -> bool {
        let threads = match &self.exec {
            Exec::Threads(pool) => pool.current_num_threads(),
            Exec::Simulated { workers, .. } => *workers,
        };
        self.busy.load(std::sync::atomic::Ordering::Relaxed) < threads
    }
}

/// A worker pool of `workers` threads shared by the services of one process.
pub(crate) fn worker_pool(workers: usize) -> Result<Arc<WorkerPool>, BootstrapError> {
    let pool = rayon_core::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .thread_name(|i| format!("vmodb-worker-{i}"))
        .build()
        .map_err(|e| BootstrapError(format!("cannot start worker pool: {e}")))?;
    Ok(Arc::new(WorkerPool::new(pool)))
}
