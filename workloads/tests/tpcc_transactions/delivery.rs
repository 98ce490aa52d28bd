//! Delivery (clause 2.7.4.2).

use super::*;

/// The expected effect of delivering order `(w, d, o)` by `carrier` at `now`.
fn deliver(
    expected: &mut TpccState,
    (w, d, o): (WarehouseId, DistrictId, OrderId),
    carrier: u8,
    now: u64,
) {
    expected
        .new_orders
        .retain(|n| (n.no_w_id, n.no_d_id, n.no_o_id) != (w, d, o));
    let order = row(&mut expected.orders, (w, d, o));
    order.o_carrier_id = Some(carrier);
    let c_id = order.o_c_id;
    let mut amount = 0.0;
    for l in expected
        .order_lines
        .iter_mut()
        .filter(|l| (l.ol_w_id, l.ol_d_id, l.ol_o_id) == (w, d, o))
    {
        l.ol_delivery_d = Some(now);
        amount += l.ol_amount;
    }
    let c = row(&mut expected.customers, (w, d, c_id));
    c.c_balance = cents(c.c_balance + amount);
    c.c_delivery_cnt += 1;
}

/// The delivery time of a delivered order's lines (all the same, the transaction's time).
fn delivered_at(s: &TpccState, (w, d, o): (WarehouseId, DistrictId, OrderId)) -> u64 {
    let lines = lines_of(&s.order_lines, w, d, o);
    let now = lines[0].ol_delivery_d.expect("delivered");
    assert!(now > LOADED_AT);
    now
}

/// Clause 2.7.4.2: per district of the warehouse, the undelivered order with the lowest O_ID:
/// its NEW-ORDER row deleted, O_CARRIER_ID set, every line's OL_DELIVERY_D set, the customer's
/// C_BALANCE += Σ OL_AMOUNT and C_DELIVERY_CNT += 1; a district without undelivered orders is
/// skipped; the result lists (D_ID, O_ID) of the delivered ones. Other warehouses untouched.
#[test]
fn delivery_delivers_the_oldest_new_order_of_each_district() {
    let mut t = Tpcc::start(population());
    let run = |t: &Tpcc, w_id, o_carrier_id| -> DeliveryResult {
        t.commit(DELIVERY, &DeliveryInput { w_id, o_carrier_id }).1
    };

    // 1/1 has new orders 3 and 4: 3 (Ann, 33.50); 1/2 has 1 (Aaron, 199.98).
    assert_eq!(
        run(&t, 1, 9),
        DeliveryResult {
            w_id: 1,
            delivered: vec![(1, 3), (2, 1)],
        }
    );
    let actual = t.state();
    let mut expected = t.initial.clone();
    deliver(
        &mut expected,
        (1, 1, 3),
        9,
        delivered_at(&actual, (1, 1, 3)),
    );
    deliver(
        &mut expected,
        (1, 2, 1),
        9,
        delivered_at(&actual, (1, 2, 1)),
    );
    let ann = get(&expected.customers, (1, 1, 1));
    assert_eq!((ann.c_balance, ann.c_delivery_cnt), (23.50, 1));
    let aaron = get(&expected.customers, (1, 2, 1));
    assert_eq!((aaron.c_balance, aaron.c_delivery_cnt), (189.98, 1));
    assert_eq!(expected.new_orders.len(), 2);
    assert_state(&actual, &expected);

    // 1/1 has order 4 (Bea, 30.00) left; 1/2 has none: skipped.
    assert_eq!(
        run(&t, 1, 2),
        DeliveryResult {
            w_id: 1,
            delivered: vec![(1, 4)],
        }
    );
    let actual = t.state();
    deliver(
        &mut expected,
        (1, 1, 4),
        2,
        delivered_at(&actual, (1, 1, 4)),
    );
    assert_eq!(get(&expected.customers, (1, 1, 7)).c_balance, 20.00);
    assert_state(&actual, &expected);

    // Nothing left at warehouse 1: every district skipped, nothing changes.
    assert_eq!(
        run(&t, 1, 3),
        DeliveryResult {
            w_id: 1,
            delivered: Vec::new(),
        }
    );
    assert_state(&t.state(), &expected);

    // Warehouse 2's order was left alone until now.
    assert_eq!(
        run(&t, 2, 1),
        DeliveryResult {
            w_id: 2,
            delivered: vec![(1, 1)],
        }
    );
    let actual = t.state();
    deliver(
        &mut expected,
        (2, 1, 1),
        1,
        delivered_at(&actual, (2, 1, 1)),
    );
    assert_eq!(get(&expected.customers, (2, 1, 1)).c_balance, -4.50);
    assert!(expected.new_orders.is_empty());
    assert_state(&actual, &expected);
    t.finish();
}
