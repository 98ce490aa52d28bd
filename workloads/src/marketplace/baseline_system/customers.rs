//! The grains keyed by customer, which run the checkout chain: cart, order, payment, shipment
//! and customer. Keys follow the Orleans implementation: one grain per customer for each of
//! cart, order, payment and customer; shipment grains are a fixed number of partitions by
//! customer. They ask and tell the seller side's grains (`sellers`), which never name these:
//! imports point one way.

use super::sellers::{
    Confirm, EntryDelivered, EntryStatus, GetReplica, NewInvoice, OrderConcluded, Release,
    ReplicaGrain, Reserve, SellerGrain, StockGrain,
};
use super::{Dump, Market, ProductKey};
use crate::marketplace::logic::{
    NewOrder, advance, checkout_done, checkout_line, deliver_package, new_order, new_shipment,
    payment_lines, sellers_of, voucher,
};
use crate::marketplace::model::*;
use baseline::{Handles, ask, tell};
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

// ---------------------------------------------------------------- cart

pub struct CartGrain {
    customer: CustomerId,
    items: BTreeMap<ProductKey, CartItem>,
}
grain!(CartGrain, "cart", CustomerId, carts, |k, _w| CartGrain {
    customer: *k,
    items: BTreeMap::new(),
});

impl Handles<AddItems> for CartGrain {
    type Reply = Result<(), String>;
    async fn handle(&mut self, e: AddItems, w: &Arc<Market>) -> Result<(), String> {
        let replicas = join_all(
            e.items
                .iter()
                .map(|i| ask::<ReplicaGrain, _>(w, &(i.seller_id, i.product_id), GetReplica)),
        )
        .await;
        for (item, replica) in e.items.into_iter().zip(replicas) {
            let key = (item.seller_id, item.product_id);
            let p = replica
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("product {key:?} not found"))?;
            self.items.insert(
                key,
                CartItem {
                    customer_id: self.customer,
                    seller_id: item.seller_id,
                    product_id: item.product_id,
                    product_name: p.name,
                    product_category: p.category,
                    unit_price: p.price,
                    freight_value: p.freight_value,
                    quantity: item.quantity,
                    voucher: voucher(p.price, item.voucher),
                    version: p.version,
                },
            );
        }
        Ok(())
    }
}

/// A checkout's result: its point on the silo's clock and what it bought (`None`: nothing).
pub type CheckoutResult = Result<(u64, Option<CheckoutDone>), String>;

impl Handles<Checkout> for CartGrain {
    type Reply = CheckoutResult;
    /// Seals the listed lines, repriced from the replica, and awaits the order's checkout
    /// chain (Orleans' `NotifyCheckout`).
    async fn handle(&mut self, e: Checkout, w: &Arc<Market>) -> CheckoutResult {
        let tid = w.silo.tick();
        let sealed: Vec<CartItem> = e
            .products
            .iter()
            .filter_map(|k| self.items.remove(k))
            .collect();
        if sealed.is_empty() {
            return Ok((tid, None));
        }
        let current = join_all(
            sealed
                .iter()
                .map(|i| ask::<ReplicaGrain, _>(w, &(i.seller_id, i.product_id), GetReplica)),
        )
        .await;
        let sealed_copy = if e.all_or_nothing {
            sealed.clone()
        } else {
            Vec::new()
        };
        let mut items = Vec::with_capacity(sealed.len());
        for (item, replica) in sealed.into_iter().zip(current) {
            let now = replica.map_err(|e| e.to_string())?;
            items.push(checkout_line(item, now.map(|p| (p.price, p.version))));
        }
        let reserve = ReserveStock {
            customer_id: e.customer_id,
            payment_type: e.payment_type,
            installments: e.installments,
            items,
            all_or_nothing: e.all_or_nothing,
        };
        let done = ask::<OrderGrain, _>(w, &self.customer, PlaceOrder { reserve, tid })
            .await
            .map_err(|e| e.to_string())?;
        if done.as_ref().is_err_and(|e| e.starts_with(REFUSED)) {
            // Compensation: the sealed lines go back into the cart, as if never checked out
            // (only when the order refused it: a later failure leaves an order behind).
            for item in sealed_copy {
                self.items.insert((item.seller_id, item.product_id), item);
            }
        }
        Ok((tid, done?))
    }
}

