//! The outgoing half of one link: whoever sends writes. A sender queues its message and, if no
//! one is writing to the socket, becomes the writer: it takes everything queued and writes it
//! as one frame, and keeps going until the queue is empty. Senders that find a write in
//! progress leave their message for the writer, so under load many messages share a frame,
//! and no thread hop sits between a sender and the socket. The queue is bounded: a sender
//! waits while it is full (backpressure; a write blocked on a full socket holds everyone back).
//!
//! Why a sender can always finish: a socket write blocks only until the peer's reader reads.
//! The coordinator's readers never block (they hand messages to its unbounded inbox), and a
//! service's reader only ever sends to the coordinator (batch votes, round answers, `Answer`s),
//! so no cycle of readers can wait on each other; services' events to each other are sent by
//! their workers, which no reader waits for.

use super::NetError;
use super::frame::{self, Batch};
use super::handshake::{self, HandshakeError};
use super::tcp::Shared;
use crate::runtime::message::{ControlReply, Message, NodeId, ToCoordinator, ToService};
use parking_lot::{Condvar, Mutex};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::frame::HANDSHAKE_TIMEOUT;

/// Messages per frame at most (a frame stays far below `MAX_FRAME`).
const FRAME_MESSAGES: usize = 1024;

pub(super) struct Link {
    peer: NodeId,
    addr: String,
    pending: Mutex<Batch>,
    /// Signalled when the queue empties (a writer took it) or the link dies.
    space: Condvar,
    /// The connected socket and the frame buffer; held while writing.
    socket: Mutex<Option<(TcpStream, Vec<u8>)>>,
    dead: AtomicBool,
    /// Why the link was closed on purpose (`close`), for a connection that completes after.
    closed: Mutex<Option<Option<String>>>,
    /// When a frame last left (`Shared::clock_ms`), so an idle link sends heartbeats.
    last_write: AtomicU64,
}

impl Link {
    pub fn new(peer: NodeId, addr: String) -> Self {
        Link {
            peer,
            addr,
            pending: Mutex::new(Vec::new()),
            space: Condvar::new(),
            socket: Mutex::new(None),
            dead: AtomicBool::new(false),
            closed: Mutex::new(None),
            last_write: AtomicU64::new(0),
        }
    }

    /// Queues `message` and writes whatever is queued if no one else is writing.
    pub fn send(&self, message: Message, shared: &Arc<Shared>) {
        {
            let mut pending = self.pending.lock();
            while pending.len() >= shared.config.queue && !self.dead.load(Ordering::Acquire) {
                self.space.wait(&mut pending);
            }
            if self.dead.load(Ordering::Acquire) {
                return; // the link failed and was reported; its traffic is moot
            }
            pending.push(message);
        }
        self.flush(shared);
    }

    /// Writes until the queue is empty, unless another thread is writing (it will see what we
    /// queued: it re-checks the queue after releasing the socket) or the link is not up yet
    /// (the connector flushes once it is).
    fn flush(&self, shared: &Arc<Shared>) {
        loop {
            let Some(mut socket) = self.socket.try_lock() else {
                return;
            };
            let Some((stream, buf)) = socket.as_mut() else {
                return;
            };
            let batch = self.take_frame();
            if !batch.is_empty() {
                let max_batch = shared.config.max_batch;
                let written = frame::write_batch(stream, &batch, buf, max_batch).and_then(|w| {
                    let refusals = refusals(&batch, &w.too_big, max_batch)?;
                    let more = frame::write_batch(stream, &refusals, buf, max_batch)?;
                    Ok((w.frames + more.frames, w.bytes + more.bytes))
                });
                match written {
                    Ok((frames, bytes)) => shared.count(bytes, frames, batch.len()),
                    Err(e) => {
                        *socket = None;
                        drop(socket);
                        return self.broken(shared, format!("link to {}: {e}", self.addr));
                    }
                }
                self.wrote(shared);
            }
            drop(socket);
            if self.pending.lock().is_empty() {
                return;
            }
        }
    }

    fn wrote(&self, shared: &Shared) {
        self.last_write.store(shared.clock_ms(), Ordering::Relaxed);
    }

