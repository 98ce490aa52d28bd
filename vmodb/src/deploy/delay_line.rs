//! Injected network delay (`ClusterConfig::link_delay`): a delay line holds each message for a
//! random time before a thread of its own delivers it, never letting a message overtake one sent
//! earlier on the same link. The cluster runs one line per receiving service, so no single
//! thread delivers every service's messages.
//!
//! The delay models the network between services for fault-injection runs (delay jitter); it
//! keeps the `Transport` contract (messages from one sender to one receiver arrive in the order
//! sent), as the TCP transport will: the cluster keys the line by link (sender, receiver), so a
//! message waits behind earlier ones on its own connection only (TCP's head-of-line blocking),
//! and on a busy link the effective delay drifts toward `max_us`.

use parking_lot::{Condvar, Mutex, MutexGuard};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Injected delay on every message to a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkDelay {
    /// Each message waits a uniform random delay in `[0, max_us]` µs, but never leaves before a
    /// message sent earlier to the same service.
    pub max_us: u64,
    /// Seed of the delay draws. Draws follow the order messages are sent in, which depends on
    /// thread timing: the distribution is repeatable, the exact schedule is not.
    pub seed: u64,
}

/// A message waiting for its due time.
struct Held<T> {
    due: Instant,
    /// Send order; breaks ties of `due` so a receiver's messages leave in the order sent.
    seq: u64,
    to: usize,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Held<T> {
    /// Reversed, so `BinaryHeap` (a max-heap) yields the earliest `(due, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

struct Queue<T> {
    held: BinaryHeap<Held<T>>,
    /// The latest due time given to each receiver: a later message is never due earlier, so
    /// `(due, seq)` order is send order per receiver.
    last_due: Vec<Instant>,
    /// Messages held or being delivered, per receiver: a message already due on a link with
    /// none is handed back to its sender to deliver at once.
    queued: Vec<usize>,
    next_seq: u64,
    /// Draws one message's delay.
    draw: Box<dyn FnMut() -> Duration + Send>,
    /// Messages accepted and not yet delivered (held, or being delivered right now).
    in_flight: usize,
    /// Each message's effective delay (its due time minus its send time, FIFO wait included), µs.
    delays_us: hdrhistogram::Histogram<u64>,
    stopped: bool,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Wakes the delivery thread: a new earliest message, or stop.
    wake: Condvar,
    /// Tells `wait_drained` that `in_flight` reached zero.
    drained: Condvar,
}

/// Holds messages until their due time; a thread named `vmodb-link-delay` delivers them.
/// Sleeps until the earliest due time or a new earlier message; never spins.
pub(crate) struct DelayLine<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<T: Send + 'static> DelayLine<T> {
    /// A line for `receivers` receivers (`0..receivers`; others get no ordering) with delays
    /// drawn as `config` says; `deliver(to, item)` runs on the line's thread.
    pub fn start(
        config: LinkDelay,
        receivers: usize,
        deliver: impl FnMut(usize, T) + Send + 'static,
    ) -> std::io::Result<Self> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let max_us = config.max_us;
        let draw = move || Duration::from_micros(rng.random_range(0..=max_us));
        Self::with_delays(receivers, Box::new(draw), deliver)
    }