impl Handles<Dump> for CartGrain {
    type Reply = Vec<CartItem>;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Vec<CartItem> {
        self.items.values().cloned().collect()
    }
}

// ---------------------------------------------------------------- order

pub struct OrderGrain {
    next_order_id: OrderId,
    orders: BTreeMap<OrderId, Order>,
    items: Vec<OrderItem>,
    history: BTreeMap<OrderId, Vec<OrderHistory>>,
}
grain!(OrderGrain, "order", CustomerId, orders, |_k, _w| {
    OrderGrain {
        next_order_id: 1,
        orders: BTreeMap::new(),
        items: Vec::new(),
        history: BTreeMap::new(),
    }
});

/// How an order refuses an all-or-nothing checkout (the cart then restores its lines).
const REFUSED: &str = "aborted:";

/// The checkout chain at the order grain (Orleans' `Order.Checkout`).
pub struct PlaceOrder {
    pub reserve: ReserveStock,
    pub tid: u64,
}

impl Handles<PlaceOrder> for OrderGrain {
    type Reply = Result<Option<CheckoutDone>, String>;
    /// Reserves every line in parallel, keeps the reserved ones, creates the order, tells the
    /// sellers, awaits the payment, confirms the reservations, tells the customer, and awaits
    /// the shipment. No step is undone if a later one fails; the only compensation is an
    /// all-or-nothing checkout's release of its reservations when one line cannot be reserved.
    async fn handle(
        &mut self,
        e: PlaceOrder,
        w: &Arc<Market>,
    ) -> Result<Option<CheckoutDone>, String> {
        let PlaceOrder { mut reserve, tid } = e;
        let lines = std::mem::take(&mut reserve.items);
        let answers =
            join_all(lines.iter().map(|l| {
                ask::<StockGrain, _>(w, &(l.seller_id, l.product_id), Reserve(l.clone()))
            }))
            .await;
        let mut refused = None;
        let mut lost = None;
        for (line, ok) in lines.into_iter().zip(answers) {
            match ok {
                Ok(true) => reserve.items.push(line),
                Ok(false) => {
                    refused.get_or_insert((line.seller_id, line.product_id));
                }
                Err(e) => {
                    lost.get_or_insert(e.to_string());
                }
            }
        }
        let refused = refused.filter(|_| reserve.all_or_nothing);
        if refused.is_some() || lost.is_some() {
            // A saga's compensation: release what was reserved (one-way, as Orleans would).
            for l in &reserve.items {
                tell::<StockGrain, _>(w, &(l.seller_id, l.product_id), Release(l.quantity));
            }
        }
        if let Some(e) = lost {
            return Err(e);
        }
        if let Some((s, p)) = refused {
            return Err(format!("{REFUSED} item ({s}, {p}) cannot be reserved"));
        }
        if reserve.items.is_empty() {
            return Ok(None);
        }
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let NewOrder {
            order,
            items,
            history,
            invoice,
        } = new_order(&reserve, order_id, w.silo.now_us(), tid);
        self.orders.insert(order_id, order);
        self.items.extend(items);
        self.history.insert(order_id, vec![history]);
        for s in sellers_of(&invoice) {
            let mut part = invoice.clone();
            part.items.retain(|i| i.seller_id == s);
            tell::<SellerGrain, _>(w, &s, NewInvoice { invoice: part, tid });
        }
        ask::<PaymentGrain, _>(w, &invoice.customer_id, invoice.clone())
            .await
            .map_err(|e| e.to_string())?;
        let confirmed =
            join_all(invoice.items.iter().map(|i| {
                ask::<StockGrain, _>(w, &(i.seller_id, i.product_id), Confirm(i.quantity))
            }))
            .await;
        for c in confirmed {
            c.map_err(|e| e.to_string())?;
        }
        tell::<CustomerGrain, _>(w, &invoice.customer_id, PaymentDone);
        let partition = w.shipment_partition(invoice.customer_id);
        let done = ask::<ShipmentGrain, _>(w, &partition, CreateShipment { invoice, tid })
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(done))
    }
}

/// A status notification from payment or shipment (one-way, Orleans'
/// `ProcessPaymentConfirmed` and `ProcessShipmentNotification`): applied in arrival order.
pub struct SetStatus {
    pub order_id: OrderId,
    pub status: &'static str,
}

