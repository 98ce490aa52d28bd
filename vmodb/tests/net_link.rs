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
use vmodb::net::{Identity, Inbound, LinkConfig, NetError, Peer, TcpTransport};
use vmodb::{Message, NodeId, Transport};

const ID: Identity = Identity {
    app: 7,
    build: 1,
    cluster: 9,
};

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(u64, u64)>>,
    answers: Mutex<Vec<(u64, Result<usize, String>)>>,
    lost: Mutex<Vec<String>>,
}

impl Inbound for Recorder {
    fn deliver(&self, _from: NodeId, message: Message) {
        match message {
            Message::CommitBatch { batch, max_tid, .. } => self.got.lock().push((batch, max_tid)),
            Message::Answer { id, answer } => {
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
    let mut config = LinkConfig::new(me, peers, ID);
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
                    let m = Message::CommitBatch {
                        batch: s,
                        max_tid: i,
                        checkpoint: None,
                    };
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
        let (mut incoming, _) = lb.accept().expect("the coordinator connects");
        let _: vmodb::net::Hello = read_handshake(&mut incoming);
        write_handshake(&mut incoming, &vmodb::net::HelloReply::Welcome);
        let mut outgoing = std::net::TcpStream::connect(&aa).expect("connect back");
        write_handshake(
            &mut outgoing,
            &vmodb::net::Hello::new(NodeId::Service(0), ID),
        );
        let _: vmodb::net::HelloReply = read_handshake(&mut outgoing);
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
    let ((a, _), (b, at_b)) = pair(|c| c.max_batch = 24 << 20);
    let answer = |id, bytes| Message::Answer {
        id,
        answer: Ok(vmodb::Answer::Query(vec![7; bytes])),
    };
    let commit = Message::CommitBatch {
        batch: 1,
        max_tid: 1,
        checkpoint: None,
    };
    let big = vmodb::net::MAX_FRAME + (1 << 20);
    a.send(NodeId::Coordinator, NodeId::Service(0), answer(1, big));
    a.send(NodeId::Coordinator, NodeId::Service(0), answer(2, 30 << 20));
    a.send(NodeId::Coordinator, NodeId::Service(0), commit);
    let deadline = Instant::now() + Duration::from_secs(30);
    while at_b.got.lock().is_empty() {
        assert!(Instant::now() < deadline, "the link stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let answers = at_b.answers.lock().clone();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0], (1, Ok(big)));
    assert_eq!(answers[1].0, 2);
    let e = answers[1].1.clone().expect_err("too big to send");
    assert!(e.contains("larger than"), "{e}");
    assert!(at_b.lost.lock().is_empty(), "{:?}", at_b.lost.lock());
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
        LinkConfig::new(NodeId::Service(0), peers, Identity { app: 8, ..ID }),
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
