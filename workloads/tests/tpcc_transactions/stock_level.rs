//! Stock-Level (clause 2.8.2.2).

use super::*;

/// District 1/1 with orders 1..=22 (D_NEXT_O_ID 23, so the last 20 are 3..=22). Stock at
/// warehouse 1: item 1: 5, 2: 9, 3: 10, 4: 50, 5: 3, 6: 80, 7: 1, 8: 2, 9: 60, 10: 0; at
/// warehouse 2: item 5: 90, item 6: 1.
fn stock_level_population() -> TpccState {
    let mut s = TpccState {
        warehouses: vec![warehouse(1, "Alpha", 0.10), warehouse(2, "Beta", 0.05)],
        districts: vec![
            district(1, 1, "North", 0.05, 23),
            district(1, 2, "South", 0.02, 2),
        ],
        customers: vec![
            customer((1, 1, 1), "Ann", "BARBARBAR", "GC", 0.0),
            customer((1, 2, 1), "Aaron", "PRIPRI", "GC", 0.0),
        ],
        items: (1..=10).map(|i| item(i, 1.00)).collect(),
        ..Default::default()
    };
    for (i, q) in [
        (1, 5),
        (2, 9),
        (3, 10),
        (4, 50),
        (5, 3),
        (6, 80),
        (7, 1),
        (8, 2),
        (9, 60),
        (10, 0),
    ] {
        s.stock.push(stock(1, i, q));
    }
    s.stock.push(stock(2, 5, 90));
    s.stock.push(stock(2, 6, 1));
    for o in 1..=22 {
        let lines: Vec<(ItemId, WarehouseId, u8)> = match o {
            // Older than the last 20: item 10 (0 left) does not count.
            1 => vec![(10, 1, 1), (4, 1, 1)],
            2 => vec![(10, 1, 1)],
            // The oldest of the last 20: item 8 (2 left) counts.
            3 => vec![(8, 1, 1), (1, 1, 1)],
            10 => vec![(2, 1, 1), (4, 1, 1)],
            15 => vec![(3, 1, 1)],
            // Supplied by warehouse 2, but the stock of warehouse 1 is what counts: item 5
            // (3 at warehouse 1) counts, item 6 (80 at warehouse 1) does not.
            17 => vec![(5, 2, 1)],
            18 => vec![(6, 2, 1)],
            // Item 1 again: counted once.
            22 => vec![(1, 1, 1), (9, 1, 1)],
            _ => vec![(4, 1, 1)],
        };
        add_order(&mut s, (1, 1, o), 1, Some(1), &lines);
    }
    // Another district's order: item 7 (1 left) does not count for 1/1.
    add_order(&mut s, (1, 2, 1), 1, None, &[(7, 1, 1)]);
    s
}

/// Clause 2.8.2.2: the number of DISTINCT items of the district's order lines with
/// D_NEXT_O_ID − 20 ≤ OL_O_ID < D_NEXT_O_ID whose stock at the warehouse has S_QUANTITY <
/// threshold. Threshold 10: items 1, 2, 5, 8 (not 3: 10 is not < 10). Threshold 11: also 3.
/// After a New-Order (order 23), order 3 leaves the window and item 8 with it.
#[test]
fn stock_level_counts_distinct_low_items_of_the_last_20_orders() {
    let mut t = Tpcc::start(stock_level_population());
    let level = |t: &Tpcc, threshold| -> u32 {
        let input = StockLevelInput {
            w_id: 1,
            d_id: 1,
            threshold,
        };
        let (_, r): (_, StockLevelResult) = t.commit(STOCK_LEVEL, &input);
        r.low_stock
    };
    assert_eq!(level(&t, 10), 4);
    assert_eq!(level(&t, 11), 5);
    assert_eq!(level(&t, 20), 5);
    let other = StockLevelInput {
        w_id: 1,
        d_id: 2,
        threshold: 10,
    };
    let (_, r): (_, StockLevelResult) = t.commit(STOCK_LEVEL, &other);
    assert_eq!(r.low_stock, 1, "district 1/2: item 7");
    // Read-only.
    let initial = t.initial.clone();
    assert_state(&t.state(), &initial);

    let input = NewOrderInput {
        w_id: 1,
        d_id: 1,
        c_id: 1,
        lines: vec![line(4, 1, 1)],
    };
    let (_, r): (_, NewOrderResult) = t.commit(NEW_ORDER, &input);
    assert_eq!(r.o_id, 23);
    assert_eq!(level(&t, 10), 3, "items 1, 2, 5 (order 3 left the window)");
    t.finish();
}
