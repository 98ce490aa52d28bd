//! Seeded data and input generation with the benchmark's defaults: 100,000 customers; 10,000
//! sellers with 10 products each; 10,000 units of stock per product; prices 0–99.99, freight
//! 0–9.99.
//!
//! The input stream is a pure function of (scale, config, seed): [`InputGenerator::next_op`]
//! never looks at what is in flight or what completed, so two systems driven with the same seed
//! see the same sequence of operations. Customers take turns in a seeded order (a customer has
//! its next session only after every other customer had one); sellers and products follow the
//! configured distributions. The benchmark's in-flight rules (one customer never has two sessions
//! in flight, one product never has two updates in flight) are not the generator's business: each
//! op names its [`Gate`]s ([`InputGenerator::gates`]) and the driver holds an op back, head of
//! line, while another op in flight holds one of them.
//!
//! Two injection knobs stress the systems on purpose: `targeted_updates` aims price updates and
//! product replacements at the products of the latest sessions (carts about to be checked out),
//! and `burst` turns each price update into a run of consecutive, ungated updates of one product.
//! Hot spots come from `KeyDistribution::Zipf`.

use super::model::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Data set size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    pub customers: u32,
    pub sellers: u32,
    pub products_per_seller: u32,
    pub stock_per_product: i64,
}

impl Scale {
    /// The benchmark's default data set.
    pub fn benchmark() -> Self {
        Scale {
            customers: 100_000,
            sellers: 10_000,
            products_per_seller: 10,
            stock_per_product: 10_000,
        }
    }

    /// The default scaled by `factor` (at least 10 customers and 2 sellers).
    pub fn scaled(factor: f64) -> Self {
        let b = Self::benchmark();
        Scale {
            customers: ((f64::from(b.customers) * factor) as u32).max(10),
            sellers: ((f64::from(b.sellers) * factor) as u32).max(2),
            ..b
        }
    }

    pub fn products(&self) -> u32 {
        self.sellers * self.products_per_seller
    }
}

/// The initial data set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub sellers: Vec<Seller>,
    pub customers: Vec<Customer>,
    pub products: Vec<Product>,
    pub stock_items: Vec<StockItem>,
}

const WORDS: [&str; 16] = [
    "amber", "brisk", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
    "krypton", "lumen", "maple", "nova", "onyx", "prairie",
];
const CATEGORIES: [&str; 8] = [
    "books", "garden", "toys", "sports", "health", "tools", "music", "home",
];
const STATES: [&str; 6] = ["SP", "RJ", "MG", "RS", "PR", "SC"];

fn word(rng: &mut StdRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

fn title(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

/// Generates the data set; the same seed gives the same data.
pub fn generate(scale: &Scale, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let sellers = (1..=scale.sellers)
        .map(|id| Seller {
            id,
            name: title(&mut rng, 2),
            company_name: format!("{} ltda", title(&mut rng, 1)),
            email: format!("seller{id}@example.com"),
            city: title(&mut rng, 1),
            state: STATES[rng.random_range(0..STATES.len())].into(),
        })
        .collect();
    let customers = (1..=scale.customers)
        .map(|id| Customer {
            id,
            first_name: word(&mut rng).into(),
            last_name: word(&mut rng).into(),
            city: title(&mut rng, 1),
            state: STATES[rng.random_range(0..STATES.len())].into(),
            zip_code: format!("{:05}", rng.random_range(0..100_000)),
            card_number: format!("{:016}", rng.random_range(0..10_000_000_000_000_000u64)),
            card_type: if rng.random_bool(0.5) {
                "VISA"
            } else {
                "AMERICAN_EXPRESS"
            }
            .into(),
            ..Customer::default()
        })
        .collect();
    let mut products = Vec::with_capacity(scale.products() as usize);
    let mut stock_items = Vec::with_capacity(scale.products() as usize);
    for seller_id in 1..=scale.sellers {
        for product_id in 1..=scale.products_per_seller {
            products.push(Product {
                seller_id,
                product_id,
                name: title(&mut rng, 2),
                sku: format!("{:016X}", rng.random::<u64>()),
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())].into(),
                price: f64::from(rng.random_range(0..10_000u32)) / 100.0,
                freight_value: f64::from(rng.random_range(0..1_000u32)) / 100.0,
                status: "approved".into(),
                version: 0,
            });
            stock_items.push(StockItem {
                seller_id,
                product_id,
                qty_available: scale.stock_per_product,
                qty_reserved: 0,
                order_count: 0,
                ytd: rng.random_range(10..100),
                data: title(&mut rng, 3),
                version: 0,
            });
        }
    }
    Dataset {
        sellers,
        customers,
        products,
        stock_items,
    }
}

