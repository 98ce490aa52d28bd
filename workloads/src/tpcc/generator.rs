//! TPC-C's initial population (clause 4.3.3.1) and input generation (clauses 2.4–2.8), seeded.
//!
//! **Population.** [`populate`] builds every table for a [`TpccScale`] — the specification's
//! cardinalities ([`TpccScale::spec`]) or the same proportions scaled down for tests
//! ([`TpccScale::small`]) — as a pure function of the seed: rows in key order, the load time a
//! constant ([`LOAD_TIME`]; the wall clock is never read). Each table of each warehouse draws from
//! its own seeded stream, so one warehouse's rows do not depend on how many others there are.
//! Random strings are alphanumeric (ASCII letters and digits); `w_state`, `d_state` and `c_state`
//! are two upper-case letters; zip codes are 4 random digits and "11111" (clause 4.3.2.7).
//! Money is cents as `f64` (`x / 100.0`); taxes and discounts have 4 decimals. HISTORY has no key
//! in the specification: the initial rows get `h_id` 1, 2, … in load order (warehouse, district,
//! customer).
//!
//! **NURand** (clause 2.1.6). [`nurand`] is the specification's function. The constants `C` come
//! from the seed: [`NuRandConstants::load`] (used for `c_last` at load) and
//! [`NuRandConstants::run`] (used by the input generator), whose `c_last` differs from the load's
//! by a delta in 65..=119 other than 96 and 112 (clause 2.1.6.1). Both derive from the same seed,
//! so the population and the input stream must be generated with the same seed for that rule to
//! hold. When a table is scaled down below the specification's range, the input generator scales
//! `A` down with it ([`scaled_a`]: the largest 2^k − 1 not above min(A, y − x)), so that the OR
//! keeps its skew instead of saturating the range; at the specification's scale `A` is
//! unchanged (255, 1023, 8191).
//!
//! **Inputs.** [`TpccInputGenerator::next_op`] draws a transaction type from a [`TpccMix`]
//! (weights; [`TpccMix::standard`] is 45/43/4/4/4) and its input for a terminal. A terminal's
//! home warehouse is `terminal % warehouses + 1` and its home district (Stock-Level's district,
//! clause 2.8.1.2) `(terminal / warehouses) % 10 + 1` ([`terminal_home`]). The stream is a pure
//! function of (scale, mix, seed, the sequence of terminal ids asked): it never looks at what is
//! in flight or what completed.
//!
//! - New-Order (2.4.1): district 1..=10, customer NURand(1023, 1, customers), 5..=15 lines, item
//!   NURand(8191, 1, items), quantity 1..=10, supplying warehouse the home warehouse for 99% of
//!   lines and another random warehouse for 1% (with more than one warehouse). Departure from the
//!   specification: the items of one order are distinct (a repeated draw is drawn again), which
//!   keeps the services keyed by item simple. The 1% of New-Orders that roll back on an unused
//!   item id (2.4.1.4) are not generated yet: they wait for cross-service aborts
//!   ([`GENERATE_ROLLBACKS`] is `false`).
//! - Payment (2.5.1): district 1..=10; the customer's warehouse is the home warehouse for 85% and
//!   another random warehouse (with a random district) for 15% (with more than one warehouse);
//!   60% by last name (the name of NURand(255, 0, min(999, customers − 1)), which always exists),
//!   40% by id NURand(1023, 1, customers); amount 1.00..=5,000.00.
//! - Order-Status (2.6.1): district 1..=10 at the home warehouse, customer as for Payment.
//! - Delivery (2.7.1): carrier 1..=10.
//! - Stock-Level (2.8.1): the terminal's home district, threshold 10..=20.

