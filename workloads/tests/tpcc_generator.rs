//! The TPC-C generators: the initial population's cardinalities, values and consistency
//! (clauses 4.3.3.1 and 3.3.2, conditions 1–4) as a function of the seed; last names and NURand
//! (clauses 4.3.2.3, 2.1.6); the input stream's mix, remote rates, customer selection, terminal
//! homes, distinct items, and that every customer it names exists.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;
use vmodb::Entity;
use workloads::tpcc::TpccState;
use workloads::tpcc::generator::{
    LOAD_TIME, NuRandConstants, SPEC_ROLLBACK_PERCENT, TPCC_KINDS, TpccInputGenerator, TpccMix,
    TpccOp, TpccScale, last_name, nurand, populate, scaled_a, terminal_home, unused_item,
};
use workloads::tpcc::model::*;

fn strictly_sorted<E: Entity>(rows: &[E]) -> bool {
    rows.windows(2).all(|w| w[0].key() < w[1].key())
}

fn d_count(scale: &TpccScale) -> usize {
    scale.warehouses as usize * usize::from(DISTRICTS)
}

#[test]
fn scales_have_the_specs_proportions_and_validate() {
    let spec = TpccScale::spec(3);
    assert_eq!(
        (
            spec.warehouses,
            spec.items,
            spec.customers_per_district,
            spec.orders_per_district,
            spec.new_orders_per_district
        ),
        (3, 100_000, 3_000, 3_000, 900)
    );
    assert_eq!(spec.first_new_order_id(), 2_101);
    assert_eq!(spec.validate(), Ok(()));
    let small = TpccScale::small(2);
    assert_eq!(small.validate(), Ok(()));
    assert_eq!(
        small.new_orders_per_district * spec.orders_per_district,
        spec.new_orders_per_district * small.orders_per_district,
        "same share of new orders"
    );
    assert_eq!(small.orders_per_district, small.customers_per_district);
    for bad in [
        TpccScale {
            warehouses: 0,
            ..small
        },
        TpccScale { items: 14, ..small },
        TpccScale {
            customers_per_district: 0,
            ..small
        },
        TpccScale {
            new_orders_per_district: 0,
            ..small
        },
        TpccScale {
            new_orders_per_district: 31,
            ..small
        },
        TpccScale {
            orders_per_district: 31,
            ..small
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?} should not validate");
    }
}

#[test]
fn populate_is_deterministic_for_a_seed() {
    let scale = TpccScale::small(2);
    let a = populate(&scale, 7);
    assert_eq!(a, populate(&scale, 7), "same seed, same data");
    let b = populate(&scale, 8);
    assert_ne!(a.items, b.items, "another seed, other items");
    assert_ne!(a.stock, b.stock);
    assert_ne!(a.customers, b.customers);
    assert_ne!(a.orders, b.orders);
    assert_ne!(a.order_lines, b.order_lines);
    // One warehouse's rows do not depend on how many warehouses there are.
    let one = populate(&TpccScale::small(1), 7);
    let w1 = |s: &TpccState| -> Vec<Customer> {
        s.customers
            .iter()
            .filter(|c| c.c_w_id == 1)
            .cloned()
            .collect()
    };
    assert_eq!(w1(&one), w1(&a));
}

#[test]
fn small_population_has_the_specs_cardinalities() {
    let scale = TpccScale::small(2);
    let s = populate(&scale, 1);
    let districts = d_count(&scale);
    let customers = districts * scale.customers_per_district as usize;
    assert_eq!(s.warehouses.len(), 2);
    assert_eq!(s.districts.len(), 20);
    assert_eq!(s.items.len(), 1_000);
    assert_eq!(s.stock.len(), 2 * 1_000);
    assert_eq!(s.customers.len(), customers);
    assert_eq!(s.history.len(), customers);
    assert_eq!(
        s.orders.len(),
        districts * scale.orders_per_district as usize
    );
    assert_eq!(
        s.new_orders.len(),
        districts * scale.new_orders_per_district as usize
    );
    let lines: usize = s.orders.iter().map(|o| usize::from(o.o_ol_cnt)).sum();
    assert_eq!(s.order_lines.len(), lines);
    for w in 1..=2 {
        let ds: Vec<DistrictId> = s
            .districts
            .iter()
            .filter(|d| d.d_w_id == w)
            .map(|d| d.d_id)
            .collect();
        assert_eq!(ds, (1..=DISTRICTS).collect::<Vec<_>>());
    }
    // Every table in key order, keys unique.
    assert!(strictly_sorted(&s.warehouses));
    assert!(strictly_sorted(&s.districts));
    assert!(strictly_sorted(&s.customers));
    assert!(strictly_sorted(&s.history));
    assert!(strictly_sorted(&s.items));
    assert!(strictly_sorted(&s.stock));
    assert!(strictly_sorted(&s.orders));
    assert!(strictly_sorted(&s.new_orders));
    assert!(strictly_sorted(&s.order_lines));
    assert_eq!(
        s.items.iter().map(|i| i.i_id).collect::<Vec<_>>(),
        (1..=1_000).collect::<Vec<_>>()
    );
}