/// Share of each transaction type, in percent (they need not add up to 100: they are weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    pub checkout: u32,
    pub dashboard: u32,
    pub price_update: u32,
    pub product_update: u32,
    pub delivery: u32,
}

impl Mix {
    /// The benchmark's default mix (cumulative 30/35/38/40/100).
    pub fn benchmark() -> Self {
        Mix {
            checkout: 30,
            dashboard: 5,
            price_update: 3,
            product_update: 2,
            delivery: 60,
        }
    }

    /// The mix of the vMODB paper's driver configuration (no delivery).
    pub fn paper() -> Self {
        Mix {
            checkout: 70,
            dashboard: 10,
            price_update: 10,
            product_update: 10,
            delivery: 0,
        }
    }

    /// A named preset: `benchmark` or `paper`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "benchmark" => Some(Self::benchmark()),
            "paper" => Some(Self::paper()),
            _ => None,
        }
    }

    fn total(&self) -> u32 {
        self.checkout + self.dashboard + self.price_update + self.product_update + self.delivery
    }
}

/// How sellers and products are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Distribution_ {
    Uniform,
    /// Zipfian with this exponent; id 1 is the hottest.
    Zipf(f64),
}

pub use Distribution_ as KeyDistribution;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputConfig {
    pub mix: Mix,
    pub sellers: KeyDistribution,
    pub products: KeyDistribution,
    pub max_items: u32,
    pub max_quantity: u32,
    /// Percent of items with a voucher.
    pub voucher_percent: u32,
    /// Sellers delivered per delivery run.
    pub delivery_sellers: u32,
    /// Percent (0..=100) of price updates and product replacements aimed at a product in the
    /// carts of the latest sessions (the last [`TARGET_WINDOW`] sessions generated: the carts a
    /// closed-loop driver is checking out). 0: products follow `sellers`/`products` only.
    #[serde(default)]
    pub targeted_updates: u32,
    /// When 2 or more, every price update starts a burst: it is followed at once by `burst - 1`
    /// further price updates of the same product (each percent differs from the previous one).
    /// Burst ops have no gates, so they run concurrently: the fault injection "bursts of
    /// concurrent updates to one product". 0 or 1: off.
    #[serde(default)]
    pub burst: u32,
    /// Checkouts abort when any item cannot be reserved, instead of the benchmark's partial
    /// reservation (vMODB's cross-service abort undoes the cart's side too).
    #[serde(default)]
    pub all_or_nothing_checkout: bool,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            mix: Mix::benchmark(),
            sellers: KeyDistribution::Uniform,
            products: KeyDistribution::Uniform,
            max_items: 10,
            max_quantity: 10,
            voucher_percent: 5,
            delivery_sellers: 10,
            targeted_updates: 0,
            burst: 0,
            all_or_nothing_checkout: false,
        }
    }
}

/// One unit of work for the driver.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Add items to the customer's cart, then check out. Only the checkout is measured.
    Session {
        items: Vec<AddItem>,
        checkout: Checkout,
    },
    PriceUpdate(PriceUpdate),
    ProductUpdate(ReplaceProduct),
    Delivery(UpdateDelivery),
    Dashboard(SellerId),
}

impl Op {
    /// The transaction type's name in reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Session { .. } => "customer_checkout",
            Op::PriceUpdate(_) => "price_update",
            Op::ProductUpdate(_) => "update_product",
            Op::Delivery(_) => "update_delivery",
            Op::Dashboard(_) => "seller_dashboard",
        }
    }
}

