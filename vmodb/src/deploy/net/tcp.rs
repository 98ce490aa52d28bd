//! `TcpTransport`: outgoing links (`link.rs`: a connector thread each, then senders write), a
//! reader thread per incoming link (handshake check, then frames delivered in order), and the
//! bookkeeping that says when every link of this node is up.

use super::auth::ClusterKey;
use super::frame::{self, Batch, Frame, FrameReader, HANDSHAKE_TIMEOUT, HelloReply, Identity};
use super::handshake::{self, Credentials};
use super::link::Link;
use super::{NetError, Peer};
use crate::runtime::message::{Message, NodeId, ToService, Traffic, Transport};
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Messages queued on one link beyond which senders wait (backpressure, not an unbounded
/// queue).
const DEFAULT_QUEUE: usize = 4096;
/// How long a peer may stay silent (no frame, no heartbeat) before it counts as lost.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who this node is and who its peers are.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub me: NodeId,
    /// Every other node: id → (name, address).
    pub peers: BTreeMap<NodeId, (String, String)>,
    /// What both ends of a link must agree on (see `Hello`).
    pub identity: Identity,
    /// The secret every node of the cluster proves it holds (`auth.rs`).
    pub key: ClusterKey,
    /// How long to keep retrying a peer that is not listening yet.
    pub connect_timeout: Duration,
    /// Messages queued per link before senders block.
    pub queue: usize,
    /// A peer silent this long (no frame and no heartbeat; idle links send one every quarter
    /// of it) is lost; a write that makes no progress this long fails its link.
    pub heartbeat_timeout: Duration,
    /// The largest batch of messages one link carries (`frame::MAX_BATCH`; tests lower it).
    pub max_batch: usize,
}

impl LinkConfig {
    pub fn new(
        me: NodeId,
        peers: BTreeMap<NodeId, (String, String)>,
        identity: Identity,
        key: ClusterKey,
    ) -> Self {
        LinkConfig {
            me,
            peers,
            identity,
            key,
            connect_timeout: Duration::from_secs(30),
            queue: DEFAULT_QUEUE,
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            max_batch: frame::MAX_BATCH,
        }
    }

    pub(super) fn credentials(&self) -> Credentials {
        Credentials {
            me: self.me,
            identity: self.identity,
            key: self.key.clone(),
        }
    }

    pub(super) fn peer(&self, id: NodeId) -> Peer {
        let name = self
            .peers
            .get(&id)
            .map_or_else(|| format!("{id:?}"), |p| p.0.clone());
        Peer { id, name }
    }
}

/// What the transport hands to the node it serves.
pub trait Inbound: Send + Sync + 'static {
    /// A message from `from`, in the order `from` sent it.
    fn deliver(&self, from: NodeId, message: Message);
    /// A link to or from `peer` failed or the peer went away; called at most once per peer,
    /// and not at all after `TcpTransport::stop`.
    fn lost(&self, peer: &Peer, error: NetError);
}

#[derive(Default)]
struct Ready {
    outgoing: BTreeSet<NodeId>,
    incoming: BTreeSet<NodeId>,
    failure: Option<NetError>,
}

pub(super) struct Shared {
    pub config: LinkConfig,
    inbound: Arc<dyn Inbound>,
    ready: Mutex<Ready>,
    changed: Condvar,
    stopping: AtomicBool,
    /// Links closed (`close`), and why, when it was not a clean stop.
    closed: AtomicBool,
    leaving: Mutex<Option<String>>,
    /// Still accepting connections (after a close with a reason: only to refuse them, saying
    /// why, so a node connecting late learns the cause rather than "connection refused").
    listening: AtomicBool,
    /// Every accepted connection (a handle to shut it down on `close`).
    incoming: Mutex<Vec<TcpStream>>,
    /// Peers already reported lost: never reported again.
    reported: Mutex<BTreeSet<NodeId>>,
    /// Peers that said goodbye without a reason: a stop is only clean if this node is told
    /// to stop too, within the heartbeat timeout (see `read_link`).
    left_cleanly: Mutex<BTreeSet<NodeId>>,
    /// The clock of `clock_ms`.
    origin: Instant,
    bytes: AtomicU64,
    frames: AtomicU64,
    messages: AtomicU64,
    /// Connections in the handshake now (`MAX_HANDSHAKES` at most).
    handshaking: std::sync::atomic::AtomicUsize,
    /// Messages dropped because their sender may not send them (`Message::may_travel`).
    refused: AtomicU64,
}