use super::TpccState;
use super::model::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The load time of the initial population (2024-01-01T00:00:00Z, microseconds since the Unix
/// epoch): `c_since`, `h_date`, `o_entry_d` and the delivered lines' `ol_delivery_d`. A constant,
/// so that the population is a function of the seed.
pub const LOAD_TIME: u64 = 1_704_067_200_000_000;

/// Whether 1% of New-Orders carry an unused item id to roll back (clause 2.4.1.4). Off until the
/// services support cross-service aborts.
pub const GENERATE_ROLLBACKS: bool = false;

// ---------------------------------------------------------------- scale

/// Data set size. The number of districts per warehouse is always [`DISTRICTS`] (10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpccScale {
    pub warehouses: u32,
    pub items: u32,
    pub customers_per_district: u32,
    /// Initial orders per district (their customers are a permutation of the district's).
    pub orders_per_district: u32,
    /// The last this many initial orders of each district are undelivered (NEW_ORDER rows).
    pub new_orders_per_district: u32,
}

impl TpccScale {
    /// The specification's cardinalities (clause 4.3.3.1): 100,000 items; per district 3,000
    /// customers and 3,000 orders, the last 900 of them new.
    pub fn spec(warehouses: u32) -> Self {
        TpccScale {
            warehouses,
            items: ITEMS,
            customers_per_district: CUSTOMERS_PER_DISTRICT,
            orders_per_district: ORDERS_PER_DISTRICT,
            new_orders_per_district: NEW_ORDERS_PER_DISTRICT,
        }
    }

    /// A small data set with the specification's proportions, for tests: 1,000 items; per
    /// district 30 customers and 30 orders, the last 9 of them new.
    pub fn small(warehouses: u32) -> Self {
        TpccScale {
            warehouses,
            items: 1_000,
            customers_per_district: 30,
            orders_per_district: 30,
            new_orders_per_district: 9,
        }
    }

    /// At least one warehouse, customer, order and new order; at least 15 items (a New-Order
    /// has up to 15 distinct items); new orders ≤ orders ≤ customers (the initial orders'
    /// customers are a permutation of the district's customers).
    pub fn validate(&self) -> Result<(), String> {
        if self.warehouses == 0 {
            return Err("TPC-C needs at least 1 warehouse".into());
        }
        if self.items < 15 {
            return Err(format!(
                "TPC-C needs at least 15 items (a New-Order has up to 15 distinct items), got {}",
                self.items
            ));
        }
        if self.customers_per_district == 0 {
            return Err("TPC-C needs at least 1 customer per district".into());
        }
        if self.orders_per_district == 0 || self.new_orders_per_district == 0 {
            return Err("TPC-C needs at least 1 order and 1 new order per district".into());
        }
        if self.new_orders_per_district > self.orders_per_district {
            return Err(format!(
                "new orders per district ({}) exceed orders per district ({})",
                self.new_orders_per_district, self.orders_per_district
            ));
        }
        if self.orders_per_district > self.customers_per_district {
            return Err(format!(
                "orders per district ({}) exceed customers per district ({}): the initial \
                 orders' customers are a permutation of the district's customers",
                self.orders_per_district, self.customers_per_district
            ));
        }
        Ok(())
    }

    /// The first undelivered initial order of a district (2,101 at the specification's scale).
    pub fn first_new_order_id(&self) -> OrderId {
        self.orders_per_district - self.new_orders_per_district + 1
    }
}

// ---------------------------------------------------------------- NURand and names

/// The syllables of clause 4.3.2.3.
const SYLLABLES: [&str; 10] = [
    "BAR", "OUGHT", "ABLE", "PRI", "PRES", "ESE", "ANTI", "CALLY", "ATION", "EING",
];

/// The customer last name of a number 0..=999 (clause 4.3.2.3): the syllables of its three
/// digits, e.g. 371 → "PRICALLYOUGHT". Larger numbers use their last three digits.
pub fn last_name(n: u32) -> String {
    let n = n % 1000;
    let mut s = String::with_capacity(15);
    for d in [n / 100, n / 10 % 10, n % 10] {
        s.push_str(SYLLABLES[d as usize]);
    }
    s
}

