//! What travels: the clients' inputs to the entry services and the events between services.

use super::*;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- inputs (client → entry service)

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddItem {
    pub customer_id: CustomerId,
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub quantity: u32,
    pub voucher: Voucher,
}

/// The voucher a client asks for on a cart line (applied once per line, not × quantity, and
/// never more than the line's total: `logic::new_order`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Voucher {
    #[default]
    None,
    /// 10% of one unit's price as the cart knows it when the line is added (our generator).
    TenPercent,
    /// An amount the client chose: the benchmark's driver sends 10% of the price it believes.
    Amount(f64),
}

/// A session's items, added to the cart in one transaction (the benchmark's add-to-cart calls
/// are not measured and touch only the customer's own cart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddItems {
    pub customer_id: CustomerId,
    pub items: Vec<AddItem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkout {
    pub customer_id: CustomerId,
    /// The products the customer put in the cart this session; the checkout seals those lines.
    pub products: Vec<(SellerId, ProductId)>,
    pub payment_type: String,
    pub installments: u32,
    /// Abort the checkout when any item cannot be reserved (else: go on without it).
    pub all_or_nothing: bool,
    /// The client's name for this checkout (the benchmark's `instanceId`): if set, the cart
    /// keeps the lines it checked out under it (`CartHistoryLine`).
    pub instance_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceUpdate {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub change: PriceChange,
}

/// What a price update does to the price.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PriceChange {
    /// new = old × (1 + percent / 100): our generator's updates, so prices only rise.
    RaiseBy(u32),
    /// The new price itself, as the benchmark's driver sends it (`PATCH /product`).
    SetTo(f64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplaceProduct {
    pub seller_id: SellerId,
    pub product_id: ProductId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateDelivery {
    /// How many sellers' packages one delivery run delivers (the benchmark: 10).
    pub max_sellers: u32,
    /// The shipment partition this run delivers from (`shipment_partition` of the customers
    /// whose shipments it may pick), as the Orleans implementation spreads deliveries over
    /// partitions; `None`: one run over every open shipment (the benchmark's HTTP request).
    #[serde(default)]
    pub partition: Option<u32>,
}

/// Shipments are partitioned by customer into this many partitions (as in Orleans); the driver
/// gives delivery runs their partitions round robin.
pub const SHIPMENT_PARTITIONS: u32 = 100;

/// The shipment partition of a customer's shipments.
pub fn shipment_partition(customer_id: CustomerId) -> u32 {
    customer_id % SHIPMENT_PARTITIONS
}

/// `PATCH /reset` and `/cleanup` between the benchmark's runs: one transaction through every
/// service (`services::RESET`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reset {
    /// Back to the data as ingested: products and stock as they were given, customers'
    /// counters 0, and every cart, order, payment, shipment and seller entry gone.
    ToIngested,
    /// Everything gone, the ingested data too: the cluster is as if started empty.
    Empty,
}

// ---------------------------------------------------------------- events between services

/// A reset as the product service did it, for every other service: with `ToIngested`, the
/// prices and versions the products went back to (the cart's replica follows them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataReset {
    pub to: Reset,
    pub products: Vec<IngestedProduct>,
}

/// A cart line as it travels from cart to stock to order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub product_name: String,
    pub product_category: String,
    pub unit_price: f64,
    pub freight_value: f64,
    pub quantity: u32,
    pub voucher: f64,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReserveStock {
    pub customer_id: CustomerId,
    pub payment_type: String,
    pub installments: u32,
    pub items: Vec<Line>,
    /// Copied from the checkout.
    pub all_or_nothing: bool,
}

/// What stock reserved: only the reservable lines.
pub type StockConfirmed = ReserveStock;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub invoice_number: String,
    pub payment_type: String,
    pub installments: u32,
    pub total_invoice: f64,
    /// Order items with their ids and amounts.
    pub items: Vec<OrderItem>,
}

pub type PaymentConfirmed = InvoiceIssued;

/// A paid invoice whose shipment was approved (the benchmark's ShipmentNotification, approved).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShipmentApproved {
    pub shipment_id: u64,
    pub invoice: PaymentConfirmed,
}

/// The checkout's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckoutDone {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub shipment_id: u64,
    pub items: u32,
    pub sellers: Vec<SellerId>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceUpdated {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub price: f64,
    pub version: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductReplaced {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub version: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveredPackage {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub package_id: u32,
}

/// An order touched by a delivery run, with every seller of its shipment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRef {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub sellers: Vec<SellerId>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deliveries {
    pub delivered: Vec<DeliveredPackage>,
    /// Orders whose shipment this run started (first delivery).
    pub in_transit: Vec<OrderRef>,
    /// Orders whose shipment this run completed.
    pub concluded: Vec<OrderRef>,
}

/// The seller dashboard: the seller's entries (those of orders not yet delivered) and aggregates
/// over them, from one snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub seller_id: SellerId,
    /// The TID of the committed snapshot the answer was read at.
    pub snapshot_tid: u64,
    pub count_orders: u64,
    pub count_items: u64,
    pub total_amount: f64,
    pub total_freight: f64,
    pub total_incentive: f64,
    pub total_invoice: f64,
    pub total_items: f64,
    pub entries: Vec<OrderEntry>,
}
