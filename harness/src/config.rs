//! The configuration of one run: every knob, serializable so `results/<run>/config.toml` repeats it.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;
use workloads::marketplace::generator::{KeyDistribution, Mix};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub workload: String,
    pub system: String,
    /// Measured seconds (after the warm-up).
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Transactions in flight (closed loop).
    pub concurrency: usize,
    pub batch_window_ms: u64,
    pub batch_max_txns: u32,
    /// Seal a batch early after this many ms without arrivals (0: only window and size seal).
    #[serde(default)]
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
    #[serde(default)]
    pub check_modes: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workload: "marketplace".into(),
            system: "vmodb".into(),
            duration_s: 30.0,
            warmup_s: 5.0,
            concurrency: 64,
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

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.workload != "marketplace" {
            bail!(
                "unknown workload `{}` (available: marketplace)",
                self.workload
            );
        }
        if self.system != "vmodb" {
            bail!("unknown system `{}` (available: vmodb)", self.system);
        }
        if !self.duration_s.is_finite() || self.duration_s <= 0.0 || self.warmup_s < 0.0 {
            bail!("duration must be positive and warm-up non-negative");
        }
        if self.concurrency == 0 {
            bail!("concurrency must be at least 1");
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
mod tests {
    use super::*;

    #[test]
    fn distributions_parse_or_explain() {
        assert_eq!(parse_distribution("uniform"), Ok(KeyDistribution::Uniform));
        assert_eq!(
            parse_distribution("zipf:0.8"),
            Ok(KeyDistribution::Zipf(0.8))
        );
        assert!(
            parse_distribution("zipf:x")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_distribution("normal")
                .unwrap_err()
                .contains("unknown distribution")
        );
    }

    #[test]
    fn mixes_parse_presets_and_weights() {
        assert_eq!(parse_mix("paper"), Ok(Mix::paper()));
        assert_eq!(parse_mix("1,2,3,4,5").map(|m| m.delivery), Ok(5));
        assert!(parse_mix("1,2").is_err());
    }

    #[test]
    fn config_round_trips_through_toml_and_rejects_bad_values() {
        let c = RunConfig::default();
        let text = toml::to_string(&c).expect("toml");
        assert_eq!(toml::from_str::<RunConfig>(&text).expect("parse"), c);
        assert!(toml::from_str::<RunConfig>("bogus = 1").is_err());
        let bad = RunConfig {
            concurrency: 0,
            ..RunConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = RunConfig {
            system: "dapr".into(),
            ..RunConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("unknown system")
        );
    }
}
