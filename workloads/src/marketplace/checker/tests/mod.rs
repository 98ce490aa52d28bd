//! The checker on a consistent fixture (clean), then one planted violation per anomaly class.

mod fixture;

use super::*;
use crate::marketplace::generator::{Scale, generate};
use fixture::*;

#[test]
fn consistent_fixture_is_clean() {
    let (initial, state, log) = fixture();
    let report = check(&initial, &state, &log);
    assert_eq!(report.counts.len(), CLASSES.len());
    assert!(CLASSES.iter().all(|c| report.counts.contains_key(c)));
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    assert_eq!(report.total(), 0);
    assert!(report.examples.is_empty());
    for d in &log.dashboards {
        assert_eq!(check_dashboard(d, &log), 0);
    }
}

/// Answers are judged by their snapshot TID, whatever order the log lists them in.
#[test]
fn dashboards_in_any_log_order_are_clean() {
    let (initial, state, mut log) = fixture();
    log.dashboards.reverse();
    log.dashboards.push(log.dashboards[2].clone());
    let report = check(&initial, &state, &log);
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
}

#[test]
fn untouched_generated_data_is_clean() {
    let initial = generate(
        &Scale {
            customers: 20,
            sellers: 3,
            products_per_seller: 4,
            stock_per_product: 50,
        },
        1,
    );
    let state = MarketplaceState {
        sellers: initial.sellers.clone(),
        customers: initial.customers.clone(),
        products: initial.products.clone(),
        stock_items: initial.stock_items.clone(),
        ..MarketplaceState::default()
    };
    let report = check(&initial, &state, &RunLog::default());
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
}

#[test]
fn negative_stock_is_detected() {
    // Oversold: 0 units at load, one sold, -1 left (the arithmetic itself adds up).
    assert_only(
        "negative_stock",
        &planted(|i, s, _| {
            i.stock_items[2].qty_available = 0;
            s.stock_items[2].qty_available = -1;
        }),
    );
}

#[test]
fn stock_reservation_is_detected() {
    assert_only(
        "stock_reservation",
        &planted(|_, s, _| s.stock_items[0].qty_available = 99),
    );
    assert_only(
        "stock_reservation",
        &planted(|_, s, _| s.stock_items[1].qty_reserved = 3),
    );
    assert_only(
        "stock_reservation",
        &planted(|_, s, _| {
            s.stock_items.remove(1);
        }),
    );
}

#[test]
fn order_items_is_detected() {
    assert_only(
        "order_items",
        &planted(|_, s, _| order_mut(s, 2).total_amount = 61.0),
    );
    assert_only(
        "order_items",
        &planted(|_, s, _| order_mut(s, 1).total_freight = 2.0),
    );
    assert_only(
        "order_items",
        &planted(|_, s, _| {
            s.packages.pop();
        }),
    );
    assert_only(
        "order_items",
        &planted(|_, s, _| s.shipments[1].package_count = 2),
    );
    assert_only(
        "order_items",
        &planted(|_, s, _| {
            s.shipments.pop();
            s.packages.pop();
        }),
    );
    assert_only(
        "order_items",
        &planted(|_, s, _| {
            let mut orphan = s.shipments[1].clone();
            (orphan.shipment_id, orphan.customer_id) = (40, 3);
            s.shipments.push(orphan);
        }),
    );
    // The order of customer 2 is not delivered yet: its seller entry must be there.
    assert_only("order_items", &planted(|_, s, _| s.order_entries.clear()));
}

/// Order items and seller entries name their product's category.
#[test]
fn categories_are_checked() {
    assert_only(
        "order_items",
        &planted(|_, s, _| s.order_entries[0].product_category = String::new()),
    );
    assert_only(
        "order_items",
        &planted(|_, s, _| s.order_items[1].product_category = category(1, 1)),
    );
}

#[test]
fn payment_is_detected() {
    assert_only(
        "payment",
        &planted(|_, s, _| s.order_payments[0].value = 27.0),
    );
    assert_only(
        "payment",
        &planted(|_, s, _| {
            s.order_payments.remove(1);
        }),
    );
    assert_only(
        "payment",
        &planted(|_, s, _| {
            s.order_payments.remove(2);
        }),
    );
    assert_only(
        "payment",
        &planted(|_, s, _| {
            let mut stray = s.order_payments[2].clone();
            stray.customer_id = 3;
            s.order_payments.push(stray);
        }),
    );
}

