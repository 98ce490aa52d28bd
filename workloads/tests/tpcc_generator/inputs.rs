//! The input stream: mix, terminal homes, New-Order lines and rollbacks, remote rates,
//! customer selection, and that every customer it names exists.

use super::*;

fn ops(scale: &TpccScale, mix: TpccMix, seed: u64, n: u32, terminals: u32) -> Vec<TpccOp> {
    let mut g = TpccInputGenerator::new(scale, mix, seed);
    (0..n).map(|i| g.next_op(i % terminals)).collect()
}

fn share<T>(xs: &[T], f: impl Fn(&T) -> bool) -> f64 {
    xs.iter().filter(|x| f(x)).count() as f64 / xs.len() as f64
}

#[test]
fn mix_presets_and_kinds() {
    assert_eq!(TpccMix::preset("standard"), Some(TpccMix::standard()));
    assert_eq!(
        TpccMix::preset("new-order"),
        Some(TpccMix::new_order_only())
    );
    assert_eq!(TpccMix::preset("nope"), None);
    let m = TpccMix::standard();
    assert_eq!(
        (
            m.new_order,
            m.payment,
            m.order_status,
            m.delivery,
            m.stock_level
        ),
        (45, 43, 4, 4, 4)
    );
    assert_eq!(
        TPCC_KINDS,
        [
            "new_order",
            "payment",
            "order_status",
            "delivery",
            "stock_level"
        ]
    );
}

#[test]
fn the_mix_shares_follow_the_weights() {
    let scale = TpccScale::small(4);
    let all = ops(&scale, TpccMix::standard(), 1, 100_000, 40);
    for (kind, expected) in TPCC_KINDS.iter().zip([0.45, 0.43, 0.04, 0.04, 0.04]) {
        let got = share(&all, |o| o.kind() == *kind);
        assert!(
            (got - expected).abs() < 0.01,
            "{kind}: {got}, expected {expected}"
        );
    }
    let only = ops(&scale, TpccMix::new_order_only(), 1, 10_000, 40);
    assert!(only.iter().all(|o| matches!(o, TpccOp::NewOrder(_))));
    let zero = TpccMix {
        new_order: 0,
        payment: 0,
        order_status: 0,
        delivery: 0,
        stock_level: 0,
    };
    assert!(
        ops(&scale, zero.clone(), 1, 100, 4)
            .iter()
            .all(|o| o.kind() == "new_order"),
        "an all-zero mix counts as New-Order only"
    );
    let payments_only = TpccMix { payment: 1, ..zero };
    assert!(
        ops(&scale, payments_only, 1, 100, 4)
            .iter()
            .all(|o| o.kind() == "payment")
    );
}

#[test]
fn input_stream_is_a_pure_function_of_seed_and_terminals() {
    let scale = TpccScale::small(3);
    let a = ops(&scale, TpccMix::standard(), 5, 2_000, 12);
    assert_eq!(a, ops(&scale, TpccMix::standard(), 5, 2_000, 12));
    assert_ne!(a, ops(&scale, TpccMix::standard(), 6, 2_000, 12));
}

#[test]
fn a_terminals_ops_do_not_depend_on_the_order_terminals_ask_in() {
    // Two systems complete in different orders, so terminals ask in different orders; each
    // terminal must still get the same k-th op.
    let scale = TpccScale::small(3);
    let per_terminal = |order: &[u32]| {
        let mut g = TpccInputGenerator::new(&scale, TpccMix::standard(), 5);
        let mut seen: std::collections::BTreeMap<u32, Vec<TpccOp>> = Default::default();
        for t in order {
            seen.entry(*t).or_default().push(g.next_op(*t));
        }
        seen
    };
    let round_robin: Vec<u32> = (0..600).map(|i| i % 6).collect();
    let mut scrambled = round_robin.clone();
    scrambled.sort_by_key(|t| (*t * 7919) % 6); // all of one terminal, then the next, ...
    assert_eq!(per_terminal(&round_robin), per_terminal(&scrambled));
}