/// NURand(A, x, y) = (((random(0, A) | random(x, y)) + C) % (y − x + 1)) + x (clause 2.1.6).
/// Requires x ≤ y.
pub fn nurand<R: Rng + ?Sized>(rng: &mut R, a: u32, c: u32, x: u32, y: u32) -> u32 {
    debug_assert!(x <= y);
    let r = rng.random_range(0..=a) | rng.random_range(x..=y);
    let span = u64::from(y - x) + 1;
    ((u64::from(r) + u64::from(c)) % span) as u32 + x
}

/// `A` for NURand over x..=y, scaled down for a range smaller than the specification's: the
/// largest 2^k − 1 not above min(a, y − x) (0 when x = y). Unchanged at the specification's
/// scale (255 over 0..=999, 1023 over 1..=3,000, 8191 over 1..=100,000).
pub fn scaled_a(a: u32, x: u32, y: u32) -> u32 {
    let m = a.min(y.saturating_sub(x));
    if m == u32::MAX {
        return m;
    }
    // The largest 2^k − 1 ≤ m: all ones below m + 1's highest bit.
    let top = 1u64 << (31 - (m + 1).leading_zeros());
    (top - 1) as u32
}

/// The NURand run-time constants C (clause 2.1.6): for C_LAST (A = 255), C_ID (A = 1023) and
/// OL_I_ID (A = 8191), each within 0..=A.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NuRandConstants {
    pub c_last: u32,
    pub c_id: u32,
    pub ol_i_id: u32,
}

impl NuRandConstants {
    /// The constants of the load for a seed (only `c_last` is used: the initial last names).
    pub fn load(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, TAG_NURAND, 0));
        NuRandConstants {
            c_last: rng.random_range(0..=255),
            c_id: rng.random_range(0..=1023),
            ol_i_id: rng.random_range(0..=8191),
        }
    }

    /// The constants of the run for a seed: `c_last` differs from [`Self::load`]'s by a valid
    /// delta (clause 2.1.6.1, [`Self::valid_c_last_delta`]); `c_id` and `ol_i_id` are drawn
    /// independently.
    pub fn run(seed: u64) -> Self {
        let load = Self::load(seed);
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, TAG_NURAND, 1));
        let c_last = loop {
            let c = rng.random_range(0..=255);
            if Self::valid_c_last_delta(load.c_last, c) {
                break c;
            }
        };
        NuRandConstants {
            c_last,
            c_id: rng.random_range(0..=1023),
            ol_i_id: rng.random_range(0..=8191),
        }
    }

    /// Clause 2.1.6.1: |C_LAST(run) − C_LAST(load)| is within 65..=119 and is neither 96 nor
    /// 112.
    pub fn valid_c_last_delta(load: u32, run: u32) -> bool {
        let delta = load.abs_diff(run);
        (65..=119).contains(&delta) && delta != 96 && delta != 112
    }
}

// ---------------------------------------------------------------- random data

const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

const TAG_NURAND: u64 = 1;
const TAG_ITEM: u64 = 2;
const TAG_WAREHOUSE: u64 = 3;
const TAG_STOCK: u64 = 4;
const TAG_CUSTOMER: u64 = 5;
const TAG_ORDER: u64 = 6;
const TAG_INPUT: u64 = 7;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of one stream (a table of one warehouse, the constants, the inputs).
fn derive_seed(seed: u64, tag: u64, index: u64) -> u64 {
    splitmix64(seed ^ splitmix64((tag << 40) ^ index))
}

fn rng_for(seed: u64, tag: u64, index: u32) -> StdRng {
    StdRng::seed_from_u64(derive_seed(seed, tag, u64::from(index)))
}

/// A random a-string of exactly `len` alphanumeric characters.
fn alnum(rng: &mut StdRng, len: usize) -> String {
    let bytes: Vec<u8> = (0..len)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())])
        .collect();
    String::from_utf8(bytes).expect("ASCII")
}

/// A random a-string [min..max] (clause 4.3.2.2).
fn astring(rng: &mut StdRng, min: usize, max: usize) -> String {
    let len = rng.random_range(min..=max);
    alnum(rng, len)
}

