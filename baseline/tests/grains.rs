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

fn jitter(seed: u64) -> Option<Jitter> {
    Some(Jitter {
        max: Duration::from_millis(3),
        seed,
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

// ---------------------------------------------------------------------------------------------
// Activation
// ---------------------------------------------------------------------------------------------

#[test]
fn a_grain_is_activated_once_by_its_first_message_even_under_concurrent_first_messages() {
    const KEYS: u32 = 8;
    const SENDERS_PER_KEY: usize = 32;
    // A slow activation (2 ms, under the directory's lock) makes a double activation likely
    // if the directory ever activated outside its lock.
    let w = world_with(config(4, None), Duration::from_millis(2), None);

    assert!(w.counters.is_empty());
    let totals = w.silo.block_on(async {
        let start = Arc::new(Barrier::new(KEYS as usize * SENDERS_PER_KEY));
        let senders: Vec<_> = (0..KEYS)
            .flat_map(|key| std::iter::repeat_n(key, SENDERS_PER_KEY))
            .map(|key| {
                let w = w.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    ask::<Counter, Add>(&w, &key, Add(1)).await.unwrap()
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let mut totals = Vec::new();
        for key in 0..KEYS {
            totals.push(ask::<Counter, Get>(&w, &key, Get).await.unwrap());
        }
        totals
    });

    assert_eq!(w.activations.load(Ordering::SeqCst), KEYS as usize);
    let by_grain = w.activations_by_grain.lock().clone();
    for key in 0..KEYS {
        assert_eq!(by_grain.get(&("counter", key)), Some(&1), "Counter {key}");
    }
    // Every increment reached the one activation (a second one would have lost some).
    assert_eq!(totals, vec![SENDERS_PER_KEY as i64; KEYS as usize]);
    assert_eq!(w.counters.len(), KEYS as usize);
    assert_eq!(
        sorted(w.counters.activated()),
        (0..KEYS).collect::<Vec<_>>()
    );
    // Keys never messaged, and grain types never messaged, are not activated.
    assert!(!w.counters.activated().contains(&KEYS));
    assert!(w.logs.is_empty() && w.relays1.is_empty());
    assert_eq!(w.logs.activated(), Vec::<u32>::new());

    // The same key of another grain type is another grain.
    ask_now::<Log, Append>(&w, 0, Append(1));
    assert_eq!(w.logs.activated(), vec![0]);
    assert_eq!(w.activations.load(Ordering::SeqCst), KEYS as usize + 1);
    assert_eq!(w.activations_by_grain.lock().get(&("log", 0)), Some(&1));
    // Later messages reuse the activation.
    assert_eq!(
        ask_now::<Counter, Add>(&w, 3, Add(10)),
        SENDERS_PER_KEY as i64 + 10
    );
    assert_eq!(w.activations.load(Ordering::SeqCst), KEYS as usize + 1);
}

// ---------------------------------------------------------------------------------------------
// Turns
// ---------------------------------------------------------------------------------------------

#[test]
fn a_grain_handles_one_message_at_a_time_even_when_its_turns_suspend() {
    const ASKS: u32 = 100;
    let w = world(config(4, None));

    w.silo.block_on(async {
        let asks: Vec<_> = (0..ASKS)
            .map(|id| {
                let w = w.clone();
                tokio::spawn(async move { ask::<Counter, Slow>(&w, &1, Slow(id)).await.unwrap() })
            })
            .collect();
        for a in asks {
            a.await.unwrap();
        }
    });

    let (turns, overlaps) = ask_now::<Counter, Turns>(&w, 1, Turns);
    assert_eq!(overlaps, 0, "a turn started while another was running");
    assert_eq!(turns.len(), 2 * ASKS as usize);
    for pair in turns.chunks(2) {
        match pair {
            [Turn::Enter(a), Turn::Exit(b)] => assert_eq!(a, b, "interleaved turns: {pair:?}"),
            _ => panic!("interleaved turns: {pair:?}"),
        }
    }
    let mut ids: Vec<u32> = turns
        .iter()
        .filter_map(|t| match t {
            Turn::Enter(id) => Some(*id),
            Turn::Exit(_) => None,
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..ASKS).collect::<Vec<_>>());
}

#[test]
fn one_grain_is_not_reentrant_a_suspended_turn_blocks_the_next() {
    let w = world(config(2, None));
    let barrier = Arc::new(Barrier::new(2));

    // Two turns of one grain can only both pass the barrier if they overlap.
    let overlapped = w.silo.block_on(async {
        let a = ask::<Counter, Rendezvous>(&w, &1, Rendezvous(barrier.clone()));
        let b = ask::<Counter, Rendezvous>(&w, &1, Rendezvous(barrier.clone()));
        tokio::time::timeout(Duration::from_millis(300), join(a, b)).await
    });
    assert!(overlapped.is_err(), "two turns of one grain ran at once");

    // The queued turns still run, one after the other: meet each at the barrier in turn.
    w.silo.block_on(async {
        for turn in 0..2 {
            tokio::time::timeout(WAIT, barrier.wait())
                .await
                .unwrap_or_else(|_| panic!("turn {turn} never reached the barrier"));
        }
    });
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(5)), 5);
}

#[test]
fn different_grains_run_concurrently() {
    // One worker: concurrency here is interleaving of turns, not parallel threads.
    for workers in [1, 2] {
        let w = world(config(workers, None));
        let res = w.silo.block_on(async {
            let barrier = Arc::new(Barrier::new(2));
            let a = ask::<Counter, Rendezvous>(&w, &1, Rendezvous(barrier.clone()));
            let b = ask::<Counter, Rendezvous>(&w, &2, Rendezvous(barrier));
            tokio::time::timeout(WAIT, join(a, b)).await
        });
        let (a, b) =
            res.unwrap_or_else(|_| panic!("{workers} workers: grains 1 and 2 never overlapped"));
        a.unwrap();
        b.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// ask
// ---------------------------------------------------------------------------------------------

#[test]
fn ask_returns_the_handlers_reply_and_state_persists_across_messages() {
    let w = world(config(2, None));

    assert_eq!(ask_now::<Counter, Get>(&w, 1, Get), 0);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(1)), 1);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(2)), 3);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(3)), 6);
    // Another key has its own state.
    assert_eq!(ask_now::<Counter, Add>(&w, 2, Add(10)), 10);
    assert_eq!(ask_now::<Counter, Get>(&w, 1, Get), 6);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(-6)), 0);
    assert_eq!(ask_now::<Counter, Get>(&w, 2, Get), 10);

    // Requests are not one-way messages: nothing is pending.
    assert_eq!(w.silo.pending(), 0);
    assert_eq!(w.activations.load(Ordering::SeqCst), 2);
}

