//! The TPC-C data model: the nine tables with the specification's column names (lower case, so a
//! row serializes to exactly the columns of clause 1.3), and the events between the three
//! services (warehouse: warehouse, district, customer, history; inventory: item, stock; order:
//! orders, new_order, order_line). Money is `f64` rounded to cents; a null is `None`.

pub use super::chars::{Chars, prefix_within};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vmodb::Entity;

/// A long text a row shares with its other versions: `c_data` (up to 500 bytes, rewritten only
/// by payments of bad-credit customers). Inline, it would be copied on every customer update and
/// make every customer's slot in the store 500 bytes wide.
pub type SharedText = Arc<str>;

pub type WarehouseId = u32;
pub type DistrictId = u8;
pub type CustomerId = u32;
pub type ItemId = u32;
pub type OrderId = u32;

/// Districts per warehouse, customers per district, items, and initial orders per district.
pub const DISTRICTS: u8 = 10;
pub const CUSTOMERS_PER_DISTRICT: u32 = 3_000;
pub const ITEMS: u32 = 100_000;
pub const ORDERS_PER_DISTRICT: u32 = 3_000;
/// The last 900 initial orders of a district are undelivered (rows in NEW_ORDER).
pub const NEW_ORDERS_PER_DISTRICT: u32 = 900;

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
pub struct Warehouse {
    pub w_id: WarehouseId,
    pub w_name: Chars<10>,
    pub w_street_1: Chars<20>,
    pub w_street_2: Chars<20>,
    pub w_city: Chars<20>,
    pub w_state: Chars<2>,
    pub w_zip: Chars<9>,
    pub w_tax: f64,
    pub w_ytd: f64,
}
entity!(Warehouse, WarehouseId, |r| r.w_id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct District {
    pub d_id: DistrictId,
    pub d_w_id: WarehouseId,
    pub d_name: Chars<10>,
    pub d_street_1: Chars<20>,
    pub d_street_2: Chars<20>,
    pub d_city: Chars<20>,
    pub d_state: Chars<2>,
    pub d_zip: Chars<9>,
    pub d_tax: f64,
    pub d_ytd: f64,
    pub d_next_o_id: OrderId,
}
entity!(District, (WarehouseId, DistrictId), |r| (r.d_w_id, r.d_id));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub c_id: CustomerId,
    pub c_d_id: DistrictId,
    pub c_w_id: WarehouseId,
    pub c_first: Chars<16>,
    pub c_middle: Chars<2>,
    pub c_last: Chars<16>,
    pub c_street_1: Chars<20>,
    pub c_street_2: Chars<20>,
    pub c_city: Chars<20>,
    pub c_state: Chars<2>,
    pub c_zip: Chars<9>,
    pub c_phone: Chars<16>,
    /// Microseconds since the Unix epoch.
    pub c_since: u64,
    /// "GC" (good) or "BC" (bad).
    pub c_credit: Chars<2>,
    pub c_credit_lim: f64,
    pub c_discount: f64,
    pub c_balance: f64,
    pub c_ytd_payment: f64,
    pub c_payment_cnt: u32,
    pub c_delivery_cnt: u32,
    pub c_data: SharedText,
}
entity!(Customer, (WarehouseId, DistrictId, CustomerId), |r| (
    r.c_w_id, r.c_d_id, r.c_id
));

/// A history row. The specification gives HISTORY no primary key; `h_id` (the paying
/// transaction's TID, or a load sequence number) is the store's key and is not one of the
/// table's columns in dumps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub h_id: u64,
    pub h_c_id: CustomerId,
    pub h_c_d_id: DistrictId,
    pub h_c_w_id: WarehouseId,
    pub h_d_id: DistrictId,
    pub h_w_id: WarehouseId,
    pub h_date: u64,
    pub h_amount: f64,
    pub h_data: Chars<24>,
}
entity!(History, u64, |r| r.h_id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub i_id: ItemId,
    pub i_im_id: u32,
    pub i_name: Chars<24>,
    pub i_price: f64,
    pub i_data: Chars<50>,
}
entity!(Item, ItemId, |r| r.i_id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    pub s_i_id: ItemId,
    pub s_w_id: WarehouseId,
    pub s_quantity: i32,
    pub s_dist_01: Chars<24>,
    pub s_dist_02: Chars<24>,
    pub s_dist_03: Chars<24>,
    pub s_dist_04: Chars<24>,
    pub s_dist_05: Chars<24>,
    pub s_dist_06: Chars<24>,
    pub s_dist_07: Chars<24>,
    pub s_dist_08: Chars<24>,
    pub s_dist_09: Chars<24>,
    pub s_dist_10: Chars<24>,
    pub s_ytd: u32,
    pub s_order_cnt: u32,
    pub s_remote_cnt: u32,
    pub s_data: Chars<50>,
}
entity!(Stock, (WarehouseId, ItemId), |r| (r.s_w_id, r.s_i_id));