    /// Sends a heartbeat if the link has been idle for `idle_ms` and nobody is writing (a
    /// writer blocked on a stalled peer is left alone: its write times out). Never waits.
    pub fn heartbeat_if_idle(&self, shared: &Arc<Shared>, idle_ms: u64) {
        let last = self.last_write.load(Ordering::Relaxed);
        if shared.clock_ms().saturating_sub(last) < idle_ms || !self.pending.lock().is_empty() {
            return;
        }
        let Some(mut socket) = self.socket.try_lock() else {
            return;
        };
        let Some((stream, _)) = socket.as_mut() else {
            return;
        };
        if let Err(e) = frame::write_heartbeat(stream) {
            *socket = None;
            drop(socket);
            return self.broken(shared, format!("link to {}: {e}", self.addr));
        }
        self.wrote(shared);
        drop(socket);
        // A sender that queued while the heartbeat held the socket left its message to us.
        if !self.pending.lock().is_empty() {
            self.flush(shared);
        }
    }

    /// Whether the link is closed or broken (its heartbeats stop).
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// The next frame's messages: the head of the queue, at most `FRAME_MESSAGES`.
    fn take_frame(&self) -> Batch {
        let mut pending = self.pending.lock();
        let batch = if pending.len() <= FRAME_MESSAGES {
            std::mem::take(&mut *pending)
        } else {
            pending.drain(..FRAME_MESSAGES).collect()
        };
        self.space.notify_all();
        batch
    }

