//! The checker's cases: clean states stay clean, and each planted violation fires exactly its
//! conditions.

use super::*;

// ---------------------------------------------------------------- clean states

#[test]
fn loaded_state_is_clean() {
    let report = check(&loaded(), AFTER_LOAD);
    assert_eq!(report.counts.len(), CONDITIONS.len());
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    assert!(report.examples.is_empty());
}

#[test]
fn state_after_mix_is_clean() {
    let report = check(&after_mix(), AFTER_MIX);
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    assert_eq!(report.total(), 0);
}

#[test]
fn empty_state_is_clean() {
    assert!(check(&TpccState::default(), CheckOptions::spec_scale(false)).is_clean());
}

/// One warehouse at the specification's scale: 30,000 customers and orders, about 300,000 order
/// lines; the history sums add 3,000 rows per district. Linear: this runs in well under a second.
#[test]
fn spec_scale_warehouse_is_clean() {
    let mut s = load(
        1,
        DISTRICTS,
        CUSTOMERS_PER_DISTRICT,
        ORDERS_PER_DISTRICT,
        900,
    );
    assert!(s.order_lines.len() > 290_000);
    let report = check(&s, CheckOptions::spec_scale(false));
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    for d in 1..=DISTRICTS {
        deliver(&mut s, 1, d, 1);
        payment(&mut s, (1, d), (1, d, 2_999), 2_500.01);
    }
    let report = check(&s, CheckOptions::spec_scale(true));
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    // A dollar at one customer is seen (amounts are ≥ 1.00 but for the load's 0.00).
    customer(&mut s, 1, 4, 17).c_balance += 1.0;
    let report = check(&s, CheckOptions::spec_scale(true));
    assert_eq!(fired(&report), [CC10, CC12]);
    assert_eq!(report.count(CC10), 1);
}

// ---------------------------------------------------------------- one condition at a time

#[test]
fn cc1_district_ytd_bumped() {
    // W_YTD ≠ Σ D_YTD, and the district's D_YTD ≠ its history.
    assert_fires(&[CC1, CC9], |s| district(s, 2, 1).d_ytd += 50.0);
}

#[test]
fn cc1_warehouse_ytd_bumped() {
    assert_fires(&[CC1, CC8], |s| s.warehouses[0].w_ytd -= 0.5);
}

#[test]
fn cc2_next_order_id_bumped() {
    assert_fires(&[CC2], |s| district(s, 1, 2).d_next_o_id += 1);
}

#[test]
fn cc2_last_order_lost() {
    // Order 6 of (2, 2) vanishes with its lines and NEW_ORDER row: every other condition holds.
    assert_fires(&[CC2], |s| {
        s.orders
            .retain(|o| (o.o_w_id, o.o_d_id, o.o_id) != (2, 2, 6));
        s.order_lines
            .retain(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) != (2, 2, 6));
        remove_new_order(s, (2, 2, 6));
    });
}

#[test]
fn cc2_last_new_order_lost() {
    // max(NO_O_ID) = 5 ≠ D_NEXT_O_ID − 1; the range 4..=5 stays contiguous.
    assert_fires(&[CC2, CC5], |s| remove_new_order(s, (1, 1, 6)));
}

#[test]
fn cc3_middle_new_order_lost() {
    // New orders 4 and 6 of (1, 2) remain: a gap, and order 5 undelivered without its row.
    let mut s = after_mix();
    remove_new_order(&mut s, (1, 2, 5));
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC3, CC5]);
    assert_eq!((report.count(CC3), report.count(CC5)), (1, 1));
}

#[test]
fn cc4_and_cc6_order_line_count_changed() {
    assert_fires(&[CC4, CC6], |s| order(s, (2, 1, 4)).o_ol_cnt += 1);
}

#[test]
fn cc4_and_cc7_orphan_order_line() {
    // A line of an order that does not exist: the district's total is off, and it has no order.
    assert_fires(&[CC4, CC7], |s| {
        let mut ol = order_line(s, (1, 1, 5), 1).clone();
        ol.ol_o_id = 99;
        s.order_lines.push(ol);
    });
}