impl Shared {
    /// Reports a lost peer once, unless the node is stopping (then links close on purpose). A
    /// peer that said goodbye is reported only by its grace timer (`lose_after_goodbye`).
    pub fn lose(&self, peer: NodeId, error: NetError) {
        if self.left_cleanly.lock().contains(&peer) {
            return;
        }
        self.report(peer, error);
    }

    fn report(&self, peer: NodeId, error: NetError) {
        if self.stopping.load(Ordering::Acquire) || !self.reported.lock().insert(peer) {
            return;
        }
        {
            let mut ready = self.ready.lock();
            ready.failure.get_or_insert_with(|| error.clone());
        }
        self.changed.notify_all();
        self.inbound.lost(&self.config.peer(peer), error);
    }

    pub fn count(&self, bytes: usize, frames: usize, messages: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.frames.fetch_add(frames as u64, Ordering::Relaxed);
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// Milliseconds since the transport started.
    pub fn clock_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Peer `peer` said goodbye without a reason. The coordinator is the one who stops a
    /// cluster, so a clean goodbye is legitimate only at a node that is stopping itself (then
    /// nothing is reported) or, at a service, from a peer service during a cluster stop, when
    /// this node's own `Shutdown` follows within the heartbeat timeout. Anything else is a
    /// node gone without being told to: reported, so the cluster does not serve without it.
    fn goodbye_from(self: &Arc<Self>, peer: NodeId) {
        let why = "it stopped without the coordinator telling the cluster to stop".to_string();
        let left = NetError::Left {
            peer: self.config.peer(peer),
            reason: why,
        };
        let both_services = matches!(
            (self.config.me, peer),
            (NodeId::Service(_), NodeId::Service(_))
        );
        if !both_services {
            return self.report(peer, left);
        }
        self.left_cleanly.lock().insert(peer);
        let shared = Arc::clone(self);
        let grace = self.config.heartbeat_timeout;
        let _ = std::thread::Builder::new()
            .name("vmodb-goodbye".into())
            .spawn(move || {
                std::thread::sleep(grace);
                shared.report(peer, left);
            });
    }

    pub fn mark(&self, peer: NodeId, outgoing: bool) {
        let mut ready = self.ready.lock();
        if outgoing {
            ready.outgoing.insert(peer);
        } else {
            ready.incoming.insert(peer);
        }
        drop(ready);
        self.changed.notify_all();
    }
}

/// The engine's `Transport` over TCP. See the module docs of `net` for the wire format.
pub struct TcpTransport {
    me: NodeId,
    listening: Option<std::net::SocketAddr>,
    acceptor: Mutex<Option<std::thread::JoinHandle<()>>>,
    links: HashMap<NodeId, Arc<Link>>,
    shared: Arc<Shared>,
}

impl TcpTransport {
    /// Serves `listener` (incoming links) and connects to every peer (outgoing links), each in
    /// a thread of its own. Returns at once; `wait_ready` waits for the links.
    pub fn start(
        config: LinkConfig,
        listener: TcpListener,
        inbound: Arc<dyn Inbound>,
    ) -> Result<Arc<Self>, NetError> {
        let me = config.me;
        let shared = Arc::new(Shared {
            config,
            inbound,
            ready: Mutex::new(Ready::default()),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            leaving: Mutex::new(None),
            listening: AtomicBool::new(true),
            incoming: Mutex::new(Vec::new()),
            reported: Mutex::new(BTreeSet::new()),
            left_cleanly: Mutex::new(BTreeSet::new()),
            origin: Instant::now(),
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            handshaking: Default::default(),
            refused: AtomicU64::new(0),
        });
        let spawn_err =
            |e: std::io::Error| NetError::Protocol(format!("cannot start a thread: {e}"));
        let listening = listener.local_addr().ok();
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("vmodb-accept".into())
            .spawn(move || accept_loop(listener, accepting))
            .map_err(spawn_err)?;
        let mut links = HashMap::new();
        for (&peer, (_, addr)) in &shared.config.peers {
            let link = Arc::new(Link::new(peer, addr.clone()));
            let (l, s) = (Arc::clone(&link), Arc::clone(&shared));
            // The link's own thread: it connects, then sends heartbeats while the link is idle
            // (one thread per link, so a peer whose socket is full stalls only its own).
            std::thread::Builder::new()
                .name(format!("vmodb-tcp-{peer:?}"))
                .spawn(move || {
                    l.connect(&s);
                    let weak = Arc::downgrade(&l);
                    drop(l);
                    heartbeats(weak, &s);
                })
                .map_err(spawn_err)?;
            links.insert(peer, link);
        }
        let transport = Arc::new(TcpTransport {
            me,
            listening,
            acceptor: Mutex::new(Some(acceptor)),
            links,
            shared,
        });
        Ok(transport)
    }

