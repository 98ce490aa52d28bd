//! The TCP transport on its own: many threads sending over one link, with a tiny queue so
//! senders wait (backpressure) and frames carry many messages; every message arrives exactly
//! once, and each sender's messages arrive in the order it sent them (the `Transport` contract).
//! Idle links stay up on heartbeats, a silent peer is lost within the heartbeat timeout, a
//! goodbye is a loss unless this node is stopping, and a message too big for a frame travels in
//! pieces while one too big for any message fails that ask, not the link.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmodb::net::handshake::{self, Credentials};
use vmodb::net::{
    ClusterKey, HelloReply, Identity, Inbound, LinkConfig, NetError, Peer, TcpTransport,
};
use vmodb::{Message, NodeId, Transport};

const ID: Identity = Identity {
    app: 7,
    build: 1,
    cluster: 9,
};

/// The key both ends of the test links hold.
fn key() -> ClusterKey {
    ClusterKey::from_secret(b"the net_link tests' cluster key, long enough").expect("key")
}

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(u64, u64)>>,
    answers: Mutex<Vec<(u64, Result<usize, String>)>>,
    lost: Mutex<Vec<String>>,
    kinds: Mutex<Vec<&'static str>>,
}

impl Inbound for Recorder {
    fn deliver(&self, _from: NodeId, message: Message) {
        self.kinds.lock().push(message.kind());
        match message {
            Message::ToService(vmodb::ToService::CommitBatch { batch, max_tid, .. }) => {
                self.got.lock().push((batch, max_tid))
            }
            Message::ControlReply(vmodb::ControlReply::Answer { id, answer }) => {
                let size = answer.map(|a| match a {
                    vmodb::Answer::Query(q) => q.len(),
                    _ => 0,
                });
                self.answers.lock().push((id, size));
            }
            _ => {}
        }
    }
    fn lost(&self, peer: &Peer, error: NetError) {
        self.lost.lock().push(format!("{peer}: {error}"));
    }
}

fn node(
    me: NodeId,
    other: NodeId,
    listener: TcpListener,
    other_addr: String,
    queue: usize,
) -> (Arc<TcpTransport>, Arc<Recorder>) {
    node_with(me, other, listener, other_addr, |c| c.queue = queue)
}

fn node_with(
    me: NodeId,
    other: NodeId,
    listener: TcpListener,
    other_addr: String,
    set: impl FnOnce(&mut LinkConfig),
) -> (Arc<TcpTransport>, Arc<Recorder>) {
    let peers = BTreeMap::from([(other, ("peer".to_string(), other_addr))]);
    let mut config = LinkConfig::new(me, peers, ID, key());
    set(&mut config);
    let recorder = Arc::new(Recorder::default());
    let t = TcpTransport::start(config, listener, recorder.clone()).expect("transport");
    (t, recorder)
}