impl Stock {
    /// `s_dist_xx` for district `d` (1..=10).
    pub fn dist_info(&self, d: DistrictId) -> &Chars<24> {
        match d {
            1 => &self.s_dist_01,
            2 => &self.s_dist_02,
            3 => &self.s_dist_03,
            4 => &self.s_dist_04,
            5 => &self.s_dist_05,
            6 => &self.s_dist_06,
            7 => &self.s_dist_07,
            8 => &self.s_dist_08,
            9 => &self.s_dist_09,
            _ => &self.s_dist_10,
        }
    }
}

/// An ORDER row (the table is `orders`: `order` is a keyword of SQL).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub o_id: OrderId,
    pub o_d_id: DistrictId,
    pub o_w_id: WarehouseId,
    pub o_c_id: CustomerId,
    pub o_entry_d: u64,
    /// Null until delivered.
    pub o_carrier_id: Option<u8>,
    pub o_ol_cnt: u8,
    pub o_all_local: u8,
}
entity!(Order, (WarehouseId, DistrictId, OrderId), |r| (
    r.o_w_id, r.o_d_id, r.o_id
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    pub no_o_id: OrderId,
    pub no_d_id: DistrictId,
    pub no_w_id: WarehouseId,
}
entity!(NewOrder, (WarehouseId, DistrictId, OrderId), |r| (
    r.no_w_id, r.no_d_id, r.no_o_id
));

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub ol_o_id: OrderId,
    pub ol_d_id: DistrictId,
    pub ol_w_id: WarehouseId,
    pub ol_number: u8,
    pub ol_i_id: ItemId,
    pub ol_supply_w_id: WarehouseId,
    /// Null until delivered.
    pub ol_delivery_d: Option<u64>,
    pub ol_quantity: u8,
    pub ol_amount: f64,
    pub ol_dist_info: Chars<24>,
}
entity!(OrderLine, (WarehouseId, DistrictId, OrderId, u8), |r| (
    r.ol_w_id,
    r.ol_d_id,
    r.ol_o_id,
    r.ol_number
));

/// A New-Order line as its stock row priced it (clause 2.4.2.2): what the inventory part hands
/// the order part, which makes it an ORDER-LINE row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedLine {
    pub ol_i_id: ItemId,
    pub ol_supply_w_id: WarehouseId,
    pub ol_quantity: u8,
    pub ol_amount: f64,
    pub ol_dist_info: Chars<24>,
}

// ---------------------------------------------------------------- inputs (terminal → entry service)

/// How a Payment or OrderStatus names its customer (clause 2.5.1.2: 60% by last name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CustomerSelector {
    Id(CustomerId),
    /// The customer in the middle (rounded up) of those with this last name, sorted by c_first.
    LastName(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrderLineInput {
    pub ol_i_id: ItemId,
    pub ol_supply_w_id: WarehouseId,
    pub ol_quantity: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrderInput {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub c_id: CustomerId,
    pub lines: Vec<NewOrderLineInput>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentInput {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    /// The customer's warehouse and district (remote in 15% of payments with > 1 warehouse).
    pub c_w_id: WarehouseId,
    pub c_d_id: DistrictId,
    pub customer: CustomerSelector,
    pub h_amount: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderStatusInput {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub customer: CustomerSelector,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryInput {
    pub w_id: WarehouseId,
    pub o_carrier_id: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockLevelInput {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    /// 10..=20.
    pub threshold: i32,
}

// ---------------------------------------------------------------- results (for the client)

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrderResult {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub o_id: OrderId,
    pub c_id: CustomerId,
    pub ol_cnt: u8,
    /// Σ ol_amount × (1 − c_discount) × (1 + w_tax + d_tax).
    pub total_amount: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentResult {
    pub c_w_id: WarehouseId,
    pub c_d_id: DistrictId,
    pub c_id: CustomerId,
    pub c_balance: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderStatusResult {
    pub c_id: CustomerId,
    pub c_balance: f64,
    pub o_id: Option<OrderId>,
    pub o_carrier_id: Option<u8>,
    pub lines: Vec<OrderLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryResult {
    pub w_id: WarehouseId,
    /// Per district delivered: (d_id, o_id).
    pub delivered: Vec<(DistrictId, OrderId)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockLevelResult {
    pub low_stock: u32,
}
