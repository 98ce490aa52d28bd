//! Bad client input: unknown transactions, undecodable payloads, and bad queries.

use crate::support::kv::{self, fwd, set};
use crate::support::util::{collect, input};
use crate::{TIMEOUT, start, still_works};
use std::sync::atomic::Ordering;
use vmodb::{Outcome, QueryError, SubmitError, TxError};

// ---------------------------------------------------------------------------------------------
// Submissions
// ---------------------------------------------------------------------------------------------

#[test]
fn an_unknown_transaction_is_refused_at_submission() {
    let (cluster, _) = start();
    let client = cluster.client();
    assert_eq!(
        client.submit("nope", &set(1, 1)),
        Err(SubmitError::UnknownTransaction("nope".into()))
    );
    assert_eq!(
        client.submit_raw("", vec![1, 2, 3]),
        Err(SubmitError::UnknownTransaction("".into()))
    );
    assert!(matches!(
        client.submit_and_wait("Set", &set(1, 1), TIMEOUT),
        Err(SubmitError::UnknownTransaction(name)) if name == "Set"
    ));
    // One unknown name in a group: the whole group is refused, nothing is sequenced.
    let inputs = vec![
        input("set", &set(1, 1)),
        input("missing", &set(2, 2)),
        input("set", &set(3, 3)),
    ];
    let err = client.submit_all(inputs).unwrap_err();
    assert_eq!(err, SubmitError::UnknownTransaction("missing".into()));
    assert!(err.to_string().contains("missing"));
    assert_eq!(cluster.stats().coordinator.sequenced, 0);
    assert!(client.completions().try_recv().is_err());
    still_works(&cluster, 1);
    assert_eq!(cluster.stats().coordinator.sequenced, 1);
}

#[test]
fn an_undecodable_payload_fails_only_its_transaction() {
    let (cluster, hooks) = start();
    let client = cluster.client();
    // Good and bad inputs interleaved in one group, plus a concurrent good client.
    let good_client = cluster.client();
    let good = std::thread::spawn(move || {
        for i in 0..100u32 {
            good_client.submit("pipe", &fwd(i % 50, 1)).expect("submit");
        }
        collect(&good_client, 100)
    });
    let mut inputs = Vec::new();
    for i in 0..60u32 {
        match i % 3 {
            0 => inputs.push(("set".to_string(), Vec::new())), // truncated
            1 => inputs.push(("pipe".to_string(), vec![0xff; 6])), // broken varint
            _ => inputs.push(input("set", &set(i, 5))),
        }
    }
    let tids = client.submit_all(inputs).expect("submit");
    let single = client.submit_raw("pipe", vec![0x80]).expect("submit");
    let done = collect(&client, tids.len() + 1);
    for (i, c) in done.iter().enumerate() {
        // Which event should have failed to decode, if any.
        let broken = if c.tid == single || i % 3 == 1 {
            Some("step")
        } else if i % 3 == 0 {
            Some("set")
        } else {
            None
        };
        match (broken, &c.outcome) {
            (None, Outcome::Committed { output: None }) => {}
            (Some(name), Outcome::Aborted { service, error }) => {
                assert_eq!(service, "a", "tid {}", c.tid);
                assert!(
                    matches!(error, TxError::Decode { event, .. } if event == name),
                    "tid {}: the error must name event {name}: {error:?}",
                    c.tid
                );
                assert!(error.to_string().contains(name), "{error}");
            }
            (_, other) => panic!("tid {} (input #{i}): unexpected {other:?}", c.tid),
        }
    }
    let good = good.join().expect("good client");
    assert!(
        good.iter()
            .all(|c| matches!(c.outcome, Outcome::Committed { output: Some(_) })),
        "a good transaction was affected"
    );
    // Undecodable inputs never reached a handler; b got "nothing for you" for broken pipes.
    assert_eq!(hooks.set_runs.load(Ordering::SeqCst), 20);
    assert_eq!(hooks.fwd_runs.load(Ordering::SeqCst), 100);
    assert_eq!(
        cluster.stats().refused,
        0,
        "a bad payload is a failed task, not a refused one"
    );
    still_works(&cluster, 2);
}

/// Application code that runs before a handler — the partition closure that places the task —
/// may panic too: that fails its own transaction (at the entry, or at a later service, where
/// the entry's writes are rolled back), never the thread that delivered it, nor its chain.
#[test]
fn a_panicking_partition_closure_fails_only_its_transaction() {
    let (cluster, hooks) = start();
    let client = cluster.client();
    let mut inputs = Vec::new();
    for i in 0..30u32 {
        let mut e = fwd(i % 10, i64::from(i) + 1);
        e.fail = [0, 5, 6][(i % 3) as usize];
        inputs.push(input("pipe", &e));
    }
    let tids = client
        .submit_all(inputs)
        .expect("the submitting thread survives");
    let mut done = collect(&client, tids.len());
    done.sort_by_key(|c| c.tid);
    for (i, c) in done.iter().enumerate() {
        match (i % 3, &c.outcome) {
            (0, Outcome::Committed { output: Some(_) }) => {}
            (1 | 2, Outcome::Aborted { service, error }) => {
                assert_eq!(service, if i % 3 == 1 { "a" } else { "b" }, "tid {}", c.tid);
                assert!(matches!(error, TxError::Panic(m) if m.contains("partition closure")));
            }
            (_, other) => panic!("tid {}: unexpected {other:?}", c.tid),
        }
    }
    // The aborted ones left nothing anywhere: the state is the serial replay of the inputs.
    assert!(hooks.fwd_runs.load(Ordering::SeqCst) >= 10);
    assert!(cluster.wait_idle(TIMEOUT));
    let replayed = vmodb::serial_replay(
        &kv::app(kv::Hooks::new()),
        kv::load,
        &cluster.committed_inputs(),
    )
    .expect("replay");
    assert_eq!(cluster.state(), replayed);
    still_works(&cluster, 3);
}

#[test]
fn bad_queries_get_clear_errors() {
    let (cluster, _) = start();
    assert_eq!(
        cluster.query::<_, Option<i64>>("nowhere", "get", &1u32),
        Err(QueryError::UnknownService("nowhere".into()))
    );
    let err = cluster
        .query::<_, Option<i64>>("a", "nothing", &1u32)
        .unwrap_err();
    assert_eq!(
        err,
        QueryError::UnknownQuery {
            service: "a".into(),
            query: "nothing".into()
        }
    );
    assert!(err.to_string().contains("nothing") && err.to_string().contains('a'));
    // An input that does not decode as the query's input type.
    match cluster.query::<_, Option<i64>>("a", "get", &()) {
        Err(QueryError::Failed(TxError::Decode { event, .. })) => assert_eq!(event, "get"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(
        cluster.query::<_, Option<i64>>("a", "get", &1u32),
        Ok(Some(0))
    );
}
