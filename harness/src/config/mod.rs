//! The configuration of one run: every knob, serializable so `results/<run>/config.toml` repeats it.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use workloads::marketplace::generator::{KeyDistribution, Mix};
use workloads::open_loop::{Arrivals, OpenLoad};
use workloads::tpcc::generator::TpccMix;

/// Every field has a default (a configuration file or `[run]` table names only what differs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    pub workload: String,
    pub system: String,
    /// Measured seconds (after the warm-up).
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Transactions in flight (closed loop; TPC-C: terminals, which in the open loop only
    /// spread the arrivals over home warehouses).
    pub concurrency: usize,
    /// Open loop: operations offered per second, whatever the system does (0: the closed loop
    /// of `concurrency` clients). Latency then runs from each operation's arrival.
    pub rate_tps: f64,
    /// Open loop: `poisson` (exponential gaps, seeded) or `constant` arrivals.
    pub arrivals: String,
    pub batch_window_ms: u64,
    pub batch_max_txns: u32,
    /// Seal a batch early after this many ms without arrivals (0: only window and size seal).
    pub batch_idle_ms: u64,
    pub seed: u64,
    /// Data set size relative to the benchmark's defaults (1.0 = 100,000 customers and products).
    pub scale: f64,
    pub mix: Mix,
    pub seller_distribution: KeyDistribution,
    pub product_distribution: KeyDistribution,
    /// Worker threads of the engine (0 = one per core).
    pub workers: usize,
    /// Record committed inputs and compare the final state with their serial replay.
    pub replay_check: bool,
    /// Check the services' mode declarations against their actual row accesses (slower).
    pub check_modes: bool,
    /// Faults injected to provoke the hazards of eventual consistency (all off by default).
    pub inject: Injection,
    /// TPC-C: warehouses (the data set and the terminals' homes).
    pub warehouses: u32,
    /// TPC-C mix: `standard` (45/43/4/4/4) or `new-order` (the paper's setting).
    pub tpcc_mix: String,
    /// TPC-C: percent of New-Orders that roll back on an unused item (the specification's 1).
    pub tpcc_rollback_percent: u32,
    /// TPC-C on vMODB: where New-Order finds an unused item: `entry` (the warehouse service,
    /// before any write: no rollback round) or `inventory` (after the warehouse step: every
    /// rollback is a cross-service abort).
    pub tpcc_item_check: String,
    /// Marketplace: a checkout aborts when any item cannot be reserved (all-or-nothing), instead
    /// of the benchmark's partial reservation.
    pub all_or_nothing_checkout: bool,
    /// vMODB's deployment: `embedded` (one process) or `processes` (the coordinator and every
    /// service in a process of its own, on loopback, driven through the HTTP front door).
    pub deploy: String,
    /// Marketplace, distributed vMODB: where the cluster's data comes from. `generate`: every
    /// service loads the data set (scale, seed) at start; `ingest`: it starts empty and the
    /// client loads the data set through the benchmark's ingestion routes (`--client
    /// om-driver`).
    pub data: String,
    /// How a distributed vMODB is driven: `vmodb`, our JSON client (`POST /transactions`, ops
    /// sent together); `om-driver`, the Online Marketplace benchmark driver's requests (its
    /// HTTP API and bodies, completions counted from the commit stream, ingestion first).
    #[serde(skip)]
    pub client: String,
    /// Marketplace, distributed vMODB: when the benchmark's transaction routes answer a request
    /// without `?wait=`: `commit` (the outcome, at commit) or `sequenced` (202 with the TID,
    /// as the Java vMODB answers the benchmark's driver, which learns of completion from the
    /// commit stream).
    pub answer_at: String,
    /// Drive an already running vMODB cluster through its front door at this URL instead of
    /// starting one (`--target`; the cluster's own configuration fixes data and batching).
    #[serde(skip)]
    pub target: Option<String>,
    /// The front-door token (and, for https, the certificate to trust) to drive `target`
    /// with (`--token-file`/`VMODB_TOKEN`, `--ca-file`/`VMODB_CA_FILE`); never written out.
    #[serde(skip)]
    pub auth: workloads::remote::ClientAuth,
    /// `none`, or `fsync`: vMODB's coordinator logs every commit step to a write-ahead log and
    /// syncs it before any client hears of the commit; the baseline logs each writing
    /// operation's input to an append log, group-synced the same way, before it reports the
    /// operation (both workloads; TPC-C embedded only, as TPC-C has no distributed deployment).
    pub durability: String,
    /// With vMODB durability: how often every service checkpoints its state (ms); the commit
    /// log is truncated behind checkpoints, and a restart re-executes at most about this much.
    pub checkpoint_interval_ms: u64,
    /// With vMODB durability: the commit log's segment size in MiB (truncation deletes whole
    /// segments).
    pub log_segment_mib: u64,
    /// vMODB: how long a committed request id is remembered (a resubmission answered with its
    /// first outcome), in seconds of the cluster's running time, across restarts.
    pub request_retention_s: f64,
    /// Distributed vMODB: a node silent this long (no message, no heartbeat) is lost, and the
    /// cluster fails (ms).
    pub heartbeat_timeout_ms: u64,
}