    /// A line whose delays come from `draw` (one call per message, in send order).
    pub fn with_delays(
        receivers: usize,
        draw: Box<dyn FnMut() -> Duration + Send>,
        deliver: impl FnMut(usize, T) + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                held: BinaryHeap::new(),
                last_due: vec![Instant::now(); receivers],
                queued: vec![0; receivers],
                next_seq: 0,
                draw,
                in_flight: 0,
                delays_us: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3)
                    .expect("bounds"),
                stopped: false,
            }),
            wake: Condvar::new(),
            drained: Condvar::new(),
        });
        let runner = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("vmodb-link-delay".into())
            .spawn(move || run(&runner, deliver))?;
        Ok(DelayLine {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Accepts `item` for receiver `to`; it is delivered at `max(now + delay, the due time of
    /// the previous message to `to`)`. An item already due with nothing held for `to` comes
    /// back: the caller delivers it at once (a zero delay costs no hop through the line's
    /// thread). After `stop`, items are dropped, as by a closed link.
    #[must_use = "an item handed back is due now: deliver it"]
    pub fn send(&self, to: usize, item: T) -> Option<T> {
        let mut q = self.shared.queue.lock();
        if q.stopped {
            return None;
        }
        let now = Instant::now();
        let mut due = now + (q.draw)();
        if let Some(last) = q.last_due.get_mut(to) {
            due = due.max(*last);
            *last = due;
        }
        let waited = (due - now).as_micros() as u64;
        q.delays_us.saturating_record(waited.max(1));
        if due <= now && q.queued.get(to).is_none_or(|n| *n == 0) {
            return Some(item);
        }
        if let Some(n) = q.queued.get_mut(to) {
            *n += 1;
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        q.in_flight += 1;
        q.held.push(Held { due, seq, to, item });
        // The thread sleeps until the earliest due time; only a new earliest one changes that.
        let earliest = q.held.peek().is_some_and(|h| h.seq == seq);
        drop(q);
        if earliest {
            self.shared.wake.notify_one();
        }
        None
    }

    /// The effective delays given so far (µs): what the fair-injection comparison records.
    pub fn delays(&self) -> hdrhistogram::Histogram<u64> {
        self.shared.queue.lock().delays_us.clone()
    }

    /// Blocks until every accepted item has been delivered (its `deliver` call returned), or
    /// `deadline` passes, or the line stops. True if nothing is in flight.
    pub fn wait_drained(&self, deadline: Instant) -> bool {
        let mut q = self.shared.queue.lock();
        while q.in_flight > 0 && !q.stopped {
            if self.shared.drained.wait_until(&mut q, deadline).timed_out() {
                break;
            }
        }
        q.in_flight == 0
    }

    /// Stops the thread (after the delivery in progress, if any) and drops what is still held.
    pub fn stop(&self) {
        let held = {
            let mut q = self.shared.queue.lock();
            q.stopped = true;
            std::mem::take(&mut q.held)
        };
        drop(held);
        self.shared.wake.notify_all();
        self.shared.drained.notify_all();
        if let Some(t) = self.thread.lock().take()
            // The last owner may drop the line from within a delivery; that thread ends anyway.
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl<T: Send + 'static> Drop for DelayLine<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The delivery thread: delivers everything due, in `(due, seq)` order, outside the lock; then
/// sleeps until the next due time or a wake-up.
fn run<T>(shared: &Shared<T>, mut deliver: impl FnMut(usize, T)) {
    let mut due_now = Vec::new();
    let mut delivered_to = Vec::new();
    let mut q = shared.queue.lock();
    while !q.stopped {
        let now = Instant::now();
        while q.held.peek().is_some_and(|h| h.due <= now) {
            due_now.extend(q.held.pop());
        }
        if due_now.is_empty() {
            match q.held.peek().map(|h| h.due) {
                Some(due) => {
                    shared.wake.wait_until(&mut q, due);
                }
                None => shared.wake.wait(&mut q),
            }
            continue;
        }
        let n = due_now.len();
        MutexGuard::unlocked(&mut q, || {
            for h in due_now.drain(..) {
                delivered_to.push(h.to);
                deliver(h.to, h.item);
            }
        });
        // Only after delivery: a later message of these links may now skip the line.
        for to in delivered_to.drain(..) {
            if let Some(n) = q.queued.get_mut(to) {
                *n -= 1;
            }
        }
        q.in_flight -= n;
        if q.in_flight == 0 {
            shared.drained.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    type Delivered = (usize, u32, Instant);

    /// A line whose delays are `delays_ms` in turn; what it delivers, and what it hands back to
    /// the sender to deliver at once, both go to one channel as `(to, item, delivered at)`.
    struct Scripted {
        line: DelayLine<u32>,
        tx: mpsc::Sender<Delivered>,
        handed_back: Vec<u32>,
    }

    impl Scripted {
        fn send(&mut self, to: usize, item: u32) {
            if let Some(item) = self.line.send(to, item) {
                self.handed_back.push(item);
                let _ = self.tx.send((to, item, Instant::now()));
            }
        }
    }

    fn scripted(receivers: usize, delays_ms: Vec<u64>) -> (Scripted, mpsc::Receiver<Delivered>) {
        let mut delays = delays_ms.into_iter();
        let draw = Box::new(move || Duration::from_millis(delays.next().unwrap_or(0)));
        let (tx, rx) = mpsc::channel();
        let to_line = tx.clone();
        let line = DelayLine::with_delays(receivers, draw, move |to, item| {
            let _ = to_line.send((to, item, Instant::now()));
        })
        .expect("start");
        let s = Scripted {
            line,
            tx,
            handed_back: Vec::new(),
        };
        (s, rx)
    }

    /// A zero delay costs no hop through the line's thread, unless an earlier message of the
    /// same link is still held (then it waits its turn).
    #[test]
    fn a_message_due_at_once_on_an_idle_link_is_handed_back_to_its_sender() {
        let (mut s, rx) = scripted(2, vec![0, 100, 0, 0]);
        s.send(0, 1); // idle link, 0 ms: back at once
        s.send(1, 2); // 100 ms: held
        s.send(1, 3); // 0 ms, but behind 2: held
        s.send(0, 4); // idle link again: back at once
        assert_eq!(s.handed_back, vec![1, 4]);
        let order: Vec<u32> = (0..4)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("delivered")
                    .1
            })
            .collect();
        assert_eq!(order, vec![1, 4, 2, 3]);
        assert!(
            s.line
                .wait_drained(Instant::now() + Duration::from_secs(10))
        );
        let delays = s.line.delays();
        assert_eq!(delays.len(), 4, "every message's delay is recorded");
    }

    #[test]
    fn a_receiver_gets_its_messages_in_send_order_even_when_later_ones_draw_shorter_delays() {
        // Receiver 0: 1 waits 150 ms, 2 and 3 draw 0 ms. Receiver 1: 4 draws 0 ms.
        let (mut s, rx) = scripted(2, vec![150, 0, 0, 0]);
        let start = Instant::now();
        s.send(0, 1);
        s.send(0, 2);
        s.send(0, 3);
        s.send(1, 4);
        let got: Vec<_> = (0..4)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("delivered"))
            .collect();
        let order: Vec<u32> = got.iter().map(|g| g.1).collect();
        // 4 overtakes 1 (another receiver, shorter delay); 2 and 3 wait behind 1.
        assert_eq!(order, vec![4, 1, 2, 3]);
        for (to, item, at) in &got {
            if *to == 0 {
                assert!(
                    *at >= start + Duration::from_millis(150),
                    "message {item} left before message 1's due time"
                );
            }
        }
        assert!(
            s.line
                .wait_drained(Instant::now() + Duration::from_secs(10))
        );
    }

    #[test]
    fn no_message_leaves_before_its_due_time() {
        let delays = vec![30, 5, 60, 0, 20, 45];
        let (mut s, rx) = scripted(6, delays.clone());
        let mut sent = Vec::new();
        for (i, _) in delays.iter().enumerate() {
            sent.push(Instant::now());
            s.send(i, i as u32); // one receiver each: no FIFO wait, only its own delay
        }
        for _ in 0..delays.len() {
            let (_, item, at) = rx.recv_timeout(Duration::from_secs(10)).expect("delivered");
            let i = item as usize;
            assert!(at >= sent[i] + Duration::from_millis(delays[i]), "item {i}");
        }
    }

    #[test]
    fn random_delays_keep_per_receiver_order_from_many_senders() {
        let (tx, rx) = mpsc::channel();
        let config = LinkDelay {
            max_us: 3000,
            seed: 7,
        };
        let to_line = tx.clone();
        let line = Arc::new(
            DelayLine::start(config, 3, move |to, item: (u32, u32)| {
                let _ = to_line.send((to, item));
            })
            .expect("start"),
        );
        let senders: Vec<_> = (0..4u32)
            .map(|s| {
                let (line, tx) = (Arc::clone(&line), tx.clone());
                std::thread::spawn(move || {
                    for i in 0..300u32 {
                        let to = (i % 3) as usize;
                        if let Some(item) = line.send(to, (s, i)) {
                            let _ = tx.send((to, item));
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().expect("sender");
        }
        assert!(line.wait_drained(Instant::now() + Duration::from_secs(20)));
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(got.len(), 1200, "each message exactly once");
        // Per (receiver, sender), sequence numbers arrive increasing.
        let mut last = std::collections::HashMap::new();
        for (to, (s, i)) in got {
            assert_eq!(to, (i % 3) as usize);
            if let Some(prev) = last.insert((to, s), i) {
                assert!(
                    prev < i,
                    "receiver {to} got {i} after {prev} from sender {s}"
                );
            }
        }
    }

    #[test]
    fn stop_ends_the_thread_and_drops_held_messages() {
        let (mut s, rx) = scripted(1, vec![60_000]);
        s.send(0, 1);
        let Scripted { line, tx, .. } = s;
        drop(tx);
        let shared = Arc::downgrade(&line.shared);
        let started = Instant::now();
        drop(line);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "stop must not wait for dues"
        );
        assert!(shared.upgrade().is_none(), "the thread released the line");
        assert!(
            rx.try_recv().is_err(),
            "held messages are dropped, not delivered"
        );
    }
}
