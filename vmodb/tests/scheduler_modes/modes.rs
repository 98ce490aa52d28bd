//! Each execution mode observed on a running cluster: what may overlap and what may not.

use crate::cluster::{HANDLERS, Mode, Span, Work, check_spans, run_moded, work};
use crate::support::util::input;
use rand::{RngExt, SeedableRng};

#[test]
fn single_mode_handlers_never_overlap() {
    let inputs: Vec<_> = (0..160u32)
        .map(|i| {
            let s = if i % 2 == 0 { "s1" } else { "s2" };
            input(&format!("{s}.single"), &work(i % 7))
        })
        .collect();
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    for s in ["s1", "s2"] {
        let mine: Vec<&Span> = spans.iter().filter(|x| x.service == s).collect();
        assert_eq!(mine.len(), 80);
        // Alone, and in TID order.
        let mut by_start = mine.clone();
        by_start.sort_by_key(|x| x.start);
        assert!(
            by_start
                .windows(2)
                .all(|w| w[0].tid < w[1].tid && w[0].end < w[1].start),
            "service {s}: single tasks ran out of TID order or together"
        );
    }
    assert!(
        overlapping.iter().all(|(a, b)| a.service != b.service),
        "only tasks of different services overlap"
    );
}

#[test]
fn partitioned_handlers_overlap_only_on_disjoint_keys() {
    let mut inputs = Vec::new();
    for i in 0..400u32 {
        if i % 10 == 9 {
            let keys = vec![i % 6, (i + 1) % 6];
            inputs.push(input("s1.multi", &Work { key: 0, keys }));
        } else {
            inputs.push(input("s1.part", &work(i % 6)));
        }
    }
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    for (a, b) in &overlapping {
        if let (Mode::Part(x), Mode::Part(y)) = (&a.mode, &b.mode) {
            assert!(
                !x.iter().any(|k| y.contains(k)),
                "same key overlapped: {a:?} {b:?}"
            );
        } else {
            panic!("unexpected overlap {a:?} {b:?}");
        }
    }
    assert!(
        !overlapping.is_empty(),
        "partitioned tasks on different keys never overlapped (2 workers, 400 tasks)"
    );
    // Per key, TID order holds.
    for k in 0..6u32 {
        let mut on_k: Vec<&Span> = spans
            .iter()
            .filter(|s| matches!(&s.mode, Mode::Part(x) if x.contains(&k)))
            .collect();
        on_k.sort_by_key(|s| s.start);
        assert!(
            on_k.windows(2)
                .all(|w| w[0].tid < w[1].tid && w[0].end < w[1].start)
        );
    }
}

#[test]
fn partitioned_handlers_on_many_keys_overlap() {
    // 64 distinct keys: long runs of mutually disjoint tasks.
    let inputs = (0..256u32)
        .map(|i| input("s1.part", &work(i % 64)))
        .collect();
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    assert!(
        !overlapping.is_empty(),
        "partitioned tasks on 64 different keys never overlapped (2 workers, 256 tasks)"
    );
}

#[test]
fn empty_partition_key_set_runs_alone() {
    let mut inputs = Vec::new();
    for i in 0..120u32 {
        match i % 4 {
            0 => inputs.push(input(
                "s1.multi",
                &Work {
                    key: 0,
                    keys: vec![],
                },
            )),
            1 => inputs.push(input("s1.par", &work(i))),
            _ => inputs.push(input("s1.part", &work(i % 5))),
        }
    }
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    assert!(
        overlapping
            .iter()
            .all(|(a, b)| a.mode != Mode::Single && b.mode != Mode::Single),
        "a task with no partition keys overlapped another"
    );
}

#[test]
fn parallel_handlers_overlap_each_other_but_never_single_or_partitioned() {
    let mut inputs = Vec::new();
    for round in 0..12u32 {
        for i in 0..20u32 {
            inputs.push(input("s1.par", &work(round * 100 + i)));
        }
        inputs.push(input("s1.single", &work(round % 3)));
        for i in 0..6u32 {
            inputs.push(input("s1.part", &work(i)));
        }
        // Something for the other service, which may overlap anything of s1.
        inputs.push(input("s2.single", &work(round)));
        inputs.push(input("s2.par", &work(round)));
    }
    let spans = run_moded(inputs);
    let overlapping = check_spans(&spans);
    let same_service: Vec<_> = overlapping
        .iter()
        .filter(|(a, b)| a.service == b.service)
        .collect();
    for (a, b) in &same_service {
        let kinds = (&a.mode, &b.mode);
        match kinds {
            (Mode::Parallel, Mode::Parallel) => {}
            (Mode::Part(x), Mode::Part(y)) => assert!(!x.iter().any(|k| y.contains(k))),
            _ => panic!(
                "service {}: {} (tid {}) overlapped {} (tid {})",
                a.service, a.handler, a.tid, b.handler, b.tid
            ),
        }
    }
    assert!(
        same_service
            .iter()
            .any(|(a, b)| a.mode == Mode::Parallel && b.mode == Mode::Parallel),
        "parallel tasks never overlapped each other (2 workers, 240 tasks)"
    );
}

#[test]
fn random_mix_respects_the_conflict_rules_and_replays_serially() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut inputs = Vec::new();
    for _ in 0..500 {
        let s = if rng.random_range(0..3) == 0 {
            "s2"
        } else {
            "s1"
        };
        let h = HANDLERS[rng.random_range(0..HANDLERS.len())];
        let key = rng.random_range(0..5u32);
        let keys: Vec<u32> = (0..rng.random_range(0..3))
            .map(|_| rng.random_range(0..5u32))
            .collect();
        inputs.push(input(&format!("{s}.{h}"), &Work { key, keys }));
    }
    let spans = run_moded(inputs);
    check_spans(&spans);
}
