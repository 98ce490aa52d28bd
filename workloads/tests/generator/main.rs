//! The marketplace generators and the driver's gating: data set defaults and determinism, the
//! input stream as a function of the seed, the mix, distributions, customer turns, gates, the
//! injection knobs (targeted updates, bursts), and the driver's head-of-line enforcement of the
//! in-flight rules (no customer in two sessions, no product in two concurrent updates) against a
//! fake system that completes ops out of order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};
use workloads::marketplace::driver::{Done, DriveConfig, MarketplaceSystem, drive};
use workloads::marketplace::generator::{
    Gate, InputConfig, InputGenerator, KeyDistribution, Mix, Op, Scale, TARGET_WINDOW, generate,
};
use workloads::marketplace::model::{PriceChange, PriceUpdate, Voucher};
use workloads::marketplace::{MarketplaceState, RunLog};

mod gating;

#[test]
fn benchmark_scale_has_the_benchmarks_sizes() {
    let s = Scale::benchmark();
    assert_eq!(
        (
            s.customers,
            s.sellers,
            s.products_per_seller,
            s.stock_per_product
        ),
        (100_000, 10_000, 10, 10_000)
    );
    assert_eq!(s.products(), 100_000);
    let small = Scale::scaled(0.01);
    assert_eq!((small.customers, small.sellers), (1_000, 100));
}

#[test]
fn data_is_seeded_and_within_the_benchmarks_ranges() {
    let scale = Scale::scaled(0.005);
    let a = generate(&scale, 1);
    assert_eq!(a, generate(&scale, 1), "same seed, same data");
    assert_ne!(
        a.products,
        generate(&scale, 2).products,
        "another seed, other data"
    );
    assert_eq!(a.products.len() as u32, scale.products());
    assert_eq!(a.stock_items.len(), a.products.len());
    assert_eq!(a.customers.len() as u32, scale.customers);
    for p in &a.products {
        assert!((0.0..=99.99).contains(&p.price), "price {}", p.price);
        assert!((0.0..=9.99).contains(&p.freight_value));
        assert_eq!(
            (p.price * 100.0).round() / 100.0,
            p.price,
            "prices have two decimals"
        );
        assert!((1..=scale.products_per_seller).contains(&p.product_id));
        assert_eq!(p.version, 0);
    }
    assert!(
        a.stock_items
            .iter()
            .all(|s| s.qty_available == 10_000 && s.qty_reserved == 0)
    );
    // Prices spread over the whole range.
    let high = a.products.iter().filter(|p| p.price > 50.0).count();
    assert!(high > a.products.len() / 4 && high < a.products.len() * 3 / 4);
}

fn kind_index(op: &Op) -> usize {
    match op {
        Op::Session { .. } => 0,
        Op::Dashboard(_) => 1,
        Op::PriceUpdate(_) => 2,
        Op::ProductUpdate(_) => 3,
        Op::Delivery(_) => 4,
    }
}

fn count_kinds(g: &mut InputGenerator, n: usize) -> [usize; 5] {
    let mut counts = [0; 5];
    for _ in 0..n {
        counts[kind_index(&g.next_op())] += 1;
    }
    counts
}

fn only(checkout: u32, price_update: u32, product_update: u32) -> Mix {
    Mix {
        checkout,
        dashboard: 0,
        price_update,
        product_update,
        delivery: 0,
    }
}

/// The product an update changes.
fn updated(op: &Op) -> Option<(u32, u32)> {
    match op {
        Op::PriceUpdate(u) => Some((u.seller_id, u.product_id)),
        Op::ProductUpdate(u) => Some((u.seller_id, u.product_id)),
        _ => None,
    }
}

fn stream(scale: &Scale, config: &InputConfig, seed: u64, n: usize) -> Vec<Op> {
    let mut g = InputGenerator::new(scale, config.clone(), seed);
    (0..n).map(|_| g.next_op()).collect()
}

#[test]
fn the_stream_is_a_function_of_the_seed() {
    let scale = Scale::scaled(0.01);
    let injected = InputConfig {
        mix: Mix::paper(),
        products: KeyDistribution::Zipf(1.0),
        targeted_updates: 50,
        burst: 3,
        ..InputConfig::default()
    };
    for config in [InputConfig::default(), injected] {
        let a = stream(&scale, &config, 42, 5_000);
        // Another generator of the same seed, created after other generators ran and with gate
        // queries interleaved: nothing but (scale, config, seed) matters.
        let _ = stream(&scale, &config, 7, 1_000);
        let mut g = InputGenerator::new(&scale, config.clone(), 42);
        let b: Vec<Op> = (0..5_000)
            .map(|_| {
                let op = g.next_op();
                let _ = g.gates(&op);
                op
            })
            .collect();
        assert_eq!(a, b, "same seed and config, same stream");
        assert_ne!(
            a,
            stream(&scale, &config, 43, 5_000),
            "another seed, another stream"
        );
    }
}