fn poisson() -> String {
    "poisson".into()
}

fn embedded() -> String {
    "embedded".into()
}

fn one_percent() -> u32 {
    1
}

fn entry() -> String {
    "entry".into()
}

fn standard() -> String {
    "standard".into()
}

/// `--inject`: what provokes the anomalies an eventually consistent design admits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Injection {
    /// Delay jitter on messages between services, uniform in [0, jitter_ms], the same model on
    /// both systems: each link (sending service, receiving service) stays FIFO, as TCP keeps
    /// it. 0 = off.
    pub jitter_ms: f64,
    /// With jitter: the baseline's one-way messages each wait their own delay and may
    /// overtake each other on a link. vMODB's links stay FIFO (its transport contract).
    #[serde(default)]
    pub reorder: bool,
    /// Hot spots: zipfian skew with this exponent on sellers and products. 0 = off.
    pub hot: f64,
    /// Percent of price updates and product replacements aimed at products in recent carts.
    pub targeted_updates: u32,
    /// Price updates come in bursts of this many concurrent updates of one product (< 2 = off).
    pub burst: u32,
}

impl Injection {
    pub fn is_off(&self) -> bool {
        *self == Injection::default()
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workload: "marketplace".into(),
            system: "vmodb".into(),
            duration_s: 30.0,
            warmup_s: 5.0,
            concurrency: 64,
            rate_tps: 0.0,
            arrivals: poisson(),
            batch_window_ms: 10,
            batch_max_txns: 10_000,
            batch_idle_ms: 1,
            seed: 42,
            scale: 1.0,
            mix: Mix::benchmark(),
            seller_distribution: KeyDistribution::Uniform,
            product_distribution: KeyDistribution::Uniform,
            workers: 0,
            replay_check: false,
            check_modes: false,
            inject: Injection::default(),
            warehouses: 1,
            tpcc_mix: standard(),
            tpcc_rollback_percent: one_percent(),
            tpcc_item_check: entry(),
            all_or_nothing_checkout: false,
            deploy: embedded(),
            data: "generate".into(),
            client: "vmodb".into(),
            answer_at: "commit".into(),
            target: None,
            auth: Default::default(),
            durability: "none".into(),
            checkpoint_interval_ms: 5000,
            log_segment_mib: 64,
            request_retention_s: 30.0,
            heartbeat_timeout_ms: 10_000,
        }
    }
}