#[test]
fn warehouses_districts_items_and_stock_follow_the_spec() {
    let scale = TpccScale::small(2);
    let s = populate(&scale, 2);
    let zip_ok =
        |z: &str| z.len() == 9 && z[..4].bytes().all(|b| b.is_ascii_digit()) && &z[4..] == "11111";
    let len_in = |x: &str, lo: usize, hi: usize| (lo..=hi).contains(&x.len());
    // The spec's 30,000.00 / 300,000.00, scaled with the customers (10.00 of history each).
    let d_ytd = f64::from(scale.customers_per_district) * 10.0;
    assert_eq!(
        TpccScale::spec(1).customers_per_district as f64 * 10.0,
        30_000.0
    );
    for w in &s.warehouses {
        assert_eq!(w.w_ytd, d_ytd * 10.0);
        assert!((0.0..=0.2).contains(&w.w_tax));
        assert_eq!((w.w_tax * 10_000.0).round() / 10_000.0, w.w_tax);
        assert!(len_in(&w.w_name, 6, 10) && len_in(&w.w_city, 10, 20));
        assert!(w.w_state.len() == 2 && zip_ok(&w.w_zip));
    }
    for d in &s.districts {
        assert_eq!(d.d_ytd, d_ytd);
        assert_eq!(d.d_next_o_id, scale.orders_per_district + 1);
        assert!((0.0..=0.2).contains(&d.d_tax));
        assert!(len_in(&d.d_name, 6, 10) && len_in(&d.d_street_1, 10, 20));
        assert!(d.d_state.len() == 2 && zip_ok(&d.d_zip));
    }
    for i in &s.items {
        assert!((1..=10_000).contains(&i.i_im_id));
        assert!(len_in(&i.i_name, 14, 24));
        assert!((1.0..=100.0).contains(&i.i_price));
        assert_eq!((i.i_price * 100.0).round() / 100.0, i.i_price);
        assert!(len_in(&i.i_data, 26, 50));
        assert!(i.i_data.is_ascii());
    }
    for st in &s.stock {
        assert!((10..=100).contains(&st.s_quantity));
        assert_eq!((st.s_ytd, st.s_order_cnt, st.s_remote_cnt), (0, 0, 0));
        for d in 1..=DISTRICTS {
            assert_eq!(st.dist_info(d).len(), 24);
        }
        assert!(len_in(&st.s_data, 26, 50));
    }
}

#[test]
fn original_is_in_about_ten_percent_of_item_and_stock_data() {
    let scale = TpccScale {
        items: 20_000,
        ..TpccScale::small(1)
    };
    let s = populate(&scale, 3);
    let share = |n: usize| n as f64 / 20_000.0;
    let items = share(
        s.items
            .iter()
            .filter(|i| i.i_data.contains("ORIGINAL"))
            .count(),
    );
    let stock = share(
        s.stock
            .iter()
            .filter(|s| s.s_data.contains("ORIGINAL"))
            .count(),
    );
    assert!((0.09..=0.11).contains(&items), "i_data ORIGINAL {items}");
    assert!((0.09..=0.11).contains(&stock), "s_data ORIGINAL {stock}");
    // At a random position: not always at the start.
    let starts: HashSet<usize> = s
        .items
        .iter()
        .filter_map(|i| i.i_data.find("ORIGINAL"))
        .collect();
    assert!(starts.len() > 20, "positions {starts:?}");
}