#[test]
fn customer_counters_is_detected() {
    assert_only(
        "customer_counters",
        &planted(|_, s, _| s.customers[1].success_payment_count = 2),
    );
    assert_only(
        "customer_counters",
        &planted(|_, s, _| s.customers[0].delivery_count = 3),
    );
    assert_only(
        "customer_counters",
        &planted(|_, s, _| s.customers[0].success_payment_count = 0),
    );
}

#[test]
fn lost_update_is_detected() {
    // The rise of (1,2) to 22.00 is lost at the product and its replica.
    assert_only(
        "lost_update",
        &planted(|_, s, _| {
            s.products[1].price = 20.0;
            s.replica_products[1].price = 20.0;
        }),
    );
    assert_only(
        "lost_update",
        &planted(|_, s, _| {
            s.products[2].version = 0;
            s.stock_items[2].version = 0;
            s.replica_products[2].version = 0;
        }),
    );
    assert_only(
        "lost_update",
        &planted(|_, s, _| s.stock_items[2].version = 0),
    );
}

#[test]
fn stale_replica_is_detected() {
    assert_only(
        "stale_replica",
        &planted(|_, s, _| s.replica_products[0].price = 10.0),
    );
    assert_only(
        "stale_replica",
        &planted(|_, s, _| s.replica_products[2].version = 0),
    );
    assert_only(
        "stale_replica",
        &planted(|_, s, _| {
            s.replica_products.pop();
        }),
    );
}

#[test]
fn stale_checkout_is_detected() {
    // The rise of (1,2) committed before customer 2's checkout (tid 6), which still paid 20.00.
    assert_only(
        "stale_checkout",
        &planted(|_, _, l| l.price_updates[1].0 = 4),
    );
    // Customer 1 bought (2,1) in the version replaced at tid 3.
    assert_only(
        "stale_checkout",
        &planted(|_, s, _| s.order_items[1].version = 0),
    );
    // A rise after the checkout that the order item already shows.
    assert_only(
        "stale_checkout",
        &planted(|_, s, _| {
            s.order_items[2].unit_price = 22.0;
            s.order_items[2].total_items = 66.0;
            s.order_items[2].total_amount = 66.0;
            let o = order_mut(s, 2);
            (o.total_items, o.total_amount, o.total_invoice) = (66.0, 66.0, 68.0);
            s.order_payments[2].value = 68.0;
        }),
    );
}

/// The price at a checkout is the last one logged before its TID, not the first or the latest.
#[test]
fn stale_checkout_uses_the_price_at_the_checkout_tid() {
    let (initial, mut state, mut log) = fixture();
    let rise = |tid, price| {
        let update = PriceUpdated {
            seller_id: 1,
            product_id: 1,
            price,
            version: 0,
        };
        (tid, update)
    };
    log.price_updates.insert(0, rise(1, 10.5));
    log.price_updates.push(rise(20, 12.0));
    state.products[0].price = 12.0;
    state.replica_products[0].price = 12.0;
    let report = check(&initial, &state, &log);
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
}

/// Absolute price updates (the benchmark driver's `PATCH /product`) may lower a price: the
/// checker judges by commit order (TID), never by direction. The last one logged wins, even
/// when it is lower; keeping the higher one is a lost update.
#[test]
fn a_lower_price_logged_last_is_the_current_one() {
    let (initial, mut state, mut log) = fixture();
    let update = |tid, price| {
        let u = PriceUpdated {
            seller_id: 1,
            product_id: 1,
            price,
            version: 0,
        };
        (tid, u)
    };
    log.price_updates.insert(0, update(1, 10.5));
    log.price_updates.push(update(20, 3.0));
    state.products[0].price = 3.0;
    state.replica_products[0].price = 3.0;
    let report = check(&initial, &state, &log);
    assert!(report.is_clean(), "{report} {:#?}", report.examples);
    state.products[0].price = 10.5;
    state.replica_products[0].price = 10.5;
    let report = check(&initial, &state, &log);
    assert_eq!(report.count("lost_update"), 1, "{report}");
}

/// The history rows of customer `customer`'s order, by seq.
fn history_mut(s: &mut MarketplaceState, customer: CustomerId) -> Vec<&mut OrderHistory> {
    let mut rows: Vec<&mut OrderHistory> = s
        .order_history
        .iter_mut()
        .filter(|h| h.customer_id == customer)
        .collect();
    rows.sort_by_key(|h| h.seq);
    rows
}

