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
//!   keeps the services keyed by item simple. With [`TpccInputGenerator::with_rollbacks`]
//!   (the specification's 1%, or any percentage for the abort-rate benchmark) that share of
//!   New-Orders get an unused item id as their last line (2.4.1.4), and roll back.
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

/// The specification's share of New-Orders that roll back on an unused item id, in percent
/// (clause 2.4.1.4).
pub const SPEC_ROLLBACK_PERCENT: u32 = 1;

/// The item id New-Orders that must roll back order: one past the item table (2.4.1.5).
pub fn unused_item(scale: &TpccScale) -> ItemId {
    scale.items + 1
}

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

    /// The specification's population scaled by `fraction` (1.0 or more: the specification's),
    /// keeping at least 100 items and 30 customers per district; the initial orders match the
    /// customers, the last 30 % of them new.
    pub fn fraction(warehouses: u32, fraction: f64) -> Self {
        let spec = Self::spec(warehouses);
        if fraction >= 1.0 {
            return spec;
        }
        let f = |n: u32, min: u32| ((f64::from(n) * fraction) as u32).max(min);
        let customers = f(spec.customers_per_district, 30);
        TpccScale {
            warehouses,
            items: f(spec.items, 100),
            customers_per_district: customers,
            orders_per_district: customers,
            new_orders_per_district: (customers * 3 / 10).max(1),
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

mod inputs;
mod population;

pub use inputs::{TPCC_KINDS, TpccInputGenerator, TpccMix, TpccOp, terminal_home};
pub use population::populate;