#[test]
fn customers_and_history_follow_the_spec() {
    let scale = TpccScale::small(2);
    let s = populate(&scale, 4);
    let mut bad_credit = 0;
    for c in &s.customers {
        assert_eq!(
            c.c_last,
            last_name(c.c_id - 1),
            "first 1,000: sequential names"
        );
        assert_eq!(c.c_middle, "OE");
        assert!((8..=16).contains(&c.c_first.len()));
        assert!(c.c_phone.len() == 16 && c.c_phone.bytes().all(|b| b.is_ascii_digit()));
        assert!(c.c_credit == "GC" || c.c_credit == "BC");
        bad_credit += usize::from(c.c_credit == "BC");
        assert_eq!(c.c_credit_lim, 50_000.0);
        assert!((0.0..=0.5).contains(&c.c_discount));
        assert_eq!(c.c_balance, -10.0);
        assert_eq!(c.c_ytd_payment, 10.0);
        assert_eq!((c.c_payment_cnt, c.c_delivery_cnt), (1, 0));
        assert!((300..=500).contains(&c.c_data.len()));
        assert_eq!(c.c_since, LOAD_TIME);
    }
    let share = bad_credit as f64 / s.customers.len() as f64;
    assert!((0.04..=0.18).contains(&share), "BC share {share}");
    // One history row of 10.00 per customer, h_id 1, 2, …
    let paid: HashSet<(WarehouseId, DistrictId, CustomerId)> = s
        .history
        .iter()
        .map(|h| {
            assert_eq!(h.h_amount, 10.0);
            assert_eq!((h.h_w_id, h.h_d_id), (h.h_c_w_id, h.h_c_d_id));
            assert_eq!(h.h_date, LOAD_TIME);
            assert!((12..=24).contains(&h.h_data.len()));
            (h.h_c_w_id, h.h_c_d_id, h.h_c_id)
        })
        .collect();
    assert_eq!(paid.len(), s.customers.len());
    assert!(s.customers.iter().all(|c| paid.contains(&c.key())));
    assert_eq!(
        s.history.iter().map(|h| h.h_id).collect::<Vec<_>>(),
        (1..=s.history.len() as u64).collect::<Vec<_>>()
    );
}

#[test]
fn customers_beyond_1000_get_nurand_names() {
    let scale = TpccScale {
        warehouses: 1,
        items: 100,
        customers_per_district: 1_200,
        orders_per_district: 1_200,
        new_orders_per_district: 360,
    };
    let s = populate(&scale, 5);
    let district: Vec<&Customer> = s.customers.iter().filter(|c| c.c_d_id == 1).collect();
    let names: HashSet<&str> = district.iter().map(|c| c.c_last.as_str()).collect();
    assert_eq!(
        names.len(),
        1_000,
        "every name 0..=999 exists once at least"
    );
    let syllable_names: HashSet<String> = (0..1_000).map(last_name).collect();
    assert!(
        district[1_000..]
            .iter()
            .all(|c| syllable_names.contains(&c.c_last))
    );
}

#[test]
fn initial_orders_and_lines_follow_the_spec() {
    let scale = TpccScale::small(2);
    let s = populate(&scale, 6);
    let first_new = scale.first_new_order_id();
    let lines_of: BTreeMap<(WarehouseId, DistrictId, OrderId), Vec<&OrderLine>> =
        s.order_lines.iter().fold(BTreeMap::new(), |mut m, l| {
            m.entry((l.ol_w_id, l.ol_d_id, l.ol_o_id))
                .or_insert_with(Vec::new)
                .push(l);
            m
        });
    let mut per_district_customers: HashMap<(WarehouseId, DistrictId), Vec<CustomerId>> =
        HashMap::new();
    for o in &s.orders {
        assert!((5..=15).contains(&o.o_ol_cnt));
        assert_eq!(o.o_all_local, 1);
        assert_eq!(o.o_entry_d, LOAD_TIME);
        per_district_customers
            .entry((o.o_w_id, o.o_d_id))
            .or_default()
            .push(o.o_c_id);
        let lines = &lines_of[&o.key()];
        assert_eq!(lines.len(), usize::from(o.o_ol_cnt));
        assert_eq!(
            lines.iter().map(|l| l.ol_number).collect::<Vec<_>>(),
            (1..=o.o_ol_cnt).collect::<Vec<_>>()
        );
        let delivered = o.o_id < first_new;
        if delivered {
            assert!(matches!(o.o_carrier_id, Some(1..=10)), "{o:?}");
        } else {
            assert_eq!(o.o_carrier_id, None);
        }
        for l in lines {
            assert!((1..=scale.items).contains(&l.ol_i_id));
            assert_eq!(l.ol_supply_w_id, o.o_w_id);
            assert_eq!(l.ol_quantity, 5);
            assert_eq!(l.ol_dist_info.len(), 24);
            if delivered {
                assert_eq!(l.ol_delivery_d, Some(o.o_entry_d));
                assert_eq!(l.ol_amount, 0.0);
            } else {
                assert_eq!(l.ol_delivery_d, None);
                assert!((0.01..=9_999.99).contains(&l.ol_amount), "{l:?}");
            }
        }
    }
    // The customers of a district's initial orders are a permutation of its customers.
    for (_, mut cs) in per_district_customers {
        cs.sort_unstable();
        assert_eq!(cs, (1..=scale.customers_per_district).collect::<Vec<_>>());
    }
    // New orders: the last n orders of each district.
    let expected: Vec<(WarehouseId, DistrictId, OrderId)> = s
        .orders
        .iter()
        .filter(|o| o.o_id >= first_new)
        .map(|o| o.key())
        .collect();
    let got: Vec<_> = s.new_orders.iter().map(|n| n.key()).collect();
    assert_eq!(got, expected);
}

