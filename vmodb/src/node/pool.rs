//! The worker pool the services of one process share (rayon-core, one thread per core), with a
//! count of busy workers so that a job hands work to an idle worker instead of queueing it
//! behind itself.

use crate::error::BootstrapError;
use std::sync::Arc;

/// The worker pool shared by all services, with a count of busy workers so a job hands work to
/// an idle worker instead of queueing it behind itself.
pub(crate) struct WorkerPool {
    pool: rayon_core::ThreadPool,
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
            pool,
            busy: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.pool.spawn_fifo(job);
    }

    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Busy(&self.busy)
    }

    pub fn has_idle_worker(&self) -> bool {
        self.busy.load(std::sync::atomic::Ordering::Relaxed) < self.pool.current_num_threads()
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