#[test]
fn the_mix_gives_each_type_its_share() {
    let scale = Scale::scaled(0.01);
    let mut g = InputGenerator::new(&scale, InputConfig::default(), 3);
    let c = count_kinds(&mut g, 20_000);
    let expect = [30.0, 5.0, 3.0, 2.0, 60.0];
    for (got, want) in c.iter().zip(expect) {
        let share = *got as f64 / 200.0;
        assert!(
            (share - want).abs() < 1.5,
            "share {share} vs {want} ({c:?})"
        );
    }
    let paper = InputConfig {
        mix: Mix::paper(),
        ..InputConfig::default()
    };
    let c = count_kinds(&mut InputGenerator::new(&scale, paper, 3), 10_000);
    assert_eq!(c[4], 0, "the paper's mix has no delivery");
    assert!(c[0] > 6_500 && c[0] < 7_500);
}

#[test]
fn sessions_follow_the_benchmark() {
    let scale = Scale::scaled(0.01);
    let config = InputConfig {
        mix: only(1, 0, 0),
        ..InputConfig::default()
    };
    let mut g = InputGenerator::new(&scale, config, 5);
    let mut vouchers = 0;
    let mut items = 0;
    let mut seen = HashSet::new();
    for _ in 0..scale.customers {
        let Op::Session {
            items: adds,
            checkout,
        } = g.next_op()
        else {
            panic!("a session")
        };
        assert!((1..=scale.customers).contains(&checkout.customer_id));
        assert!(
            seen.insert(checkout.customer_id),
            "a customer had a second session before every other had one"
        );
        assert!((1..=10).contains(&adds.len()));
        let distinct: HashSet<_> = adds.iter().map(|a| (a.seller_id, a.product_id)).collect();
        assert_eq!(distinct.len(), adds.len(), "items are distinct");
        assert_eq!(
            checkout.products,
            adds.iter()
                .map(|a| (a.seller_id, a.product_id))
                .collect::<Vec<_>>()
        );
        for a in &adds {
            assert_eq!(a.customer_id, checkout.customer_id);
            assert!((1..=10).contains(&a.quantity));
            vouchers += usize::from(a.voucher == Voucher::TenPercent);
            items += 1;
        }
    }
    let share = vouchers as f64 / items as f64;
    assert!(share > 0.02 && share < 0.09, "voucher share {share}");
}

#[test]
fn customers_take_turns() {
    let scale = Scale {
        customers: 10,
        sellers: 4,
        products_per_seller: 3,
        stock_per_product: 10,
    };
    let config = InputConfig {
        mix: Mix::benchmark(),
        ..InputConfig::default()
    };
    for seed in [1, 2] {
        let customers: Vec<u32> = stream(&scale, &config, seed, 5_000)
            .iter()
            .filter_map(|op| match op {
                Op::Session { checkout, .. } => Some(checkout.customer_id),
                _ => None,
            })
            .collect();
        assert!(customers.len() > 1_000);
        for window in customers.windows(scale.customers as usize) {
            let distinct: HashSet<_> = window.iter().collect();
            assert_eq!(
                distinct.len(),
                window.len(),
                "a customer repeats within {} consecutive sessions: {window:?}",
                scale.customers
            );
        }
    }
}