impl Handles<SetStatus> for OrderGrain {
    type Reply = ();
    async fn handle(&mut self, e: SetStatus, w: &Arc<Market>) {
        let Some(order) = self.orders.get_mut(&e.order_id) else {
            return; // Orleans drops a notification for an unknown order
        };
        let history = self.history.entry(e.order_id).or_default();
        let last_seq = history.iter().map(|h| h.seq).max().unwrap_or(0);
        history.push(advance(order, last_seq, e.status, w.silo.now_us()));
    }
}

/// The customer's next order id (for the state dump).
pub struct NextOrderId;
impl Handles<NextOrderId> for OrderGrain {
    type Reply = OrderId;
    async fn handle(&mut self, _: NextOrderId, _: &Arc<Market>) -> OrderId {
        self.next_order_id
    }
}

impl Handles<Dump> for OrderGrain {
    type Reply = (Vec<Order>, Vec<OrderItem>, Vec<OrderHistory>);
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Self::Reply {
        (
            self.orders.values().cloned().collect(),
            self.items.clone(),
            self.history.values().flatten().cloned().collect(),
        )
    }
}

// ---------------------------------------------------------------- payment

pub struct PaymentGrain(Vec<OrderPayment>);
grain!(PaymentGrain, "payment", CustomerId, payments, |_k, _w| {
    PaymentGrain(Vec::new())
});

impl Handles<InvoiceIssued> for PaymentGrain {
    type Reply = ();
    /// Payments always succeed, as in the benchmark; the order and its sellers hear of it
    /// one-way, as in Orleans.
    async fn handle(&mut self, e: InvoiceIssued, w: &Arc<Market>) {
        self.0.extend(payment_lines(&e));
        let status = PAYMENT_PROCESSED;
        for s in sellers_of(&e) {
            let (customer_id, order_id) = (e.customer_id, e.order_id);
            let entry = EntryStatus {
                customer_id,
                order_id,
                status,
            };
            tell::<SellerGrain, _>(w, &s, entry);
        }
        let set = SetStatus {
            order_id: e.order_id,
            status,
        };
        tell::<OrderGrain, _>(w, &e.customer_id, set);
    }
}

impl Handles<Dump> for PaymentGrain {
    type Reply = Vec<OrderPayment>;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Vec<OrderPayment> {
        self.0.clone()
    }
}

// ---------------------------------------------------------------- shipment

#[derive(Default)]
pub struct ShipmentGrain {
    shipments: BTreeMap<u64, Shipment>,
    packages: BTreeMap<u64, Vec<Package>>,
    /// The open shipments, oldest first (vMODB's `open` partial index).
    open: BTreeSet<u64>,
}
grain!(ShipmentGrain, "shipment", u32, shipments, |_k, _w| {
    ShipmentGrain::default()
});

/// Create the shipment of a paid order (awaited by the checkout chain).
pub struct CreateShipment {
    pub invoice: PaymentConfirmed,
    pub tid: u64,
}

impl Handles<CreateShipment> for ShipmentGrain {
    type Reply = CheckoutDone;
    /// Creates the shipment, then tells its sellers and the order it is approved (one-way).
    async fn handle(&mut self, e: CreateShipment, w: &Arc<Market>) -> CheckoutDone {
        let (shipment, packages) = new_shipment(&e.invoice, e.tid, w.silo.now_us());
        let done = checkout_done(&e.invoice, shipment.shipment_id);
        self.packages.insert(shipment.shipment_id, packages);
        self.open.insert(shipment.shipment_id);
        self.shipments.insert(shipment.shipment_id, shipment);
        let (customer_id, order_id, status) = (done.customer_id, done.order_id, READY_FOR_SHIPMENT);
        for s in sellers_of(&e.invoice) {
            let entry = EntryStatus {
                customer_id,
                order_id,
                status,
            };
            tell::<SellerGrain, _>(w, &s, entry);
        }
        tell::<OrderGrain, _>(w, &customer_id, SetStatus { order_id, status });
        done
    }
}