#[test]
fn a_grain_that_panicked_is_reported_gone() {
    let w = world(config(2, None));
    assert_eq!(ask_now::<Counter, Add>(&w, 3, Add(1)), 1);

    let err = w
        .silo
        .block_on(async { ask::<Counter, Boom>(&w, &3, Boom).await })
        .expect_err("the grain panicked");
    assert!(
        matches!(&err, SiloError::GrainGone(g) if g.contains("Counter") && g.contains('3')),
        "{err}"
    );
    // The activation stays gone: later requests fail too (there is no reactivation).
    let again = w
        .silo
        .block_on(async { ask::<Counter, Get>(&w, &3, Get).await });
    assert!(matches!(again, Err(SiloError::GrainGone(_))));
    // Other grains are unaffected.
    assert_eq!(ask_now::<Counter, Add>(&w, 4, Add(2)), 2);
}

#[test]
fn a_one_way_message_lost_to_a_panic_does_not_block_quiescence() {
    for jitter in [None, jitter(9)] {
        let w = world(config(2, jitter));
        tell_now::<Counter, Boom>(&w, 5, Boom);
        tell_now::<Counter, Add>(&w, 5, Add(1)); // queued behind the panic, never handled
        assert!(
            w.silo.quiesce(Duration::from_secs(5)),
            "{jitter:?}: pending stuck at {}",
            w.silo.pending()
        );
        assert_eq!(w.silo.pending(), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// tell
// ---------------------------------------------------------------------------------------------

#[test]
fn tell_without_jitter_delivers_one_senders_messages_in_order() {
    let w = world(config(2, None));
    {
        let _rt = w.silo.enter();
        for x in 1..=1000 {
            tell::<Log, Append>(&w, &7, Append(x));
        }
    }
    assert!(w.silo.quiesce(WAIT));
    assert_eq!(w.silo.pending(), 0);
    assert_eq!(
        ask_now::<Log, Read>(&w, 7, Read),
        (1..=1000).collect::<Vec<_>>()
    );
    assert_eq!(w.logs.activated(), vec![7]);
}

#[test]
fn tell_with_jitter_delivers_every_message_once_but_reordered() {
    let w = world(config(2, jitter(42)));
    {
        let _rt = w.silo.enter();
        for x in 1..=200 {
            tell::<Log, Append>(&w, &7, Append(x));
        }
    }
    assert!(w.silo.quiesce(WAIT));
    assert_eq!(w.silo.pending(), 0);

    let entries = ask_now::<Log, Read>(&w, 7, Read);
    assert_eq!(
        sorted(entries.clone()),
        (1..=200).collect::<Vec<_>>(),
        "a message was lost or duplicated"
    );
    let inversions = entries.windows(2).filter(|p| p[0] > p[1]).count();
    assert!(
        inversions > 0,
        "jitter did not reorder anything: {entries:?}"
    );
}

#[test]
fn jitter_delays_messages_between_services_only() {
    const N: u32 = 200;
    let w = world(config(2, jitter(3)));
    // Log 1 tells log 2 (one service); counter 1 tells log 3 (another service).
    ask_now::<Log, Burst>(&w, 1, Burst { to: 2, n: N });
    ask_now::<Counter, Burst>(&w, 1, Burst { to: 3, n: N });
    assert!(w.silo.quiesce(WAIT));
    assert_eq!(w.silo.pending(), 0);

    let within = ask_now::<Log, Read>(&w, 2, Read);
    assert_eq!(
        within,
        (1..=N).collect::<Vec<_>>(),
        "messages within a service were reordered"
    );
    let across = ask_now::<Log, Read>(&w, 3, Read);
    assert_eq!(
        sorted(across.clone()),
        (1..=N).collect::<Vec<_>>(),
        "a message was lost or duplicated"
    );
    assert!(
        across.windows(2).any(|p| p[0] > p[1]),
        "messages between services were not reordered: {across:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Quiescence
// ---------------------------------------------------------------------------------------------

#[test]
fn quiesce_waits_for_a_whole_cascade_of_one_way_messages() {
    const ORIGINS: u32 = 20;
    // Each origin makes 1 + 2 + 4 hops.
    const HOPS_PER_ORIGIN: usize = 7;
    let w = world(config(2, jitter(7)));

    assert!(w.silo.quiesce(Duration::ZERO), "an idle silo is quiescent");
    {
        let _rt = w.silo.enter();
        for origin in 0..ORIGINS {
            tell::<Relay<1>, Hop>(&w, &(origin % 4), Hop { depth: 1, origin });
        }
    }
    assert!(w.silo.pending() > 0);
    assert!(w.silo.quiesce(WAIT));
    // Read before anything else can run: quiescence must already mean "all handled".
    let handled = w.hops_handled.load(Ordering::SeqCst);
    assert_eq!(w.silo.pending(), 0);
    assert_eq!(handled, ORIGINS as usize * HOPS_PER_ORIGIN);

    assert_eq!(w.relays1.len(), 4);
    assert_eq!(w.relays2.len(), 8);
    assert_eq!(w.relays3.len(), 8);
    let hops = [hops_of::<1>(&w), hops_of::<2>(&w), hops_of::<3>(&w)].concat();
    let mut expected = Vec::new();
    for origin in 0..ORIGINS {
        expected.push(Hop { depth: 1, origin });
        expected.extend([Hop { depth: 2, origin }; 2]);
        expected.extend([Hop { depth: 3, origin }; 4]);
    }
    assert_eq!(sorted(hops), sorted(expected));
}

#[test]
fn quiesce_times_out_while_a_one_way_handler_is_still_running() {
    let w = world(config(2, None));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = oneshot::channel();
    tell_now::<Counter, Block>(
        &w,
        1,
        Block {
            started: started_tx,
            release: release_rx,
        },
    );
    started_rx.recv_timeout(WAIT).expect("the turn started");

    let t0 = Instant::now();
    assert!(!w.silo.quiesce(Duration::from_millis(20)));
    assert!(t0.elapsed() >= Duration::from_millis(20));
    assert_eq!(w.silo.pending(), 1);

    release_tx.send(()).unwrap();
    assert!(w.silo.quiesce(WAIT));
    assert_eq!(w.silo.pending(), 0);
}

// ---------------------------------------------------------------------------------------------
// The clock
// ---------------------------------------------------------------------------------------------

#[test]
fn tick_is_strictly_increasing_and_unique_across_concurrent_callers() {
    const TASKS: usize = 8;
    const TICKS: usize = 1000;
    let w = world(config(4, None));

    let per_task = w.silo.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let w = w.clone();
                tokio::spawn(async move {
                    let mut ticks = Vec::with_capacity(TICKS);
                    for i in 0..TICKS {
                        ticks.push(w.silo.tick());
                        if i % 50 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    ticks
                })
            })
            .collect();
        let mut per_task = Vec::new();
        for t in tasks {
            per_task.push(t.await.unwrap());
        }
        per_task
    });

    for ticks in &per_task {
        assert!(
            ticks.windows(2).all(|p| p[0] < p[1]),
            "a caller saw its clock go back"
        );
    }
    let all = sorted(per_task.concat());
    assert_eq!(all, (1..=(TASKS * TICKS) as u64).collect::<Vec<_>>());
    assert_eq!(w.silo.tick(), (TASKS * TICKS) as u64 + 1);
}

// ---------------------------------------------------------------------------------------------
// Teardown
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_the_world_frees_it_and_every_grain() {
    let w = world(config(2, jitter(1)));
    for key in 0..5 {
        ask_now::<Counter, Add>(&w, key, Add(1));
    }
    tell_now::<Log, Append>(&w, 9, Append(1));
    assert!(w.silo.quiesce(WAIT));
    let activations = w.activations.load(Ordering::SeqCst);
    assert_eq!(activations, 6);

    let weak = Arc::downgrade(&w);
    let dropped = w.grains_dropped.clone();
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    // Activations hold the world weakly: once the delayed sends' tasks (which hold it) are
    // done, the test's handle is the only strong one.
    wait_until("only the test holds the world", || {
        Arc::strong_count(&w) == 1
    });
    drop(w);
    assert!(weak.upgrade().is_none(), "something still holds the world");

    // The silo's runtime was shut down: every activation's task, with its grain, is dropped.
    wait_until("every grain dropped", || {
        dropped.load(Ordering::SeqCst) == activations
    });
}

#[test]
fn the_world_can_be_dropped_last_by_a_running_turn() {
    // With jitter the silo also has its timer thread to stop.
    for jitter in [None, jitter(5)] {
        let (probe_tx, probe_rx) = mpsc::channel();
        let w = world_with(config(2, jitter), Duration::ZERO, Some(probe_tx));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = oneshot::channel();
        tell_now::<Counter, Block>(
            &w,
            1,
            Block {
                started: started_tx,
                release: release_rx,
            },
        );
        started_rx.recv_timeout(WAIT).expect("the turn started");

        // The running turn holds the world (upgraded from its weak reference) ...
        let weak = Arc::downgrade(&w);
        drop(w);
        wait_until("only the running turn holds the world", || {
            weak.strong_count() == 1
        });
        assert!(probe_rx.try_recv().is_err());

        // ... so it drops it, silo and runtime included, on a runtime thread when it ends: the
        // silo must shut its runtime down without blocking there.
        release_tx.send(()).unwrap();
        let report = probe_rx
            .recv_timeout(WAIT)
            .expect("the world was never dropped");
        assert!(
            !report.panicking,
            "{jitter:?}: dropping the silo inside its runtime panicked"
        );
        assert_eq!(
            report.thread.as_deref(),
            Some("baseline-silo"),
            "{jitter:?}"
        );
        assert_eq!(weak.strong_count(), 0);
    }
}

#[test]
fn the_world_can_be_dropped_while_delayed_messages_are_in_flight() {
    let (probe_tx, probe_rx) = mpsc::channel();
    let slow_jitter = Some(Jitter {
        max: Duration::from_millis(200),
        seed: 11,
    });
    let w = world_with(config(2, slow_jitter), Duration::ZERO, Some(probe_tx));
    {
        let _rt = w.silo.enter();
        for x in 1..=50 {
            tell::<Log, Append>(&w, &1, Append(x));
        }
    }
    // Dropped with messages still delayed: whichever thread drops the world last (this one, or
    // a delayed send on the runtime), the silo goes down without a panic or a hang.
    let weak = Arc::downgrade(&w);
    drop(w);
    let report = probe_rx
        .recv_timeout(WAIT)
        .expect("the world was never dropped");
    assert!(!report.panicking, "dropping the silo panicked");
    assert_eq!(weak.strong_count(), 0);
}
