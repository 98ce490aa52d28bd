//! A µs-precise timer for injected message delays: one thread holding the pending wake-ups in a
//! heap, sleeping on a condvar until the earliest is due. tokio's own timer works in whole
//! milliseconds, which would inflate every injected delay below a few ms.

use parking_lot::{Condvar, Mutex};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

struct Wakeup {
    due: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Wakeup {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Wakeup {}
impl PartialOrd for Wakeup {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Wakeup {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Wakeup>>,
    seq: u64,
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

pub(crate) struct Timer {
    shared: Arc<Shared>,
    thread: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl Timer {
    pub(crate) fn start() -> std::io::Result<Timer> {
        let shared = Arc::new(Shared::default());
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("baseline-timer".into())
            .spawn(move || run(&s))?;
        Ok(Timer {
            shared,
            thread: parking_lot::Mutex::new(Some(thread)),
        })
    }

    pub(crate) async fn sleep(&self, delay: Duration) {
        self.sleep_until(Instant::now() + delay).await;
    }

    pub(crate) async fn sleep_until(&self, due: Instant) {
        if due <= Instant::now() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.shared.queue.lock();
            if q.stopped {
                return;
            }
            q.seq += 1;
            let seq = q.seq;
            let earliest = q.heap.peek().map(|Reverse(w)| w.due);
            q.heap.push(Reverse(Wakeup { due, seq, tx }));
            if earliest.is_none_or(|e| due < e) {
                self.shared.wake.notify_one();
            }
        }
        // A stopped timer drops the sender: the wait ends at once.
        let _ = rx.await;
    }

    pub(crate) fn stop(&self) {
        self.shared.queue.lock().stopped = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut q = shared.queue.lock();
    loop {
        if q.stopped {
            q.heap.clear();
            return;
        }
        let now = Instant::now();
        while q.heap.peek().is_some_and(|Reverse(w)| w.due <= now) {
            if let Some(Reverse(w)) = q.heap.pop() {
                let _ = w.tx.send(());
            }
        }
        match q.heap.peek().map(|Reverse(w)| w.due) {
            Some(due) => {
                shared.wake.wait_until(&mut q, due);
            }
            None => shared.wake.wait(&mut q),
        }
    }
}