impl RunConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid run configuration {}", path.display()))
    }

    /// The open load, when `rate_tps` asks for one (validated: the arrivals parse).
    pub fn open_load(&self) -> Option<OpenLoad> {
        (self.rate_tps > 0.0).then(|| OpenLoad {
            rate: self.rate_tps,
            arrivals: Arrivals::parse(&self.arrivals).unwrap_or(Arrivals::Poisson),
            seed: self.seed,
        })
    }

    /// `open loop, Poisson arrivals at 5000 tx/s` or `closed loop, 64 clients`.
    pub fn load_label(&self) -> String {
        match self.open_load() {
            Some(l) => format!(
                "open loop, {} arrivals at {} tx/s",
                if l.arrivals == Arrivals::Poisson {
                    "Poisson"
                } else {
                    "constant"
                },
                l.rate
            ),
            None if self.workload == "tpcc" => {
                format!("closed loop, {} terminals", self.concurrency)
            }
            None => format!("closed loop, {} clients", self.concurrency),
        }
    }

    /// The settings that decide what a data directory holds (the data set, and the business
    /// rules handlers re-execute with), one `key = value` per line. A directory is bound to
    /// these only: batching, concurrency, checkpoints and the like may change across restarts.
    pub fn state_settings(&self) -> String {
        let mut s = format!(
            "workload = {}\nscale = {}\nseed = {}\n",
            self.workload, self.scale, self.seed
        );
        if self.workload == "tpcc" {
            s += &format!(
                "warehouses = {}\ntpcc_rollback_percent = {}\ntpcc_item_check = {}\n",
                self.warehouses, self.tpcc_rollback_percent, self.tpcc_item_check
            );
        } else {
            s += &format!(
                "all_or_nothing_checkout = {}\ndata = {}\n",
                self.all_or_nothing_checkout, self.data
            );
        }
        s
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !WORKLOADS.contains(&self.workload.as_str()) {
            bail!(
                "unknown workload `{}` (available: marketplace, tpcc)",
                self.workload
            );
        }
        if !["entry", "inventory"].contains(&self.tpcc_item_check.as_str()) {
            bail!(
                "tpcc_item_check must be `entry` or `inventory`, got `{}`",
                self.tpcc_item_check
            );
        }
        if self.tpcc_rollback_percent > 100 {
            bail!(
                "tpcc_rollback_percent must be in 0..=100, got {}",
                self.tpcc_rollback_percent
            );
        }
        if !(1..=1000).contains(&self.warehouses) {
            bail!("warehouses must be in 1..=1000, got {}", self.warehouses);
        }
        if TpccMix::preset(&self.tpcc_mix).is_none() {
            bail!(
                "unknown TPC-C mix `{}` (available: standard, new-order)",
                self.tpcc_mix
            );
        }
        if !DEPLOYMENTS.contains(&self.deploy.as_str()) {
            bail!(
                "unknown deployment `{}` (available: embedded, processes)",
                self.deploy
            );
        }
        let distributed = self.deploy == "processes" || self.target.is_some();
        if !["generate", "ingest"].contains(&self.data.as_str()) {
            bail!("data must be `generate` or `ingest`, got `{}`", self.data);
        }
        if !CLIENTS.contains(&self.client.as_str()) {
            bail!(
                "unknown client `{}` (available: {})",
                self.client,
                CLIENTS.join(", ")
            );
        }
        if self.workload == "tpcc" && self.data != "generate" {
            bail!("TPC-C generates its population (data = \"ingest\" is the marketplace's)");
        }
        if self.client == "om-driver" {
            if self.workload != "marketplace" {
                bail!("--client om-driver sends the Online Marketplace benchmark's requests");
            }
            if !distributed || self.system != "vmodb" {
                bail!(
                    "--client om-driver drives a distributed vMODB through the benchmark's API: \
                     it needs --deploy processes or --target, and --system vmodb"
                );
            }
            if self.all_or_nothing_checkout {
                bail!("--client om-driver sends the benchmark's checkouts, never all-or-nothing");
            }
            if self.rate_tps > 0.0 {
                bail!("--client om-driver runs the driver's closed loop (no --rate)");
            }
        }
        if !["commit", "sequenced"].contains(&self.answer_at.as_str()) {
            bail!(
                "answer_at must be `commit` or `sequenced`, got `{}`",
                self.answer_at
            );
        }
        if distributed && self.inject.jitter_ms > 0.0 {
            bail!(
                "jitter is injected inside an embedded cluster; a distributed one has a real network"
            );
        }
        if !["none", "fsync"].contains(&self.durability.as_str()) {
            bail!(
                "durability must be `none` or `fsync`, got `{}`",
                self.durability
            );
        }
        if !SYSTEMS.contains(&self.system.as_str()) {
            bail!(
                "unknown system `{}` (available: vmodb, baseline, both)",
                self.system
            );
        }
        let i = &self.inject;
        if !i.jitter_ms.is_finite()
            || !(0.0..=1000.0).contains(&i.jitter_ms)
            || (i.jitter_ms > 0.0 && i.jitter_ms < 0.001)
        {
            bail!(
                "inject jitter must be 0 (off) or in [0.001, 1000] ms, got {}",
                i.jitter_ms
            );
        }
        if i.reorder && i.jitter_ms == 0.0 {
            bail!("inject reorder needs jitter (e.g. --inject jitter=2,reorder)");
        }
        if !i.hot.is_finite() || !(0.0..10.0).contains(&i.hot) {
            bail!("inject hot exponent must be in [0, 10), got {}", i.hot);
        }
        if i.targeted_updates > 100 {
            bail!(
                "inject targeted must be a percent, got {}",
                i.targeted_updates
            );
        }
        if i.burst > 1000 {
            bail!("inject burst must be at most 1000, got {}", i.burst);
        }
        if self.workload == "tpcc" && (i.hot > 0.0 || i.targeted_updates > 0 || i.burst >= 2) {
            bail!(
                "TPC-C takes only the jitter injection (hot, targeted and burst are marketplace faults)"
            );
        }
        let seconds_ok = |s: f64, min: f64| s.is_finite() && s >= min && s <= 86_400.0;
        if !seconds_ok(self.duration_s, f64::MIN_POSITIVE) || !seconds_ok(self.warmup_s, 0.0) {
            bail!("duration must be in (0, 86400] s and warm-up in [0, 86400] s");
        }
        if self.concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        if !self.rate_tps.is_finite() || !(0.0..=10_000_000.0).contains(&self.rate_tps) {
            bail!(
                "rate must be 0 (closed loop) or a rate in (0, 10000000] tx/s, got {}",
                self.rate_tps
            );
        }
        if self.rate_tps > 0.0 && self.rate_tps * self.duration_s < 1.0 {
            bail!(
                "rate {} tx/s offers no operation in {} s: raise the rate or the duration",
                self.rate_tps,
                self.duration_s
            );
        }
        if Arrivals::parse(&self.arrivals).is_none() {
            bail!(
                "arrivals must be `poisson` or `constant`, got `{}`",
                self.arrivals
            );
        }
        if self.batch_window_ms == 0 || self.batch_max_txns == 0 {
            bail!("batch window and batch size must be at least 1");
        }
        if !self.scale.is_finite() || self.scale <= 0.0 || self.scale > 10.0 {
            bail!("scale must be in (0, 10]");
        }
        let m = &self.mix;
        if m.checkout + m.dashboard + m.price_update + m.product_update + m.delivery == 0 {
            bail!("the mix gives every transaction type a zero share");
        }
        for d in [self.seller_distribution, self.product_distribution] {
            if let KeyDistribution::Zipf(s) = d
                && !(s > 0.0 && s < 10.0)
            {
                bail!("zipf exponent must be in (0, 10), got {s}");
            }
        }
        Ok(())
    }
}

