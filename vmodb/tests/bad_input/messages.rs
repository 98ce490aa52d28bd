//! Messages from a broken peer: misrouted, malformed, or sent to unknown or wrong nodes.

use crate::support::kv::{fwd, set};
use crate::{TIMEOUT, start, still_works};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use vmodb::{Envelope, Message, NodeId, Outcome, TaskReport, TxEnv, TxError};

// ---------------------------------------------------------------------------------------------
// Messages from a broken peer
// ---------------------------------------------------------------------------------------------

/// An envelope for DAG `dag`, node `node`, with `nodes` predecessor entries.
fn envelope(tid: u64, dag: u16, node: u16, nodes: usize, payload: Vec<u8>) -> Envelope {
    Envelope {
        env: TxEnv {
            tid,
            timestamp_us: 0,
            seed: 0,
        },
        batch: 1,
        dag,
        node,
        prevs: Arc::from(vec![0; nodes]),
        payload: Some(payload),
        round: 0,
    }
}

fn bytes<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap()
}

// DAG indexes follow declaration order in `kv::app`: set, pipe, churn, poke. Services: a = 0, b = 1.
const DAG_SET: u16 = 0;
const DAG_PIPE: u16 = 1;

#[test]
fn misrouted_or_malformed_envelopes_are_refused() {
    let (cluster, hooks) = start();
    still_works(&cluster, 1);
    let base = cluster.stats().refused;
    let refused = |n: u64, what: &str| {
        let deadline = std::time::Instant::now() + TIMEOUT;
        while cluster.stats().refused < base + n {
            assert!(std::time::Instant::now() < deadline, "{what}: not refused");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(cluster.stats().refused, base + n, "{what}");
    };
    // Unknown transaction type (DAG index out of range).
    cluster.inject(
        NodeId::Service(0),
        Message::ToService(vmodb::ToService::Events(vec![envelope(
            1_000,
            99,
            0,
            1,
            bytes(&set(1, 1)),
        )])),
    );
    refused(1, "unknown DAG");
    still_works(&cluster, 2);
    // A step of another service: node 0 of `pipe` is a's, sent to b.
    cluster.inject(
        NodeId::Service(1),
        Message::ToService(vmodb::ToService::Events(vec![envelope(
            1_001,
            DAG_PIPE,
            0,
            2,
            bytes(&fwd(1, 1)),
        )])),
    );
    refused(2, "step of another service");
    // A DAG of which this service is no part (`set` only visits a).
    cluster.inject(
        NodeId::Service(1),
        Message::ToService(vmodb::ToService::Events(vec![envelope(
            1_002,
            DAG_SET,
            0,
            1,
            bytes(&set(1, 1)),
        )])),
    );
    refused(3, "transaction not visiting this service");
    // A step index out of range.
    cluster.inject(
        NodeId::Service(0),
        Message::ToService(vmodb::ToService::Events(vec![envelope(
            1_003,
            DAG_PIPE,
            7,
            2,
            bytes(&fwd(1, 1)),
        )])),
    );
    refused(4, "step out of range");
    // A precedence map of the wrong length, and a predecessor not before the TID.
    let mut bad_prev = envelope(1_004, DAG_SET, 0, 1, bytes(&set(1, 1)));
    bad_prev.prevs = Arc::from(vec![1_004]);
    cluster.inject(
        NodeId::Service(0),
        Message::ToService(vmodb::ToService::Events(vec![
            envelope(1_005, DAG_SET, 0, 3, bytes(&set(1, 1))),
            bad_prev,
        ])),
    );
    refused(6, "malformed precedence maps");
    still_works(&cluster, 3);
    assert_eq!(
        hooks.set_runs.load(Ordering::SeqCst),
        0,
        "no refused envelope ran a handler"
    );
    assert_eq!(cluster.stats().coordinator.in_flight, 0);
}

#[test]
fn messages_to_unknown_or_wrong_nodes_are_dropped() {
    let (cluster, _) = start();
    let env = envelope(5, DAG_SET, 0, 1, bytes(&set(1, 1)));
    // No such service.
    cluster.inject(
        NodeId::Service(42),
        Message::ToService(vmodb::ToService::Events(vec![env.clone()])),
    );
    cluster.inject(
        NodeId::Service(u16::MAX),
        Message::ToService(vmodb::ToService::CommitBatch {
            batch: 1,
            max_tid: 5,
            checkpoint: None,
        }),
    );
    cluster.inject(
        NodeId::Service(2),
        Message::ToService(vmodb::ToService::CloseBatch {
            batch: 1,
            expected: 1,
        }),
    );
    // Coordinator-bound messages sent to a service.
    cluster.inject(
        NodeId::Service(0),
        Message::ToCoordinator(vmodb::ToCoordinator::Reports {
            service: 0,
            reports: vec![],
        }),
    );
    cluster.inject(
        NodeId::Service(1),
        Message::ToCoordinator(vmodb::ToCoordinator::BatchDone {
            batch: 1,
            service: 1,
        }),
    );
    // Service-bound messages sent to the coordinator, and reports about TIDs not in flight.
    cluster.inject(
        NodeId::Coordinator,
        Message::ToService(vmodb::ToService::Events(vec![env])),
    );
    cluster.inject(
        NodeId::Coordinator,
        Message::ToService(vmodb::ToService::CloseBatch {
            batch: 1,
            expected: 1,
        }),
    );
    cluster.inject(
        NodeId::Coordinator,
        Message::ToCoordinator(vmodb::ToCoordinator::Reports {
            service: 0,
            reports: vec![TaskReport::Failed {
                tid: 777,
                node: 0,
                service: "a".into(),
                error: TxError::app("not mine"),
            }],
        }),
    );
    cluster.inject(
        NodeId::Coordinator,
        Message::ToCoordinator(vmodb::ToCoordinator::BatchDone {
            batch: 999,
            service: 7,
        }),
    );
    still_works(&cluster, 4);
    let c = cluster
        .client()
        .submit_and_wait("set", &set(1, 8), TIMEOUT)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    assert_eq!(
        cluster.query::<_, Option<i64>>("a", "get", &1u32).unwrap(),
        Some(8)
    );
}
