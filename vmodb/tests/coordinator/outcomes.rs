//! Outputs and failures: what each completion reports, under concurrency too.

use crate::support::kv::{self, Done, Fwd, Hooks, fwd, set};
use crate::support::util::{self, collect, config_ms, input};
use crate::{committed, get, start};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use vmodb::{Outcome, TxError};

#[test]
fn the_last_handler_output_arrives_in_the_completion() {
    let (cluster, hooks) = start(config_ms(1, 10_000));
    let client = cluster.client();
    let timeout = Duration::from_secs(5);
    let c = client
        .submit_and_wait("pipe", &fwd(4, 17), timeout)
        .expect("submit");
    let Outcome::Committed { output: Some(o) } = &c.outcome else {
        panic!("pipe must commit with an output: {:?}", c.outcome);
    };
    assert_eq!(&*o.event, "done");
    assert_eq!(
        o.decode::<Done>().expect("decodes"),
        Done {
            id: 4,
            value: 17,
            before: 0
        }
    );
    assert_eq!(&*c.transaction, "pipe");
    // A transaction whose last handler emits nothing.
    let c = client
        .submit_and_wait("set", &set(4, 1), timeout)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    // The first handler emits nothing: the second runs nothing and there is no output.
    let runs = hooks.fwd_runs.load(Ordering::SeqCst);
    let c = client
        .submit_and_wait("pipe", &fwd(4, -5), timeout)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    assert_eq!(
        hooks.fwd_runs.load(Ordering::SeqCst),
        runs,
        "b got nothing to do"
    );
    assert_eq!(get(&cluster, "a", 4), Some(-5));
    assert_eq!(get(&cluster, "b", 4), Some(17));
}

#[test]
fn outputs_are_never_lost_under_concurrency() {
    // Many tasks admitted at once at each service, so that several workers share each batch.
    let (cluster, _) = start(config_ms(1, 32));
    let client = cluster.client();
    let mut expected = BTreeMap::new();
    for round in 0..10u32 {
        let inputs: Vec<_> = (0..200u32)
            .map(|i| {
                let f = Fwd {
                    id: i % kv::CELLS,
                    value: i64::from(round * 1000 + i),
                    fail: 0,
                    sleep_us: 20,
                };
                input("pipe", &f)
            })
            .collect();
        let tids = client.submit_all(inputs).expect("submit");
        for (i, tid) in (0..200u32).zip(tids) {
            expected.insert(tid, (i % kv::CELLS, i64::from(round * 1000 + i)));
        }
    }
    let done = collect(&client, expected.len());
    let mut lost = Vec::new();
    for c in &done {
        let (id, value) = expected[&c.tid];
        match &c.outcome {
            Outcome::Committed { output: Some(o) } => {
                let d: Done = o.decode().expect("decodes");
                assert_eq!((d.id, d.value), (id, value), "tid {}", c.tid);
            }
            other => lost.push((c.tid, c.batch, other.clone())),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} committed transactions lost their output, e.g. {:?}",
        lost.len(),
        done.len(),
        &lost[..lost.len().min(3)]
    );
}