/// The workloads `vbench run` knows.
pub const WORKLOADS: [&str; 2] = ["marketplace", "tpcc"];

/// How a distributed vMODB is driven (`RunConfig::client`).
pub const CLIENTS: [&str; 2] = ["vmodb", "om-driver"];

/// vMODB's deployments.
pub const DEPLOYMENTS: [&str; 2] = ["embedded", "processes"];

/// The systems a run can drive; `both` runs vmodb, then the baseline, on the same inputs.
pub const SYSTEMS: [&str; 3] = ["vmodb", "baseline", "both"];

/// Parses `--inject`: comma-separated `jitter=MS`, `hot[=S]`, `targeted[=PERCENT]`, `burst[=N]`,
/// or `all` (jitter=2, hot=1, targeted=50, burst=8).
pub fn parse_injection(s: &str) -> Result<Injection, String> {
    let mut i = Injection::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (part, None),
        };
        let num = |default: f64| -> Result<f64, String> {
            match value {
                None => Ok(default),
                Some(v) => match v.trim_end_matches("ms").parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    Ok(_) => Err(format!("`{v}` must be a non-negative number (in `{part}`)")),
                    Err(_) => Err(format!("`{v}` is not a number (in `{part}`)")),
                },
            }
        };
        match name {
            "jitter" => i.jitter_ms = num(2.0)?,
            "hot" => i.hot = num(1.0)?,
            "targeted" => i.targeted_updates = num(50.0)? as u32,
            "burst" => i.burst = num(8.0)? as u32,
            "reorder" => i.reorder = true,
            "all" => {
                i = Injection {
                    jitter_ms: 2.0,
                    hot: 1.0,
                    targeted_updates: 50,
                    burst: 8,
                    reorder: false,
                }
            }
            "none" => i = Injection::default(),
            _ => {
                return Err(format!(
                    "unknown injection `{name}` (expected jitter=MS, reorder, hot[=S], targeted[=PERCENT], burst[=N], all or none)"
                ));
            }
        }
    }
    Ok(i)
}

/// Parses `uniform` or `zipf:S`.
pub fn parse_distribution(s: &str) -> Result<KeyDistribution, String> {
    match s.split_once(':') {
        None if s == "uniform" => Ok(KeyDistribution::Uniform),
        Some(("zipf", exp)) => exp
            .parse::<f64>()
            .map(KeyDistribution::Zipf)
            .map_err(|_| format!("`{exp}` is not a number (expected zipf:S, e.g. zipf:1.0)")),
        _ => Err(format!(
            "unknown distribution `{s}` (expected uniform or zipf:S)"
        )),
    }
}

/// Parses a preset name (`benchmark`, `paper`) or five weights `checkout,dashboard,price,product,delivery`.
pub fn parse_mix(s: &str) -> Result<Mix, String> {
    if let Some(m) = Mix::preset(s) {
        return Ok(m);
    }
    let parts: Vec<&str> = s.split(',').collect();
    let nums: Result<Vec<u32>, _> = parts.iter().map(|p| p.trim().parse::<u32>()).collect();
    match nums {
        Ok(n) if n.len() == 5 => Ok(Mix {
            checkout: n[0],
            dashboard: n[1],
            price_update: n[2],
            product_update: n[3],
            delivery: n[4],
        }),
        _ => Err(format!(
            "unknown mix `{s}` (expected benchmark, paper, or five weights checkout,dashboard,price,product,delivery)"
        )),
    }
}

#[cfg(test)]
mod tests;