#[test]
fn initial_population_satisfies_consistency_conditions_1_to_4() {
    for scale in [TpccScale::small(3), TpccScale::small(1)] {
        let s = populate(&scale, 11);
        // 1: W_YTD = Σ D_YTD.
        for w in &s.warehouses {
            let sum: f64 = s
                .districts
                .iter()
                .filter(|d| d.d_w_id == w.w_id)
                .map(|d| d.d_ytd)
                .sum();
            assert!(
                (w.w_ytd - sum).abs() < 0.005,
                "condition 1, warehouse {}",
                w.w_id
            );
        }
        for d in &s.districts {
            let key = (d.d_w_id, d.d_id);
            let max_o = s
                .orders
                .iter()
                .filter(|o| (o.o_w_id, o.o_d_id) == key)
                .map(|o| o.o_id)
                .max();
            let no: Vec<OrderId> = s
                .new_orders
                .iter()
                .filter(|n| (n.no_w_id, n.no_d_id) == key)
                .map(|n| n.no_o_id)
                .collect();
            let (min_no, max_no) = (no.iter().min().copied(), no.iter().max().copied());
            // 2: D_NEXT_O_ID − 1 = max(O_ID) = max(NO_O_ID).
            assert_eq!(Some(d.d_next_o_id - 1), max_o, "condition 2, {key:?}");
            assert_eq!(max_o, max_no, "condition 2, {key:?}");
            // 3: max(NO_O_ID) − min(NO_O_ID) + 1 = count(NEW_ORDER).
            assert_eq!(
                (max_no.unwrap() - min_no.unwrap() + 1) as usize,
                no.len(),
                "condition 3, {key:?}"
            );
            // 4: Σ O_OL_CNT = count(ORDER_LINE).
            let ol_cnt: usize = s
                .orders
                .iter()
                .filter(|o| (o.o_w_id, o.o_d_id) == key)
                .map(|o| usize::from(o.o_ol_cnt))
                .sum();
            let lines = s
                .order_lines
                .iter()
                .filter(|l| (l.ol_w_id, l.ol_d_id) == key)
                .count();
            assert_eq!(ol_cnt, lines, "condition 4, {key:?}");
        }
    }
}

#[test]
fn last_name_concatenates_the_syllables_of_three_digits() {
    assert_eq!(last_name(0), "BARBARBAR");
    assert_eq!(last_name(371), "PRICALLYOUGHT");
    assert_eq!(last_name(999), "EINGEINGEING");
    assert_eq!(last_name(40), "BARPRESBAR");
    let all: HashSet<String> = (0..1_000).map(last_name).collect();
    assert_eq!(all.len(), 1_000, "the names of 0..=999 are distinct");
}

/// Shares of the most frequent tenth of values in `n` draws of NURand(a, x, y).
fn top_tenth_share(a: u32, c: u32, x: u32, y: u32, n: usize) -> f64 {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut counts = vec![0usize; (y - x + 1) as usize];
    for _ in 0..n {
        let v = nurand(&mut rng, a, c, x, y);
        assert!((x..=y).contains(&v), "NURand({a}, {x}, {y}) gave {v}");
        counts[(v - x) as usize] += 1;
    }
    counts.sort_unstable_by(|p, q| q.cmp(p));
    let top = counts.len().div_ceil(10);
    counts[..top].iter().sum::<usize>() as f64 / n as f64
}