#[test]
fn ops_run_at_the_terminals_home() {
    let scale = TpccScale::small(3);
    let mut g = TpccInputGenerator::new(&scale, TpccMix::standard(), 3);
    for i in 0..3_000u32 {
        let terminal = i % 30;
        let op = g.next_op(terminal);
        assert_eq!(op.home_warehouse(), terminal % 3 + 1, "{op:?}");
        assert_eq!(terminal_home(3, terminal).0, terminal % 3 + 1);
        if let TpccOp::StockLevel(s) = &op {
            assert_eq!(s.d_id, terminal_home(3, terminal).1);
            assert!((10..=20).contains(&s.threshold));
        }
        if let TpccOp::Delivery(d) = &op {
            assert!((1..=10).contains(&d.o_carrier_id));
        }
    }
    // 30 terminals over 3 warehouses: each (warehouse, district) once.
    let homes: HashSet<(WarehouseId, DistrictId)> = (0..30).map(|t| terminal_home(3, t)).collect();
    assert_eq!(homes.len(), 30);
}

#[test]
fn new_orders_have_5_to_15_distinct_items() {
    let scale = TpccScale::small(2);
    let all = ops(&scale, TpccMix::new_order_only(), 8, 20_000, 8);
    let mut counts: HashMap<usize, usize> = HashMap::new();
    for op in &all {
        let TpccOp::NewOrder(n) = op else {
            unreachable!()
        };
        assert!((1..=DISTRICTS).contains(&n.d_id));
        assert!((1..=scale.customers_per_district).contains(&n.c_id));
        *counts.entry(n.lines.len()).or_default() += 1;
        let items: HashSet<ItemId> = n.lines.iter().map(|l| l.ol_i_id).collect();
        assert_eq!(items.len(), n.lines.len(), "distinct items: {n:?}");
        for l in &n.lines {
            assert!((1..=scale.items).contains(&l.ol_i_id));
            assert!((1..=10).contains(&l.ol_quantity));
            assert!((1..=scale.warehouses).contains(&l.ol_supply_w_id));
        }
    }
    assert_eq!(
        counts
            .keys()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        (5..=15).collect(),
        "every line count 5..=15 occurs"
    );
    // Even with 15 items only (every item in the largest orders).
    let tiny = TpccScale {
        items: 15,
        ..TpccScale::small(1)
    };
    for op in ops(&tiny, TpccMix::new_order_only(), 9, 2_000, 1) {
        let TpccOp::NewOrder(n) = op else {
            unreachable!()
        };
        let items: HashSet<ItemId> = n.lines.iter().map(|l| l.ol_i_id).collect();
        assert_eq!(items.len(), n.lines.len());
    }
}

#[test]
fn rollbacks_put_an_unused_item_last_in_the_asked_share_of_new_orders() {
    let scale = TpccScale::small(1);
    let unused = unused_item(&scale);
    let draw = |percent: u32| -> Vec<NewOrderInput> {
        let mut g =
            TpccInputGenerator::new(&scale, TpccMix::new_order_only(), 3).with_rollbacks(percent);
        (0..20_000)
            .map(|i| match g.next_op(i % 4) {
                TpccOp::NewOrder(n) => n,
                other => panic!("new-order only mix gave {other:?}"),
            })
            .collect()
    };
    let none = draw(0);
    assert!(
        none.iter()
            .all(|n| n.lines.iter().all(|l| l.ol_i_id != unused))
    );
    for percent in [SPEC_ROLLBACK_PERCENT, 10] {
        let orders = draw(percent);
        let share = share(&orders, |n| n.lines.iter().any(|l| l.ol_i_id == unused));
        let want = f64::from(percent) / 100.0;
        assert!(
            (share - want).abs() < want * 0.25 + 0.002,
            "{percent}%: {share}"
        );
        for (n, plain) in orders.iter().zip(&none) {
            // Only the last line changes: the rest of the stream is the same.
            let k = n.lines.len() - 1;
            assert_eq!(n.lines[..k], plain.lines[..k]);
            assert!(n.lines[k] == plain.lines[k] || n.lines[k].ol_i_id == unused);
        }
    }
}