impl Handles<UpdateDelivery> for ShipmentGrain {
    /// The run's point on the clock (drawn where it runs) and what it delivered.
    type Reply = (u64, Deliveries);
    /// The delivery rule of vMODB's shipment service, over this partition's shipments: for the
    /// first `max_sellers` sellers with undelivered packages (oldest shipments first), deliver
    /// that seller's packages of its oldest open shipment. Every effect elsewhere is one-way.
    async fn handle(&mut self, e: UpdateDelivery, w: &Arc<Market>) -> (u64, Deliveries) {
        let tid = w.silo.tick();
        let now = w.silo.now_us();
        let mut chosen: Vec<(SellerId, u64)> = Vec::new();
        'scan: for id in &self.open {
            for p in self.packages.get(id).map_or(&[][..], Vec::as_slice) {
                if p.status != "delivered"
                    && !chosen.iter().any(|(seller, _)| *seller == p.seller_id)
                {
                    chosen.push((p.seller_id, *id));
                    if chosen.len() >= e.max_sellers as usize {
                        break 'scan;
                    }
                }
            }
        }
        let mut out = Deliveries::default();
        let mut shipments: Vec<u64> = chosen.iter().map(|(_, s)| *s).collect();
        shipments.sort_unstable();
        shipments.dedup();
        for id in shipments {
            let (Some(s), Some(pkgs)) = (self.shipments.get_mut(&id), self.packages.get_mut(&id))
            else {
                continue;
            };
            let mut undelivered = 0;
            for p in pkgs.iter_mut().filter(|p| p.status != "delivered") {
                if chosen.contains(&(p.seller_id, id)) {
                    out.delivered.push(deliver_package(p, now));
                } else {
                    undelivered += 1;
                }
            }
            let mut sellers: Vec<SellerId> = pkgs.iter().map(|p| p.seller_id).collect();
            sellers.sort_unstable();
            sellers.dedup();
            let order = OrderRef {
                customer_id: s.customer_id,
                order_id: s.order_id,
                sellers,
            };
            if s.status == "approved" {
                s.status = "delivery_in_progress".into();
                out.in_transit.push(order.clone());
            }
            if undelivered == 0 {
                s.status = "concluded".into();
                s.open = false;
                self.open.remove(&id);
                out.concluded.push(order);
            }
        }
        notify(w, &out);
        (tid, out)
    }
}

/// The one-way notifications of a delivery run: customers, sellers and orders.
fn notify(w: &Arc<Market>, d: &Deliveries) {
    for p in &d.delivered {
        tell::<SellerGrain, _>(w, &p.seller_id, EntryDelivered(p.clone()));
        tell::<CustomerGrain, _>(w, &p.customer_id, Delivered(1));
    }
    for (list, status) in [(&d.in_transit, IN_TRANSIT), (&d.concluded, DELIVERED)] {
        for o in list {
            let (customer_id, order_id) = (o.customer_id, o.order_id);
            tell::<OrderGrain, _>(w, &customer_id, SetStatus { order_id, status });
            for s in &o.sellers {
                if status == DELIVERED {
                    let done = OrderConcluded {
                        customer_id,
                        order_id,
                    };
                    tell::<SellerGrain, _>(w, s, done);
                } else {
                    let entry = EntryStatus {
                        customer_id,
                        order_id,
                        status,
                    };
                    tell::<SellerGrain, _>(w, s, entry);
                }
            }
        }
    }
}

impl Handles<Dump> for ShipmentGrain {
    type Reply = (Vec<Shipment>, Vec<Package>);
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Self::Reply {
        (
            self.shipments.values().cloned().collect(),
            self.packages.values().flatten().cloned().collect(),
        )
    }
}

// ---------------------------------------------------------------- customer

pub struct CustomerGrain(Customer);
grain!(CustomerGrain, "customer", CustomerId, customers, |k, w| {
    CustomerGrain(w.initial_customer(*k).unwrap_or_default())
});

/// One-way: a payment of this customer succeeded.
pub struct PaymentDone;
impl Handles<PaymentDone> for CustomerGrain {
    type Reply = ();
    async fn handle(&mut self, _: PaymentDone, _: &Arc<Market>) {
        self.0.success_payment_count += 1;
    }
}

/// One-way: `n` packages of this customer were delivered.
pub struct Delivered(pub u64);
impl Handles<Delivered> for CustomerGrain {
    type Reply = ();
    async fn handle(&mut self, e: Delivered, _: &Arc<Market>) {
        self.0.delivery_count += e.0;
    }
}

impl Handles<Dump> for CustomerGrain {
    type Reply = Customer;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Customer {
        self.0.clone()
    }
}