/// A random n-string of exactly `len` digits.
fn nstring(rng: &mut StdRng, len: usize) -> String {
    let bytes: Vec<u8> = (0..len).map(|_| b'0' + rng.random_range(0..10u8)).collect();
    String::from_utf8(bytes).expect("ASCII")
}

/// Two random upper-case letters.
fn state_code(rng: &mut StdRng) -> String {
    let bytes: Vec<u8> = (0..2).map(|_| b'A' + rng.random_range(0..26u8)).collect();
    String::from_utf8(bytes).expect("ASCII")
}

/// 4 random digits and "11111" (clause 4.3.2.7).
fn zip(rng: &mut StdRng) -> String {
    let mut z = nstring(rng, 4);
    z.push_str("11111");
    z
}

/// A random a-string [26..50]; 10% of them hold "ORIGINAL" at a random position (clause
/// 4.3.3.1, I_DATA and S_DATA).
fn data_with_original(rng: &mut StdRng) -> String {
    let mut s = astring(rng, 26, 50);
    if rng.random_range(0..10) == 0 {
        let at = rng.random_range(0..=s.len() - 8);
        s.replace_range(at..at + 8, "ORIGINAL");
    }
    s
}

/// Uniform cents lo..=hi as money.
fn money(rng: &mut StdRng, lo_cents: u32, hi_cents: u32) -> f64 {
    f64::from(rng.random_range(lo_cents..=hi_cents)) / 100.0
}

/// Uniform 0.0000..=max/10,000 (a tax or a discount).
fn rate(rng: &mut StdRng, max_ten_thousandths: u32) -> f64 {
    f64::from(rng.random_range(0..=max_ten_thousandths)) / 10_000.0
}

// ---------------------------------------------------------------- population

/// The initial population (clause 4.3.3.1) of `scale`, a function of the seed; rows in key
/// order. Panics if the scale does not [`TpccScale::validate`].
pub fn populate(scale: &TpccScale, seed: u64) -> TpccState {
    if let Err(e) = scale.validate() {
        panic!("invalid TPC-C scale: {e}");
    }
    let load = NuRandConstants::load(seed);
    let w_count = scale.warehouses as usize;
    let districts = w_count * usize::from(DISTRICTS);
    let customers = districts * scale.customers_per_district as usize;
    let orders = districts * scale.orders_per_district as usize;
    let mut state = TpccState {
        warehouses: Vec::with_capacity(w_count),
        districts: Vec::with_capacity(districts),
        customers: Vec::with_capacity(customers),
        history: Vec::with_capacity(customers),
        items: populate_items(scale, seed),
        stock: Vec::with_capacity(w_count * scale.items as usize),
        orders: Vec::with_capacity(orders),
        new_orders: Vec::with_capacity(districts * scale.new_orders_per_district as usize),
        order_lines: Vec::with_capacity(orders * 10),
    };
    for w_id in 1..=scale.warehouses {
        populate_warehouse(scale, seed, w_id, &mut state);
        populate_stock(scale, seed, w_id, &mut state.stock);
        populate_customers(scale, seed, w_id, &load, &mut state);
        populate_orders(scale, seed, w_id, &mut state);
    }
    state
}

fn populate_items(scale: &TpccScale, seed: u64) -> Vec<Item> {
    let mut rng = rng_for(seed, TAG_ITEM, 0);
    (1..=scale.items)
        .map(|i_id| Item {
            i_id,
            i_im_id: rng.random_range(1..=10_000),
            i_name: astring(&mut rng, 14, 24).into(),
            i_price: money(&mut rng, 100, 10_000),
            i_data: data_with_original(&mut rng).into(),
        })
        .collect()
}

