//! A hand-built consistent run: exactly the rows the vMODB services would write.

use super::super::*;
use std::collections::HashSet;

/// Sellers 1 and 2; products (1,1) 10.00, (1,2) 20.00, (2,1) 5.00; 100 units each; customers 1–3.
pub(super) fn dataset() -> Dataset {
    let product = |seller_id, product_id, price: f64, freight_value| Product {
        seller_id,
        product_id,
        name: format!("p{seller_id}.{product_id}"),
        category: category(seller_id, product_id),
        price,
        freight_value,
        status: "approved".into(),
        ..Product::default()
    };
    let stock = |seller_id, product_id| StockItem {
        seller_id,
        product_id,
        qty_available: 100,
        ..StockItem::default()
    };
    Dataset {
        sellers: (1..=2)
            .map(|id| Seller {
                id,
                name: format!("s{id}"),
                ..Seller::default()
            })
            .collect(),
        customers: (1..=3)
            .map(|id| Customer {
                id,
                ..Customer::default()
            })
            .collect(),
        products: vec![
            product(1, 1, 10.0, 1.0),
            product(1, 2, 20.0, 2.0),
            product(2, 1, 5.0, 0.5),
        ],
        stock_items: vec![stock(1, 1), stock(1, 2), stock(2, 1)],
    }
}

/// A product's category in the fixture.
pub(super) fn category(seller_id: SellerId, product_id: ProductId) -> String {
    format!("category {seller_id}.{product_id}")
}

