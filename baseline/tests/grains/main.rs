//! The baseline's virtual-actor layer on a tiny test world: activation on first message, one
//! turn at a time per grain, `ask` replies, `tell` order with and without injected jitter (which
//! delays messages between services only), quiescence, the logical clock, and how the world (and
//! the silo's runtime) is torn down.

use baseline::{Directory, Grain, Handles, Jitter, Silo, SiloConfig, SiloError, World, ask, tell};
use futures::future::join;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, oneshot};

mod activation_turns_ask;
mod effects;
mod tell_quiescence_teardown;

/// Generous bound on anything that should happen "soon": only reached if the property broke.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

/// What the world saw when it was finally dropped.
struct DropReport {
    /// Whether the drop of an earlier field (the silo) panicked.
    panicking: bool,
    /// The thread that dropped the world.
    thread: Option<String>,
}

/// Reports the world's drop, after the silo's (it is declared after it).
struct DropProbe(Option<mpsc::Sender<DropReport>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(DropReport {
                panicking: std::thread::panicking(),
                thread: std::thread::current().name().map(str::to_owned),
            });
        }
    }
}

struct TestWorld {
    /// Declared first, so dropped first: the probe below sees whether its drop panicked.
    silo: Silo,
    counters: Directory<Counter>,
    logs: Directory<Log>,
    relays1: Directory<Relay<1>>,
    relays2: Directory<Relay<2>>,
    relays3: Directory<Relay<3>>,
    /// How long `activate` takes (widens the window of an activation race).
    activation_delay: Duration,
    activations: AtomicUsize,
    activations_by_grain: Mutex<FxHashMap<(&'static str, u32), usize>>,
    hops_handled: AtomicUsize,
    /// Grain states dropped so far (shared with the grains, not through the world).
    grains_dropped: Arc<AtomicUsize>,
    _drop_probe: DropProbe,
}

impl World for TestWorld {
    fn silo(&self) -> &Silo {
        &self.silo
    }
}

impl TestWorld {
    fn record_activation(&self, grain: &'static str, key: u32) -> DropCount {
        self.activations.fetch_add(1, Ordering::SeqCst);
        *self
            .activations_by_grain
            .lock()
            .entry((grain, key))
            .or_default() += 1;
        if !self.activation_delay.is_zero() {
            std::thread::sleep(self.activation_delay);
        }
        DropCount(self.grains_dropped.clone())
    }
}

fn config(workers: usize, jitter: Option<Jitter>) -> SiloConfig {
    SiloConfig { workers, jitter }
}

/// Jitter whose one-way messages may overtake each other.
fn jitter(seed: u64) -> Option<Jitter> {
    Some(Jitter {
        max: Duration::from_millis(3),
        seed,
        reorder: true,
    })
}

/// Jitter that keeps each link's one-way messages in order (the default).
fn fifo_jitter(seed: u64) -> Option<Jitter> {
    Some(Jitter {
        reorder: false,
        ..jitter(seed)?
    })
}

fn world(config: SiloConfig) -> Arc<TestWorld> {
    world_with(config, Duration::ZERO, None)
}

fn world_with(
    config: SiloConfig,
    activation_delay: Duration,
    probe: Option<mpsc::Sender<DropReport>>,
) -> Arc<TestWorld> {
    Arc::new(TestWorld {
        silo: Silo::new(config).expect("the silo starts"),
        counters: Directory::default(),
        logs: Directory::default(),
        relays1: Directory::default(),
        relays2: Directory::default(),
        relays3: Directory::default(),
        activation_delay,
        activations: AtomicUsize::new(0),
        activations_by_grain: Mutex::default(),
        hops_handled: AtomicUsize::new(0),
        grains_dropped: Arc::default(),
        _drop_probe: DropProbe(probe),
    })
}

/// `ask` from the test thread, inside the silo's runtime (activation spawns an actor).
fn ask_now<G, M>(w: &Arc<TestWorld>, key: u32, msg: M) -> G::Reply
where
    G: Handles<M, Key = u32, World = TestWorld>,
    M: Send + 'static,
{
    w.silo
        .block_on(async { ask::<G, M>(w, &key, msg).await })
        .expect("the grain answers")
}

/// `tell` from the test thread, inside the silo's runtime.
fn tell_now<G, M>(w: &Arc<TestWorld>, key: u32, msg: M)
where
    G: Handles<M, Key = u32, World = TestWorld>,
    M: Send + 'static,
{
    let _rt = w.silo.enter();
    tell::<G, M>(w, &key, msg);
}

/// Polls `done` until it holds, failing the test after `WAIT`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Counts the drops of grain states.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The grains
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    Enter(u32),
    Exit(u32),
}