fn populate_warehouse(scale: &TpccScale, seed: u64, w_id: WarehouseId, state: &mut TpccState) {
    let mut rng = rng_for(seed, TAG_WAREHOUSE, w_id);
    // The spec's 30,000.00 and 300,000.00 are the initial history (10.00 per customer) summed,
    // which conditions 8 and 9 require; a scaled-down load scales them with its customers.
    let d_ytd = f64::from(scale.customers_per_district) * 10.0;
    state.warehouses.push(Warehouse {
        w_id,
        w_name: astring(&mut rng, 6, 10),
        w_street_1: astring(&mut rng, 10, 20),
        w_street_2: astring(&mut rng, 10, 20),
        w_city: astring(&mut rng, 10, 20),
        w_state: state_code(&mut rng),
        w_zip: zip(&mut rng),
        w_tax: rate(&mut rng, 2_000),
        w_ytd: d_ytd * f64::from(DISTRICTS),
    });
    for d_id in 1..=DISTRICTS {
        state.districts.push(District {
            d_id,
            d_w_id: w_id,
            d_name: astring(&mut rng, 6, 10),
            d_street_1: astring(&mut rng, 10, 20),
            d_street_2: astring(&mut rng, 10, 20),
            d_city: astring(&mut rng, 10, 20),
            d_state: state_code(&mut rng),
            d_zip: zip(&mut rng),
            d_tax: rate(&mut rng, 2_000),
            d_ytd,
            d_next_o_id: scale.orders_per_district + 1,
        });
    }
}

fn populate_stock(scale: &TpccScale, seed: u64, w_id: WarehouseId, stock: &mut Vec<Stock>) {
    let mut rng = rng_for(seed, TAG_STOCK, w_id);
    for s_i_id in 1..=scale.items {
        stock.push(Stock {
            s_i_id,
            s_w_id: w_id,
            s_quantity: rng.random_range(10..=100),
            s_dist_01: alnum(&mut rng, 24).into(),
            s_dist_02: alnum(&mut rng, 24).into(),
            s_dist_03: alnum(&mut rng, 24).into(),
            s_dist_04: alnum(&mut rng, 24).into(),
            s_dist_05: alnum(&mut rng, 24).into(),
            s_dist_06: alnum(&mut rng, 24).into(),
            s_dist_07: alnum(&mut rng, 24).into(),
            s_dist_08: alnum(&mut rng, 24).into(),
            s_dist_09: alnum(&mut rng, 24).into(),
            s_dist_10: alnum(&mut rng, 24).into(),
            s_ytd: 0,
            s_order_cnt: 0,
            s_remote_cnt: 0,
            s_data: data_with_original(&mut rng).into(),
        });
    }
}

fn populate_customers(
    scale: &TpccScale,
    seed: u64,
    w_id: WarehouseId,
    load: &NuRandConstants,
    state: &mut TpccState,
) {
    let mut rng = rng_for(seed, TAG_CUSTOMER, w_id);
    for d_id in 1..=DISTRICTS {
        for c_id in 1..=scale.customers_per_district {
            let name = if c_id <= 1_000 {
                c_id - 1
            } else {
                nurand(&mut rng, 255, load.c_last, 0, 999)
            };
            state.customers.push(Customer {
                c_id,
                c_d_id: d_id,
                c_w_id: w_id,
                c_first: astring(&mut rng, 8, 16),
                c_middle: "OE".into(),
                c_last: last_name(name),
                c_street_1: astring(&mut rng, 10, 20),
                c_street_2: astring(&mut rng, 10, 20),
                c_city: astring(&mut rng, 10, 20),
                c_state: state_code(&mut rng),
                c_zip: zip(&mut rng),
                c_phone: nstring(&mut rng, 16),
                c_since: LOAD_TIME,
                c_credit: if rng.random_range(0..10) == 0 {
                    "BC"
                } else {
                    "GC"
                }
                .into(),
                c_credit_lim: 50_000.0,
                c_discount: rate(&mut rng, 5_000),
                c_balance: -10.0,
                c_ytd_payment: 10.0,
                c_payment_cnt: 1,
                c_delivery_cnt: 0,
                c_data: astring(&mut rng, 300, 500).into(),
            });
            state.history.push(History {
                h_id: state.history.len() as u64 + 1,
                h_c_id: c_id,
                h_c_d_id: d_id,
                h_c_w_id: w_id,
                h_d_id: d_id,
                h_w_id: w_id,
                h_date: LOAD_TIME,
                h_amount: 10.0,
                h_data: astring(&mut rng, 12, 24),
            });
        }
    }
}

