//! The threads and the clock a deployment runs the runtime on (the simulator gives its steps
//! and virtual time instead): the coordinator's thread, which takes its inputs (reports, votes,
//! wake-ups) one at a time and fires the batch timer; the worker pool the services share; the
//! checkpoint writers' threads; and `SystemClock`.

use crate::app::App;
use crate::durability::log::Indexed;
use crate::durability::writer::CommitLog;
use crate::model::error::BootstrapError;
use crate::runtime::clock::Clock;
use crate::runtime::coordinator::{Coordinator, CoordinatorConfig, Input, Wiring};
use crate::runtime::message::Transport;
use crate::runtime::node::{Executor, Job, Waiter, WorkerPool};
use crate::storage::wal::Wal;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// The system's clocks.
pub(crate) struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn wall_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }

    fn mono_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

/// A deployment's coordinator: on the system clock, sending through `transport`, taking its
/// inputs from `inbox` (made with `Coordinator::inbox_channel`), and with durability logging
/// to a commit log started on `wal` (whose records `index` lists); and its thread, started.
pub(crate) fn start(
    app: &Arc<App>,
    config: CoordinatorConfig,
    transport: Arc<dyn Transport>,
    (inbox, inbox_rx): (Sender<Input>, Receiver<Input>),
    wal: Option<(Wal, Vec<(u64, Indexed)>)>,
) -> Result<(Arc<Coordinator>, JoinHandle<()>), BootstrapError> {
    let log = match wal {
        Some((wal, index)) => Some(
            CommitLog::start(wal, config.keep(), index)
                .map_err(|e| BootstrapError(format!("cannot start the commit log: {e}")))?,
        ),
        None => None,
    };
    let wiring = Wiring {
        transport,
        inbox,
        log,
        clock: Arc::new(SystemClock::new()),
    };
    let coordinator = Coordinator::new(Arc::clone(app), config, wiring);
    let thread = spawn(&coordinator, inbox_rx)?;
    Ok((coordinator, thread))
}

/// Starts the thread that runs `coordinator` on what arrives in `inbox`, until a `Shutdown`
/// or until every sender is gone.
fn spawn(
    coordinator: &Arc<Coordinator>,
    inbox: Receiver<Input>,
) -> Result<JoinHandle<()>, BootstrapError> {
    let runner = Arc::clone(coordinator);
    std::thread::Builder::new()
        .name("vmodb-coordinator".into())
        .spawn(move || run(&runner, &inbox))
        .map_err(|e| BootstrapError(format!("cannot start coordinator: {e}")))
}

fn run(coordinator: &Arc<Coordinator>, inbox: &Receiver<Input>) {
    loop {
        let input = match coordinator.seal_due_in() {
            Some(left) => match inbox.recv_timeout(left) {
                Ok(i) => Some(i),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match inbox.recv() {
                Ok(i) => Some(i),
                Err(_) => return,
            },
        };
        match input {
            None => coordinator.seal_if_due(),
            Some(Input::Shutdown) => return,
            Some(i) => coordinator.step(i),
        }
    }
}

/// The services' worker threads (rayon-core, one per core), and a thread of its own per long
/// job.
struct Threads(rayon_core::ThreadPool);

impl Executor for Threads {
    fn spawn(&self, job: Job) {
        self.0.spawn_fifo(job);
    }

    fn spawn_long(&self, job: Job) -> Result<Waiter, String> {
        let handle = std::thread::Builder::new()
            .name("vmodb-checkpoint".into())
            .spawn(move || {
                crate::durability::yield_cpu_to_workers();
                job();
            })
            .map_err(|e| format!("no thread: {e}"))?;
        Ok(Box::new(move || drop(handle.join())))
    }

    fn workers(&self) -> usize {
        self.0.current_num_threads()
    }
}

/// A worker pool of `workers` threads shared by the services of one process.
pub(crate) fn worker_pool(workers: usize) -> Result<Arc<WorkerPool>, BootstrapError> {
    let pool = rayon_core::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .thread_name(|i| format!("vmodb-worker-{i}"))
        .build()
        .map_err(|e| BootstrapError(format!("cannot start worker pool: {e}")))?;
    Ok(Arc::new(WorkerPool::new(Arc::new(Threads(pool)))))
}
