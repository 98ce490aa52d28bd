//! The marketplace generators: data set defaults and determinism, the mix, distributions, and the
//! in-flight rules (no customer in two sessions, no product in two concurrent updates).

use std::collections::HashSet;
use workloads::marketplace::generator::{
    InputConfig, InputGenerator, KeyDistribution, Mix, Op, Scale, generate,
};

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

fn count_kinds(g: &mut InputGenerator, n: usize) -> [usize; 5] {
    let mut counts = [0; 5];
    for _ in 0..n {
        let Some(op) = g.next_op() else { continue };
        let i = match &op {
            Op::Session { .. } => 0,
            Op::Dashboard(_) => 1,
            Op::PriceUpdate(_) => 2,
            Op::ProductUpdate(_) => 3,
            Op::Delivery(_) => 4,
        };
        counts[i] += 1;
        g.release(&op);
    }
    counts
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
        mix: Mix {
            checkout: 1,
            dashboard: 0,
            price_update: 0,
            product_update: 0,
            delivery: 0,
        },
        ..InputConfig::default()
    };
    let mut g = InputGenerator::new(&scale, config, 5);
    let mut vouchers = 0;
    let mut items = 0;
    let mut in_flight = HashSet::new();
    for _ in 0..scale.customers {
        let Some(Op::Session {
            items: adds,
            checkout,
        }) = g.next_op()
        else {
            panic!("a session")
        };
        assert!(
            in_flight.insert(checkout.customer_id),
            "a customer in two sessions"
        );
        assert!((1..=10).contains(&adds.len()));
        let distinct: HashSet<_> = adds.iter().map(|a| (a.seller_id, a.product_id)).collect();
        assert_eq!(distinct.len(), adds.len(), "items are distinct");
        for a in &adds {
            assert_eq!(a.customer_id, checkout.customer_id);
            assert!((1..=10).contains(&a.quantity));
            vouchers += usize::from(a.voucher);
            items += 1;
        }
    }
    assert_eq!(
        g.next_op(),
        None,
        "every customer is busy: no session can start"
    );
    let share = vouchers as f64 / items as f64;
    assert!(share > 0.02 && share < 0.09, "voucher share {share}");
}

#[test]
fn a_product_never_has_two_updates_in_flight() {
    let scale = Scale {
        customers: 10,
        sellers: 2,
        products_per_seller: 2,
        stock_per_product: 10,
    };
    let config = InputConfig {
        mix: Mix {
            checkout: 0,
            dashboard: 0,
            price_update: 1,
            product_update: 1,
            delivery: 0,
        },
        ..InputConfig::default()
    };
    let mut g = InputGenerator::new(&scale, config, 9);
    let mut busy = Vec::new();
    for _ in 0..50 {
        if let Some(op) = g.next_op() {
            let key = match &op {
                Op::PriceUpdate(u) => (u.seller_id, u.product_id),
                Op::ProductUpdate(u) => (u.seller_id, u.product_id),
                other => panic!("unexpected {other:?}"),
            };
            assert!(
                busy.iter().all(|(k, _)| *k != key),
                "two updates of {key:?} in flight"
            );
            busy.push((key, op));
        }
    }
    assert_eq!(busy.len(), 4, "all four products busy, the rest refused");
    let (_, op) = busy.remove(0);
    g.release(&op);
    assert!(
        g.next_op().is_some(),
        "a released product can be updated again"
    );
}

#[test]
fn zipf_makes_low_ids_hot() {
    let scale = Scale::scaled(0.01);
    let config = InputConfig {
        mix: Mix {
            checkout: 0,
            dashboard: 1,
            price_update: 0,
            product_update: 0,
            delivery: 0,
        },
        sellers: KeyDistribution::Zipf(1.0),
        ..InputConfig::default()
    };
    let mut g = InputGenerator::new(&scale, config, 11);
    let mut first = 0;
    let n = 10_000;
    for _ in 0..n {
        match g.next_op() {
            Some(Op::Dashboard(s)) => {
                assert!((1..=scale.sellers).contains(&s));
                first += usize::from(s == 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // P(1) = 1 / H(100) ≈ 0.19 for s = 1 over 100 sellers; uniform would give 0.01.
    assert!(first > n / 8, "seller 1 drawn {first} times of {n}");
}
