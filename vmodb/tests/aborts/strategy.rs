//! The random workloads (inputs, failures, batch settings, clients) the property test runs on
//! clusters and the simulation test runs under the simulator.

use crate::app::{Fail, Input, KEYS, Kind, TRANSACTIONS};
use crate::run::{Op, Setup, Workload};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Abort),
        1 => Just(Kind::Panic),
        1 => Just(Kind::Duplicate),
        1 => Just(Kind::Check),
        1 => Just(Kind::ForeignKey),
    ]
}

/// (transaction index, key, amount, guard, failure)
fn op() -> impl Strategy<Value = (usize, u32, i64, bool, Option<(u8, Kind)>)> {
    let tx = prop_oneof![
        30 => Just(0usize), // transfer
        12 => Just(1),      // fork
        10 => Just(2),      // peek
        5 => Just(3),       // audit
        8 => Just(4),       // bump
        12 => Just(5),      // withdraw
        6 => Just(6),       // register
        5 => Just(7),       // unregister
        4 => Just(8),       // restock
        4 => Just(9),       // look
    ];
    let fail = prop_oneof![
        7 => Just(None),
        3 => (0..4u8, kind()).prop_map(Some),
    ];
    (tx, 0..KEYS, -2i64..=4, any::<bool>(), fail)
}

fn setup() -> impl Strategy<Value = Setup> {
    let idle = prop_oneof![3 => Just(None), 1 => (100u64..=1000).prop_map(Some)];
    let in_flight = prop_oneof![3 => Just(100_000usize), 1 => 2usize..=64];
    let pause = prop_oneof![Just(0u64), 50u64..=2000];
    let delay = prop_oneof![3 => Just(None), 1 => (100u64..=1500).prop_map(Some)];
    (
        (1u64..=3, 2u32..=40, idle, in_flight, 1usize..=3),
        (1usize..=3, 1usize..=24, pause, delay, any::<u64>()),
    )
        .prop_map(
            |(
                (window_ms, max_batch, idle_us, max_in_flight, workers),
                (clients, chunk, pause_us, delay_us, seed),
            )| Setup {
                window_ms,
                max_batch,
                idle_us,
                max_in_flight,
                workers,
                clients,
                chunk,
                pause_us,
                delay_us,
                seed,
            },
        )
}

pub fn workload() -> impl Strategy<Value = Workload> {
    (setup(), prop::collection::vec(op(), 20..=300)).prop_map(|(setup, ops)| {
        let ops = ops
            .into_iter()
            .enumerate()
            .map(|(i, (tx, k, amount, guard, fail))| {
                let fail = match fail {
                    Some((at, kind)) => Fail::at(at, kind),
                    None => Fail::NONE,
                };
                let input = Input {
                    uid: i as u64 + 1,
                    k,
                    amount,
                    guard,
                    fail,
                };
                Op::new(TRANSACTIONS[tx], input)
            })
            .collect();
        Workload { setup, ops }
    })
}
