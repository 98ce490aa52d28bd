//! The TCP transport on its own: many threads sending over one link, with a tiny queue so
//! senders wait (backpressure) and frames carry many messages; every message arrives exactly
//! once, and each sender's messages arrive in the order it sent them (the `Transport` contract).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vmodb::net::{Inbound, LinkConfig, NetError, Peer, TcpTransport};
use vmodb::{Message, NodeId, Transport};

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(u64, u64)>>,
    lost: Mutex<Vec<String>>,
}

impl Inbound for Recorder {
    fn deliver(&self, _from: NodeId, message: Message) {
        if let Message::CommitBatch { batch, max_tid, .. } = message {
            self.got.lock().push((batch, max_tid));
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
    let peers = BTreeMap::from([(other, ("peer".to_string(), other_addr))]);
    let mut config = LinkConfig::new(me, peers, 7, 9);
    config.queue = queue;
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

    // A clean close is not a loss; the port is free afterwards.
    a.close(None);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        received.lost.lock().is_empty(),
        "{:?}",
        received.lost.lock()
    );
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
        LinkConfig::new(NodeId::Service(0), peers, 8, 9),
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