fn populate_orders(scale: &TpccScale, seed: u64, w_id: WarehouseId, state: &mut TpccState) {
    let mut rng = rng_for(seed, TAG_ORDER, w_id);
    let first_new = scale.first_new_order_id();
    let mut permutation: Vec<CustomerId> =
        Vec::with_capacity(scale.customers_per_district as usize);
    for d_id in 1..=DISTRICTS {
        permutation.clear();
        permutation.extend(1..=scale.customers_per_district);
        permutation.shuffle(&mut rng);
        for o_id in 1..=scale.orders_per_district {
            let delivered = o_id < first_new;
            let o_ol_cnt: u8 = rng.random_range(5..=15);
            state.orders.push(Order {
                o_id,
                o_d_id: d_id,
                o_w_id: w_id,
                o_c_id: permutation[(o_id - 1) as usize],
                o_entry_d: LOAD_TIME,
                o_carrier_id: delivered.then(|| rng.random_range(1..=10)),
                o_ol_cnt,
                o_all_local: 1,
            });
            for ol_number in 1..=o_ol_cnt {
                state.order_lines.push(OrderLine {
                    ol_o_id: o_id,
                    ol_d_id: d_id,
                    ol_w_id: w_id,
                    ol_number,
                    ol_i_id: rng.random_range(1..=scale.items),
                    ol_supply_w_id: w_id,
                    ol_delivery_d: delivered.then_some(LOAD_TIME),
                    ol_quantity: 5,
                    ol_amount: if delivered {
                        0.0
                    } else {
                        money(&mut rng, 1, 999_999)
                    },
                    ol_dist_info: alnum(&mut rng, 24).into(),
                });
            }
            if !delivered {
                state.new_orders.push(NewOrder {
                    no_o_id: o_id,
                    no_d_id: d_id,
                    no_w_id: w_id,
                });
            }
        }
    }
}

// ---------------------------------------------------------------- inputs

/// The weight of each transaction type (they need not add up to 100). All zero counts as
/// New-Order only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpccMix {
    pub new_order: u32,
    pub payment: u32,
    pub order_status: u32,
    pub delivery: u32,
    pub stock_level: u32,
}

impl TpccMix {
    /// The specification's mix at its minimums (clause 5.2.3): 45% New-Order, 43% Payment, 4%
    /// each Order-Status, Delivery and Stock-Level.
    pub fn standard() -> Self {
        TpccMix {
            new_order: 45,
            payment: 43,
            order_status: 4,
            delivery: 4,
            stock_level: 4,
        }
    }

    /// New-Order only.
    pub fn new_order_only() -> Self {
        TpccMix {
            new_order: 1,
            payment: 0,
            order_status: 0,
            delivery: 0,
            stock_level: 0,
        }
    }

    /// A named preset: `standard` or `new-order`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(Self::standard()),
            "new-order" => Some(Self::new_order_only()),
            _ => None,
        }
    }

    fn total(&self) -> u32 {
        self.new_order + self.payment + self.order_status + self.delivery + self.stock_level
    }
}

/// One transaction input for the driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TpccOp {
    NewOrder(NewOrderInput),
    Payment(PaymentInput),
    OrderStatus(OrderStatusInput),
    Delivery(DeliveryInput),
    StockLevel(StockLevelInput),
}

/// The transaction type names, in report order (the order of [`TpccOp`]'s variants).
pub const TPCC_KINDS: [&str; 5] = [
    "new_order",
    "payment",
    "order_status",
    "delivery",
    "stock_level",
];

