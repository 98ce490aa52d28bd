//! The Online Marketplace data model: entities (column names as in the benchmark, snake_case) and
//! the events that flow between services. Shared by every system that runs the workload and by
//! the consistency checker.

mod messages;

pub use messages::*;
use serde::{Deserialize, Serialize};
use vmodb::Entity;

pub type SellerId = u32;
pub type ProductId = u32;
pub type CustomerId = u32;
pub type OrderId = u32;

pub const INVOICED: &str = "INVOICED";
pub const PAYMENT_PROCESSED: &str = "PAYMENT_PROCESSED";
pub const READY_FOR_SHIPMENT: &str = "READY_FOR_SHIPMENT";
pub const IN_TRANSIT: &str = "IN_TRANSIT";
pub const DELIVERED: &str = "DELIVERED";

/// Order lifecycle, in the only order it may advance (the benchmark's used path).
pub const ORDER_STATUSES: [&str; 5] = [
    INVOICED,
    PAYMENT_PROCESSED,
    READY_FOR_SHIPMENT,
    IN_TRANSIT,
    DELIVERED,
];

/// Position of an order status in its lifecycle (unknown statuses sort last).
pub fn status_rank(status: &str) -> usize {
    ORDER_STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(ORDER_STATUSES.len())
}

/// `YYYYMMDD` (UTC) of a timestamp in µs since the Unix epoch, as in the benchmark's invoice
/// numbers. Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn yyyymmdd(timestamp_us: u64) -> String {
    let z = (timestamp_us / 86_400_000_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}

macro_rules! entity {
    ($t:ty, $k:ty, |$r:ident| $key:expr) => {
        impl Entity for $t {
            type Key = $k;
            fn key(&self) -> $k {
                let $r = self;
                $key
            }
        }
    };
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Seller {
    pub id: SellerId,
    pub name: String,
    pub company_name: String,
    pub email: String,
    pub city: String,
    pub state: String,
}
entity!(Seller, SellerId, |r| r.id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub first_name: String,
    pub last_name: String,
    pub city: String,
    pub state: String,
    pub zip_code: String,
    pub card_number: String,
    pub card_type: String,
    pub success_payment_count: u64,
    pub failed_payment_count: u64,
    pub delivery_count: u64,
}
entity!(Customer, CustomerId, |r| r.id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub name: String,
    pub sku: String,
    pub category: String,
    pub price: f64,
    pub freight_value: f64,
    pub status: String,
    /// "0" at load; a replacement sets it to its TID.
    pub version: u64,
}
entity!(Product, (SellerId, ProductId), |r| (
    r.seller_id,
    r.product_id
));

/// The cart's copy of a product's price and version (`replica_of("product", "products")`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaProduct {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub name: String,
    pub category: String,
    pub price: f64,
    pub freight_value: f64,
    pub version: u64,
}
entity!(ReplicaProduct, (SellerId, ProductId), |r| (
    r.seller_id,
    r.product_id
));