#[test]
fn concurrent_senders_keep_their_order_under_backpressure() {
    let (la, lb) = (
        TcpListener::bind("127.0.0.1:0").expect("bind"),
        TcpListener::bind("127.0.0.1:0").expect("bind"),
    );
    let (aa, ab) = (
        la.local_addr().expect("addr").to_string(),
        lb.local_addr().expect("addr").to_string(),
    );
    let (a, _) = node(NodeId::Coordinator, NodeId::Service(0), la, ab, 8);
    let (b, received) = node(NodeId::Service(0), NodeId::Coordinator, lb, aa, 8);
    let deadline = Instant::now() + Duration::from_secs(10);
    a.wait_ready(deadline).expect("a ready");
    b.wait_ready(deadline).expect("b ready");

    const SENDERS: u64 = 4;
    const EACH: u64 = 20_000;
    let threads: Vec<_> = (0..SENDERS)
        .map(|s| {
            let a = Arc::clone(&a);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let m = Message::ToService(vmodb::ToService::CommitBatch {
                        batch: s,
                        max_tid: i,
                        checkpoint: None,
                    });
                    a.send(NodeId::Coordinator, NodeId::Service(0), m);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender");
    }
    while received.got.lock().len() < (SENDERS * EACH) as usize {
        assert!(Instant::now() < deadline, "messages missing");
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = received.got.lock().clone();
    assert_eq!(
        got.len(),
        (SENDERS * EACH) as usize,
        "each message exactly once"
    );
    let mut next = vec![0u64; SENDERS as usize];
    for (s, i) in got {
        assert_eq!(i, next[s as usize], "sender {s} reordered");
        next[s as usize] += 1;
    }
    let traffic = a.traffic();
    assert_eq!(traffic.messages, SENDERS * EACH);
    assert!(
        traffic.frames < traffic.messages,
        "concurrent senders share frames: {traffic:?}"
    );
    assert!(received.lost.lock().is_empty());

    // A clean close is not a loss when the peer stops too (it was told to).
    b.stop();
    a.close(None);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        received.lost.lock().is_empty(),
        "{:?}",
        received.lost.lock()
    );
}

/// A node and what it received.
type Node = (Arc<TcpTransport>, Arc<Recorder>);

/// Two connected nodes, the coordinator and service 0, configured by `set`.
fn pair(set: impl Fn(&mut LinkConfig) + Copy) -> (Node, Node) {
    let (la, lb) = (
        TcpListener::bind("127.0.0.1:0").expect("bind"),
        TcpListener::bind("127.0.0.1:0").expect("bind"),
    );
    let (aa, ab) = (
        la.local_addr().expect("addr").to_string(),
        lb.local_addr().expect("addr").to_string(),
    );
    let a = node_with(NodeId::Coordinator, NodeId::Service(0), la, ab, set);
    let b = node_with(NodeId::Service(0), NodeId::Coordinator, lb, aa, set);
    let deadline = Instant::now() + Duration::from_secs(10);
    a.0.wait_ready(deadline).expect("a ready");
    b.0.wait_ready(deadline).expect("b ready");
    (a, b)
}

/// Waits (up to 30 s) until `r` recorded a loss; returns it.
fn wait_lost(r: &Recorder) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = r.lost.lock().first() {
            return l.clone();
        }
        assert!(Instant::now() < deadline, "no loss was reported");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A service that says goodbye while nobody stopped the cluster (dropped without the
/// coordinator's `Shutdown`) is a lost node at the coordinator, which must not go on serving
/// without it.
#[test]
fn a_clean_goodbye_without_a_shutdown_is_a_loss() {
    let ((a, at_a), (b, _)) = pair(|_| {});
    b.close(None);
    let lost = wait_lost(&at_a);
    assert!(
        lost.contains("peer") && lost.contains("without the coordinator"),
        "{lost}"
    );
    drop(a);
}

/// Idle links stay up on heartbeats; a peer that completes the handshake and then sends
/// nothing at all (frozen, or cut off by the network) is lost within the timeout, by name.
#[test]
fn a_silent_peer_is_lost_within_the_heartbeat_timeout() {
    let timeout = Duration::from_millis(400);
    let ((a, at_a), (b, at_b)) = pair(|c| c.heartbeat_timeout = timeout);
    std::thread::sleep(timeout * 4);
    assert!(at_a.lost.lock().is_empty(), "{:?}", at_a.lost.lock());
    assert!(at_b.lost.lock().is_empty(), "{:?}", at_b.lost.lock());
    drop((a, b, at_b));

    // A peer that shakes hands and goes silent: a raw socket, answering nothing after.
    let la = TcpListener::bind("127.0.0.1:0").expect("bind");
    let lb = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (aa, ab) = (
        la.local_addr().expect("addr").to_string(),
        lb.local_addr().expect("addr").to_string(),
    );
    let (a, at_a) = node_with(NodeId::Coordinator, NodeId::Service(0), la, ab, |c| {
        c.heartbeat_timeout = timeout
    });
    let silent = std::thread::spawn(move || {
        let me = Credentials {
            me: NodeId::Service(0),
            identity: ID,
            key: key(),
        };
        let deadline = || Instant::now() + Duration::from_secs(5);
        let (mut incoming, _) = lb.accept().expect("the coordinator connects");
        handshake::authenticate(&mut incoming, &me, deadline()).expect("the coordinator's proof");
        handshake::answer(&mut incoming, &HelloReply::Welcome).expect("welcome");
        let mut outgoing = std::net::TcpStream::connect(&aa).expect("connect back");
        handshake::connect(&mut outgoing, &me, NodeId::Coordinator, deadline()).expect("welcomed");
        (incoming, outgoing) // kept open, and silent
    });
    let sockets = silent.join().expect("the silent peer");
    let lost = wait_lost(&at_a);
    assert!(lost.contains("peer") && lost.contains("silent"), "{lost}");
    drop((a, sockets));
}

fn write_handshake<T: serde::Serialize>(s: &mut std::net::TcpStream, value: &T) {
    use std::io::Write;
    let body = postcard::to_allocvec(value).expect("encodes");
    s.write_all(&(body.len() as u32).to_le_bytes())
        .expect("write");
    s.write_all(&body).expect("write");
}

fn read_handshake<T: serde::de::DeserializeOwned>(s: &mut std::net::TcpStream) -> T {
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("length");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).expect("body");
    postcard::from_bytes(&body).expect("decodes")
}

/// An answer bigger than a frame travels in pieces and arrives whole; one bigger than the
/// largest message is not sent, its ask gets an error answer instead, and the link goes on.
#[test]
fn big_answers_travel_in_pieces_and_too_big_ones_fail_only_their_ask() {
    // Answers go from a service to the coordinator (the only way they may travel).
    let ((a, at_a), (b, _)) = pair(|c| c.max_batch = 24 << 20);
    let answer = |id, bytes| {
        Message::ControlReply(vmodb::ControlReply::Answer {
            id,
            answer: Ok(vmodb::Answer::Query(vec![7; bytes])),
        })
    };
    let done = Message::ToCoordinator(vmodb::ToCoordinator::BatchDone {
        batch: 1,
        service: 0,
    });
    let big = vmodb::net::MAX_FRAME + (1 << 20);
    let (from, to) = (NodeId::Service(0), NodeId::Coordinator);
    b.send(from, to, answer(1, big));
    b.send(from, to, answer(2, 30 << 20));
    b.send(from, to, done);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !at_a.kinds.lock().contains(&"BatchDone") {
        assert!(Instant::now() < deadline, "the link stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let answers = at_a.answers.lock().clone();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0], (1, Ok(big)));
    assert_eq!(answers[1].0, 2);
    let e = answers[1].1.clone().expect_err("too big to send");
    assert!(e.contains("larger than"), "{e}");
    assert!(at_a.lost.lock().is_empty(), "{:?}", at_a.lost.lock());
    drop((a, b));
}

#[test]
fn a_peer_of_another_application_is_refused_with_the_reason() {
    let (la, lb) = (
        TcpListener::bind("127.0.0.1:0").expect("bind"),
        TcpListener::bind("127.0.0.1:0").expect("bind"),
    );
    let (aa, ab) = (
        la.local_addr().expect("addr").to_string(),
        lb.local_addr().expect("addr").to_string(),
    );
    let (a, _) = node(NodeId::Coordinator, NodeId::Service(0), la, ab, 64);
    // Same cluster digest, different application fingerprint.
    let peers = BTreeMap::from([(NodeId::Coordinator, ("coordinator".to_string(), aa))]);
    let recorder = Arc::new(Recorder::default());
    let b = TcpTransport::start(
        LinkConfig::new(NodeId::Service(0), peers, Identity { app: 8, ..ID }, key()),
        lb,
        recorder.clone(),
    )
    .expect("transport");
    let e = a
        .wait_ready(Instant::now() + Duration::from_secs(5))
        .expect_err("refused");
    assert!(e.to_string().contains("different application"), "{e}");
    assert!(
        b.wait_ready(Instant::now() + Duration::from_secs(5))
            .is_err()
    );
}

fn listener_pair() -> ((TcpListener, String), (TcpListener, String)) {
    let bind = || {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr").to_string();
        (l, a)
    };
    (bind(), bind())
}

/// Someone who knows the application's fingerprint and the cluster digest (a refusal used to
/// print them) but not the key claims to be the coordinator: it is challenged, fails, and hears
/// only "authentication failed", whatever identity it claims; the real peer still gets in.
#[test]
fn a_forged_hello_is_refused_without_learning_anything() {
    let ((la, aa), (lb, ab)) = listener_pair();
    let (a, at_a) = node(NodeId::Service(0), NodeId::Coordinator, la, ab, 64);
    for claimed in [ID, Identity { app: 1, ..ID }] {
        let mut forger = std::net::TcpStream::connect(&aa).expect("connect");
        write_handshake(
            &mut forger,
            &vmodb::net::Hello::new(NodeId::Coordinator, claimed),
        );
        let challenge: HelloReply = read_handshake(&mut forger);
        assert!(
            matches!(challenge, HelloReply::Challenge { .. }),
            "{challenge:?}"
        );
        write_handshake(&mut forger, &vmodb::net::Proof { proof: [7; 32] });
        let verdict: HelloReply = read_handshake(&mut forger);
        assert_eq!(verdict, HelloReply::Refused("authentication failed".into()));
    }
    // The genuine coordinator is welcomed (the forger did not take its place).
    let peers = BTreeMap::from([(NodeId::Service(0), ("svc".to_string(), aa))]);
    let recorder = Arc::new(Recorder::default());
    let b = TcpTransport::start(
        LinkConfig::new(NodeId::Coordinator, peers, ID, key()),
        lb,
        recorder,
    )
    .expect("transport");
    let deadline = Instant::now() + Duration::from_secs(10);
    a.wait_ready(deadline)
        .expect("the real coordinator connects");
    b.wait_ready(deadline).expect("and is welcomed back");
    assert!(at_a.kinds.lock().is_empty(), "{:?}", at_a.kinds.lock());
}

/// A node holding another key is refused, and it refuses in turn: neither side's reasons name
/// a fingerprint or digest.
#[test]
fn nodes_with_different_keys_refuse_each_other() {
    let ((la, aa), (lb, ab)) = listener_pair();
    let (a, _) = node(NodeId::Coordinator, NodeId::Service(0), la, ab, 64);
    let peers = BTreeMap::from([(NodeId::Coordinator, ("coordinator".to_string(), aa))]);
    let other = ClusterKey::from_secret(b"another cluster's key, also long enough").expect("key");
    let recorder = Arc::new(Recorder::default());
    let b = TcpTransport::start(
        LinkConfig::new(NodeId::Service(0), peers, ID, other),
        lb,
        recorder,
    )
    .expect("transport");
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = a.wait_ready(deadline).expect_err("refused").to_string();
    assert!(
        e.contains("authentication failed") || e.contains("did not prove"),
        "{e}"
    );
    assert!(!e.contains(&format!("{:016x}", ID.app)), "{e}");
    assert!(b.wait_ready(deadline).is_err());
}

/// Services send each other events only: a `CommitBatch` or `Shutdown` from a service (it holds
/// the key, but is not the coordinator) is dropped and counted, never delivered.
#[test]
fn a_service_cannot_send_what_only_the_coordinator_may() {
    let ((la, aa), (lb, ab)) = listener_pair();
    let (a, _) = node(NodeId::Service(0), NodeId::Service(1), la, ab, 64);
    let (b, at_b) = node(NodeId::Service(1), NodeId::Service(0), lb, aa, 64);
    let deadline = Instant::now() + Duration::from_secs(10);
    a.wait_ready(deadline).expect("up");
    b.wait_ready(deadline).expect("up");
    let (from, to) = (NodeId::Service(0), NodeId::Service(1));
    let commit = Message::ToService(vmodb::ToService::CommitBatch {
        batch: 1,
        max_tid: 1,
        checkpoint: None,
    });
    a.send(from, to, commit);
    a.send(from, to, Message::Control(vmodb::Control::Shutdown));
    a.send(
        from,
        to,
        Message::ToCoordinator(vmodb::ToCoordinator::BatchDone {
            batch: 1,
            service: 1,
        }),
    );
    a.send(
        from,
        to,
        Message::ToService(vmodb::ToService::Events(Vec::new())),
    );
    while at_b.kinds.lock().is_empty() {
        assert!(Instant::now() < deadline, "nothing arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(*at_b.kinds.lock(), vec!["Events"]);
    assert_eq!(b.refused(), 3);
    assert!(at_b.lost.lock().is_empty(), "{:?}", at_b.lost.lock());
}

/// Connections that do not finish the handshake are capped as a whole (a node never holds a
/// thread per stranger), and one that trickles its hello a byte at a time is cut at the
/// handshake's deadline, not kept alive by each byte.
#[test]
fn strangers_cannot_hold_a_node_in_the_handshake() {
    let ((la, aa), (_lb, ab)) = listener_pair();
    let (_a, _) = node(NodeId::Service(0), NodeId::Coordinator, la, ab, 64);
    let mut trickler = std::net::TcpStream::connect(&aa).expect("connect");
    let started = Instant::now();
    let idle: Vec<_> = (0..200)
        .map(|_| std::net::TcpStream::connect(&aa).expect("connect"))
        .collect();
    // Over the cap, a connection is closed at once: most of the 200 see the end of stream.
    let closed = idle
        .iter()
        .filter(|s| {
            use std::io::Read;
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut s: &std::net::TcpStream = s;
            matches!(s.read(&mut [0u8; 1]), Ok(0))
        })
        .count();
    assert!(
        closed >= 200 - 64,
        "only {closed} of 200 idle connections were closed"
    );
    drop(idle);
    use std::io::{Read, Write};
    trickler
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    // A hello of 100 bytes announced, then a byte of it every half second.
    trickler.write_all(&100u32.to_le_bytes()).expect("write");
    let cut = loop {
        if trickler.write_all(&[0]).is_err() {
            break started.elapsed();
        }
        match trickler.read(&mut [0u8; 1]) {
            Ok(0) | Err(_) if started.elapsed() > Duration::from_secs(30) => {
                panic!("a trickling hello kept its connection for 30 s")
            }
            Ok(0) => break started.elapsed(),
            _ => {}
        }
    };
    assert!(cut < Duration::from_secs(30), "{cut:?}");
}