impl TpccOp {
    /// The transaction type's name in reports (one of [`TPCC_KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            TpccOp::NewOrder(_) => TPCC_KINDS[0],
            TpccOp::Payment(_) => TPCC_KINDS[1],
            TpccOp::OrderStatus(_) => TPCC_KINDS[2],
            TpccOp::Delivery(_) => TPCC_KINDS[3],
            TpccOp::StockLevel(_) => TPCC_KINDS[4],
        }
    }

    /// The warehouse of the terminal that issued the op (`w_id` of its input).
    pub fn home_warehouse(&self) -> WarehouseId {
        match self {
            TpccOp::NewOrder(i) => i.w_id,
            TpccOp::Payment(i) => i.w_id,
            TpccOp::OrderStatus(i) => i.w_id,
            TpccOp::Delivery(i) => i.w_id,
            TpccOp::StockLevel(i) => i.w_id,
        }
    }
}

/// A terminal's home warehouse (`terminal % warehouses + 1`) and home district (`(terminal /
/// warehouses) % 10 + 1`, the district of its Stock-Levels).
pub fn terminal_home(warehouses: u32, terminal: u32) -> (WarehouseId, DistrictId) {
    let warehouses = warehouses.max(1);
    (
        terminal % warehouses + 1,
        ((terminal / warehouses) % u32::from(DISTRICTS)) as DistrictId + 1,
    )
}

/// Produces the input stream, a pure function of (scale, mix, seed, the terminals asked).
pub struct TpccInputGenerator {
    scale: TpccScale,
    mix: TpccMix,
    /// The drawing terminal's stream while `next_op` runs.
    rng: StdRng,
    /// Each terminal's own stream, so a terminal's k-th op does not depend on the order in
    /// which terminals ask: both systems get the same ops per terminal, whatever their timing.
    terminals: std::collections::HashMap<u32, StdRng>,
    seed: u64,
    constants: NuRandConstants,
    /// NURand's A for customer ids, item ids and last-name numbers at this scale.
    a_c_id: u32,
    a_ol_i_id: u32,
    a_c_last: u32,
    /// The largest last-name number that exists: min(999, customers − 1).
    max_name: u32,
}

impl TpccInputGenerator {
    /// A generator with the run's NURand constants for `seed` ([`NuRandConstants::run`]): use the
    /// population's seed. Panics if the scale does not [`TpccScale::validate`].
    pub fn new(scale: &TpccScale, mix: TpccMix, seed: u64) -> Self {
        if let Err(e) = scale.validate() {
            panic!("invalid TPC-C scale: {e}");
        }
        let mix = if mix.total() == 0 {
            TpccMix::new_order_only()
        } else {
            mix
        };
        let max_name = 999.min(scale.customers_per_district - 1);
        TpccInputGenerator {
            scale: *scale,
            mix,
            rng: StdRng::seed_from_u64(derive_seed(seed, TAG_INPUT, 0)),
            terminals: std::collections::HashMap::new(),
            seed,
            constants: NuRandConstants::run(seed),
            a_c_id: scaled_a(1023, 1, scale.customers_per_district),
            a_ol_i_id: scaled_a(8191, 1, scale.items),
            a_c_last: scaled_a(255, 0, max_name),
            max_name,
        }
    }

    /// The NURand constants of the run.
    pub fn constants(&self) -> NuRandConstants {
        self.constants
    }

    /// The next op of the stream, issued by `terminal` (whose home is [`terminal_home`]).
    pub fn next_op(&mut self, terminal: u32) -> TpccOp {
        let seed = self.seed;
        let own = self.terminals.remove(&terminal).unwrap_or_else(|| {
            StdRng::seed_from_u64(derive_seed(seed, TAG_INPUT, u64::from(terminal) + 1))
        });
        let shared = std::mem::replace(&mut self.rng, own);
        let op = self.draw_op(terminal);
        let own = std::mem::replace(&mut self.rng, shared);
        self.terminals.insert(terminal, own);
        op
    }

