//! `tell` ordering with and without jitter, quiescence, the logical clock, and teardown.

use super::*;

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
fn fifo_jitter_delays_each_links_messages_but_keeps_their_order() {
    const N: u32 = 200;
    let w = world(config(2, fifo_jitter(9)));
    // From a grain of another service, and from outside any grain (the front door).
    ask_now::<Counter, Burst>(&w, 1, Burst { to: 3, n: N });
    {
        let _rt = w.silo.enter();
        for x in 1..=N {
            tell::<Log, Append>(&w, &4, Append(x));
        }
    }
    assert!(w.silo.quiesce(WAIT));
    for key in [3, 4] {
        assert_eq!(
            ask_now::<Log, Read>(&w, key, Read),
            (1..=N).collect::<Vec<_>>(),
            "a link's messages were reordered"
        );
    }
    // Every crossing message was delayed, and the delays were recorded.
    let delays = w.silo.injected_delays().expect("recorded");
    assert!(delays.len() >= 2 * N as u64, "{} delays", delays.len());
    assert!(delays.max() <= 3_000 * 2 * N as u64);
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
        reorder: false,
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