impl From<&Product> for ReplicaProduct {
    fn from(p: &Product) -> Self {
        ReplicaProduct {
            seller_id: p.seller_id,
            product_id: p.product_id,
            name: p.name.clone(),
            category: p.category.clone(),
            price: p.price,
            freight_value: p.freight_value,
            version: p.version,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StockItem {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub qty_available: i64,
    pub qty_reserved: i64,
    pub order_count: i64,
    pub ytd: i64,
    pub data: String,
    pub version: u64,
}
entity!(StockItem, (SellerId, ProductId), |r| (
    r.seller_id,
    r.product_id
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CartItem {
    pub customer_id: CustomerId,
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
entity!(CartItem, (CustomerId, SellerId, ProductId), |r| (
    r.customer_id,
    r.seller_id,
    r.product_id
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub customer_id: CustomerId,
    pub id: OrderId,
    pub invoice_number: String,
    pub status: String,
    pub purchase_date: u64,
    /// The checkout's TID (the benchmark's instanceId).
    pub instance_id: u64,
    pub count_items: u32,
    pub total_amount: f64,
    pub total_freight: f64,
    pub total_incentive: f64,
    pub total_invoice: f64,
    pub total_items: f64,
}
entity!(Order, (CustomerId, OrderId), |r| (r.customer_id, r.id));

/// Per-customer order counter (order ids are a per-customer sequence 1, 2, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerOrder {
    pub customer_id: CustomerId,
    pub next_order_id: OrderId,
}
entity!(CustomerOrder, CustomerId, |r| r.customer_id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub order_item_id: u32,
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub product_name: String,
    /// Not in the benchmark's OrderItem: carried so that seller entries can show it.
    pub product_category: String,
    pub unit_price: f64,
    pub freight_value: f64,
    pub quantity: u32,
    /// unit_price × quantity.
    pub total_items: f64,
    /// total_items − voucher.
    pub total_amount: f64,
    pub voucher: f64,
    pub version: u64,
}
entity!(OrderItem, (CustomerId, OrderId, u32), |r| (
    r.customer_id,
    r.order_id,
    r.order_item_id
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderHistory {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub seq: u32,
    pub created_at: u64,
    pub status: String,
}
entity!(OrderHistory, (CustomerId, OrderId, u32), |r| (
    r.customer_id,
    r.order_id,
    r.seq
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderPayment {
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub payment_sequential: u32,
    /// CREDIT_CARD, DEBIT_CARD, BOLETO or VOUCHER.
    pub payment_type: String,
    pub installments: u32,
    pub value: f64,
    pub status: String,
}
entity!(OrderPayment, (CustomerId, OrderId, u32), |r| (
    r.customer_id,
    r.order_id,
    r.payment_sequential
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    /// The checkout's TID: shipments are created in this order, so it sorts oldest first.
    pub shipment_id: u64,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub package_count: u32,
    pub total_freight_value: f64,
    pub request_date: u64,
    /// approved, delivery_in_progress, concluded.
    pub status: String,
    pub open: bool,
}
entity!(Shipment, u64, |r| r.shipment_id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Package {
    pub shipment_id: u64,
    pub package_id: u32,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub product_name: String,
    pub freight_value: f64,
    pub quantity: u32,
    pub shipping_date: u64,
    /// 0 until delivered.
    pub delivery_date: u64,
    /// shipped, delivered.
    pub status: String,
}
entity!(Package, (u64, u32), |r| (r.shipment_id, r.package_id));

/// An order item seen from its seller (the dashboard's rows).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderEntry {
    pub seller_id: SellerId,
    pub customer_id: CustomerId,
    pub order_id: OrderId,
    pub product_id: ProductId,
    pub package_id: u32,
    pub product_name: String,
    pub product_category: String,
    pub unit_price: f64,
    pub quantity: u32,
    pub total_items: f64,
    pub total_amount: f64,
    pub total_incentive: f64,
    pub total_invoice: f64,
    pub freight_value: f64,
    pub order_status: String,
    pub delivery_status: String,
    pub instance_id: u64,
}
entity!(
    OrderEntry,
    (SellerId, CustomerId, OrderId, ProductId),
    |r| (r.seller_id, r.customer_id, r.order_id, r.product_id)
);

/// What the product service was given at ingestion: `reset` brings the product back to it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestedProduct {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub price: f64,
    pub version: u64,
}
entity!(IngestedProduct, (SellerId, ProductId), |r| (
    r.seller_id,
    r.product_id
));

impl From<&Product> for IngestedProduct {
    fn from(p: &Product) -> Self {
        IngestedProduct {
            seller_id: p.seller_id,
            product_id: p.product_id,
            price: p.price,
            version: p.version,
        }
    }
}

/// A stock row's counters as ingested: `reset` brings the stock row back to them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestedStock {
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub qty_available: i64,
    pub qty_reserved: i64,
    pub order_count: i64,
    pub ytd: i64,
    pub version: u64,
}
entity!(IngestedStock, (SellerId, ProductId), |r| (
    r.seller_id,
    r.product_id
));

impl From<&StockItem> for IngestedStock {
    fn from(s: &StockItem) -> Self {
        IngestedStock {
            seller_id: s.seller_id,
            product_id: s.product_id,
            qty_available: s.qty_available,
            qty_reserved: s.qty_reserved,
            order_count: s.order_count,
            ytd: s.ytd,
            version: s.version,
        }
    }
}

/// One line of a cart as it was checked out under the client's `instance_id` (the benchmark's
/// cart history, `GET /cart/{customerId}/history/{tid}`): kept only for checkouts that name
/// one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CartHistoryLine {
    pub customer_id: CustomerId,
    pub instance_id: String,
    pub seq: u32,
    pub seller_id: SellerId,
    pub product_id: ProductId,
    pub product_name: String,
    pub unit_price: f64,
    pub freight_value: f64,
    pub quantity: u32,
    pub voucher: f64,
    pub version: u64,
}
entity!(CartHistoryLine, (CustomerId, String, u32), |r| (
    r.customer_id,
    r.instance_id.clone(),
    r.seq
));

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil() {
        assert_eq!(super::yyyymmdd(0), "19700101");
        // 2026-11-26T07:00:00Z
        assert_eq!(super::yyyymmdd(1_795_676_400 * 1_000_000), "20261126");
        assert_eq!(super::yyyymmdd(951_782_400 * 1_000_000), "20000229");
    }
}