/// The transaction type names, in report order.
pub const KINDS: [&str; 5] = [
    "customer_checkout",
    "seller_dashboard",
    "price_update",
    "update_product",
    "update_delivery",
];

enum Picker {
    Uniform(u32),
    Zipf(Zipf<f64>),
}

impl Picker {
    fn new(n: u32, d: KeyDistribution) -> Self {
        match d {
            KeyDistribution::Zipf(s) if s > 0.0 => {
                Zipf::new(f64::from(n), s).map_or(Picker::Uniform(n), Picker::Zipf)
            }
            _ => Picker::Uniform(n),
        }
    }

    /// An id in 1..=n.
    fn pick(&self, rng: &mut StdRng) -> u32 {
        match self {
            Picker::Uniform(n) => rng.random_range(1..=*n),
            Picker::Zipf(z) => z.sample(rng) as u32,
        }
    }
}

fn chosen_keys(items: &[AddItem]) -> Vec<(SellerId, ProductId)> {
    items.iter().map(|i| (i.seller_id, i.product_id)).collect()
}

/// How many of the latest sessions `targeted_updates` aims at.
pub const TARGET_WINDOW: usize = 128;

/// A key the driver keeps exclusive: while an op holding a gate is in flight, no other op naming
/// the same gate is submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gate {
    /// One customer never has two sessions in flight.
    Customer(CustomerId),
    /// One product never has two updates (price update or replacement) in flight.
    Product(SellerId, ProductId),
}

/// Produces the input stream, a pure function of (scale, config, seed).
pub struct InputGenerator {
    config: InputConfig,
    rng: StdRng,
    sellers: Picker,
    products: Picker,
    products_per_seller: u32,
    /// Customers in their (seeded) turn order; sessions cycle through it.
    customer_order: Vec<CustomerId>,
    next_customer: usize,
    /// Products of the latest sessions, newest last (kept only when `targeted_updates > 0`).
    recent_sessions: VecDeque<Vec<(SellerId, ProductId)>>,
    /// The burst under way: its product, the last percent, how many updates remain.
    burst: Option<((SellerId, ProductId), u32, u32)>,
    /// Delivery runs generated so far: run `n` delivers from shipment partition `n` mod
    /// `SHIPMENT_PARTITIONS`.
    deliveries: u32,
}