    /// Waits until every peer accepted this node's connection and connected back, or a link
    /// failed (that error), or `deadline` passed (an error naming the peers still missing).
    pub fn wait_ready(&self, deadline: Instant) -> Result<(), NetError> {
        let peers: BTreeSet<NodeId> = self.shared.config.peers.keys().copied().collect();
        let mut ready = self.shared.ready.lock();
        loop {
            if let Some(e) = &ready.failure {
                return Err(e.clone());
            }
            if ready.outgoing == peers && peers.is_subset(&ready.incoming) {
                return Ok(());
            }
            if self
                .shared
                .changed
                .wait_until(&mut ready, deadline)
                .timed_out()
            {
                let missing: Vec<String> = peers
                    .iter()
                    .filter(|p| !ready.outgoing.contains(p) || !ready.incoming.contains(p))
                    .map(|p| self.shared.config.peer(*p).to_string())
                    .collect();
                return Err(NetError::Protocol(format!(
                    "not every node came up in time; missing: {}",
                    missing.join(", ")
                )));
            }
        }
    }

    /// Links close on purpose from now on: closing ones are not reported as lost.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
    }

    /// Closes every link, saying why (`None`: a clean stop, which peers do not report). After a
    /// clean stop the port is free once this returns; after a failure the node goes on
    /// refusing newcomers with the reason until a clean `close`. Implies `stop`.
    pub fn close(&self, reason: Option<String>) {
        self.stop();
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            *self.shared.leaving.lock() = reason.clone();
            for link in self.links.values() {
                link.close(reason.clone());
            }
            for s in self.shared.incoming.lock().drain(..) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        if reason.is_none() && self.shared.listening.swap(false, Ordering::AcqRel) {
            // Wake the acceptor so it sees it must stop, and drops the listener.
            let woken = self.listening.is_some_and(|addr| {
                TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok()
            });
            if woken && let Some(acceptor) = self.acceptor.lock().take() {
                let _ = acceptor.join(); // the listener is dropped: the port is free
            }
        }
    }

    /// Messages dropped so far because their sender may not send them.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// What this node sent so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            bytes: self.shared.bytes.load(Ordering::Relaxed),
            frames: self.shared.frames.load(Ordering::Relaxed),
            messages: self.shared.messages.load(Ordering::Relaxed),
        }
    }
}