struct Counter {
    total: i64,
    /// Set for the whole of a `Slow` turn.
    busy: bool,
    /// `Slow` turns that started while another was running.
    overlaps: usize,
    turns: Vec<Turn>,
    _dropped: DropCount,
}

impl Grain for Counter {
    const SERVICE: &'static str = "counter";
    type Key = u32;
    type World = TestWorld;

    fn directory(world: &TestWorld) -> &Directory<Self> {
        &world.counters
    }

    fn activate(key: &u32, world: &TestWorld) -> Self {
        Counter {
            total: 0,
            busy: false,
            overlaps: 0,
            turns: Vec::new(),
            _dropped: world.record_activation(Self::SERVICE, *key),
        }
    }
}

/// Adds to the counter; answers the new total.
struct Add(i64);

impl Handles<Add> for Counter {
    type Reply = i64;

    async fn handle(&mut self, Add(n): Add, _: &Arc<TestWorld>) -> i64 {
        self.total += n;
        self.total
    }
}

struct Get;

impl Handles<Get> for Counter {
    type Reply = i64;

    async fn handle(&mut self, _: Get, _: &Arc<TestWorld>) -> i64 {
        self.total
    }
}

/// A turn that suspends several times between its enter and its exit.
struct Slow(u32);

impl Handles<Slow> for Counter {
    type Reply = ();

    async fn handle(&mut self, Slow(id): Slow, _: &Arc<TestWorld>) {
        if self.busy {
            self.overlaps += 1;
        }
        self.busy = true;
        self.turns.push(Turn::Enter(id));
        tokio::time::sleep(Duration::from_millis(1)).await;
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.turns.push(Turn::Exit(id));
        self.busy = false;
    }
}

/// The `Slow` turns seen so far, and how many overlapped another.
struct Turns;

impl Handles<Turns> for Counter {
    type Reply = (Vec<Turn>, usize);

    async fn handle(&mut self, _: Turns, _: &Arc<TestWorld>) -> (Vec<Turn>, usize) {
        (std::mem::take(&mut self.turns), self.overlaps)
    }
}

/// A turn that only ends when another party meets it at the barrier.
struct Rendezvous(Arc<Barrier>);

impl Handles<Rendezvous> for Counter {
    type Reply = ();

    async fn handle(&mut self, Rendezvous(barrier): Rendezvous, _: &Arc<TestWorld>) {
        barrier.wait().await;
    }
}

/// A turn that says it started, then runs until the test releases it.
struct Block {
    started: mpsc::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl Handles<Block> for Counter {
    type Reply = ();

    async fn handle(&mut self, msg: Block, _: &Arc<TestWorld>) {
        let _ = msg.started.send(());
        let _ = msg.release.await;
    }
}

/// A turn that panics.
struct Boom;

impl Handles<Boom> for Counter {
    type Reply = ();

    async fn handle(&mut self, _: Boom, _: &Arc<TestWorld>) {
        panic!("boom (a test grain panicking on purpose)");
    }
}

/// Appends what it is told, in arrival order.
struct Log {
    entries: Vec<u32>,
    _dropped: DropCount,
}

impl Grain for Log {
    const SERVICE: &'static str = "log";
    type Key = u32;
    type World = TestWorld;

    fn directory(world: &TestWorld) -> &Directory<Self> {
        &world.logs
    }

    fn activate(key: &u32, world: &TestWorld) -> Self {
        Log {
            entries: Vec::new(),
            _dropped: world.record_activation(Self::SERVICE, *key),
        }
    }
}

struct Append(u32);

impl Handles<Append> for Log {
    type Reply = ();