#[test]
fn cc5_delivered_order_back_in_new_order() {
    // Order 3 (delivered by the mix) regains its NEW_ORDER row: 3..=6 stays contiguous.
    assert_fires(&[CC5], |s| {
        s.new_orders.push(NewOrder {
            no_o_id: 3,
            no_d_id: 2,
            no_w_id: 1,
        })
    });
}

#[test]
fn cc5_carrier_set_on_undelivered_order() {
    // Its lines' null delivery dates now disagree with the carrier.
    let mut s = after_mix();
    order(&mut s, (2, 2, 5)).o_carrier_id = Some(3);
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC5, CC7]);
    assert_eq!(report.count(CC5), 1);
    // Order 5 has 5 % 11 + 5 = 10 lines.
    assert_eq!(report.count(CC7), 10);
}

#[test]
fn cc5_orphan_new_order() {
    // A NEW_ORDER row past the last order: no order, and max(NO_O_ID) ≠ D_NEXT_O_ID − 1.
    assert_fires(&[CC2, CC5], |s| {
        s.new_orders.push(NewOrder {
            no_o_id: 7,
            no_d_id: 1,
            no_w_id: 2,
        })
    });
}

#[test]
fn cc6_line_moved_between_orders() {
    // The district's total is unchanged; two orders' counts are off.
    let mut s = after_mix();
    let ol = order_line(&mut s, (1, 1, 5), 1);
    ol.ol_o_id = 6;
    ol.ol_number = 50;
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC6]);
    assert_eq!(report.count(CC6), 2);
}

#[test]
fn cc7_delivery_date_cleared_on_load_delivered_line() {
    // A line delivered at load has amount 0.00: only the null date shows.
    assert_fires(&[CC7], |s| order_line(s, (1, 2, 1), 3).ol_delivery_d = None);
}

#[test]
fn cc7_delivery_date_cleared_on_mix_delivered_line() {
    // Its amount leaves the customer's delivered total.
    assert_fires(&[CC7, CC10, CC12], |s| {
        order_line(s, (2, 1, 3), 2).ol_delivery_d = None
    });
}

#[test]
fn cc7_delivery_date_set_on_undelivered_line() {
    assert_fires(&[CC7, CC10, CC12], |s| {
        order_line(s, (1, 1, 4), 1).ol_delivery_d = Some(5)
    });
}

#[test]
fn cc8_history_amount_changed() {
    // The paying warehouse, district and customer all disagree with the changed row.
    assert_fires(&[CC8, CC9, CC10], |s| {
        let h = s.history.last_mut().expect("history");
        h.h_amount += 1.0;
    });
}

#[test]
fn cc8_history_row_lost() {
    assert_fires(&[CC8, CC9, CC10], |s| {
        s.history.retain(|h| h.h_amount != 17.05);
    });
}

#[test]
fn cc9_history_moved_between_districts() {
    // W_YTD still adds up; two districts do not.
    let mut s = after_mix();
    let h = s.history.iter_mut().find(|h| h.h_amount == 17.05).unwrap();
    assert_eq!((h.h_w_id, h.h_d_id), (1, 2));
    h.h_d_id = 1;
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC9]);
    assert_eq!(report.count(CC9), 2);
}

#[test]
fn cc10_and_cc12_balance_changed() {
    assert_fires(&[CC10, CC12], |s| customer(s, 2, 1, 2).c_balance -= 1.0);
}

#[test]
fn cc10_history_moved_between_customers() {
    // The remote payment credited to another customer of the same district.
    let mut s = after_mix();
    let h = s.history.iter_mut().find(|h| h.h_amount == 17.05).unwrap();
    assert_eq!((h.h_c_w_id, h.h_c_d_id, h.h_c_id), (2, 1, 2));
    h.h_c_id = 1;
    let report = check(&s, AFTER_MIX);
    assert_eq!(fired(&report), [CC10]);
    assert_eq!(report.count(CC10), 2);
}

