//! Activation on first message, one turn at a time per grain, and `ask`.

use super::*;

// ---------------------------------------------------------------------------------------------
// Activation
// ---------------------------------------------------------------------------------------------

#[test]
fn a_grain_is_activated_once_by_its_first_message_even_under_concurrent_first_messages() {
    const KEYS: u32 = 8;
    const SENDERS_PER_KEY: usize = 32;
    // A slow activation (2 ms, under the directory's lock) makes a double activation likely
    // if the directory ever activated outside its lock.
    let w = world_with(config(4, None), Duration::from_millis(2), None);

    assert!(w.counters.is_empty());
    let totals = w.silo.block_on(async {
        let start = Arc::new(Barrier::new(KEYS as usize * SENDERS_PER_KEY));
        let senders: Vec<_> = (0..KEYS)
            .flat_map(|key| std::iter::repeat_n(key, SENDERS_PER_KEY))
            .map(|key| {
                let w = w.clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    ask::<Counter, Add>(&w, &key, Add(1)).await.unwrap()
                })
            })
            .collect();
        for s in senders {
            s.await.unwrap();
        }
        let mut totals = Vec::new();
        for key in 0..KEYS {
            totals.push(ask::<Counter, Get>(&w, &key, Get).await.unwrap());
        }
        totals
    });

    assert_eq!(w.activations.load(Ordering::SeqCst), KEYS as usize);
    let by_grain = w.activations_by_grain.lock().clone();
    for key in 0..KEYS {
        assert_eq!(by_grain.get(&("counter", key)), Some(&1), "Counter {key}");
    }
    // Every increment reached the one activation (a second one would have lost some).
    assert_eq!(totals, vec![SENDERS_PER_KEY as i64; KEYS as usize]);
    assert_eq!(w.counters.len(), KEYS as usize);
    assert_eq!(
        sorted(w.counters.activated()),
        (0..KEYS).collect::<Vec<_>>()
    );
    // Keys never messaged, and grain types never messaged, are not activated.
    assert!(!w.counters.activated().contains(&KEYS));
    assert!(w.logs.is_empty() && w.relays1.is_empty());
    assert_eq!(w.logs.activated(), Vec::<u32>::new());

    // The same key of another grain type is another grain.
    ask_now::<Log, Append>(&w, 0, Append(1));
    assert_eq!(w.logs.activated(), vec![0]);
    assert_eq!(w.activations.load(Ordering::SeqCst), KEYS as usize + 1);
    assert_eq!(w.activations_by_grain.lock().get(&("log", 0)), Some(&1));
    // Later messages reuse the activation.
    assert_eq!(
        ask_now::<Counter, Add>(&w, 3, Add(10)),
        SENDERS_PER_KEY as i64 + 10
    );
    assert_eq!(w.activations.load(Ordering::SeqCst), KEYS as usize + 1);
}

// ---------------------------------------------------------------------------------------------
// Turns
// ---------------------------------------------------------------------------------------------

#[test]
fn a_grain_handles_one_message_at_a_time_even_when_its_turns_suspend() {
    const ASKS: u32 = 100;
    let w = world(config(4, None));

    w.silo.block_on(async {
        let asks: Vec<_> = (0..ASKS)
            .map(|id| {
                let w = w.clone();
                tokio::spawn(async move { ask::<Counter, Slow>(&w, &1, Slow(id)).await.unwrap() })
            })
            .collect();
        for a in asks {
            a.await.unwrap();
        }
    });

    let (turns, overlaps) = ask_now::<Counter, Turns>(&w, 1, Turns);
    assert_eq!(overlaps, 0, "a turn started while another was running");
    assert_eq!(turns.len(), 2 * ASKS as usize);
    for pair in turns.chunks(2) {
        match pair {
            [Turn::Enter(a), Turn::Exit(b)] => assert_eq!(a, b, "interleaved turns: {pair:?}"),
            _ => panic!("interleaved turns: {pair:?}"),
        }
    }
    let mut ids: Vec<u32> = turns
        .iter()
        .filter_map(|t| match t {
            Turn::Enter(id) => Some(*id),
            Turn::Exit(_) => None,
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..ASKS).collect::<Vec<_>>());
}

