//! The driver's head-of-line enforcement of the in-flight rules, against a fake system that
//! completes ops out of order.

use super::*;

// ---------------------------------------------------------------- the driver's gating

/// The gates by the benchmark's rules, written independently of `InputGenerator::gates`.
fn rule_gates(op: &Op, burst: bool) -> Vec<Gate> {
    match op {
        Op::Session { checkout, .. } => vec![Gate::Customer(checkout.customer_id)],
        Op::PriceUpdate(_) if burst => Vec::new(),
        Op::PriceUpdate(u) => vec![Gate::Product(u.seller_id, u.product_id)],
        Op::ProductUpdate(u) => vec![Gate::Product(u.seller_id, u.product_id)],
        _ => Vec::new(),
    }
}

/// A system that completes each op after a few polls, in a scrambled order, refuses every
/// `refuse_every`-th submission, and checks the in-flight rules.
struct Fake {
    burst: bool,
    concurrency: usize,
    refuse_every: u64,
    /// Every submission attempt, in order (refused ones too).
    submitted: Vec<Op>,
    refused: Vec<Op>,
    /// id → (polls left, op).
    pending: HashMap<u64, (u32, Op)>,
    violations: Vec<String>,
    /// Polls while fewer than `concurrency` ops were in flight, before `submit_until`.
    limited_polls: u64,
    submit_until: Instant,
    max_in_flight: usize,
    /// Most price updates of one product seen in flight at once.
    max_same_product_prices: usize,
    log: RunLog,
}

impl Fake {
    fn new(burst: bool, concurrency: usize, refuse_every: u64, window: Duration) -> Self {
        Fake {
            burst,
            concurrency,
            refuse_every,
            submitted: Vec::new(),
            refused: Vec::new(),
            pending: HashMap::new(),
            violations: Vec::new(),
            limited_polls: 0,
            // The driver stops submitting at the end of the window; leave it a margin.
            submit_until: Instant::now() + window.saturating_sub(Duration::from_millis(20)),
            max_in_flight: 0,
            max_same_product_prices: 0,
            log: RunLog::default(),
        }
    }
}

fn scramble(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

impl workloads::probes::Probes for Fake {}

impl MarketplaceSystem for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
        self.submitted.push(op.clone());
        if self.refuse_every > 0 && id.is_multiple_of(self.refuse_every) {
            self.refused.push(op.clone());
            return Err("refused".into());
        }
        let gates = rule_gates(op, self.burst);
        for (other_id, (_, other)) in &self.pending {
            let shared: Vec<_> = rule_gates(other, self.burst)
                .into_iter()
                .filter(|g| gates.contains(g))
                .collect();
            if !shared.is_empty() {
                self.violations.push(format!(
                    "{op:?} submitted while #{other_id} {other:?} holds {shared:?}"
                ));
            }
        }
        let polls = 1 + (scramble(id) % 7) as u32;
        self.pending.insert(id, (polls, op.clone()));
        self.max_in_flight = self.max_in_flight.max(self.pending.len());
        if let Op::PriceUpdate(u) = op {
            let same = self
                .pending
                .values()
                .filter(|(_, o)| matches!(o, Op::PriceUpdate(v) if (v.seller_id, v.product_id) == (u.seller_id, u.product_id)))
                .count();
            self.max_same_product_prices = self.max_same_product_prices.max(same);
        }
        Ok(())
    }

    fn poll(&mut self, _wait: Duration) -> Vec<Done> {
        if self.pending.len() < self.concurrency && Instant::now() < self.submit_until {
            self.limited_polls += 1;
        }
        std::thread::sleep(Duration::from_micros(20));
        let mut ready: Vec<u64> = Vec::new();
        for (id, (left, _)) in self.pending.iter_mut() {
            *left -= 1;
            if *left == 0 {
                ready.push(*id);
            }
        }
        ready.sort_by_key(|id| scramble(*id ^ 0x5555));
        ready
            .into_iter()
            .map(|id| {
                self.pending.remove(&id);
                Done::new(id, Duration::from_micros(50), Ok(()))
            })
            .collect()
    }

    fn quiesce(&mut self, _timeout: Duration) -> bool {
        self.pending.is_empty()
    }

    fn state(&self) -> Result<MarketplaceState, String> {
        Ok(MarketplaceState::default())
    }

    fn log(&self) -> &RunLog {
        &self.log
    }
}