impl InputGenerator {
    pub fn new(scale: &Scale, config: InputConfig, seed: u64) -> Self {
        let mut customer_order: Vec<CustomerId> = (1..=scale.customers.max(1)).collect();
        customer_order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0xc057_0e25));
        InputGenerator {
            sellers: Picker::new(scale.sellers, config.sellers),
            products: Picker::new(scale.products_per_seller, config.products),
            products_per_seller: scale.products_per_seller,
            config,
            rng: StdRng::seed_from_u64(seed ^ 0x1b7),
            customer_order,
            next_customer: 0,
            recent_sessions: VecDeque::with_capacity(TARGET_WINDOW + 1),
            burst: None,
            deliveries: 0,
        }
    }

    /// The next op of the stream. It does not depend on completions: the driver enforces the
    /// in-flight rules with [`Self::gates`].
    pub fn next_op(&mut self) -> Op {
        if let Some((key, last, left)) = self.burst.take() {
            // 1..=9 without `last`: consecutive updates of a burst differ.
            let p = self.rng.random_range(1..9);
            let percent = if p >= last { p + 1 } else { p };
            if left > 1 {
                self.burst = Some((key, percent, left - 1));
            }
            return Op::PriceUpdate(PriceUpdate {
                seller_id: key.0,
                product_id: key.1,
                change: PriceChange::RaiseBy(percent),
            });
        }
        let m = &self.config.mix;
        let mut x = self.rng.random_range(0..m.total().max(1));
        let mut take = |w: u32| {
            let hit = x < w;
            x = x.saturating_sub(w);
            hit
        };
        if take(m.checkout) {
            self.session()
        } else if take(m.dashboard) {
            Op::Dashboard(self.sellers.pick(&mut self.rng))
        } else if take(m.price_update) {
            let (seller_id, product_id) = self.update_target();
            let percent = self.rng.random_range(1..10);
            if self.config.burst >= 2 {
                self.burst = Some(((seller_id, product_id), percent, self.config.burst - 1));
            }
            Op::PriceUpdate(PriceUpdate {
                seller_id,
                product_id,
                change: PriceChange::RaiseBy(percent),
            })
        } else if take(m.product_update) {
            let (seller_id, product_id) = self.update_target();
            Op::ProductUpdate(ReplaceProduct {
                seller_id,
                product_id,
            })
        } else {
            let partition = self.deliveries % SHIPMENT_PARTITIONS;
            self.deliveries = self.deliveries.wrapping_add(1);
            Op::Delivery(UpdateDelivery {
                max_sellers: self.config.delivery_sellers,
                partition: Some(partition),
            })
        }
    }

    /// What `op` (an op of this generator's stream) must hold exclusively while in flight: a
    /// session its customer, a price update or product replacement its product. Price updates
    /// are burst ops when `burst >= 2` and have no gate; dashboards and deliveries have none.
    /// A function of the config and the op only.
    pub fn gates(&self, op: &Op) -> Vec<Gate> {
        match op {
            Op::Session { checkout, .. } => vec![Gate::Customer(checkout.customer_id)],
            Op::PriceUpdate(_) if self.config.burst >= 2 => Vec::new(),
            Op::PriceUpdate(u) => vec![Gate::Product(u.seller_id, u.product_id)],
            Op::ProductUpdate(u) => vec![Gate::Product(u.seller_id, u.product_id)],
            Op::Delivery(_) | Op::Dashboard(_) => Vec::new(),
        }
    }

    fn session(&mut self) -> Op {
        let customer_id = self.customer_order[self.next_customer];
        self.next_customer = (self.next_customer + 1) % self.customer_order.len();
        let n = self.rng.random_range(
            1..=self
                .config
                .max_items
                .min(self.products_per_seller * 4)
                .max(1),
        );
        let mut chosen: Vec<(SellerId, ProductId)> = Vec::with_capacity(n as usize);
        let mut attempts = 0;
        while chosen.len() < n as usize && attempts < 100 {
            attempts += 1;
            let key = (
                self.sellers.pick(&mut self.rng),
                self.products.pick(&mut self.rng),
            );
            if !chosen.contains(&key) {
                chosen.push(key);
            }
        }
        let items: Vec<AddItem> = chosen
            .into_iter()
            .map(|(seller_id, product_id)| AddItem {
                customer_id,
                seller_id,
                product_id,
                quantity: self.rng.random_range(1..=self.config.max_quantity.max(1)),
                voucher: if self.rng.random_range(0..100) < self.config.voucher_percent {
                    Voucher::TenPercent
                } else {
                    Voucher::None
                },
            })
            .collect();
        let payment_type = ["CREDIT_CARD", "DEBIT_CARD", "BOLETO"][self.rng.random_range(0..3)];
        let installments = if payment_type == "CREDIT_CARD" {
            self.rng.random_range(1..=10)
        } else {
            0
        };
        let products = chosen_keys(&items);
        if self.config.targeted_updates > 0 && !products.is_empty() {
            if self.recent_sessions.len() == TARGET_WINDOW {
                self.recent_sessions.pop_front();
            }
            self.recent_sessions.push_back(products.clone());
        }
        Op::Session {
            items,
            checkout: Checkout {
                customer_id,
                products,
                payment_type: payment_type.into(),
                installments,
                all_or_nothing: self.config.all_or_nothing_checkout,
                instance_id: None,
            },
        }
    }

    /// The product a price update or replacement changes: with `targeted_updates` percent (once
    /// a session exists) one from the latest sessions' carts, else from the distributions.
    fn update_target(&mut self) -> (SellerId, ProductId) {
        let t = self.config.targeted_updates;
        if t > 0
            && !self.recent_sessions.is_empty()
            && (t >= 100 || self.rng.random_range(0..100) < t)
        {
            let session =
                &self.recent_sessions[self.rng.random_range(0..self.recent_sessions.len())];
            return session[self.rng.random_range(0..session.len())];
        }
        (
            self.sellers.pick(&mut self.rng),
            self.products.pick(&mut self.rng),
        )
    }
}