#[test]
fn one_grain_is_not_reentrant_a_suspended_turn_blocks_the_next() {
    let w = world(config(2, None));
    let barrier = Arc::new(Barrier::new(2));

    // Two turns of one grain can only both pass the barrier if they overlap.
    let overlapped = w.silo.block_on(async {
        let a = ask::<Counter, Rendezvous>(&w, &1, Rendezvous(barrier.clone()));
        let b = ask::<Counter, Rendezvous>(&w, &1, Rendezvous(barrier.clone()));
        tokio::time::timeout(Duration::from_millis(300), join(a, b)).await
    });
    assert!(overlapped.is_err(), "two turns of one grain ran at once");

    // The queued turns still run, one after the other: meet each at the barrier in turn.
    w.silo.block_on(async {
        for turn in 0..2 {
            tokio::time::timeout(WAIT, barrier.wait())
                .await
                .unwrap_or_else(|_| panic!("turn {turn} never reached the barrier"));
        }
    });
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(5)), 5);
}

#[test]
fn different_grains_run_concurrently() {
    // One worker: concurrency here is interleaving of turns, not parallel threads.
    for workers in [1, 2] {
        let w = world(config(workers, None));
        let res = w.silo.block_on(async {
            let barrier = Arc::new(Barrier::new(2));
            let a = ask::<Counter, Rendezvous>(&w, &1, Rendezvous(barrier.clone()));
            let b = ask::<Counter, Rendezvous>(&w, &2, Rendezvous(barrier));
            tokio::time::timeout(WAIT, join(a, b)).await
        });
        let (a, b) =
            res.unwrap_or_else(|_| panic!("{workers} workers: grains 1 and 2 never overlapped"));
        a.unwrap();
        b.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// ask
// ---------------------------------------------------------------------------------------------

#[test]
fn ask_returns_the_handlers_reply_and_state_persists_across_messages() {
    let w = world(config(2, None));

    assert_eq!(ask_now::<Counter, Get>(&w, 1, Get), 0);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(1)), 1);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(2)), 3);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(3)), 6);
    // Another key has its own state.
    assert_eq!(ask_now::<Counter, Add>(&w, 2, Add(10)), 10);
    assert_eq!(ask_now::<Counter, Get>(&w, 1, Get), 6);
    assert_eq!(ask_now::<Counter, Add>(&w, 1, Add(-6)), 0);
    assert_eq!(ask_now::<Counter, Get>(&w, 2, Get), 10);

    // Requests are not one-way messages: nothing is pending.
    assert_eq!(w.silo.pending(), 0);
    assert_eq!(w.activations.load(Ordering::SeqCst), 2);
}

#[test]
fn a_grain_that_panicked_is_reported_gone() {
    let w = world(config(2, None));
    assert_eq!(ask_now::<Counter, Add>(&w, 3, Add(1)), 1);

    let err = w
        .silo
        .block_on(async { ask::<Counter, Boom>(&w, &3, Boom).await })
        .expect_err("the grain panicked");
    assert!(
        matches!(&err, SiloError::GrainGone(g) if g.contains("Counter") && g.contains('3')),
        "{err}"
    );
    // The activation stays gone: later requests fail too (there is no reactivation).
    let again = w
        .silo
        .block_on(async { ask::<Counter, Get>(&w, &3, Get).await });
    assert!(matches!(again, Err(SiloError::GrainGone(_))));
    // Other grains are unaffected.
    assert_eq!(ask_now::<Counter, Add>(&w, 4, Add(2)), 2);
}

#[test]
fn a_one_way_message_lost_to_a_panic_does_not_block_quiescence() {
    for jitter in [None, jitter(9)] {
        let w = world(config(2, jitter));
        tell_now::<Counter, Boom>(&w, 5, Boom);
        tell_now::<Counter, Add>(&w, 5, Add(1)); // queued behind the panic, never handled
        assert!(
            w.silo.quiesce(Duration::from_secs(5)),
            "{jitter:?}: pending stuck at {}",
            w.silo.pending()
        );
        assert_eq!(w.silo.pending(), 0);
    }
}