#[test]
fn a_failing_handler_fails_only_its_transaction() {
    util::quiet_deliberate_panics();
    let (cluster, hooks) = start(config_ms(2, 10_000));
    let client = cluster.client();
    let with = |id, value, fail| kv::Set {
        id,
        value,
        fail,
        sleep_ms: 0,
    };
    let fwd_with = |id, value, fail| Fwd {
        id,
        value,
        fail,
        sleep_us: 0,
    };
    let inputs = vec![
        input("set", &with(1, 10, 0)),     // 1 ok
        input("set", &with(1, 99, 1)),     // 2 a errs after writing
        input("set", &with(1, 98, 2)),     // 3 a panics after writing
        input("pipe", &fwd_with(2, 5, 3)), // 4 b errs after writing
        input("pipe", &fwd_with(2, 6, 4)), // 5 b panics after writing
        input("pipe", &fwd_with(2, 7, 1)), // 6 a errs: b gets nothing
        input("pipe", &fwd_with(2, 8, 0)), // 7 ok: b sees neither 5 nor 6
        input("set", &with(1, 11, 0)),     // 8 ok
        input("poke", &with(3, 1, 3)),     // 9 b errs (entry service)
        input("poke", &with(3, 2, 0)),     // 10 ok
    ];
    let tids = client.submit_all(inputs).expect("submit");
    let done = collect(&client, tids.len());
    let outcome = |i: usize| &done[i].outcome;
    let failed_at = |i: usize| match outcome(i) {
        Outcome::Aborted { service, error } => (service.clone(), error.clone()),
        other => panic!("transaction #{} should have failed: {other:?}", i + 1),
    };
    assert!(matches!(outcome(0), Outcome::Committed { output: None }));
    let (s, e) = failed_at(1);
    assert_eq!(s, "a");
    assert_eq!(e, TxError::App("deliberate failure at a".into()));
    let (s, e) = failed_at(2);
    assert_eq!(s, "a");
    assert!(
        matches!(&e, TxError::Panic(m) if m.contains("deliberate panic at a")),
        "{e:?}"
    );
    assert_eq!(failed_at(3).0, "b");
    let (s, e) = failed_at(4);
    assert_eq!(s, "b");
    assert!(matches!(e, TxError::Panic(_)));
    assert_eq!(failed_at(5).0, "a");
    match outcome(6) {
        Outcome::Committed { output: Some(o) } => assert_eq!(
            o.decode::<Done>().unwrap(),
            Done {
                id: 2,
                value: 8,
                before: 0
            },
            "the failed writes at b were undone before later transactions read"
        ),
        other => panic!("transaction #7 should commit: {other:?}"),
    }
    assert!(committed(&done[7]));
    assert_eq!(failed_at(8).0, "b");
    assert!(committed(&done[9]));
    // b ran for #4, #5 and #7, and again for each of them a rollback round re-executed (#4
    // and #5 failed at b after a wrote: the whole transaction rolls back, later ones on the same
    // key re-execute), never for #6, which failed at a.
    let reruns = cluster.stats().coordinator.rollback.reexecuted;
    let runs = hooks.fwd_runs.load(Ordering::SeqCst);
    assert!(
        (3..=3 + reruns).contains(&runs),
        "b ran {runs} times, {reruns} reruns"
    );
    assert!(
        reruns > 0,
        "failures at b after a wrote need a rollback round"
    );
    // Failed writes are gone from the committed state.
    assert_eq!(get(&cluster, "a", 1), Some(11));
    assert_eq!(get(&cluster, "b", 2), Some(8));
    assert_eq!(get(&cluster, "b", 3), Some(2));
    // The chain is not wedged: more work commits.
    let c = client
        .submit_and_wait("pipe", &fwd(2, 9), Duration::from_secs(5))
        .expect("submit");
    assert!(committed(&c));
    assert_eq!(get(&cluster, "b", 2), Some(9));
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let replayed = vmodb::serial_replay(
        &kv::app(Hooks::new()),
        kv::load,
        &cluster.committed_inputs(),
    )
    .expect("replay");
    assert_eq!(cluster.state(), replayed);
}

#[test]
fn failures_under_concurrency_are_reported_exactly() {
    util::quiet_deliberate_panics();
    let (cluster, _) = start(config_ms(1, 64));
    let client = cluster.client();
    let mut expected = BTreeMap::new();
    for round in 0..6u32 {
        let mut inputs = Vec::new();
        let mut fails = Vec::new();
        for i in 0..200u32 {
            let n = round * 200 + i;
            let fail = if n % 7 == 3 { (n / 7 % 4 + 1) as u8 } else { 0 };
            fails.push(fail);
            inputs.push(input(
                "pipe",
                &Fwd {
                    id: n % 40,
                    value: n.into(),
                    fail,
                    sleep_us: 20,
                },
            ));
        }
        for (tid, fail) in client
            .submit_all(inputs)
            .expect("submit")
            .into_iter()
            .zip(fails)
        {
            expected.insert(tid, fail);
        }
    }
    let done = collect(&client, expected.len());
    let mut wrong = Vec::new();
    for c in &done {
        let fail = expected[&c.tid];
        let ok = match (&c.outcome, fail) {
            (Outcome::Committed { output: Some(_) }, 0) => true,
            (Outcome::Aborted { service, .. }, 1 | 2) => service == "a",
            (Outcome::Aborted { service, .. }, 3 | 4) => service == "b",
            _ => false,
        };
        if !ok {
            wrong.push((c.tid, fail, c.outcome.clone()));
        }
    }
    let hidden_failures: Vec<_> = wrong.iter().filter(|w| w.1 != 0).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} outcomes wrong (tid, fail code, outcome); {} failed transactions were reported \
         as committed, e.g. {:?}; first wrong: {:?}",
        wrong.len(),
        done.len(),
        hidden_failures.len(),
        hidden_failures.first(),
        &wrong[..wrong.len().min(3)]
    );
    assert!(cluster.wait_idle(Duration::from_secs(5)));
    let replayed = vmodb::serial_replay(
        &kv::app(Hooks::new()),
        kv::load,
        &cluster.committed_inputs(),
    )
    .expect("replay");
    assert_eq!(cluster.state(), replayed);
}