#[test]
fn cc10_history_keyed_by_paying_customer_not_district() {
    // A remote payment's history row belongs to the customer's warehouse and district: keyed by
    // the paying district instead, it is another customer's.
    assert_fires(&[CC10], |s| {
        let h = s
            .history
            .iter_mut()
            .find(|h| h.h_amount == 4_999.99)
            .unwrap();
        (h.h_c_w_id, h.h_c_d_id) = (h.h_w_id, h.h_d_id);
    });
}

#[test]
fn cc11_delivered_order_lost_before_any_delivery() {
    // Order 1 of (2, 1), delivered at load (amounts 0.00), vanishes with its lines.
    assert_fires_on(loaded(), AFTER_LOAD, &[CC11], |s| {
        s.orders
            .retain(|o| (o.o_w_id, o.o_d_id, o.o_id) != (2, 1, 1));
        s.order_lines
            .retain(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) != (2, 1, 1));
    });
}

#[test]
fn cc11_is_skipped_when_deliveries_ran() {
    let mut s = loaded();
    deliver(&mut s, 1, 2, 4);
    // Every condition but 11 holds after a Delivery; 11 holds only before the first.
    let report = check(&s, AFTER_LOAD);
    assert_eq!(fired(&report), [CC11]);
    assert_eq!(report.count(CC11), 1);
    assert!(check(&s, AFTER_MIX).is_clean());
    let report = check(&after_mix(), AFTER_LOAD);
    assert_eq!(fired(&report), [CC11]);
    assert_eq!(report.count(CC11), 4);
}

#[test]
fn cc12_ytd_payment_changed() {
    assert_fires(&[CC12], |s| customer(s, 1, 1, 1).c_ytd_payment += 1.0);
}

// ---------------------------------------------------------------- the report

#[test]
fn money_tolerance_is_half_a_cent_plus_summation_error() {
    assert!(money_eq(10.0, 10.005, 1));
    assert!(!money_eq(10.0, 10.02, 1));
    // Amounts are whole cents: many terms do not excuse a missing cent...
    assert!(!money_eq(10.0, 10.02, 4));
    assert!(!money_eq(5_688_344.40, 5_688_339.40, 3_000));
    // ...but the floating-point error of a long sum is tolerated.
    let sum: f64 = (0..3_000).map(|_| 1_896.11).sum();
    assert!(money_eq(sum, 1_896.11 * 3_000.0, 3_000));
    assert!(!money_eq(-10.0, 10.0, 1_000));
}

#[test]
fn report_counts_all_and_describes_a_few() {
    let mut s = after_mix();
    for c in &mut s.customers {
        c.c_ytd_payment += 1.0;
    }
    let report = check(&s, AFTER_MIX);
    assert_eq!(report.count(CC12), s.customers.len() as u64);
    assert_eq!(report.total(), 12);
    assert!(!report.is_clean());
    assert_eq!(report.examples.len(), 12);
    assert!(report.examples[0].starts_with("cc12_customer_payments: customer (1, 1, 1)"));
    assert_eq!(report.count("no_such_condition"), 0);

    for o in &mut s.orders {
        o.o_ol_cnt += 1;
    }
    let report = check(&s, AFTER_MIX);
    assert_eq!(report.examples.len(), MAX_EXAMPLES);
    assert_eq!(report.count(CC6), s.orders.len() as u64);
    assert_eq!(report.count(CC4), 4);
}

#[test]
fn report_displays_every_condition_in_order() {
    let mut s = after_mix();
    district(&mut s, 1, 1).d_next_o_id = 100;
    let shown = check(&s, AFTER_MIX).to_string();
    assert_eq!(
        shown,
        "cc1_warehouse_ytd=0 cc2_next_order_id=1 cc3_new_order_range=0 \
         cc4_district_order_lines=0 cc5_carrier_new_order=0 cc6_order_line_count=0 \
         cc7_delivery_date=0 cc8_warehouse_history=0 cc9_district_history=0 \
         cc10_customer_balance=0 cc11_delivered_orders=0 cc12_customer_payments=0"
    );
}