/// The run: tid 2 raises (1,1) to 11.00; tid 3 replaces (2,1); tid 5 checks out customer 1
/// (2 × (1,1) with a 1.10 voucher, 1 × (2,1)); tid 6 checks out customer 2 (3 × (1,2)); tid 7
/// checks out customer 3 with nothing reservable; tid 8 delivers and concludes customer 1's order
/// (its seller entries leave); tid 10 raises (1,2) to 22.00, while customer 3 holds (1,2) in the
/// cart at the old 20.00 (the cart reprices it at checkout). Dashboards: seller 1 at tids 6 and
/// 9, seller 2 at tid 9.
pub(super) fn fixture() -> (Dataset, MarketplaceState, RunLog) {
    let initial = dataset();
    let mut state = MarketplaceState {
        sellers: initial.sellers.clone(),
        customers: initial.customers.clone(),
        products: initial.products.clone(),
        stock_items: initial.stock_items.clone(),
        ..MarketplaceState::default()
    };
    state.products[0].price = 11.0;
    state.products[1].price = 22.0;
    state.products[2].version = 3;
    state.stock_items[0].qty_available = 98;
    state.stock_items[1].qty_available = 97;
    state.stock_items[2].qty_available = 99;
    state.stock_items[2].version = 3;
    state.replica_products = state.products.iter().map(ReplicaProduct::from).collect();
    state.cart_items = vec![CartItem {
        customer_id: 3,
        seller_id: 1,
        product_id: 2,
        unit_price: 20.0,
        quantity: 1,
        ..CartItem::default()
    }];
    state.customers[0].success_payment_count = 1;
    state.customers[0].delivery_count = 2;
    state.customers[1].success_payment_count = 1;

    let item = |customer_id,
                order_item_id,
                seller_id,
                product_id,
                unit_price: f64,
                freight_value,
                quantity,
                voucher: f64,
                version| {
        let total_items = unit_price * f64::from(quantity);
        OrderItem {
            customer_id,
            order_id: 1,
            order_item_id,
            seller_id,
            product_id,
            unit_price,
            freight_value,
            quantity,
            total_items,
            total_amount: total_items - voucher,
            voucher,
            version,
            product_category: category(seller_id, product_id),
            ..OrderItem::default()
        }
    };
    state.order_items = vec![
        item(1, 1, 1, 1, 11.0, 1.0, 2, 1.1, 0),
        item(1, 2, 2, 1, 5.0, 0.5, 1, 0.0, 3),
        item(2, 1, 1, 2, 20.0, 2.0, 3, 0.0, 0),
    ];
    let order = |customer_id, instance_id, status: &str, items: &[&OrderItem]| {
        let sum = |f: fn(&OrderItem) -> f64| items.iter().map(|i| f(i)).sum::<f64>();
        Order {
            customer_id,
            id: 1,
            status: status.into(),
            instance_id,
            count_items: items.len() as u32,
            total_amount: sum(|i| i.total_amount),
            total_freight: sum(|i| i.freight_value),
            total_incentive: sum(|i| i.voucher),
            total_invoice: sum(|i| i.total_amount) + sum(|i| i.freight_value),
            total_items: sum(|i| i.total_items),
            ..Order::default()
        }
    };
    let items = &state.order_items;
    state.orders = vec![
        order(1, 5, DELIVERED, &[&items[0], &items[1]]),
        order(2, 6, READY_FOR_SHIPMENT, &[&items[2]]),
    ];
    let history = |customer_id, seq, status: &str| OrderHistory {
        customer_id,
        order_id: 1,
        seq,
        created_at: 0,
        status: status.into(),
    };
    state.order_history = ORDER_STATUSES
        .iter()
        .zip(1..)
        .map(|(status, seq)| history(1, seq, status))
        .chain(
            ORDER_STATUSES[..3]
                .iter()
                .zip(1..)
                .map(|(status, seq)| history(2, seq, status)),
        )
        .collect();
    let pay = |customer_id, payment_sequential, payment_type: &str, value| OrderPayment {
        customer_id,
        order_id: 1,
        payment_sequential,
        payment_type: payment_type.into(),
        installments: 1,
        value,
        status: "succeeded".into(),
    };
    state.order_payments = vec![
        pay(1, 1, "CREDIT_CARD", 27.4),
        pay(1, 2, "VOUCHER", 1.1),
        pay(2, 1, "BOLETO", 62.0),
    ];
    let shipment =
        |shipment_id, customer_id, package_count, total_freight_value, status: &str| Shipment {
            shipment_id,
            customer_id,
            order_id: 1,
            package_count,
            total_freight_value,
            request_date: 0,
            status: status.into(),
            open: status != "concluded",
        };
    state.shipments = vec![
        shipment(5, 1, 2, 1.5, "concluded"),
        shipment(6, 2, 1, 2.0, "approved"),
    ];
    let package = |shipment_id, i: &OrderItem, status: &str| Package {
        shipment_id,
        package_id: i.order_item_id,
        customer_id: i.customer_id,
        order_id: i.order_id,
        seller_id: i.seller_id,
        product_id: i.product_id,
        freight_value: i.freight_value,
        quantity: i.quantity,
        status: status.into(),
        ..Package::default()
    };
    state.packages = vec![
        package(5, &items[0], "delivered"),
        package(5, &items[1], "delivered"),
        package(6, &items[2], "shipped"),
    ];
    let entry = |i: &OrderItem, instance_id, order_status: &str, delivery_status: &str| {
        entry_of(i, instance_id, order_status, delivery_status)
    };
    state.order_entries = vec![entry(&items[2], 6, READY_FOR_SHIPMENT, "pending")];

    let done = |customer_id, shipment_id, items, sellers: &[SellerId]| CheckoutDone {
        customer_id,
        order_id: 1,
        shipment_id,
        items,
        sellers: sellers.to_vec(),
    };
    let delivered = |seller_id, package_id| DeliveredPackage {
        customer_id: 1,
        order_id: 1,
        seller_id,
        product_id: 1,
        package_id,
    };
    let order_ref = OrderRef {
        customer_id: 1,
        order_id: 1,
        sellers: vec![1, 2],
    };
    let before_delivery = [
        entry(&items[0], 5, READY_FOR_SHIPMENT, "pending"),
        entry(&items[2], 6, READY_FOR_SHIPMENT, "pending"),
    ];
    let log = RunLog {
        price_updates: vec![
            (
                2,
                PriceUpdated {
                    seller_id: 1,
                    product_id: 1,
                    price: 11.0,
                    version: 0,
                },
            ),
            (
                10,
                PriceUpdated {
                    seller_id: 1,
                    product_id: 2,
                    price: 22.0,
                    version: 0,
                },
            ),
        ],
        replacements: vec![(
            3,
            ProductReplaced {
                seller_id: 2,
                product_id: 1,
                version: 3,
            },
        )],
        checkouts: vec![
            (5, 1, Some(done(1, 5, 2, &[1, 2]))),
            (6, 2, Some(done(2, 6, 1, &[1]))),
            (7, 3, None),
        ],
        deliveries: vec![(
            8,
            Deliveries {
                delivered: vec![delivered(1, 1), delivered(2, 2)],
                in_transit: vec![order_ref.clone()],
                concluded: vec![order_ref],
            },
        )],
        dashboards: vec![
            dashboard(1, 6, before_delivery.to_vec()),
            dashboard(1, 9, vec![state.order_entries[0].clone()]),
            dashboard(2, 9, Vec::new()),
        ],
    };
    (initial, state, log)
}