#[test]
fn sessions_gate_on_their_customer_and_updates_on_their_product() {
    let scale = Scale::scaled(0.01);
    let g = InputGenerator::new(&scale, InputConfig::default(), 1);
    let mut source = InputGenerator::new(&scale, InputConfig::default(), 1);
    let mut seen = [0usize; 5];
    for _ in 0..5_000 {
        let op = source.next_op();
        seen[kind_index(&op)] += 1;
        let gates = g.gates(&op);
        match &op {
            Op::Session { checkout, .. } => {
                assert_eq!(gates, vec![Gate::Customer(checkout.customer_id)])
            }
            Op::PriceUpdate(u) => {
                assert_eq!(gates, vec![Gate::Product(u.seller_id, u.product_id)])
            }
            Op::ProductUpdate(u) => {
                assert_eq!(gates, vec![Gate::Product(u.seller_id, u.product_id)])
            }
            Op::Delivery(_) | Op::Dashboard(_) => assert!(gates.is_empty(), "{op:?}"),
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "every type seen: {seen:?}");

    // With bursts, price updates are burst ops and gate on nothing; replacements still gate.
    let bursty = InputConfig {
        mix: only(1, 1, 1),
        burst: 4,
        ..InputConfig::default()
    };
    let mut g = InputGenerator::new(&scale, bursty, 1);
    let (mut prices, mut replacements) = (0, 0);
    for _ in 0..2_000 {
        let op = g.next_op();
        let gates = g.gates(&op);
        match &op {
            Op::PriceUpdate(_) => {
                prices += 1;
                assert!(gates.is_empty(), "burst op {op:?} gated on {gates:?}");
            }
            Op::ProductUpdate(u) => {
                replacements += 1;
                assert_eq!(gates, vec![Gate::Product(u.seller_id, u.product_id)]);
            }
            Op::Session { checkout, .. } => {
                assert_eq!(gates, vec![Gate::Customer(checkout.customer_id)])
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(prices > 0 && replacements > 0);
}

#[test]
fn targeted_updates_hit_the_latest_carts() {
    let scale = Scale {
        customers: 1_000,
        sellers: 1_000,
        products_per_seller: 10,
        stock_per_product: 10,
    };
    // The share of updates whose product is in the carts of the last TARGET_WINDOW sessions.
    let hit_share = |targeted_updates: u32| {
        let config = InputConfig {
            mix: only(3, 1, 1),
            targeted_updates,
            ..InputConfig::default()
        };
        let mut recent: VecDeque<Vec<(u32, u32)>> = VecDeque::new();
        let (mut updates, mut hits) = (0usize, 0usize);
        for op in stream(&scale, &config, 13, 20_000) {
            if let Op::Session { checkout, .. } = &op {
                if recent.len() == TARGET_WINDOW {
                    recent.pop_front();
                }
                recent.push_back(checkout.products.clone());
            } else if let Some(key) = updated(&op) {
                if recent.is_empty() {
                    continue;
                }
                updates += 1;
                let hit = recent.iter().any(|s| s.contains(&key));
                if targeted_updates == 100 {
                    assert!(hit, "update of {key:?} is in none of the latest carts");
                }
                hits += usize::from(hit);
            }
        }
        assert!(updates > 5_000, "{updates} updates");
        hits as f64 / updates as f64
    };
    assert_eq!(hit_share(100), 1.0);
    // Off: products follow the distribution (~700 of 10,000 products are in the window's carts).
    let off = hit_share(0);
    assert!(off < 0.15, "untargeted hit share {off}");
    let half = hit_share(50);
    assert!(half > 0.45 && half < 0.65, "half-targeted hit share {half}");

    // Without a session to aim at, targeted updates fall back to the distributions; and the
    // default stream is the untargeted one.
    let updates_only = |targeted_updates| InputConfig {
        mix: only(0, 1, 1),
        targeted_updates,
        ..InputConfig::default()
    };
    assert_eq!(
        stream(&scale, &updates_only(100), 3, 2_000),
        stream(&scale, &updates_only(0), 3, 2_000)
    );
    assert_eq!(InputConfig::default().targeted_updates, 0);
    assert_eq!(InputConfig::default().burst, 0);
}

#[test]
fn a_burst_is_consecutive_price_updates_of_one_product() {
    let scale = Scale::scaled(0.01);
    let config = InputConfig {
        mix: Mix::paper(),
        burst: 4,
        ..InputConfig::default()
    };
    let ops = stream(&scale, &config, 17, 10_000);
    let mut i = 0;
    let mut bursts = 0;
    while i < ops.len() {
        if let Op::PriceUpdate(first) = &ops[i] {
            if i + 4 > ops.len() {
                break; // the stream was cut mid-burst
            }
            let percent = |u: &PriceUpdate| match u.change {
                PriceChange::RaiseBy(p) => p,
                PriceChange::SetTo(p) => panic!("the generator sets no price ({p})"),
            };
            let mut last = percent(first);
            for op in &ops[i + 1..i + 4] {
                let Op::PriceUpdate(u) = op else {
                    panic!("burst of {first:?} broken by {op:?}")
                };
                assert_eq!(
                    (u.seller_id, u.product_id),
                    (first.seller_id, first.product_id)
                );
                assert!((1..=9).contains(&percent(u)));
                assert_ne!(percent(u), last, "consecutive burst updates differ");
                last = percent(u);
            }
            bursts += 1;
            i += 4;
        } else {
            i += 1;
        }
    }
    assert!(bursts > 500, "{bursts} bursts");
    // Without bursts, two consecutive price updates of one product are rare coincidences.
    let plain = stream(
        &scale,
        &InputConfig {
            mix: Mix::paper(),
            ..InputConfig::default()
        },
        17,
        10_000,
    );
    let repeats = plain
        .windows(2)
        .filter(|w| matches!(w, [Op::PriceUpdate(a), Op::PriceUpdate(b)] if (a.seller_id, a.product_id) == (b.seller_id, b.product_id)))
        .count();
    assert!(repeats < 5, "{repeats} repeats without bursts");
}
