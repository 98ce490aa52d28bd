//! The grains keyed by product or seller: product, the cart's replica of it and stock (one per
//! product), and seller (one per seller, with its dashboard entries). The customer side's grains
//! (`customers`) ask and tell these; these answer, and tell only each other.

use super::{Dump, Market, ProductKey};
use crate::marketplace::logic::{self, new_price, order_entry, reservable, sell};
use crate::marketplace::model::*;
use baseline::{Handles, ask, tell};
use std::collections::BTreeMap;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    /// Imports point one way: the customer side's grains ask and tell these, and these name
    /// none of theirs (a cycle between the two files would come back here first).
    #[test]
    fn the_seller_side_names_nothing_of_the_customer_side() {
        let code = include_str!("sellers.rs").split("#[cfg(test)]").next();
        let code = code.unwrap_or_default();
        let customer_side = [
            "customers::",
            "CartGrain",
            "OrderGrain",
            "PaymentGrain",
            "ShipmentGrain",
            "CustomerGrain",
        ];
        for name in customer_side {
            assert!(!code.contains(name), "sellers.rs names {name}");
        }
    }
}