    async fn handle(&mut self, Append(x): Append, _: &Arc<TestWorld>) {
        self.entries.push(x);
    }
}

struct Read;

impl Handles<Read> for Log {
    type Reply = Vec<u32>;

    async fn handle(&mut self, _: Read, _: &Arc<TestWorld>) -> Vec<u32> {
        self.entries.clone()
    }
}

/// Tells log `to` `1..=n` one way: from the log service itself, or from the counter service.
struct Burst {
    to: u32,
    n: u32,
}

impl Handles<Burst> for Log {
    type Reply = ();

    async fn handle(&mut self, Burst { to, n }: Burst, world: &Arc<TestWorld>) {
        for x in 1..=n {
            tell::<Log, Append>(world, &to, Append(x));
        }
    }
}

impl Handles<Burst> for Counter {
    type Reply = ();

    async fn handle(&mut self, Burst { to, n }: Burst, world: &Arc<TestWorld>) {
        for x in 1..=n {
            tell::<Log, Append>(world, &to, Append(x));
        }
    }
}

/// Level `D` of a cascade: forwards each hop to two grains of level `D + 1`, one way, up to
/// `CASCADE_DEPTH`. Each level is its own service, so every hop crosses services (and is
/// delayed when jitter is injected).
struct Relay<const D: u32> {
    hops: Vec<Hop>,
    _dropped: DropCount,
}

const CASCADE_DEPTH: u32 = 3;

macro_rules! relay_level {
    ($depth:literal, $directory:ident, $service:literal) => {
        impl Grain for Relay<$depth> {
            const SERVICE: &'static str = $service;
            type Key = u32;
            type World = TestWorld;

            fn directory(world: &TestWorld) -> &Directory<Self> {
                &world.$directory
            }

            fn activate(key: &u32, world: &TestWorld) -> Self {
                Relay {
                    hops: Vec::new(),
                    _dropped: world.record_activation(Self::SERVICE, *key),
                }
            }
        }
    };
}

relay_level!(1, relays1, "relay-1");
relay_level!(2, relays2, "relay-2");
relay_level!(3, relays3, "relay-3");

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Hop {
    depth: u32,
    origin: u32,
}

impl<const D: u32> Handles<Hop> for Relay<D>
where
    Relay<D>: Grain<Key = u32, World = TestWorld>,
{
    type Reply = ();

    async fn handle(&mut self, hop: Hop, world: &Arc<TestWorld>) {
        // Keep the cascade in flight a little longer than the jitter alone would.
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.hops.push(hop);
        world.hops_handled.fetch_add(1, Ordering::SeqCst);
        if hop.depth < CASCADE_DEPTH {
            for branch in 0..2 {
                let next = Hop {
                    depth: hop.depth + 1,
                    origin: hop.origin,
                };
                let key = (hop.origin * 2 + branch) % 8;
                match next.depth {
                    2 => tell::<Relay<2>, Hop>(world, &key, next),
                    3 => tell::<Relay<3>, Hop>(world, &key, next),
                    d => unreachable!("no relay level {d}"),
                }
            }
        }
    }
}

struct Hops;

impl<const D: u32> Handles<Hops> for Relay<D>
where
    Relay<D>: Grain<Key = u32, World = TestWorld>,
{
    type Reply = Vec<Hop>;

    async fn handle(&mut self, _: Hops, _: &Arc<TestWorld>) -> Vec<Hop> {
        self.hops.clone()
    }
}

/// Every hop the relays of level `D` have seen.
fn hops_of<const D: u32>(w: &Arc<TestWorld>) -> Vec<Hop>
where
    Relay<D>: Grain<Key = u32, World = TestWorld>,
{
    let mut hops = Vec::new();
    for key in Relay::<D>::directory(w).activated() {
        let seen = ask_now::<Relay<D>, Hops>(w, key, Hops);
        assert!(seen.iter().all(|h| h.depth == D), "level {D}: {seen:?}");
        hops.extend(seen);
    }
    hops
}
