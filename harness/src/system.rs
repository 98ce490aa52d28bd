//! What every part of a run shares: a system's run and its outcome, what decides a run's data
//! (`DataKey`), progress display, and the engine's and baseline's settings derived from a run's
//! configuration. Below `run.rs` and everything that reports on runs, so nothing imports back.

use crate::config::{Injection, RunConfig};
use anyhow::anyhow;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::time::Duration;
use vmodb::{ClusterConfig, CoordinatorConfig, LinkDelay};
use workloads::marketplace::baseline_system::{AppendLogStats, Jitter, SiloConfig};
use workloads::marketplace::checker::AnomalyReport;
use workloads::marketplace::driver::DriveResult;
use workloads::marketplace::generator::{InputConfig, KeyDistribution};

/// One system's run.
pub struct SystemRun {
    pub system: &'static str,
    pub drive: DriveResult,
    pub anomalies: AnomalyReport,
    /// vmodb only, with `--replay-check`.
    pub replay_equal: Option<bool>,
    /// The serial replay's throughput on one thread (with `--replay-check`).
    pub replay_tps: Option<f64>,
    /// Conflicts the mode checker saw (vmodb only; 0 unless `check_modes`).
    pub mode_violations: u64,
    pub load_s: f64,
}

pub struct RunOutcome {
    pub runs: Vec<SystemRun>,
}

impl RunOutcome {
    /// vmodb's guarantees held (the baseline's anomalies are results, not failures).
    pub fn vmodb_clean(&self) -> bool {
        self.runs.iter().filter(|r| r.system == "vmodb").all(|r| {
            r.anomalies.is_clean() && r.replay_equal != Some(false) && r.mode_violations == 0
        })
    }
}

/// What `prepare` reads from a configuration: two configurations with equal keys get equal data,
/// so a sweep can reuse the last data set instead of generating it again. Keep it in step with
/// `prepare` and `tpcc_run::prepare`.
#[derive(Clone, Debug, PartialEq)]
pub struct DataKey {
    workload: String,
    scale: f64,
    seed: u64,
    warehouses: u32,
    tpcc_mix: String,
}

impl DataKey {
    pub fn of(config: &RunConfig) -> Self {
        DataKey {
            workload: config.workload.clone(),
            scale: config.scale,
            seed: config.seed,
            warehouses: config.warehouses,
            tpcc_mix: config.tpcc_mix.clone(),
        }
    }
}

/// Where a run reports: its own progress bar and notes on stderr (`vbench run`), or a bar under a
/// sweep's overall bar with the notes left out (a sweep prints one line per run instead).
#[derive(Clone, Default)]
pub struct Progress {
    sweep: Option<MultiProgress>,
}

impl Progress {
    /// A run inside a sweep whose bars live in `multi`.
    pub fn within(multi: &MultiProgress) -> Self {
        Progress {
            sweep: Some(multi.clone()),
        }
    }

    /// A line of commentary (what is being done); quiet inside a sweep.
    pub fn note(&self, message: impl std::fmt::Display) {
        if self.sweep.is_none() {
            eprintln!("{message}");
        }
    }

    /// What the baseline's durability log synced in a run.
    pub fn note_log(&self, s: &AppendLogStats) {
        self.note(format_args!(
            "baseline log: {} records, {} bytes, {} syncs ({:.1} records/sync)",
            s.records,
            s.bytes,
            s.syncs,
            s.records as f64 / s.syncs.max(1) as f64
        ));
    }

    /// A progress bar over the run's warm-up and measured window.
    pub fn bar(&self, config: &RunConfig) -> anyhow::Result<ProgressBar> {
        let bar = progress_bar(config)?;
        Ok(match &self.sweep {
            Some(multi) => multi.add(bar),
            None => bar,
        })
    }

    /// Finishes and clears `bar`; in a sweep also takes it off the display for good (a sweep
    /// makes one per run).
    pub fn finish(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        if let Some(multi) = &self.sweep {
            multi.remove(bar);
        }
    }
}

/// The generator's settings, with the injected hot spots and update targeting.
pub(crate) fn input_config(config: &RunConfig) -> InputConfig {
    let i: &Injection = &config.inject;
    let (sellers, products) = if i.hot > 0.0 {
        (KeyDistribution::Zipf(i.hot), KeyDistribution::Zipf(i.hot))
    } else {
        (config.seller_distribution, config.product_distribution)
    };
    InputConfig {
        mix: config.mix.clone(),
        sellers,
        products,
        targeted_updates: i.targeted_updates,
        burst: i.burst,
        all_or_nothing_checkout: config.all_or_nothing_checkout,
        ..InputConfig::default()
    }
}

