//! Request and answer bodies of the benchmark's API: its field names and casings, converted to
//! our inputs and rows.

use crate::marketplace::model::{
    CartHistoryLine, Customer, CustomerId, Product, ProductId, Seller, SellerId, StockItem,
};
use serde::{Deserialize, Deserializer, Serialize};

/// The benchmark's CartItem.
#[derive(Deserialize)]
pub(super) struct CartItemBody {
    #[serde(alias = "SellerId", alias = "sellerId")]
    pub(super) seller_id: SellerId,
    #[serde(alias = "ProductId", alias = "productId")]
    pub(super) product_id: ProductId,
    #[serde(alias = "Quantity")]
    pub(super) quantity: u32,
    /// An amount in the benchmark (`true` asks for 10% of the price); absent: none.
    #[serde(default, alias = "Voucher")]
    pub(super) voucher: serde_json::Value,
}

/// The benchmark's CustomerCheckout, what we use of it.
#[derive(Deserialize)]
pub(super) struct CheckoutBody {
    #[serde(default, alias = "CustomerId", alias = "customerId")]
    pub(super) customer_id: Option<CustomerId>,
    #[serde(alias = "PaymentType", alias = "paymentType")]
    pub(super) payment_type: String,
    #[serde(default, alias = "Installments")]
    pub(super) installments: u32,
    #[serde(default, alias = "AllOrNothing", alias = "allOrNothing")]
    pub(super) all_or_nothing: bool,
    #[serde(
        default,
        alias = "instanceId",
        alias = "InstanceId",
        deserialize_with = "number_or_string"
    )]
    pub(super) instance_id: Option<String>,
}

/// The benchmark's PriceUpdate (`price`), or ours (`percent`).
#[derive(Deserialize)]
pub(super) struct PriceBody {
    #[serde(alias = "sellerId", alias = "SellerId")]
    pub(super) seller_id: SellerId,
    #[serde(alias = "productId", alias = "ProductId")]
    pub(super) product_id: ProductId,
    #[serde(default, alias = "Percent")]
    pub(super) percent: Option<u32>,
    #[serde(default, alias = "Price")]
    pub(super) price: Option<f64>,
}

/// A product with a new version: only its key is used.
#[derive(Deserialize)]
pub(super) struct ProductKeyBody {
    #[serde(alias = "sellerId", alias = "SellerId")]
    pub(super) seller_id: SellerId,
    #[serde(alias = "productId", alias = "ProductId")]
    pub(super) product_id: ProductId,
}

/// An ingested seller (the benchmark's snake_case columns; the rest are ignored).
#[derive(Deserialize)]
pub(super) struct SellerBody {
    pub(super) id: SellerId,
    pub(super) name: String,
    #[serde(default)]
    pub(super) company_name: String,
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) city: String,
    #[serde(default)]
    pub(super) state: String,
}

impl From<SellerBody> for Seller {
    fn from(b: SellerBody) -> Seller {
        Seller {
            id: b.id,
            name: b.name,
            company_name: b.company_name,
            email: b.email,
            city: b.city,
            state: b.state,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CustomerBody {
    pub(super) id: CustomerId,
    #[serde(default)]
    pub(super) first_name: String,
    #[serde(default)]
    pub(super) last_name: String,
    #[serde(default)]
    pub(super) city: String,
    #[serde(default)]
    pub(super) state: String,
    #[serde(default)]
    pub(super) zip_code: String,
    #[serde(default)]
    pub(super) card_number: String,
    #[serde(default)]
    pub(super) card_type: String,
    #[serde(default)]
    pub(super) success_payment_count: u64,
    #[serde(default)]
    pub(super) failed_payment_count: u64,
    #[serde(default)]
    pub(super) delivery_count: u64,
}

impl From<CustomerBody> for Customer {
    fn from(b: CustomerBody) -> Customer {
        Customer {
            id: b.id,
            first_name: b.first_name,
            last_name: b.last_name,
            city: b.city,
            state: b.state,
            zip_code: b.zip_code,
            card_number: b.card_number,
            card_type: b.card_type,
            success_payment_count: b.success_payment_count,
            failed_payment_count: b.failed_payment_count,
            delivery_count: b.delivery_count,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ProductBody {
    pub(super) seller_id: SellerId,
    pub(super) product_id: ProductId,
    pub(super) name: String,
    #[serde(default)]
    pub(super) sku: String,
    #[serde(default)]
    pub(super) category: String,
    pub(super) price: f64,
    #[serde(default)]
    pub(super) freight_value: f64,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default, deserialize_with = "version")]
    pub(super) version: u64,
}

impl From<ProductBody> for Product {
    fn from(b: ProductBody) -> Product {
        Product {
            seller_id: b.seller_id,
            product_id: b.product_id,
            name: b.name,
            sku: b.sku,
            category: b.category,
            price: b.price,
            freight_value: b.freight_value,
            status: b.status,
            version: b.version,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct StockBody {
    pub(super) seller_id: SellerId,
    pub(super) product_id: ProductId,
    pub(super) qty_available: i64,
    #[serde(default)]
    pub(super) qty_reserved: i64,
    #[serde(default)]
    pub(super) order_count: i64,
    #[serde(default)]
    pub(super) ytd: i64,
    #[serde(default)]
    pub(super) data: String,
    #[serde(default, deserialize_with = "version")]
    pub(super) version: u64,
}

impl From<StockBody> for StockItem {
    fn from(b: StockBody) -> StockItem {
        StockItem {
            seller_id: b.seller_id,
            product_id: b.product_id,
            qty_available: b.qty_available,
            qty_reserved: b.qty_reserved,
            order_count: b.order_count,
            ytd: b.ytd,
            data: b.data,
            version: b.version,
        }
    }
}

/// A string or a number, as text (the benchmark's ids are strings, ours numbers).
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a string or a number, got {other}"
        ))),
    }
}

/// A version: the benchmark sends a numeric string ("0"), we a number.
fn version<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom(format!("version {n} is not a whole number"))),
        serde_json::Value::String(s) => s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("version `{s}` is not a non-negative integer"))
        }),
        other => Err(serde::de::Error::custom(format!(
            "expected a version (a number or a numeric string), got {other}"
        ))),
    }
}

/// A cart line as the benchmark shows it (its CartItem).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CartItemView {
    pub(super) seller_id: SellerId,
    pub(super) product_id: ProductId,
    pub(super) product_name: String,
    pub(super) unit_price: f64,
    pub(super) freight_value: f64,
    pub(super) quantity: u32,
    pub(super) voucher: f64,
    pub(super) version: String,
}

impl From<CartHistoryLine> for CartItemView {
    fn from(l: CartHistoryLine) -> Self {
        CartItemView {
            seller_id: l.seller_id,
            product_id: l.product_id,
            product_name: l.product_name,
            unit_price: l.unit_price,
            freight_value: l.freight_value,
            quantity: l.quantity,
            voucher: l.voucher,
            version: l.version.to_string(),
        }
    }
}