#[test]
fn remote_lines_and_payments_are_about_1_and_15_percent() {
    for warehouses in [1, 2, 5] {
        let scale = TpccScale::small(warehouses);
        let all = ops(&scale, TpccMix::standard(), 10, 200_000, 50);
        let lines: Vec<(WarehouseId, &NewOrderLineInput)> = all
            .iter()
            .filter_map(|o| match o {
                TpccOp::NewOrder(n) => Some(n),
                _ => None,
            })
            .flat_map(|n| n.lines.iter().map(move |l| (n.w_id, l)))
            .collect();
        let payments: Vec<&PaymentInput> = all
            .iter()
            .filter_map(|o| match o {
                TpccOp::Payment(p) => Some(p),
                _ => None,
            })
            .collect();
        let remote_lines = share(&lines, |(w, l)| l.ol_supply_w_id != *w);
        let remote_payments = share(&payments, |p| p.c_w_id != p.w_id);
        if warehouses == 1 {
            assert_eq!(remote_lines, 0.0);
            assert_eq!(remote_payments, 0.0);
            assert!(
                payments
                    .iter()
                    .all(|p| (p.c_w_id, p.c_d_id) == (p.w_id, p.d_id))
            );
        } else {
            assert!(
                (0.008..=0.012).contains(&remote_lines),
                "{warehouses} warehouses: remote lines {remote_lines}"
            );
            assert!(
                (0.14..=0.16).contains(&remote_payments),
                "{warehouses} warehouses: remote payments {remote_payments}"
            );
            // Home payments pay at the customer's own district; remote ones at any district.
            assert!(
                payments
                    .iter()
                    .filter(|p| p.c_w_id == p.w_id)
                    .all(|p| p.c_d_id == p.d_id)
            );
            let remote_districts: HashSet<DistrictId> = payments
                .iter()
                .filter(|p| p.c_w_id != p.w_id)
                .map(|p| p.c_d_id)
                .collect();
            assert_eq!(remote_districts.len(), usize::from(DISTRICTS));
        }
        for p in &payments {
            assert!((1.0..=5_000.0).contains(&p.h_amount));
            assert_eq!((p.h_amount * 100.0).round() / 100.0, p.h_amount);
        }
    }
}

#[test]
fn customers_are_chosen_by_last_name_about_60_percent() {
    let scale = TpccScale::small(2);
    let all = ops(&scale, TpccMix::standard(), 12, 100_000, 20);
    let selectors: Vec<&CustomerSelector> = all
        .iter()
        .filter_map(|o| match o {
            TpccOp::Payment(p) => Some(&p.customer),
            TpccOp::OrderStatus(s) => Some(&s.customer),
            _ => None,
        })
        .collect();
    let by_name = share(&selectors, |s| matches!(s, CustomerSelector::LastName(_)));
    assert!((0.58..=0.62).contains(&by_name), "by last name {by_name}");
    let status: Vec<&OrderStatusInput> = all
        .iter()
        .filter_map(|o| match o {
            TpccOp::OrderStatus(s) => Some(s),
            _ => None,
        })
        .collect();
    let by_name = share(&status, |s| {
        matches!(s.customer, CustomerSelector::LastName(_))
    });
    assert!(
        (0.55..=0.65).contains(&by_name),
        "order status by last name {by_name}"
    );
}

#[test]
fn generated_customers_exist_in_the_population() {
    let mid = TpccScale {
        warehouses: 2,
        items: 200,
        customers_per_district: 1_100,
        orders_per_district: 100,
        new_orders_per_district: 30,
    };
    for scale in [TpccScale::small(2), mid] {
        let seed = 13;
        let s = populate(&scale, seed);
        let ids: HashSet<(WarehouseId, DistrictId, CustomerId)> =
            s.customers.iter().map(|c| c.key()).collect();
        let names: HashSet<(WarehouseId, DistrictId, &str)> = s
            .customers
            .iter()
            .map(|c| (c.c_w_id, c.c_d_id, c.c_last.as_str()))
            .collect();
        let items: HashSet<ItemId> = s.items.iter().map(|i| i.i_id).collect();
        let mut distinct_names = HashSet::new();
        let exists = |w: WarehouseId, d: DistrictId, c: &CustomerSelector| match c {
            CustomerSelector::Id(id) => ids.contains(&(w, d, *id)),
            CustomerSelector::LastName(n) => names.contains(&(w, d, n.as_str())),
        };
        for op in ops(&scale, TpccMix::standard(), seed, 50_000, 20) {
            match &op {
                TpccOp::NewOrder(n) => {
                    assert!(ids.contains(&(n.w_id, n.d_id, n.c_id)), "{op:?}");
                    assert!(n.lines.iter().all(|l| items.contains(&l.ol_i_id)));
                }
                TpccOp::Payment(p) => {
                    assert!(exists(p.c_w_id, p.c_d_id, &p.customer), "{op:?}");
                    if let CustomerSelector::LastName(n) = &p.customer {
                        distinct_names.insert(n.clone());
                    }
                }
                TpccOp::OrderStatus(o) => {
                    assert!(exists(o.w_id, o.d_id, &o.customer), "{op:?}")
                }
                TpccOp::Delivery(_) | TpccOp::StockLevel(_) => {}
            }
        }
        assert!(distinct_names.len() > 10, "{scale:?}: names vary");
    }
}