impl Transport for TcpTransport {
    fn send(&self, _from: NodeId, to: NodeId, message: Message) {
        if to == self.me {
            self.shared.inbound.deliver(self.me, message);
            return;
        }
        match self.links.get(&to) {
            // Waits while the link's queue is full: backpressure up to the sender.
            Some(link) => link.send(message, &self.shared),
            None => tracing::warn!("message for unknown node {to:?} dropped"),
        }
    }
}

/// Sends a heartbeat on `link` whenever it has been idle for a quarter of the timeout, until
/// the link is closed or broken, or dropped with its transport.
fn heartbeats(link: std::sync::Weak<Link>, shared: &Arc<Shared>) {
    let every = (shared.config.heartbeat_timeout / 4).max(Duration::from_millis(10));
    loop {
        std::thread::sleep(every);
        let Some(link) = link.upgrade() else { return };
        if link.is_dead() || shared.closed.load(Ordering::Acquire) {
            return;
        }
        link.heartbeat_if_idle(shared, every.as_millis() as u64);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if !shared.listening.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else { continue };
        if shared.closed.load(Ordering::Acquire) {
            let why = shared.leaving.lock().clone();
            let why = why.unwrap_or_else(|| "it is stopping".into());
            let Some(handshaking) = Handshaking::enter(&shared) else {
                continue;
            };
            let credentials = shared.config.credentials();
            let _ = std::thread::Builder::new()
                .name("vmodb-refuse".into())
                .spawn(move || {
                    refuse(stream, &credentials, &format!("this node stopped: {why}"));
                    drop(handshaking);
                });
            continue;
        }
        // Connections still shaking hands are capped as a whole: strangers cannot make a
        // node hold a thread each (a real peer retries; see `link.rs`).
        let Some(handshaking) = Handshaking::enter(&shared) else {
            drop(stream);
            continue;
        };
        let shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("vmodb-reader".into())
            .spawn(move || read_link(stream, shared, handshaking));
    }
}

/// Most connections a node lets shake hands at once; more are closed at once.
const MAX_HANDSHAKES: usize = 64;

/// One connection counted in `Shared::handshaking` until its handshake ends.
struct Handshaking(Arc<Shared>);

impl Handshaking {
    fn enter(shared: &Arc<Shared>) -> Option<Handshaking> {
        let counted = shared
            .handshaking
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_HANDSHAKES).then_some(n + 1)
            });
        counted.is_ok().then(|| Handshaking(Arc::clone(shared)))
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a hello with a refusal (saying why only to a node that proves the cluster key).
fn refuse(mut stream: TcpStream, credentials: &Credentials, reason: &str) {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    if handshake::authenticate(&mut stream, credentials, deadline).is_ok() {
        let _ = handshake::answer(&mut stream, &HelloReply::Refused(reason.into()));
    }
}

