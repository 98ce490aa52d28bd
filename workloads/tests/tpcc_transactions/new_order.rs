//! New-Order (clause 2.4.2.2).

use super::*;

/// Clause 2.4.2.2, all lines supplied by the home warehouse: D_NEXT_O_ID is taken and
/// incremented; the order (O_ALL_LOCAL 1, O_CARRIER_ID null), its NEW-ORDER row and its lines
/// numbered 1..n are inserted; each stock row is decreased by the quantity when at least
/// quantity + 10 remain (item 1: 50 − 5; item 2: 13 − 3, the boundary) and otherwise refilled by
/// 91 (item 5: 15 − 6 + 91), with S_YTD += quantity and S_ORDER_CNT += 1 but S_REMOTE_CNT kept.
#[test]
fn new_order_with_local_lines() {
    let mut t = Tpcc::start(population());
    let input = NewOrderInput {
        w_id: 1,
        d_id: 1,
        c_id: 1,
        lines: vec![line(1, 1, 5), line(2, 1, 3), line(5, 1, 6)],
    };
    let (_, result): (_, NewOrderResult) = t.commit(NEW_ORDER, &input);
    // Σ OL_AMOUNT = 5 × 10.00 + 3 × 2.50 + 6 × 5.00 = 87.50;
    // 87.50 × (1 − 0.10) × (1 + 0.10 + 0.05) = 90.5625.
    assert_eq!(
        result,
        NewOrderResult {
            w_id: 1,
            d_id: 1,
            o_id: 5,
            c_id: 1,
            ol_cnt: 3,
            total_amount: 90.56,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    row(&mut expected.districts, (1, 1)).d_next_o_id = 6;
    let entry = get(&actual.orders, (1, 1, 5)).o_entry_d;
    assert!(entry > 0, "o_entry_d is the transaction's time");
    expected.orders.push(Order {
        o_id: 5,
        o_d_id: 1,
        o_w_id: 1,
        o_c_id: 1,
        o_entry_d: entry,
        o_carrier_id: None,
        o_ol_cnt: 3,
        o_all_local: 1,
    });
    expected.new_orders.push(NewOrder {
        no_o_id: 5,
        no_d_id: 1,
        no_w_id: 1,
    });
    for (n, (i, q, amount)) in [(1, 5, 50.00), (2, 3, 7.50), (5, 6, 30.00)]
        .into_iter()
        .enumerate()
    {
        expected.order_lines.push(OrderLine {
            ol_o_id: 5,
            ol_d_id: 1,
            ol_w_id: 1,
            ol_number: n as u8 + 1,
            ol_i_id: i,
            ol_supply_w_id: 1,
            ol_delivery_d: None,
            ol_quantity: q,
            ol_amount: amount,
            ol_dist_info: text(format!("stock w1 i{i} dist 01")),
        });
    }
    for (i, quantity, ytd) in [(1, 45, 105), (2, 10, 103), (5, 100, 106)] {
        let s = row(&mut expected.stock, (1, i));
        s.s_quantity = quantity;
        s.s_ytd = ytd;
        s.s_order_cnt = 11;
    }
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.4.2.2 with a line supplied by another warehouse: O_ALL_LOCAL is 0, that stock row
/// (of the supplying warehouse) also gets S_REMOTE_CNT += 1 and the line takes its S_DIST_xx for
/// the ordering district (here 02); the local line's stock is refilled (8 − 2 + 91).
#[test]
fn new_order_with_a_remote_supply_warehouse() {
    let mut t = Tpcc::start(population());
    let input = NewOrderInput {
        w_id: 1,
        d_id: 2,
        c_id: 1,
        lines: vec![line(1, 2, 4), line(3, 1, 2)],
    };
    let (_, result): (_, NewOrderResult) = t.commit(NEW_ORDER, &input);
    // Σ OL_AMOUNT = 4 × 10.00 + 2 × 1.10 = 42.20;
    // 42.20 × (1 − 0.20) × (1 + 0.10 + 0.02) = 37.8112.
    assert_eq!(
        result,
        NewOrderResult {
            w_id: 1,
            d_id: 2,
            o_id: 2,
            c_id: 1,
            ol_cnt: 2,
            total_amount: 37.81,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    row(&mut expected.districts, (1, 2)).d_next_o_id = 3;
    let entry = get(&actual.orders, (1, 2, 2)).o_entry_d;
    expected.orders.push(Order {
        o_id: 2,
        o_d_id: 2,
        o_w_id: 1,
        o_c_id: 1,
        o_entry_d: entry,
        o_carrier_id: None,
        o_ol_cnt: 2,
        o_all_local: 0,
    });
    expected.new_orders.push(NewOrder {
        no_o_id: 2,
        no_d_id: 2,
        no_w_id: 1,
    });
    expected.order_lines.push(OrderLine {
        ol_o_id: 2,
        ol_d_id: 2,
        ol_w_id: 1,
        ol_number: 1,
        ol_i_id: 1,
        ol_supply_w_id: 2,
        ol_delivery_d: None,
        ol_quantity: 4,
        ol_amount: 40.00,
        ol_dist_info: "stock w2 i1 dist 02".into(),
    });
    expected.order_lines.push(OrderLine {
        ol_o_id: 2,
        ol_d_id: 2,
        ol_w_id: 1,
        ol_number: 2,
        ol_i_id: 3,
        ol_supply_w_id: 1,
        ol_delivery_d: None,
        ol_quantity: 2,
        ol_amount: 2.20,
        ol_dist_info: "stock w1 i3 dist 02".into(),
    });
    let remote = row(&mut expected.stock, (2, 1));
    remote.s_quantity = 36;
    remote.s_ytd = 104;
    remote.s_order_cnt = 11;
    remote.s_remote_cnt = 2;
    let local = row(&mut expected.stock, (1, 3));
    local.s_quantity = 97;
    local.s_ytd = 102;
    local.s_order_cnt = 11;
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.4.2.3: a New-Order whose last item is unused rolls back entirely: no stock row, no
/// order row, and D_NEXT_O_ID stays 5, so the district's next New-Order gets order id 5. With
/// the item check at the entry (the default) the warehouse service refuses it before taking the
/// order id; with the check only at inventory, the warehouse step already ran and a rollback
/// round undoes it.
#[test]
fn new_order_with_an_unused_item_rolls_back_entirely() {
    for (items, at) in [
        (ItemCheck::AtEntry, "warehouse"),
        (ItemCheck::AtInventory, "inventory"),
    ] {
        let mut t = Tpcc::start_with(population(), items);
        let input = NewOrderInput {
            w_id: 1,
            d_id: 1,
            c_id: 1,
            lines: vec![line(1, 1, 5), line(999, 1, 1)],
        };
        let (service, error) = t.fail(NEW_ORDER, &input);
        assert_eq!(service, at);
        assert!(
            error.to_string().contains("item number 999 is not valid"),
            "unexpected error: {error}"
        );
        assert_state(&t.state(), &t.initial);

        let next = NewOrderInput {
            lines: vec![line(1, 1, 5)],
            ..input
        };
        let (_, result): (_, NewOrderResult) = t.commit(NEW_ORDER, &next);
        assert_eq!(result.o_id, 5, "the rolled-back New-Order took no order id");
        t.finish();
    }
}
