//! The customer side's grains: cart, the cart's product replica, order, payment and customer.
//! Keys follow the Orleans implementation: one grain per customer for each of cart, order,
//! payment and customer; the replica is one grain per product.

use super::sellers::{
    Confirm, CreateShipment, EntryStatus, NewInvoice, Release, Reserve, SellerGrain, ShipmentGrain,
    StockGrain,
};
use super::{Dump, Market};
use crate::marketplace::logic::{
    NewOrder, advance, checkout_line, new_order, payment_lines, sellers_of, voucher,
};
use crate::marketplace::model::*;
use baseline::{Handles, ask, tell};
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;

type ProductKey = (SellerId, ProductId);

macro_rules! grain {
    ($g:ident, $service:literal, $key:ty, $dir:ident, |$k:ident, $w:ident| $init:expr) => {
        impl baseline::Grain for $g {
            const SERVICE: &'static str = $service;
            type Key = $key;
            type World = Market;
            fn directory(w: &Market) -> &baseline::Directory<Self> {
                &w.$dir
            }
            fn activate($k: &$key, $w: &Market) -> Self {
                $init
            }
        }
    };
}
pub(super) use grain;

// ---------------------------------------------------------------- replica

/// The cart service's copy of one product's name, price, freight and version, kept current by
/// one-way messages from the product grain (Orleans' stream replication).
pub struct ReplicaGrain(Option<ReplicaProduct>);
grain!(ReplicaGrain, "cart", ProductKey, replicas, |k, w| {
    ReplicaGrain(w.initial_product(k).map(ReplicaProduct::from))
});

pub struct GetReplica;
impl Handles<GetReplica> for ReplicaGrain {
    type Reply = Option<ReplicaProduct>;
    async fn handle(&mut self, _: GetReplica, _: &Arc<Market>) -> Option<ReplicaProduct> {
        self.0.clone()
    }
}

impl Handles<PriceUpdated> for ReplicaGrain {
    type Reply = ();
    /// The same rule as vMODB's replica: a price applies to the version it was set on.
    async fn handle(&mut self, e: PriceUpdated, _: &Arc<Market>) {
        if let Some(p) = self.0.as_mut().filter(|p| p.version == e.version) {
            p.price = e.price;
        }
    }
}

impl Handles<ProductReplaced> for ReplicaGrain {
    type Reply = ();
    async fn handle(&mut self, e: ProductReplaced, _: &Arc<Market>) {
        if let Some(p) = self.0.as_mut() {
            p.version = e.version;
        }
    }
}

impl Handles<Dump> for ReplicaGrain {
    type Reply = Option<ReplicaProduct>;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Option<ReplicaProduct> {
        self.0.clone()
    }
}

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
