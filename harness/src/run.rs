//! `vbench run`: generate, load, drive, check, report.

use crate::config::RunConfig;
use crate::report::{self, RunSummary};
use anyhow::{Context, anyhow};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::{Duration, Instant};
use vmodb::{ClusterConfig, CoordinatorConfig};
use workloads::marketplace::checker::{self, AnomalyReport};
use workloads::marketplace::driver::{DriveConfig, MarketplaceSystem, drive};
use workloads::marketplace::generator::{InputConfig, InputGenerator, Scale, generate};
use workloads::marketplace::vmodb_system::VmodbMarketplace;

pub struct RunOutcome {
    pub anomalies: AnomalyReport,
    pub replay_equal: Option<bool>,
    /// Conflicts the mode checker saw (0 unless `check_modes`).
    pub mode_violations: u64,
}

pub fn run(
    config: &RunConfig,
    dump_state: Option<&Path>,
    results: &Path,
) -> anyhow::Result<RunOutcome> {
    config.validate()?;
    let started = Instant::now();
    let scale = Scale::scaled(config.scale);
    eprintln!(
        "generating data: {} customers, {} sellers, {} products (seed {})",
        scale.customers,
        scale.sellers,
        scale.products(),
        config.seed
    );
    let data = generate(&scale, config.seed);
    let cluster = ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(config.batch_window_ms),
            batch_max_txns: config.batch_max_txns,
            batch_idle: (config.batch_idle_ms > 0)
                .then(|| Duration::from_millis(config.batch_idle_ms)),
            seed: config.seed,
            record_inputs: config.replay_check,
            ..CoordinatorConfig::default()
        },
        workers: if config.workers == 0 {
            ClusterConfig::default().workers
        } else {
            config.workers
        },
        check_modes: config.check_modes,
    };
    let mut system =
        VmodbMarketplace::start(&data, cluster).map_err(|e| anyhow!("cannot start vmodb: {e}"))?;
    let load_s = started.elapsed().as_secs_f64();
    let inputs = InputConfig {
        mix: config.mix.clone(),
        sellers: config.seller_distribution,
        products: config.product_distribution,
        ..InputConfig::default()
    };
    let mut generator = InputGenerator::new(&scale, inputs, config.seed);
    let total = config.warmup_s + config.duration_s;
    let bar = ProgressBar::new((total * 10.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
            .map_err(|e| anyhow!("progress template: {e}"))?,
    );
    let drive_config = DriveConfig {
        warmup: Duration::from_secs_f64(config.warmup_s),
        duration: Duration::from_secs_f64(config.duration_s),
        concurrency: config.concurrency,
    };
    let mut last = (Duration::ZERO, 0u64);
    let mut progress = |elapsed: Duration, committed: u64| {
        let dt = (elapsed - last.0).as_secs_f64();
        let rate = if dt > 0.0 {
            (committed - last.1) as f64 / dt
        } else {
            0.0
        };
        last = (elapsed, committed);
        let phase = if elapsed.as_secs_f64() < config.warmup_s {
            "warm-up"
        } else {
            "measuring"
        };
        bar.set_position((elapsed.as_secs_f64() * 10.0) as u64);
        bar.set_message(format!("{phase}: {committed} committed, {rate:.0} tx/s"));
    };
    let result = drive(&mut system, &mut generator, &drive_config, &mut progress);
    bar.finish_and_clear();
    if !system.quiesce(Duration::from_secs(60)) {
        return Err(anyhow!(
            "the system did not quiesce within 60 s after the run"
        ));
    }
    eprintln!("checking consistency...");
    let state = system
        .state()
        .map_err(|e| anyhow!("cannot read the final state: {e}"))?;
    let anomalies = checker::check(&data, &state, system.log());
    let (mode_violations, examples) = system.cluster().mode_violations();
    if config.check_modes {
        eprintln!("mode checker: {mode_violations} conflicting concurrent accesses");
        for e in examples.iter().take(5) {
            eprintln!("  {e}");
        }
    }
    let replay_equal = if config.replay_check {
        Some(
            system
                .matches_serial_replay(&data)
                .map_err(|e| anyhow!("serial replay: {e}"))?,
        )
    } else {
        None
    };
    if let Some(dir) = dump_state {
        crate::dump::write_state(dir, &state)
            .with_context(|| format!("dumping state to {}", dir.display()))?;
        eprintln!("state written to {}", dir.display());
    }
    let run_id = format!(
        "{}-{}-{}",
        report::timestamp(),
        config.workload,
        config.system
    );
    let dir = results.join(&run_id);
    let summary = RunSummary {
        run_id: &run_id,
        config,
        drive: &result,
        anomalies: &anomalies,
        replay_equal,
        load_s,
    };
    report::print(&summary);
    report::write(&dir, &summary)?;
    println!("\nresults written to {}", dir.display());
    Ok(RunOutcome {
        anomalies,
        replay_equal,
        mode_violations,
    })
}
