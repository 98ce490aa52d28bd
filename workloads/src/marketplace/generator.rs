//! Seeded data and input generation with the benchmark's defaults: 100,000 customers; 10,000
//! sellers with 10 products each; 10,000 units of stock per product; prices 0–99.99, freight
//! 0–9.99. Inputs follow the benchmark's mix, distributions and rules: one customer never has two
//! sessions in flight, and one product never has two updates in flight.

use super::model::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};

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

/// Produces inputs, honouring the in-flight rules; call `release` when an op completes.
pub struct InputGenerator {
    config: InputConfig,
    rng: StdRng,
    sellers: Picker,
    products: Picker,
    products_per_seller: u32,
    idle_customers: VecDeque<CustomerId>,
    busy_products: HashSet<(SellerId, ProductId)>,
}

impl InputGenerator {
    pub fn new(scale: &Scale, config: InputConfig, seed: u64) -> Self {
        InputGenerator {
            sellers: Picker::new(scale.sellers, config.sellers),
            products: Picker::new(scale.products_per_seller, config.products),
            products_per_seller: scale.products_per_seller,
            config,
            rng: StdRng::seed_from_u64(seed ^ 0x1b7),
            idle_customers: (1..=scale.customers).collect(),
            busy_products: HashSet::new(),
        }
    }

    /// The next op, or `None` if the drawn type cannot start now (every customer busy, or no free
    /// product after a few draws); the caller retries after completions.
    pub fn next_op(&mut self) -> Option<Op> {
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
            Some(Op::Dashboard(self.sellers.pick(&mut self.rng)))
        } else if take(m.price_update) {
            let (seller_id, product_id) = self.free_product()?;
            Some(Op::PriceUpdate(PriceUpdate {
                seller_id,
                product_id,
                percent: self.rng.random_range(1..10),
            }))
        } else if take(m.product_update) {
            let (seller_id, product_id) = self.free_product()?;
            Some(Op::ProductUpdate(ReplaceProduct {
                seller_id,
                product_id,
            }))
        } else {
            Some(Op::Delivery(UpdateDelivery {
                max_sellers: self.config.delivery_sellers,
            }))
        }
    }

    fn session(&mut self) -> Option<Op> {
        let customer_id = self.idle_customers.pop_front()?;
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
                voucher: self.rng.random_range(0..100) < self.config.voucher_percent,
            })
            .collect();
        let payment_type = ["CREDIT_CARD", "DEBIT_CARD", "BOLETO"][self.rng.random_range(0..3)];
        let installments = if payment_type == "CREDIT_CARD" {
            self.rng.random_range(1..=10)
        } else {
            0
        };
        let products = chosen_keys(&items);
        Some(Op::Session {
            items,
            checkout: Checkout {
                customer_id,
                products,
                payment_type: payment_type.into(),
                installments,
            },
        })
    }

    fn free_product(&mut self) -> Option<(SellerId, ProductId)> {
        for _ in 0..16 {
            let key = (
                self.sellers.pick(&mut self.rng),
                self.products.pick(&mut self.rng),
            );
            if self.busy_products.insert(key) {
                return Some(key);
            }
        }
        None
    }

    /// `op` completed: its customer or product may be used again.
    pub fn release(&mut self, op: &Op) {
        match op {
            Op::Session { checkout, .. } => self.idle_customers.push_back(checkout.customer_id),
            Op::PriceUpdate(u) => {
                self.busy_products.remove(&(u.seller_id, u.product_id));
            }
            Op::ProductUpdate(u) => {
                self.busy_products.remove(&(u.seller_id, u.product_id));
            }
            Op::Delivery(_) | Op::Dashboard(_) => {}
        }
    }
}