#[test]
fn status_order_is_detected() {
    assert_only(
        "status_order",
        &planted(|_, s, _| s.order_entries[0].order_status = IN_TRANSIT.into()),
    );
    // Backwards: DELIVERED before IN_TRANSIT.
    assert_only(
        "status_order",
        &planted(|_, s, _| {
            let mut rows = history_mut(s, 1);
            rows[3].status = DELIVERED.into();
            rows[4].status = IN_TRANSIT.into();
        }),
    );
    assert_only(
        "status_order",
        &planted(|_, s, _| order_mut(s, 2).status = IN_TRANSIT.into()),
    );
    // The entry of a package not yet delivered says delivered.
    assert_only(
        "status_order",
        &planted(|_, s, _| s.order_entries[0].delivery_status = "delivered".into()),
    );
    assert_only(
        "status_order",
        &planted(|_, s, _| {
            s.shipments[1].status = "concluded".into();
            s.shipments[1].open = false;
        }),
    );
    assert_only(
        "status_order",
        &planted(|_, s, _| s.shipments[0].open = true),
    );
}

/// The history holds every step up to the order's status, each once.
#[test]
fn status_order_needs_every_step_once() {
    // PAYMENT_PROCESSED never recorded: INVOICED, READY_FOR_SHIPMENT.
    assert_only(
        "status_order",
        &planted(|_, s, _| {
            s.order_history
                .retain(|h| h.customer_id != 2 || h.status != PAYMENT_PROCESSED);
            history_mut(s, 2)[1].seq = 2;
        }),
    );
    // READY_FOR_SHIPMENT twice.
    assert_only(
        "status_order",
        &planted(|_, s, _| {
            let mut again = history_mut(s, 2)[2].clone();
            again.seq = 4;
            s.order_history.push(again);
        }),
    );
    // No history at all.
    assert_only(
        "status_order",
        &planted(|_, s, _| s.order_history.retain(|h| h.customer_id != 2)),
    );
}

/// The order's status is the one its shipment implies: a consistent order, history and entry
/// that stopped at PAYMENT_PROCESSED while the shipment was approved lost a status update.
#[test]
fn status_order_follows_the_shipment() {
    assert_only(
        "status_order",
        &planted(|_, s, _| {
            s.order_history
                .retain(|h| h.customer_id != 2 || h.status != READY_FOR_SHIPMENT);
            order_mut(s, 2).status = PAYMENT_PROCESSED.into();
            s.order_entries[0].order_status = PAYMENT_PROCESSED.into();
        }),
    );
}

/// A delivered order's entries leave every seller: an entry left at any of them counts.
#[test]
fn entries_of_delivered_orders_are_gone() {
    for item in [0, 1] {
        assert_only(
            "status_order",
            &planted(|_, s, _| {
                let i = s.order_items[item].clone();
                s.order_entries
                    .push(entry_of(&i, 5, DELIVERED, "delivered"));
            }),
        );
    }
}

#[test]
fn duplicate_is_detected() {
    // A second shipment (with its package) for customer 2's order.
    assert_only(
        "duplicate",
        &planted(|_, s, _| {
            let mut again = s.shipments[1].clone();
            again.shipment_id = 99;
            s.shipments.push(again);
            let mut package = s.packages[2].clone();
            package.shipment_id = 99;
            s.packages.push(package);
        }),
    );
    // Customer 2's order claims customer 1's checkout tid.
    assert_only(
        "duplicate",
        &planted(|_, s, _| order_mut(s, 2).instance_id = 5),
    );
    // A committed checkout whose order never appeared.
    assert_only(
        "duplicate",
        &planted(|_, _, l| {
            l.checkouts.push((
                11,
                3,
                Some(CheckoutDone {
                    customer_id: 3,
                    order_id: 1,
                    shipment_id: 11,
                    items: 1,
                    sellers: vec![2],
                }),
            ))
        }),
    );
    // An order made by a checkout the log saw reserve nothing.
    assert_only(
        "duplicate",
        &planted(|_, _, l| {
            l.checkouts[1].2 = None;
            l.dashboards.clear();
        }),
    );
    // The second entry also breaks the order's entry count: both classes see it.
    let (initial, mut state, log) = fixture();
    state.order_entries.push(state.order_entries[0].clone());
    let report = check(&initial, &state, &log);
    assert_eq!(report.count("duplicate"), 1, "{report}");
    assert_eq!(report.count("order_items"), 1, "{report}");
    assert_eq!(report.total(), 2, "{report}");
}

