//! `vbench run`: generate, load, drive, check, report — on vmodb, the baseline, or both in turn
//! on the same data and the same input stream.

use crate::config::{Injection, RunConfig};
use crate::report::{self, RunSummary};
use crate::vmodb_checks::{remote_checks, vmodb_checks};
use anyhow::{Context, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::Path;
use std::time::{Duration, Instant};
use vmodb::{ClusterConfig, CoordinatorConfig, LinkDelay};
use workloads::marketplace::baseline_system::{
    BaselineConfig, BaselineMarketplace, Jitter, SiloConfig,
};
use workloads::marketplace::checker::{self, AnomalyReport};
use workloads::marketplace::driver::{
    DriveConfig, DriveResult, MarketplaceSystem, drive, drive_open,
};
use workloads::marketplace::generator::{
    Dataset, InputConfig, InputGenerator, KeyDistribution, Scale, generate,
};
use workloads::marketplace::remote_system::RemoteMarketplace;
use workloads::marketplace::vmodb_system::VmodbMarketplace;
use workloads::remote::ClientAuth;

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

/// The generated data of the workload being run (every system of a run gets the same).
pub enum WorkloadData {
    Marketplace(Scale, Dataset),
    Tpcc(crate::tpcc_run::TpccData),
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

/// Generates the configured workload's data (both systems of a run get the same).
pub fn prepare(config: &RunConfig, progress: &Progress) -> anyhow::Result<WorkloadData> {
    if config.workload == "tpcc" {
        return Ok(WorkloadData::Tpcc(crate::tpcc_run::prepare(
            config, progress,
        )?));
    }
    let scale = Scale::scaled(config.scale);
    progress.note(format_args!(
        "generating data: {} customers, {} sellers, {} products (seed {})",
        scale.customers,
        scale.sellers,
        scale.products(),
        config.seed
    ));
    let data = generate(&scale, config.seed);
    Ok(WorkloadData::Marketplace(scale, data))
}

/// The systems a configuration runs, in order (`both`: vmodb, then the baseline).
pub fn systems(config: &RunConfig) -> &'static [&'static str] {
    match config.system.as_str() {
        "both" => &["vmodb", "baseline"],
        "baseline" => &["baseline"],
        _ => &["vmodb"],
    }
}

/// Runs the workload on one system: start, load, drive, quiesce, check.
pub fn run_on(
    system: &'static str,
    config: &RunConfig,
    data: &WorkloadData,
    dump_state: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<SystemRun> {
    match data {
        WorkloadData::Marketplace(scale, data) => {
            run_system(system, config, scale, data, dump_state, progress)
        }
        WorkloadData::Tpcc(t) => {
            crate::tpcc_run::run_system(system, config, t, dump_state, progress)
        }
    }
}

pub fn run(
    config: &RunConfig,
    dump_state: Option<&Path>,
    results: &Path,
) -> anyhow::Result<RunOutcome> {
    config.validate()?;
    let progress = Progress::default();
    let data = prepare(config, &progress)?;
    let systems = systems(config);
    let run_id = format!(
        "{}-{}-{}",
        report::timestamp(),
        config.workload,
        config.system
    );
    let dir = results.join(&run_id);
    let mut runs = Vec::new();
    for &system in systems {
        let both = systems.len() > 1;
        let dump = dump_state.map(|d| {
            if both {
                d.join(system)
            } else {
                d.to_path_buf()
            }
        });
        let run = run_on(system, config, &data, dump.as_deref(), &progress)?;
        let sub_id = if both {
            format!("{run_id}/{system}")
        } else {
            run_id.clone()
        };
        let summary = RunSummary {
            run_id: &sub_id,
            system,
            config,
            drive: &run.drive,
            anomalies: &run.anomalies,
            replay_equal: run.replay_equal,
            replay_tps: run.replay_tps,
            load_s: run.load_s,
        };
        report::print(&summary);
        let out = if both { dir.join(system) } else { dir.clone() };
        report::write(&out, &summary)?;
        runs.push(run);
    }
    if let [v, b] = runs.as_slice() {
        report::print_comparison(config, v, b);
        report::write_comparison(&dir, v, b)?;
    }
    println!("\nresults written to {}", dir.display());
    Ok(RunOutcome { runs })
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

/// Starts vMODB embedded; also returns its write-ahead log directory, if it has one.
fn start_vmodb(
    config: &RunConfig,
    data: &Dataset,
) -> anyhow::Result<(VmodbMarketplace, Option<std::path::PathBuf>)> {
    let cluster = cluster_config(config);
    let wal = cluster.data_dir.clone();
    let vmodb =
        VmodbMarketplace::start(data, cluster).map_err(|e| anyhow!("cannot start vmodb: {e}"))?;
    Ok((vmodb, wal))
}

fn connect(url: &str, config: &RunConfig, auth: &ClientAuth) -> anyhow::Result<RemoteMarketplace> {
    let remote =
        RemoteMarketplace::connect(url, config.concurrency, auth).map_err(|e| anyhow!("{e}"))?;
    let before = remote.submitted_before();
    if config.target.is_some() && before > 0 {
        // The checks compare the final state with the data set the cluster started from; a
        // cluster that already ran transactions holds something else, and every difference
        // would be blamed on the engine.
        bail!(
            "the cluster at {url} has already run {before} transactions: the consistency checks \
             need a cluster that starts from its initial data. Restart its nodes (without \
             their data directories) and run again"
        );
    }
    Ok(remote)
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

/// Starts the baseline; with `--durability fsync` it logs to a fresh temporary file, removed
/// when the returned guard drops (nothing recovers from it yet).
fn start_baseline(
    config: &RunConfig,
    data: &Dataset,
) -> anyhow::Result<(BaselineMarketplace, Option<TempLog>)> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let log = (config.durability == "fsync").then(|| {
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("vbench-baseline-log-{}-{n}.log", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path); // a fresh log, not one left by a crashed run
        TempLog(path)
    });
    let b = BaselineConfig {
        silo: silo_config(config),
        log: log.as_ref().map(|l| l.0.clone()),
        ..BaselineConfig::default()
    };
    let baseline = BaselineMarketplace::start(data, b)
        .map_err(|e| anyhow!("cannot start the baseline: {e}"))?;
    Ok((baseline, log))
}

/// The baseline's log file of one run, removed on drop, error paths included.
struct TempLog(std::path::PathBuf);

impl Drop for TempLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn workers(config: &RunConfig) -> usize {
    if config.workers == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        config.workers
    }
}

fn run_system(
    system: &'static str,
    config: &RunConfig,
    scale: &Scale,
    data: &Dataset,
    dump_state: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<SystemRun> {
    progress.note(format_args!("starting {system}..."));
    let started = Instant::now();
    // Declared before `baseline` so that the file goes after the baseline has closed it.
    let mut _baseline_log = None;
    let mut vmodb = None;
    let mut baseline = None;
    let mut remote = None;
    let mut processes = None;
    let mut wal = None;
    let target: &mut dyn MarketplaceSystem = if system != "vmodb" {
        let (b, log) = start_baseline(config, data)?;
        _baseline_log = log;
        baseline.insert(b)
    } else if let Some(url) = &config.target {
        remote.insert(connect(url, config, &config.auth)?)
    } else if config.deploy == "processes" {
        let cluster: &mut crate::processes::ProcessCluster =
            processes.insert(crate::processes::ProcessCluster::start(config)?);
        progress.note(format_args!(
            "vmodb: {} processes on loopback, front door at {}",
            cluster.pids().len(),
            cluster.url()
        ));
        remote.insert(connect(&cluster.url(), config, &cluster.auth())?)
    } else {
        let (v, dir) = start_vmodb(config, data)?;
        wal = dir;
        vmodb.insert(v)
    };
    let load_s = started.elapsed().as_secs_f64();
    // The same seed gives both systems the same input stream.
    let mut generator = InputGenerator::new(scale, input_config(config), config.seed);
    let mut drive = drive_with_progress(target, &mut generator, config, progress)?;
    if let Some(why) = target.fatal() {
        let exited = processes.as_mut().and_then(|p| p.exited());
        let exited = exited.map_or(String::new(), |e| format!(" ({e})"));
        return Err(anyhow!("{system} failed during the run: {why}{exited}"));
    }
    let quiescing = Instant::now();
    if !target.quiesce(Duration::from_secs(60)) {
        return Err(anyhow!(
            "{system} did not quiesce within 60 s after the run"
        ));
    }
    drive.quiesce = Some(quiescing.elapsed());
    // After quiescence: an op's effects may be applied after the driver stopped.
    drive.visibility_us = target.visibility();
    drive.injected_delay_us = target.injected_delays();
    progress.note(format_args!("checking consistency of {system}..."));
    let state = target
        .state()
        .map_err(|e| anyhow!("cannot read the final state of {system}: {e}"))?;
    let anomalies = checker::check(data, &state, target.log());
    if let Some(dir) = dump_state {
        // While the system still runs: the order counters are read from it.
        let counters = target
            .customer_orders()
            .map_err(|e| anyhow!("{system}: {e}"))?;
        crate::dump::write_marketplace(dir, data, &state, counters.as_deref(), target.log())
            .with_context(|| format!("dumping state to {}", dir.display()))?;
        progress.note(format_args!("state written to {}", dir.display()));
    }
    let (mode_violations, replay) = match (&vmodb, &remote) {
        (Some(v), _) => vmodb_checks(v.cluster(), config, progress, || {
            v.matches_serial_replay(data)
        })?,
        (None, Some(r)) => remote_checks(r, config, progress, data)?,
        (None, None) => (0, None),
    };
    if let Some(s) = baseline.as_ref().and_then(|b| b.log_stats()) {
        progress.note(format_args!(
            "baseline log: {} records, {} bytes, {} syncs ({:.1} records/sync)",
            s.records,
            s.bytes,
            s.syncs,
            s.records as f64 / s.syncs.max(1) as f64
        ));
    }
    if let Some(p) = processes
        && let Err(e) = p.stop()
    {
        progress.note(format_args!("warning: {e}"));
    }
    if let Some(dir) = wal {
        drop(vmodb);
        let _ = std::fs::remove_dir_all(dir); // nothing recovers from it yet
    }
    Ok(SystemRun {
        system,
        drive,
        anomalies,
        replay_equal: replay.map(|r| r.equal),
        replay_tps: replay.map(|r| r.tps()),
        mode_violations,
        load_s,
    })
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

pub(crate) fn drive_with_progress(
    system: &mut dyn MarketplaceSystem,
    generator: &mut InputGenerator,
    config: &RunConfig,
    progress: &Progress,
) -> anyhow::Result<DriveResult> {
    let bar = progress.bar(config)?;
    let drive_config = DriveConfig {
        warmup: Duration::from_secs_f64(config.warmup_s),
        duration: Duration::from_secs_f64(config.duration_s),
        concurrency: config.concurrency,
    };
    let name = system.name();
    let mut on_progress = progress_updater(&bar, config, name);
    let result = match config.open_load() {
        Some(load) => drive_open(system, generator, &drive_config, &load, &mut on_progress),
        None => drive(system, generator, &drive_config, &mut on_progress),
    };
    progress.finish(&bar);
    Ok(result)
}
