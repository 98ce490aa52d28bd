//! The silo: the runtime the grains live on, the logical clock, one-way delivery with optional
//! injected jitter, and quiescence detection.

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a silo runs.
#[derive(Clone, Debug)]
pub struct SiloConfig {
    /// Runtime worker threads (default: the machine's cores), so grains spread over every core.
    pub workers: usize,
    /// Injected delay on messages between services: each request, reply and one-way message that
    /// crosses from one service to another (or from the front door to a service) waits a uniform
    /// random delay in `[0, max]`. One-way messages keep their order per link (sending service,
    /// receiving service), as a TCP connection would, unless `Jitter::reorder`.
    pub jitter: Option<Jitter>,
}

impl Default for SiloConfig {
    fn default() -> Self {
        SiloConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            jitter: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    pub max: Duration,
    pub seed: u64,
    /// Each one-way message waits its own delay, so a later one may overtake an earlier one on
    /// the same link (off: per-link FIFO, a later message never leaves before an earlier one).
    pub reorder: bool,
}

/// A one-way message's delivery, run when it is due.
type Delivery = Box<dyn FnOnce() + Send>;

/// One link (sending service, receiving service) of delayed one-way messages: the due time of
/// its last message, and the task that delivers them in order.
struct Link {
    last_due: Instant,
    queue: tokio::sync::mpsc::UnboundedSender<(Instant, Delivery)>,
}

/// Errors of the silo itself (not of the application's grains).
#[derive(Debug)]
pub enum SiloError {
    /// The runtime could not start.
    Runtime(String),
    /// A grain's mailbox was closed: the grain panicked or the silo is shutting down.
    GrainGone(String),
}

impl std::fmt::Display for SiloError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiloError::Runtime(e) => write!(f, "cannot start the actor runtime: {e}"),
            SiloError::GrainGone(g) => write!(f, "grain {g} is gone (it panicked or stopped)"),
        }
    }
}

impl std::error::Error for SiloError {}

pub struct Silo {
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    clock: AtomicU64,
    jitter: Option<(Duration, Mutex<StdRng>)>,
    reorder: bool,
    /// Wakes delayed messages with µs precision (tokio's timer rounds up to whole ms).
    timer: Option<Arc<crate::timer::Timer>>,
    /// Delayed one-way messages per link, FIFO (without `reorder`).
    links: Mutex<rustc_hash::FxHashMap<(&'static str, &'static str), Link>>,
    /// Every injected delay given (µs), FIFO wait included.
    delays_us: Mutex<hdrhistogram::Histogram<u64>>,
    /// One-way messages sent and not yet handled to the end.
    pending: Arc<AtomicU64>,
}

/// One one-way message counted as pending until this is dropped: after its handler ran, or
/// with the message when it cannot be delivered (a refused send, a grain that panicked).
pub(crate) struct PendingOneWay(Arc<AtomicU64>);

impl Drop for PendingOneWay {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(before > 0, "a one-way message finished that was never sent");
    }
}

impl Silo {
    pub fn new(config: SiloConfig) -> Result<Silo, SiloError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers.max(1))
            .thread_name("baseline-silo")
            .enable_time()
            .build()
            .map_err(|e| SiloError::Runtime(e.to_string()))?;
        let timer = match config.jitter {
            Some(_) => {
                let timer = crate::timer::Timer::start();
                Some(Arc::new(
                    timer.map_err(|e| SiloError::Runtime(e.to_string()))?,
                ))
            }
            None => None,
        };
        Ok(Silo {
            runtime: Some(runtime),
            timer,
            clock: AtomicU64::new(0),
            jitter: config
                .jitter
                .map(|j| (j.max, Mutex::new(StdRng::seed_from_u64(j.seed)))),
            reorder: config.jitter.is_some_and(|j| j.reorder),
            links: Mutex::default(),
            delays_us: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
            ),
            pending: Arc::new(AtomicU64::new(0)),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the silo")
    }

    /// The next point of the silo's logical clock (1, 2, ...). Operations draw one where they
    /// take effect, which orders them for the consistency checker the way TIDs order vMODB's.
    pub fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Wall-clock time in µs since the Unix epoch (the baseline has no transaction context).
    pub fn now_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }

    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.runtime().spawn(future);
    }

    /// Runs `future` to completion from a thread outside the runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Enters the runtime so that grains can be activated from this thread.
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.runtime().enter()
    }

    /// The delay of the next message between services, if jitter is injected.
    pub(crate) fn message_delay(&self) -> Option<Duration> {
        let (max, rng) = self.jitter.as_ref()?;
        let us = max.as_micros() as u64;
        Some(Duration::from_micros(rng.lock().random_range(0..=us)))
    }

    /// Records a delay as given (for the comparison of both systems' injected delays).
    pub(crate) fn record_delay(&self, d: Duration) {
        self.delays_us
            .lock()
            .saturating_record((d.as_micros() as u64).max(1));
    }

    /// Every injected delay given so far (µs), FIFO wait included.
    pub fn injected_delays(&self) -> Option<hdrhistogram::Histogram<u64>> {
        self.jitter.as_ref()?;
        Some(self.delays_us.lock().clone())
    }

    /// Delivers a one-way message from service `from` to service `to` after `delay`, and never
    /// before an earlier message of the same link (unless `reorder`). A task per link delivers
    /// its messages in order, so no single task or thread carries every service's messages.
    pub(crate) fn deliver_later(
        &self,
        from: &'static str,
        to: &'static str,
        delay: Duration,
        deliver: Delivery,
    ) {
        let Some(timer) = self.timer.clone() else {
            deliver();
            return;
        };
        let now = Instant::now();
        if self.reorder {
            self.record_delay(delay);
            self.spawn(async move {
                timer.sleep_until(now + delay).await;
                deliver();
            });
            return;
        }
        let mut links = self.links.lock();
        let link = links.entry((from, to)).or_insert_with(|| {
            let (queue, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Delivery)>();
            let timer = Arc::clone(&timer);
            self.spawn(async move {
                while let Some((due, deliver)) = rx.recv().await {
                    timer.sleep_until(due).await;
                    deliver();
                }
            });
            Link {
                last_due: now,
                queue,
            }
        });
        let due = (now + delay).max(link.last_due);
        link.last_due = due;
        let _ = link.queue.send((due, deliver));
        drop(links);
        self.record_delay(due - now);
    }

    /// Waits `delay` (precise to the µs, unlike `tokio::time::sleep`).
    pub(crate) async fn sleep(&self, delay: Duration) {
        match &self.timer {
            Some(t) => t.sleep(delay).await,
            None => tokio::time::sleep(delay).await,
        }
    }

    pub(crate) fn one_way_sent(&self) -> PendingOneWay {
        self.pending.fetch_add(1, Ordering::SeqCst);
        PendingOneWay(Arc::clone(&self.pending))
    }

    /// One-way messages sent and not yet handled.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until no one-way message is pending. Call it when no request is in flight: then a
    /// handler only sends one-way messages while it handles one, whose count is still held, so
    /// observing zero means nothing runs and nothing will.
    pub fn quiesce(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pending() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }
}

impl Drop for Silo {
    /// Stops the grains without waiting for them: the last owner may be a grain's own turn, on
    /// a runtime thread, where a blocking shutdown is not allowed.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        self.links.lock().clear();
        if let Some(timer) = self.timer.take() {
            timer.stop();
        }
    }
}
