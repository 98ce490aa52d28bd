//! The initial population (clause 4.3.3.1) and conditions 1–4 on it.

use super::*;

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
            .all(|c| syllable_names.contains(c.c_last.as_str()))
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