    /// A write (or the handshake) failed: the link is dead. Who reports it, and why, is left to this peer's
    /// incoming link for a moment: a peer that stops on purpose says so there (`Leaving`), and
    /// one that died shows there as an end of stream. Only if neither comes is the broken
    /// pipe itself reported. The sender does not wait for any of this.
    fn broken(&self, shared: &Arc<Shared>, detail: String) {
        self.dead.store(true, Ordering::Release);
        self.pending.lock().clear();
        self.space.notify_all();
        let peer = shared.config.peer(self.peer);
        let shared = Arc::clone(shared);
        let id = self.peer;
        let _ = std::thread::Builder::new()
            .name("vmodb-broken-link".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_secs(2));
                shared.lose(id, NetError::Broken { peer, detail });
            });
    }

    /// Writes what is queued (a stop must not drop what was sent before it, e.g. `Shutdown`),
    /// says goodbye (`Message::Leaving` with `reason`) and shuts the socket down.
    pub fn close(&self, reason: Option<String>) {
        *self.closed.lock() = Some(reason.clone());
        let socket = self.socket.lock().take();
        self.dead.store(true, Ordering::Release);
        if let Some((mut stream, mut buf)) = socket {
            loop {
                let batch = self.take_frame();
                if batch.is_empty()
                    || frame::write_batch(&mut stream, &batch, &mut buf, frame::MAX_BATCH).is_err()
                {
                    break;
                }
            }
            goodbye(stream, buf, reason);
        }
        self.pending.lock().clear();
        self.space.notify_all();
    }

    fn fail(&self, shared: &Shared, error: NetError) {
        self.dead.store(true, Ordering::Release);
        self.pending.lock().clear();
        self.space.notify_all();
        shared.lose(self.peer, error);
    }

    /// Connects and shakes hands (retrying while the peer is not listening yet), then writes
    /// what was queued meanwhile. Runs on a thread of its own, once.
    pub fn connect(&self, shared: &Arc<Shared>) {
        match self.open(shared) {
            Ok(stream) => {
                let mut socket = self.socket.lock();
                if let Some(reason) = self.closed.lock().clone() {
                    return goodbye(stream, Vec::new(), reason); // closed while connecting
                }
                *socket = Some((stream, Vec::new()));
                drop(socket);
                shared.mark(self.peer, true);
                self.flush(shared);
            }
            // Cut off mid-handshake: the peer may be stopping and say why on its own link.
            Err(NetError::Broken { detail, .. }) => self.broken(shared, detail),
            Err(e) => self.fail(shared, e),
        }
    }

    /// Connects and shakes hands, trying again while the connection is cut before a verdict
    /// (the peer is busy with other handshakes, see `tcp.rs`) until `connect_timeout`.
    fn open(&self, shared: &Shared) -> Result<TcpStream, NetError> {
        let deadline = Instant::now() + shared.config.connect_timeout;
        loop {
            match self.open_once(shared) {
                Err(NetError::Broken { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                done => return done,
            }
        }
    }

    fn open_once(&self, shared: &Shared) -> Result<TcpStream, NetError> {
        let config = &shared.config;
        let peer = config.peer(self.peer);
        let mut stream = connect(&self.addr, config.connect_timeout).map_err(|detail| {
            NetError::Unreachable {
                peer: peer.clone(),
                addr: self.addr.clone(),
                secs: config.connect_timeout.as_secs_f64(),
                detail,
            }
        })?;
        let broken = |e: std::io::Error| NetError::Broken {
            peer: peer.clone(),
            detail: format!("link to {}: {e}", self.addr),
        };
        let _ = stream.set_nodelay(true);
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        match handshake::connect(&mut stream, &config.credentials(), self.peer, deadline) {
            Ok(()) => {
                // A peer that stops reading (frozen, or cut off) fails the write after this
                // long instead of holding every sender forever.
                let timeout = Some(config.heartbeat_timeout);
                stream.set_write_timeout(timeout).map_err(broken)?;
                stream.set_read_timeout(None).map_err(broken)?;
                Ok(stream)
            }
            Err(HandshakeError::Io(e)) => Err(broken(e)),
            Err(HandshakeError::Refused(reason)) => Err(NetError::Refused { peer, reason }),
            Err(HandshakeError::Untrusted(why)) => Err(NetError::Protocol(format!(
                "{peer} at {}: {why}",
                self.addr
            ))),
        }
    }
}

/// What to send instead of the messages of `batch` at `too_big` (each encodes over
/// `max_batch`, even alone): an ask's answer becomes an error answer that says why, so the ask
/// fails and the link goes on. Anything else that big cannot be delivered in order, so the link
/// fails (events are split by envelope before this, and one envelope is far smaller).
fn refusals(batch: &[Message], too_big: &[usize], max_batch: usize) -> std::io::Result<Batch> {
    let mut out = Vec::new();
    for &i in too_big {
        match &batch[i] {
            Message::ControlReply(ControlReply::Answer { id, .. }) => {
                out.push(Message::ControlReply(ControlReply::Answer {
                    id: *id,
                    answer: Err(format!(
                        "the answer is larger than the {max_batch}-byte limit of one message"
                    )),
                }))
            }
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} over the {max_batch}-byte limit of one message",
                        describe(other)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// What a message is, without printing its (huge) contents.
fn describe(m: &Message) -> String {
    match m {
        Message::ToService(ToService::Events(e)) => format!("events ({} envelopes)", e.len()),
        Message::ToService(ToService::Rollback { undo, .. }) => {
            format!("a rollback ({} TIDs)", undo.len())
        }
        Message::ToCoordinator(ToCoordinator::Reports { reports, .. }) => {
            format!("reports ({})", reports.len())
        }
        Message::ToCoordinator(ToCoordinator::Tasks { tasks, .. }) => {
            format!("task footprints ({})", tasks.len())
        }
        _ => "a protocol message".into(),
    }
}

/// The last frame of a link closed on purpose, then the end of the stream.
fn goodbye(mut stream: TcpStream, mut buf: Vec<u8>, reason: Option<String>) {
    let bye: Batch = vec![Message::Leaving { reason }];
    let _ = frame::write_batch(&mut stream, &bye, &mut buf, frame::MAX_BATCH);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Connects to `addr`, retrying while the peer is not listening yet.
fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = addr
            .to_socket_addrs()
            .map_err(|e| format!("bad address: {e}"))
            .and_then(|mut a| {
                a.next()
                    .ok_or_else(|| "bad address: resolves to nothing".to_string())
            })
            .and_then(|a| {
                TcpStream::connect_timeout(&a, Duration::from_secs(1)).map_err(|e| e.to_string())
            });
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline || e.starts_with("bad address") => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