    fn draw_op(&mut self, terminal: u32) -> TpccOp {
        let (w_id, home_d_id) = terminal_home(self.scale.warehouses, terminal);
        let m = &self.mix;
        let mut x = self.rng.random_range(0..m.total());
        let mut take = |w: u32| {
            let hit = x < w;
            x = x.saturating_sub(w);
            hit
        };
        if take(m.new_order) {
            TpccOp::NewOrder(self.new_order(w_id))
        } else if take(m.payment) {
            TpccOp::Payment(self.payment(w_id))
        } else if take(m.order_status) {
            let d_id = self.district();
            let customer = self.customer();
            TpccOp::OrderStatus(OrderStatusInput {
                w_id,
                d_id,
                customer,
            })
        } else if take(m.delivery) {
            TpccOp::Delivery(DeliveryInput {
                w_id,
                o_carrier_id: self.rng.random_range(1..=10),
            })
        } else {
            TpccOp::StockLevel(StockLevelInput {
                w_id,
                d_id: home_d_id,
                threshold: self.rng.random_range(10..=20),
            })
        }
    }

    fn district(&mut self) -> DistrictId {
        self.rng.random_range(1..=DISTRICTS)
    }

    fn c_id(&mut self) -> CustomerId {
        let customers = self.scale.customers_per_district;
        nurand(
            &mut self.rng,
            self.a_c_id,
            self.constants.c_id,
            1,
            customers,
        )
    }

    /// 60% by last name, 40% by id (clauses 2.5.1.2, 2.6.1.2).
    fn customer(&mut self) -> CustomerSelector {
        if self.rng.random_range(1..=100) <= 60 {
            let n = nurand(
                &mut self.rng,
                self.a_c_last,
                self.constants.c_last,
                0,
                self.max_name,
            );
            CustomerSelector::LastName(last_name(n))
        } else {
            CustomerSelector::Id(self.c_id())
        }
    }

    /// A warehouse other than `w_id`, uniformly (requires 2+ warehouses).
    fn other_warehouse(&mut self, w_id: WarehouseId) -> WarehouseId {
        let r = self.rng.random_range(1..self.scale.warehouses);
        if r >= w_id { r + 1 } else { r }
    }

    fn new_order(&mut self, w_id: WarehouseId) -> NewOrderInput {
        let d_id = self.district();
        let c_id = self.c_id();
        let items = self.scale.items;
        let ol_cnt = self.rng.random_range(5..=15u32).min(items) as usize;
        let mut lines: Vec<NewOrderLineInput> = Vec::with_capacity(ol_cnt);
        while lines.len() < ol_cnt {
            let mut ol_i_id = 0;
            for _ in 0..64 {
                let i = nurand(
                    &mut self.rng,
                    self.a_ol_i_id,
                    self.constants.ol_i_id,
                    1,
                    items,
                );
                if !lines.iter().any(|l| l.ol_i_id == i) {
                    ol_i_id = i;
                    break;
                }
            }
            if ol_i_id == 0 {
                // Unlucky draws on a tiny item table: the next unused id from a random start.
                let start = self.rng.random_range(0..items);
                ol_i_id = (0..items)
                    .map(|k| (start + k) % items + 1)
                    .find(|i| !lines.iter().any(|l| l.ol_i_id == *i))
                    .expect("items >= lines");
            }
            let remote = self.rng.random_range(1..=100) == 1 && self.scale.warehouses > 1;
            let ol_supply_w_id = if remote {
                self.other_warehouse(w_id)
            } else {
                w_id
            };
            lines.push(NewOrderLineInput {
                ol_i_id,
                ol_supply_w_id,
                ol_quantity: self.rng.random_range(1..=10),
            });
        }
        NewOrderInput {
            w_id,
            d_id,
            c_id,
            lines,
        }
    }

    fn payment(&mut self, w_id: WarehouseId) -> PaymentInput {
        let d_id = self.district();
        let remote = self.rng.random_range(1..=100) > 85 && self.scale.warehouses > 1;
        let (c_w_id, c_d_id) = if remote {
            let c_w_id = self.other_warehouse(w_id);
            (c_w_id, self.district())
        } else {
            (w_id, d_id)
        };
        let customer = self.customer();
        PaymentInput {
            w_id,
            d_id,
            c_w_id,
            c_d_id,
            customer,
            h_amount: money(&mut self.rng, 100, 500_000),
        }
    }
}