/// vMODB's cluster settings from the run's (batching, workers, injected link delay).
pub(crate) fn cluster_config(config: &RunConfig) -> ClusterConfig {
    let jitter_us = (config.inject.jitter_ms * 1000.0) as u64;
    ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(config.batch_window_ms),
            batch_max_txns: config.batch_max_txns,
            batch_idle: (config.batch_idle_ms > 0)
                .then(|| Duration::from_millis(config.batch_idle_ms)),
            seed: config.seed,
            record_inputs: config.replay_check,
            checkpoint_every: Duration::from_millis(config.checkpoint_interval_ms.max(1)),
            log_segment_bytes: config.log_segment_mib.max(1) << 20,
            request_retention: Duration::from_secs_f64(config.request_retention_s),
            ..CoordinatorConfig::default()
        },
        workers: workers(config),
        check_modes: config.check_modes,
        link_delay: (jitter_us > 0).then_some(LinkDelay {
            max_us: jitter_us,
            seed: config.seed,
        }),
        data_dir: data_dir(config),
    }
}

/// With `--durability fsync`, a fresh data directory (commit log and checkpoints), one per
/// run, removed after the run.
pub(crate) fn data_dir(config: &RunConfig) -> Option<std::path::PathBuf> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if config.durability != "fsync" {
        return None;
    }
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vbench-data-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Some(dir)
}

/// The baseline's silo settings from the run's (workers, injected jitter).
pub(crate) fn silo_config(config: &RunConfig) -> SiloConfig {
    let mut silo = SiloConfig {
        workers: workers(config),
        ..SiloConfig::default()
    };
    if config.inject.jitter_ms > 0.0 {
        silo.jitter = Some(Jitter {
            max: Duration::from_secs_f64(config.inject.jitter_ms / 1000.0),
            seed: config.seed,
            reorder: config.inject.reorder,
        });
    }
    silo
}

pub(crate) fn workers(config: &RunConfig) -> usize {
    if config.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        config.workers
    }
}

/// A progress bar over the run's warm-up and measured window.
fn progress_bar(config: &RunConfig) -> anyhow::Result<ProgressBar> {
    let total = config.warmup_s + config.duration_s;
    let bar = ProgressBar::new((total * 10.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
            .map_err(|e| anyhow!("progress template: {e}"))?,
    );
    Ok(bar)
}

/// Updates `bar` from the driver's (elapsed, committed) callbacks.
pub(crate) fn progress_updater<'a>(
    bar: &'a ProgressBar,
    config: &'a RunConfig,
    name: &'static str,
) -> impl FnMut(Duration, u64) + 'a {
    let mut last = (Duration::ZERO, 0u64);
    move |elapsed: Duration, committed: u64| {
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
        bar.set_message(format!(
            "{name} {phase}: {committed} committed, {rate:.0} tx/s"
        ));
    }
}

/// The baseline's durability log of one run (`--durability fsync`): a fresh temporary file,
/// removed on drop, error paths included (nothing recovers from it yet).
pub(crate) struct TempLog(std::path::PathBuf);

impl TempLog {
    /// A fresh log file with `--durability fsync`; `None` without durability.
    pub(crate) fn for_baseline(config: &RunConfig) -> Option<TempLog> {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        (config.durability == "fsync").then(|| {
            let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("vbench-baseline-log-{}-{n}.log", std::process::id());
            let path = std::env::temp_dir().join(name);
            let _ = std::fs::remove_file(&path); // a fresh log, not one left by a crashed run
            TempLog(path)
        })
    }

    pub(crate) fn path(&self) -> std::path::PathBuf {
        self.0.clone()
    }
}

impl Drop for TempLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// vMODB's data directory of one embedded run (`--durability fsync`, `data_dir`), removed on
/// drop, error paths included: nothing recovers from it yet.
pub(crate) struct TempDataDir(pub(crate) std::path::PathBuf);

impl Drop for TempDataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The specification's TPC-C population for `--warehouses`, shrunk by `--scale` below 1.
pub fn tpcc_scale(config: &RunConfig) -> workloads::tpcc::generator::TpccScale {
    workloads::tpcc::generator::TpccScale::fraction(config.warehouses, config.scale)
}

/// Where TPC-C's New-Order finds an unused item (`--item-check`).
pub(crate) fn item_check(config: &RunConfig) -> workloads::tpcc::services::ItemCheck {
    use workloads::tpcc::services::ItemCheck;
    match config.tpcc_item_check.as_str() {
        "inventory" => ItemCheck::AtInventory,
        _ => ItemCheck::AtEntry, // validated: `entry`
    }
}

/// A cluster the run did not start (`--target`) must not have run anything yet (`before`
/// transactions sequenced).
pub(crate) fn fresh_cluster(url: &str, config: &RunConfig, before: u64) -> anyhow::Result<()> {
    if config.target.is_some() && before > 0 {
        // The checks compare the final state with the data set the cluster started from; a
        // cluster that already ran transactions holds something else, and every difference
        // would be blamed on the engine.
        anyhow::bail!(
            "the cluster at {url} has already run {before} transactions: the consistency checks \
             need a cluster that starts from its initial data. Restart its nodes (without \
             their data directories) and run again"
        );
    }
    Ok(())
}