#[test]
fn dashboard_aggregates_are_checked() {
    let plant = |l: &mut RunLog| l.dashboards[0].total_amount += 0.5;
    assert_only("dashboard", &planted(|_, _, l| plant(l)));
    let (_, _, mut log) = fixture();
    plant(&mut log);
    assert_eq!(check_dashboard(&log.dashboards[0], &log), 1);
    log.dashboards[1].count_orders = 2;
    assert_eq!(check_dashboard(&log.dashboards[1], &log), 1);
}

#[test]
fn dashboard_snapshot_is_checked() {
    // Customer 2's order, committed at tid 6, is missing from seller 1's answer at tid 9.
    let missing = |l: &mut RunLog| l.dashboards[1] = dashboard(1, 9, Vec::new());
    // The concluded order of customer 1 still shows at tid 9.
    let concluded = |l: &mut RunLog| {
        let mut entries = l.dashboards[0].entries.clone();
        entries[0].order_status = "IN_TRANSIT".into();
        l.dashboards[1] = dashboard(1, 9, entries);
    };
    // An entry from a checkout after the snapshot.
    let future = |l: &mut RunLog| l.dashboards[0].entries[1].instance_id = 7;
    // The same item twice: the order is shown with more entries than it has items of the seller.
    let partial = |l: &mut RunLog| {
        let e = l.dashboards[1].entries[0].clone();
        l.dashboards[1] = dashboard(1, 9, vec![e.clone(), e]);
    };
    for plant in [missing, concluded, future, partial] {
        assert_only("dashboard", &planted(|_, _, l| plant(l)));
        let (_, _, mut log) = fixture();
        plant(&mut log);
        let counted: u64 = log
            .dashboards
            .iter()
            .map(|d| check_dashboard(d, &log))
            .sum();
        assert_eq!(counted, 1, "{:?}", log.dashboards);
    }
}

/// Entries show the order's status and their package's delivery as of the answer's TID.
#[test]
fn dashboard_statuses_are_checked() {
    // A stale status: the order was already READY_FOR_SHIPMENT at its checkout.
    let stale = |l: &mut RunLog| {
        let mut entries = l.dashboards[0].entries.clone();
        entries[1].order_status = INVOICED.into();
        l.dashboards[0] = dashboard(1, 6, entries);
    };
    // A status from the future: customer 2's order never left.
    let early = |l: &mut RunLog| {
        let mut entries = l.dashboards[1].entries.clone();
        entries[0].order_status = IN_TRANSIT.into();
        l.dashboards[1] = dashboard(1, 9, entries);
    };
    for plant in [stale, early] {
        assert_only("dashboard", &planted(|_, _, l| plant(l)));
        let (_, _, mut log) = fixture();
        plant(&mut log);
        let counted: u64 = log
            .dashboards
            .iter()
            .map(|d| check_dashboard(d, &log))
            .sum();
        assert_eq!(counted, 1, "{:?}", log.dashboards);
    }
    // If the delivery at tid 8 had delivered only seller 1's package (the order in transit), an
    // answer at tid 9 shows it delivered and in transit, and nothing else will do.
    let (_, state, mut log) = fixture();
    let run = &mut log.deliveries[0].1;
    run.concluded.clear();
    run.delivered.truncate(1);
    let item = state.order_items[0].clone();
    let answer = |delivery: &str| {
        let entries = vec![
            entry_of(&item, 5, IN_TRANSIT, delivery),
            state.order_entries[0].clone(),
        ];
        dashboard(1, 9, entries)
    };
    assert_eq!(check_dashboard(&answer("delivered"), &log), 0);
    assert_eq!(check_dashboard(&answer("pending"), &log), 1);
}

#[test]
fn dashboard_with_both_faults_counts_two() {
    let (_, _, mut log) = fixture();
    log.dashboards[2] = dashboard(2, 9, log.dashboards[0].entries.clone());
    log.dashboards[2].count_items = 7;
    assert_eq!(check_dashboard(&log.dashboards[2], &log), 2);
}

#[test]
fn examples_are_bounded_and_counts_are_not() {
    let (initial, mut state, log) = planted(|_, _, _| {});
    for s in &mut state.stock_items {
        s.qty_reserved = -1;
    }
    state.customers = (1..=100)
        .map(|id| Customer {
            id,
            delivery_count: 1,
            ..Customer::default()
        })
        .collect();
    let report = check(&initial, &state, &log);
    assert_eq!(report.count("negative_stock"), 3);
    assert!(report.count("customer_counters") >= 98);
    assert_eq!(report.examples.len(), MAX_EXAMPLES);
    assert!(report.total() > MAX_EXAMPLES as u64);
}
