//! The input stream (clauses 2.4–2.8); see the parent module for the rules.

use super::*;

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
    /// Percent of New-Orders whose last item is unused, so they roll back.
    rollback_percent: u32,
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
            rollback_percent: 0,
        }
    }

    /// Gives `percent` of New-Orders an unused item id as their last line (clause 2.4.1.4 asks
    /// for [`SPEC_ROLLBACK_PERCENT`](super::SPEC_ROLLBACK_PERCENT)); they abort. Clamped to 100.
    pub fn with_rollbacks(mut self, percent: u32) -> Self {
        self.rollback_percent = percent.min(100);
        self
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
        // Drawn for every order, so the rest of the stream does not depend on the percentage.
        let rbk = self.rng.random_range(1..=100u32);
        if rbk <= self.rollback_percent
            && let Some(last) = lines.last_mut()
        {
            last.ol_i_id = super::unused_item(&self.scale);
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
