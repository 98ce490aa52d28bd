//! Visibility: a traced operation hears when the last message it caused was handled.

use super::*;
use baseline::{Effects, traced};

#[test]
fn a_traced_operation_reports_after_its_whole_cascade_was_handled() {
    let w = world(config(2, jitter(3)));
    let (tx, rx) = mpsc::channel();
    let seen = Arc::clone(&w);
    let on_applied = Arc::new(move |d: Duration| {
        // What was handled when the trace ended: the whole cascade, or the test fails.
        let _ = tx.send((seen.hops_handled.load(Ordering::SeqCst), d));
    });
    let started = Instant::now();
    let effects = Some(Effects::new(started, on_applied));
    let w2 = Arc::clone(&w);
    w.silo.block_on(traced(effects, async move {
        tell::<Relay<1>, Hop>(
            &w2,
            &0,
            Hop {
                depth: 1,
                origin: 0,
            },
        );
    }));
    // The operation itself returned at once; its effects are still on their way.
    let returned = started.elapsed();
    let (handled, visible_after) = rx.recv_timeout(WAIT).expect("the trace ends");
    assert_eq!(handled, 7, "1 + 2 + 4 hops handled before the trace ended");
    // Three levels, each handler sleeping 1 ms: the cascade takes at least 3 ms.
    assert!(
        visible_after >= Duration::from_millis(3),
        "{visible_after:?}"
    );
    assert!(visible_after > returned);
}

#[test]
fn untraced_messages_report_nothing() {
    let w = world(config(2, None));
    let (tx, rx) = mpsc::channel::<Duration>();
    let on_applied = Arc::new(move |d: Duration| {
        let _ = tx.send(d);
    });
    // A trace that ends before the message is sent: the message does not carry it.
    w.silo.block_on(traced(
        Some(Effects::new(Instant::now(), on_applied)),
        async {},
    ));
    let first = rx.recv_timeout(WAIT).expect("the empty trace ends at once");
    tell_now::<Relay<1>, Hop>(
        &w,
        1,
        Hop {
            depth: 1,
            origin: 1,
        },
    );
    assert!(w.silo.quiesce(WAIT));
    assert!(rx.try_recv().is_err(), "only one report, {first:?}");
}
