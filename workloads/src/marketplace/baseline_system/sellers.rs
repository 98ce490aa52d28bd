//! The seller side's grains: product and stock (one per product), seller (one per seller, with
//! its dashboard entries), and shipment (a fixed number of partitions by customer).

use super::customers::{Delivered, OrderGrain, ReplicaGrain, SetStatus, grain};
use super::{Dump, Market};
use crate::marketplace::logic::{
    self, checkout_done, new_price, new_shipment, order_entry, reservable, sell, sellers_of,
};
use crate::marketplace::model::*;
use baseline::{Handles, ask, tell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

type ProductKey = (SellerId, ProductId);

// ---------------------------------------------------------------- product

pub struct ProductGrain(Option<Product>);
grain!(ProductGrain, "product", ProductKey, products, |k, w| {
    ProductGrain(w.initial_product(k).cloned())
});

impl Handles<PriceUpdate> for ProductGrain {
    type Reply = Result<(u64, PriceUpdated), String>;
    /// Sets the price, then tells the cart's replica (one-way, eventually).
    async fn handle(&mut self, e: PriceUpdate, w: &Arc<Market>) -> Self::Reply {
        let p = self.0.as_mut().ok_or("product not found")?;
        p.price = new_price(p.price, e.change)?;
        let tid = w.silo.tick();
        let out = PriceUpdated {
            seller_id: p.seller_id,
            product_id: p.product_id,
            price: p.price,
            version: p.version,
        };
        tell::<ReplicaGrain, _>(w, &(p.seller_id, p.product_id), out.clone());
        Ok((tid, out))
    }
}

impl Handles<ReplaceProduct> for ProductGrain {
    type Reply = Result<(u64, ProductReplaced), String>;
    /// Replaces the product (a new version), awaits the stock's version update, then tells the
    /// cart's replica (one-way), as Orleans' `ProductActor.ProcessProductUpdate`.
    async fn handle(&mut self, _: ReplaceProduct, w: &Arc<Market>) -> Self::Reply {
        let p = self.0.as_mut().ok_or("product not found")?;
        let tid = w.silo.tick();
        p.version = tid;
        let out = ProductReplaced {
            seller_id: p.seller_id,
            product_id: p.product_id,
            version: p.version,
        };
        let key = (p.seller_id, p.product_id);
        ask::<StockGrain, _>(w, &key, out.clone())
            .await
            .map_err(|e| e.to_string())?;
        tell::<ReplicaGrain, _>(w, &key, out.clone());
        Ok((tid, out))
    }
}

impl Handles<Dump> for ProductGrain {
    type Reply = Option<Product>;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Option<Product> {
        self.0.clone()
    }
}

// ---------------------------------------------------------------- stock

pub struct StockGrain(Option<StockItem>);
grain!(StockGrain, "stock", ProductKey, stock, |k, w| StockGrain(
    w.initial_stock(k).cloned()
));

/// Reserve a line's units: `false` if the product was replaced or is out of stock.
pub struct Reserve(pub Line);
impl Handles<Reserve> for StockGrain {
    type Reply = bool;
    async fn handle(&mut self, Reserve(line): Reserve, _: &Arc<Market>) -> bool {
        match self.0.as_mut() {
            Some(s) if reservable(s, &line) => {
                s.qty_reserved += i64::from(line.quantity);
                true
            }
            _ => false,
        }
    }
}

/// Give back a reservation of this many units (an all-or-nothing checkout that could not
/// reserve every line compensates the lines it did reserve).
pub struct Release(pub u32);
impl Handles<Release> for StockGrain {
    type Reply = ();
    async fn handle(&mut self, Release(qty): Release, _: &Arc<Market>) {
        if let Some(s) = self.0.as_mut() {
            s.qty_reserved -= i64::from(qty);
        }
    }
}

/// Confirm a reservation of this many units after payment: they leave the stock.
pub struct Confirm(pub u32);
impl Handles<Confirm> for StockGrain {
    type Reply = ();
    async fn handle(&mut self, Confirm(qty): Confirm, _: &Arc<Market>) {
        if let Some(s) = self.0.as_mut() {
            s.qty_reserved -= i64::from(qty);
            sell(s, qty);
        }
    }
}

impl Handles<ProductReplaced> for StockGrain {
    type Reply = ();
    async fn handle(&mut self, e: ProductReplaced, _: &Arc<Market>) {
        if let Some(s) = self.0.as_mut() {
            s.version = e.version;
        }
    }
}

impl Handles<Dump> for StockGrain {
    type Reply = Option<StockItem>;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Option<StockItem> {
        self.0.clone()
    }
}

// ---------------------------------------------------------------- seller

pub struct SellerGrain {
    seller: SellerId,
    entries: BTreeMap<(CustomerId, OrderId, ProductId), OrderEntry>,
}
grain!(SellerGrain, "seller", SellerId, sellers, |k, _w| {
    SellerGrain {
        seller: *k,
        entries: BTreeMap::new(),
    }
});

/// One-way: a new order's items of this seller.
pub struct NewInvoice {
    pub invoice: InvoiceIssued,
    pub tid: u64,
}

impl Handles<NewInvoice> for SellerGrain {
    type Reply = ();
    async fn handle(&mut self, e: NewInvoice, _: &Arc<Market>) {
        for i in &e.invoice.items {
            let key = (e.invoice.customer_id, e.invoice.order_id, i.product_id);
            self.entries
                .entry(key)
                .or_insert_with(|| order_entry(&e.invoice, i, e.tid, INVOICED));
        }
    }
}

/// One-way: this seller's package of an order was delivered.
pub struct EntryDelivered(pub DeliveredPackage);
impl Handles<EntryDelivered> for SellerGrain {
    type Reply = ();
    async fn handle(&mut self, EntryDelivered(d): EntryDelivered, _: &Arc<Market>) {
        // An entry whose invoice has not arrived yet misses this notification for good.
        if let Some(e) = self
            .entries
            .get_mut(&(d.customer_id, d.order_id, d.product_id))
        {
            e.delivery_status = "delivered".into();
        }
    }
}

/// One-way: an order's status changed (applied in arrival order; an entry whose invoice has not
/// arrived yet misses it).
pub struct EntryStatus {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub status: &'static str,
}

impl Handles<EntryStatus> for SellerGrain {
    type Reply = ();
    async fn handle(&mut self, e: EntryStatus, _: &Arc<Market>) {
        let range = (e.customer_id, e.order_id, 0)..=(e.customer_id, e.order_id, ProductId::MAX);
        for (_, entry) in self.entries.range_mut(range) {
            entry.order_status = e.status.to_string();
        }
    }
}

/// One-way: an order was delivered; its entries leave the seller (every seller of the
/// shipment is told, unlike Orleans, which tells only the last one).
pub struct OrderConcluded {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
}

impl Handles<OrderConcluded> for SellerGrain {
    type Reply = ();
    async fn handle(&mut self, e: OrderConcluded, _: &Arc<Market>) {
        // An invoice that arrives after this stays for good, as in Orleans.
        let range = (e.customer_id, e.order_id, 0)..=(e.customer_id, e.order_id, ProductId::MAX);
        let keys: Vec<_> = self.entries.range(range).map(|(k, _)| *k).collect();
        for k in keys {
            self.entries.remove(&k);
        }
    }
}

/// The dashboard query.
pub struct GetDashboard;
impl Handles<GetDashboard> for SellerGrain {
    type Reply = Dashboard;
    /// One turn over the grain's own entries: consistent with itself, not with other services.
    async fn handle(&mut self, _: GetDashboard, w: &Arc<Market>) -> Dashboard {
        let entries = self.entries.values().cloned().collect();
        logic::dashboard(self.seller, entries, w.silo.tick())
    }
}

impl Handles<Dump> for SellerGrain {
    type Reply = Vec<OrderEntry>;
    async fn handle(&mut self, _: Dump, _: &Arc<Market>) -> Vec<OrderEntry> {
        self.entries.values().cloned().collect()
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
                    p.status = "delivered".into();
                    p.delivery_date = now;
                    out.delivered.push(DeliveredPackage {
                        customer_id: p.customer_id,
                        order_id: p.order_id,
                        seller_id: p.seller_id,
                        product_id: p.product_id,
                        package_id: p.package_id,
                    });
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
        tell::<super::customers::CustomerGrain, _>(w, &p.customer_id, Delivered(1));
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