/// The incoming half of one link: authenticate the peer and check its hello, then deliver
/// every frame in order.
fn read_link(mut stream: TcpStream, shared: Arc<Shared>, handshaking: Handshaking) {
    let config = &shared.config;
    let _ = stream.set_nodelay(true);
    let peer_addr = stream
        .peer_addr()
        .map_or_else(|_| "an unknown address".to_string(), |a| a.to_string());
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let hello = match handshake::authenticate(&mut stream, &config.credentials(), deadline) {
        Ok(hello) => hello,
        Err(why) => {
            tracing::warn!("refused a connection from {peer_addr}: {why}");
            return;
        }
    };
    // Authenticated: the reasons may be told, but never what this node expected (only this
    // node's log shows both sides).
    let id = config.identity;
    let mismatch = hello.mismatch(id);
    let refusal = mismatch
        .map(str::to_string)
        .or_else(|| {
            (!config.peers.contains_key(&hello.from))
                .then(|| format!("{:?} is not a node of this cluster", hello.from))
        })
        .or_else(|| {
            // A second link from one peer would interleave with the first (no order
            // between them): one link per ordered pair.
            (shared.ready.lock().incoming.contains(&hello.from))
                .then(|| format!("{:?} is already connected", hello.from))
        });
    if let Some(reason) = refusal {
        let values = match mismatch {
            Some(_) => format!(
                " (it has application {:016x}, build {:016x}, cluster {:016x}; this node has \
                 {:016x}, {:016x}, {:016x})",
                hello.app, hello.build, hello.cluster, id.app, id.build, id.cluster
            ),
            None => String::new(),
        };
        tracing::warn!(
            "refused a connection from {:?} at {peer_addr}: {reason}{values}",
            hello.from
        );
        let _ = handshake::answer(&mut stream, &HelloReply::Refused(reason));
        return;
    }
    if handshake::answer(&mut stream, &HelloReply::Welcome).is_err() {
        return;
    }
    drop(handshaking);
    // From now on a peer that sends nothing, not even a heartbeat, for this long is lost.
    let silence = config.heartbeat_timeout;
    let _ = stream.set_read_timeout(Some(silence));
    // Registered only now: `close` must not cut a refusal short (its peer should read why).
    if let Ok(handle) = stream.try_clone() {
        shared.incoming.lock().push(handle);
    }
    let from = hello.from;
    shared.mark(from, false);
    let peer = config.peer(from);
    let mut reader = BufReader::with_capacity(256 << 10, stream);
    let mut frames = FrameReader::default();
    let mut messages: Batch = Vec::new();
    loop {
        // Every frame already here is taken at once (frames pile up while this thread waits
        // for a core), so the node gets one delivery, and one scheduling step, for all of them.
        loop {
            match frames.next(&mut reader) {
                Ok(Some(Frame::Batch(batch))) => messages.extend(batch),
                Ok(Some(Frame::Heartbeat)) => {}
                Ok(None) => {
                    let detail = "disconnected".to_string();
                    return shared.lose(from, NetError::Broken { peer, detail });
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    let detail = format!(
                        "silent for {:.1} s (no frame, no heartbeat): frozen, or cut off",
                        silence.as_secs_f64()
                    );
                    return shared.lose(from, NetError::Broken { peer, detail });
                }
                Err(e) => {
                    let detail = format!("link from it failed: {e}");
                    return shared.lose(from, NetError::Broken { peer, detail });
                }
            }
            if reader.buffer().len() < 4 || messages.len() >= 4096 {
                break;
            }
        }
        for m in coalesce(std::mem::take(&mut messages)) {
            match m {
                Message::Leaving { reason: None } => shared.goodbye_from(from),
                Message::Leaving {
                    reason: Some(reason),
                } => {
                    let peer = peer.clone();
                    shared.lose(from, NetError::Left { peer, reason });
                }
                m if !m.may_travel(from, config.me) => {
                    // A node of the cluster sent what only another may send (a service's
                    // `CommitBatch`, another service's vote): never acted on.
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "dropped {} from {peer}: it may not send that to this node",
                        m.kind()
                    );
                }
                m => {
                    let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        shared.inbound.deliver(from, m)
                    }));
                    if let Err(p) = delivered {
                        // The node is in no state to go on with this peer: say so, never hang.
                        let detail = crate::app::service::panic_message(&p);
                        let detail = format!("handling its message panicked: {detail}");
                        return shared.lose(from, NetError::Protocol(detail));
                    }
                }
            }
        }
    }
}

/// Merges runs of adjacent `Events` into one, keeping the order of everything.
fn coalesce(messages: Batch) -> Batch {
    let mut out: Batch = Vec::with_capacity(messages.len());
    for m in messages {
        match (out.last_mut(), m) {
            (
                Some(Message::ToService(ToService::Events(run))),
                Message::ToService(ToService::Events(more)),
            ) => run.extend(more),
            (_, m) => out.push(m),
        }
    }
    out
}
