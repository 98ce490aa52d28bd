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
    /// Messages queued on the link and not yet delivered (the task counts down after each).
    queued: Arc<AtomicU64>,
}

/// The injected network's state, behind one lock: one acquisition per message.
struct Network {
    max: Duration,
    rng: StdRng,
    /// Delayed one-way messages per link, FIFO (without `reorder`).
    links: rustc_hash::FxHashMap<(&'static str, &'static str), Link>,
    /// Every injected delay given (µs), FIFO wait included.
    delays_us: hdrhistogram::Histogram<u64>,
}

impl Network {
    fn draw(&mut self) -> Duration {
        let us = self.max.as_micros() as u64;
        Duration::from_micros(self.rng.random_range(0..=us))
    }

    fn record(&mut self, d: Duration) {
        self.delays_us
            .saturating_record((d.as_micros() as u64).max(1));
    }
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
    /// With injected jitter.
    network: Option<Mutex<Network>>,
    reorder: bool,
    /// Wakes delayed messages with µs precision (tokio's timer rounds up to whole ms).
    timer: Option<Arc<crate::timer::Timer>>,
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
            network: config.jitter.map(|j| {
                Mutex::new(Network {
                    max: j.max,
                    rng: StdRng::seed_from_u64(j.seed),
                    links: Default::default(),
                    delays_us: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3)
                        .expect("bounds"),
                })
            }),
            reorder: config.jitter.is_some_and(|j| j.reorder),
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

    /// Draws and records the delay of a request or reply between services, if jitter is
    /// injected.
    pub(crate) fn request_delay(&self) -> Option<Duration> {
        let mut net = self.network.as_ref()?.lock();
        let d = net.draw();
        net.record(d);
        Some(d)
    }

    /// Whether messages between services are delayed.
    pub(crate) fn injects(&self) -> bool {
        self.network.is_some()
    }

    /// Every injected delay given so far (µs), FIFO wait included.
    pub fn injected_delays(&self) -> Option<hdrhistogram::Histogram<u64>> {
        Some(self.network.as_ref()?.lock().delays_us.clone())
    }

    /// Delivers a one-way message from service `from` to service `to` after a drawn delay, and
    /// never before an earlier message of the same link (unless `reorder`). A task per link
    /// delivers its queued messages in order, so no single task or thread carries every
    /// service's messages; a message already due on a link with nothing queued is delivered at
    /// once by the sender, as a network with no delay would (no extra hop for a zero delay).
    pub(crate) fn deliver_later(&self, from: &'static str, to: &'static str, deliver: Delivery) {
        let (Some(network), Some(timer)) = (&self.network, &self.timer) else {
            deliver();
            return;
        };
        let mut net = network.lock();
        let now = Instant::now();
        let delay = net.draw();
        if self.reorder {
            net.record(delay);
            drop(net);
            if delay.is_zero() {
                deliver();
                return;
            }
            let timer = Arc::clone(timer);
            self.spawn(async move {
                timer.sleep_until(now + delay).await;
                deliver();
            });
            return;
        }
        let link = net.links.entry((from, to)).or_insert_with(|| {
            let (queue, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Delivery)>();
            let queued = Arc::new(AtomicU64::new(0));
            let (timer, left) = (Arc::clone(timer), Arc::clone(&queued));
            self.spawn(async move {
                while let Some((due, deliver)) = rx.recv().await {
                    timer.sleep_until(due).await;
                    deliver();
                    // After the delivery: a later message may now skip the queue.
                    left.fetch_sub(1, Ordering::AcqRel);
                }
            });
            Link {
                last_due: now,
                queue,
                queued,
            }
        });
        let due = (now + delay).max(link.last_due);
        link.last_due = due;
        let mut inline = Some(deliver);
        if due > now || link.queued.load(Ordering::Acquire) > 0 {
            link.queued.fetch_add(1, Ordering::AcqRel);
            let _ = link.queue.send((due, inline.take().expect("not sent")));
        }
        net.record(due - now);
        drop(net);
        if let Some(deliver) = inline {
            deliver();
        }
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
        if let Some(network) = &self.network {
            network.lock().links.clear();
        }
        if let Some(timer) = self.timer.take() {
            timer.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread::ThreadId;

    fn silo(max: Duration) -> Silo {
        Silo::new(SiloConfig {
            workers: 2,
            jitter: Some(Jitter {
                max,
                seed: 1,
                reorder: false,
            }),
        })
        .expect("silo")
    }

    fn on_thread(tx: &mpsc::Sender<(u32, ThreadId)>, n: u32) -> Delivery {
        let tx = tx.clone();
        Box::new(move || {
            let _ = tx.send((n, std::thread::current().id()));
        })
    }

    /// Injection with a zero delay must cost what no injection costs: the sender delivers a
    /// message that is due at once itself, with no hop through the link's task.
    #[test]
    fn a_zero_delay_one_way_message_is_delivered_by_its_sender() {
        let silo = silo(Duration::ZERO);
        let (tx, rx) = mpsc::channel();
        for n in 0..50 {
            silo.deliver_later("a", "b", on_thread(&tx, n));
        }
        let me = std::thread::current().id();
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(got.len(), 50, "all delivered before deliver_later returned");
        assert!(got.iter().all(|(_, t)| *t == me), "delivered by the sender");
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        assert_eq!(silo.injected_delays().map(|h| h.len()), Some(50));
    }

    /// With real delays, the messages of a link still arrive in the order sent.
    #[test]
    fn delayed_one_way_messages_keep_their_order_per_link() {
        let silo = silo(Duration::from_millis(3));
        let (tx, rx) = mpsc::channel();
        for n in 0..200 {
            silo.deliver_later("a", "b", on_thread(&tx, n));
        }
        let got: Vec<u32> = (0..200)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("delivered")
                    .0
            })
            .collect();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "FIFO per link: {got:?}"
        );
    }
}