#[test]
fn nurand_stays_in_range_and_is_non_uniform() {
    // Uniform draws would give the top tenth of values about 10% (a little more by chance).
    let c_id = top_tenth_share(1023, 259, 1, 3_000, 300_000);
    let ol_i_id = top_tenth_share(8191, 7_911, 1, 100_000, 1_000_000);
    let c_last = top_tenth_share(255, 223, 0, 999, 100_000);
    for (what, share) in [("c_id", c_id), ("ol_i_id", ol_i_id), ("c_last", c_last)] {
        assert!(share > 0.2, "{what}: top tenth share {share}");
    }
    // Scaled down (as the input generator does for small tables) it stays skewed.
    let small = top_tenth_share(scaled_a(1023, 1, 30), 5, 1, 30, 30_000);
    assert!(small > 0.15, "c_id over 30 customers: {small}");
    // x = y.
    assert_eq!(top_tenth_share(0, 3, 1, 1, 10), 1.0);
}

#[test]
fn scaled_a_is_unchanged_at_the_specs_scale() {
    assert_eq!(scaled_a(255, 0, 999), 255);
    assert_eq!(scaled_a(1023, 1, 3_000), 1023);
    assert_eq!(scaled_a(8191, 1, 100_000), 8191);
    assert_eq!(scaled_a(1023, 1, 30), 15);
    assert_eq!(scaled_a(8191, 1, 1_000), 511);
    assert_eq!(scaled_a(255, 0, 29), 15);
    assert_eq!(scaled_a(255, 0, 31), 31);
    assert_eq!(scaled_a(1023, 1, 1), 0);
    assert_eq!(scaled_a(1023, 1, 2), 1);
}

#[test]
fn nurand_constants_obey_the_c_last_delta_rule() {
    let mut loads = HashSet::new();
    for seed in 0..500 {
        let (load, run) = (NuRandConstants::load(seed), NuRandConstants::run(seed));
        assert_eq!(load, NuRandConstants::load(seed));
        assert!(load.c_last <= 255 && run.c_last <= 255);
        assert!(load.c_id <= 1023 && run.c_id <= 1023);
        assert!(load.ol_i_id <= 8191 && run.ol_i_id <= 8191);
        let delta = load.c_last.abs_diff(run.c_last);
        assert!(
            (65..=119).contains(&delta) && delta != 96 && delta != 112,
            "seed {seed}: {load:?} {run:?}"
        );
        loads.insert(load.c_last);
    }
    assert!(loads.len() > 100, "C_LAST(load) varies with the seed");
    assert!(NuRandConstants::valid_c_last_delta(10, 75));
    assert!(!NuRandConstants::valid_c_last_delta(200, 104));
    assert!(!NuRandConstants::valid_c_last_delta(0, 64));
    assert!(!NuRandConstants::valid_c_last_delta(0, 120));
    let g = TpccInputGenerator::new(&TpccScale::small(1), TpccMix::standard(), 42);
    assert_eq!(g.constants(), NuRandConstants::run(42));
}

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

/// Run with `cargo test --release -p workloads --test tpcc_generator -- --ignored --nocapture`.
#[test]
#[ignore = "spec scale: slow in debug; run in release"]
fn spec_population_of_one_warehouse_is_fast() {
    let scale = TpccScale::spec(1);
    let start = Instant::now();
    let s = populate(&scale, 1);
    let took = start.elapsed();
    let chars: usize = s
        .stock
        .iter()
        .map(|st| 240 + st.s_data.len())
        .chain(s.customers.iter().map(|c| c.c_data.len()))
        .sum();
    println!(
        "spec population, 1 warehouse: {took:?} ({} stock, {} customers, {} order lines, {} M \
         chars of stock and c_data)",
        s.stock.len(),
        s.customers.len(),
        s.order_lines.len(),
        chars / 1_000_000
    );
    assert_eq!(s.stock.len(), 100_000);
    assert_eq!(s.customers.len(), 30_000);
    assert_eq!(s.new_orders.len(), 9_000);
    assert!(took.as_secs() < 10, "took {took:?}");
}