/// The seller entry of an order item, as the seller service writes it.
pub(super) fn entry_of(
    i: &OrderItem,
    instance_id: u64,
    order_status: &str,
    delivery_status: &str,
) -> OrderEntry {
    OrderEntry {
        seller_id: i.seller_id,
        customer_id: i.customer_id,
        order_id: i.order_id,
        product_id: i.product_id,
        package_id: i.order_item_id,
        product_category: i.product_category.clone(),
        unit_price: i.unit_price,
        quantity: i.quantity,
        total_items: i.total_items,
        total_amount: i.total_amount,
        total_incentive: i.voucher,
        total_invoice: i.total_amount + i.freight_value,
        freight_value: i.freight_value,
        order_status: order_status.into(),
        delivery_status: delivery_status.into(),
        instance_id,
        ..OrderEntry::default()
    }
}

/// A correct answer over `entries`.
pub(super) fn dashboard(
    seller_id: SellerId,
    snapshot_tid: u64,
    entries: Vec<OrderEntry>,
) -> Dashboard {
    let sum = |f: fn(&OrderEntry) -> f64| entries.iter().map(f).sum::<f64>();
    let orders: HashSet<OrderKey> = entries
        .iter()
        .map(|e| (e.customer_id, e.order_id))
        .collect();
    Dashboard {
        seller_id,
        snapshot_tid,
        count_orders: orders.len() as u64,
        count_items: entries.len() as u64,
        total_amount: sum(|e| e.total_amount),
        total_freight: sum(|e| e.freight_value),
        total_incentive: sum(|e| e.total_incentive),
        total_invoice: sum(|e| e.total_invoice),
        total_items: sum(|e| e.total_items),
        entries,
    }
}

/// Asserts that `class` counts at least one violation and every other class none.
pub(super) fn assert_only(
    class: &str,
    (initial, state, log): &(Dataset, MarketplaceState, RunLog),
) {
    let report = check(initial, state, log);
    assert!(
        report.count(class) > 0,
        "{class} not detected: {report} {:#?}",
        report.examples
    );
    let others: Vec<_> = CLASSES
        .iter()
        .filter(|c| **c != class && report.count(c) > 0)
        .collect();
    assert!(
        others.is_empty(),
        "{class} also reported as {others:?}: {:#?}",
        report.examples
    );
}

pub(super) fn planted(
    plant: impl FnOnce(&mut Dataset, &mut MarketplaceState, &mut RunLog),
) -> (Dataset, MarketplaceState, RunLog) {
    let (mut initial, mut state, mut log) = fixture();
    plant(&mut initial, &mut state, &mut log);
    (initial, state, log)
}

pub(super) fn order_mut(state: &mut MarketplaceState, customer: CustomerId) -> &mut Order {
    state
        .orders
        .iter_mut()
        .find(|o| o.customer_id == customer)
        .unwrap()
}