fn tiny_scale() -> Scale {
    Scale {
        customers: 10,
        sellers: 2,
        products_per_seller: 2,
        stock_per_product: 10,
    }
}

/// Drives `config` against the fake; checks order and the in-flight rules.
fn drive_fake(config: &InputConfig, refuse_every: u64) -> Fake {
    let scale = tiny_scale();
    let window = Duration::from_millis(150);
    let concurrency = 16;
    let mut fake = Fake::new(config.burst >= 2, concurrency, refuse_every, window);
    let mut generator = InputGenerator::new(&scale, config.clone(), 21);
    let drive_config = DriveConfig {
        warmup: Duration::ZERO,
        duration: window,
        concurrency,
    };
    let result = drive(&mut fake, &mut generator, &drive_config, &mut |_, _| {});
    assert!(fake.quiesce(Duration::ZERO), "the driver waits for its ops");
    assert!(
        fake.violations.is_empty(),
        "{} ops submitted while a gate was held, e.g. {:?}",
        fake.violations.len(),
        &fake.violations[..fake.violations.len().min(3)]
    );
    let n = fake.submitted.len();
    assert!(n > 100, "only {n} submissions");
    assert_eq!(
        fake.submitted,
        stream(&scale, config, 21, n),
        "the driver submits the stream in order"
    );
    // Completions after the window are not counted: at most the ops in flight at its end.
    let accepted = (n - fake.refused.len()) as u64;
    assert!(
        result.committed <= accepted && result.committed + concurrency as u64 >= accepted,
        "{} committed of {accepted} accepted",
        result.committed
    );
    assert_eq!(result.failures.is_empty(), fake.refused.is_empty());
    assert!(fake.max_in_flight > 1, "ops run concurrently");
    fake
}

#[test]
fn the_driver_submits_in_stream_order_and_gates_conflicts() {
    let config = InputConfig {
        mix: Mix {
            checkout: 50,
            dashboard: 5,
            price_update: 20,
            product_update: 20,
            delivery: 5,
        },
        ..InputConfig::default()
    };
    let fake = drive_fake(&config, 23);
    assert!(
        fake.limited_polls > 0,
        "no op was ever held back: the test did not exercise gating"
    );
    // A refused submission holds nothing: its customer or product is used again later.
    let later_gated = fake.refused.iter().any(|r| {
        let gates = rule_gates(r, false);
        let at = fake
            .submitted
            .iter()
            .position(|s| s == r)
            .expect("recorded");
        !gates.is_empty()
            && fake.submitted[at + 1..]
                .iter()
                .any(|s| rule_gates(s, false).iter().any(|g| gates.contains(g)))
    });
    assert!(later_gated, "a refused op's gate was released");
}

#[test]
fn burst_updates_run_concurrently_under_the_driver() {
    let config = InputConfig {
        mix: only(1, 2, 1),
        burst: 4,
        ..InputConfig::default()
    };
    let fake = drive_fake(&config, 0);
    assert!(
        fake.max_same_product_prices >= 2,
        "burst updates of one product were never in flight together"
    );
}

#[test]
fn zipf_makes_low_ids_hot() {
    let scale = Scale::scaled(0.01);
    let config = InputConfig {
        mix: Mix {
            checkout: 0,
            dashboard: 1,
            price_update: 0,
            product_update: 0,
            delivery: 0,
        },
        sellers: KeyDistribution::Zipf(1.0),
        ..InputConfig::default()
    };
    let mut g = InputGenerator::new(&scale, config, 11);
    let mut first = 0;
    let n = 10_000;
    for _ in 0..n {
        match g.next_op() {
            Op::Dashboard(s) => {
                assert!((1..=scale.sellers).contains(&s));
                first += usize::from(s == 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // P(1) = 1 / H(100) ≈ 0.19 for s = 1 over 100 sellers; uniform would give 0.01.
    assert!(first > n / 8, "seller 1 drawn {first} times of {n}");
}
