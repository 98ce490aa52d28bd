//! `vbench run`: generate, load, drive, check, report — on vmodb, the baseline, or both in turn
//! on the same data and the same input stream.

use crate::config::RunConfig;
use crate::report::{self, RunSummary};
use crate::system::{
    Progress, RunOutcome, SystemRun, TempDataDir, TempLog, cluster_config, fresh_cluster,
    input_config, progress_updater, silo_config,
};
use crate::vmodb_checks::{remote_checks, vmodb_checks};
use anyhow::{Context, anyhow, bail};
use std::path::Path;
use std::time::{Duration, Instant};
use workloads::marketplace::baseline_system::{BaselineConfig, BaselineMarketplace};
use workloads::marketplace::checker::{self};
use workloads::marketplace::driver::{
    DriveConfig, DriveResult, MarketplaceSystem, drive, drive_open,
};
use workloads::marketplace::generator::{Dataset, InputGenerator, Scale, generate};
use workloads::marketplace::om_driver::OmDriver;
use workloads::marketplace::remote_system::RemoteMarketplace;
use workloads::marketplace::vmodb_system::VmodbMarketplace;
use workloads::remote::ClientAuth;

/// The generated data of the workload being run (every system of a run gets the same).
pub enum WorkloadData {
    Marketplace(Scale, Dataset),
    Tpcc(crate::tpcc_run::TpccData),
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
    if config.data == "ingest" && config.client != "om-driver" {
        bail!(
            "data = \"ingest\" starts a cluster empty: drive it with --client om-driver (on \
             --deploy processes or --target), which loads the data set through the benchmark's \
             ingestion routes"
        );
    }
    if config.client == "om-driver" && config.answer_at != "commit" {
        bail!("--client om-driver reads outcomes from answers at commit: answer_at = \"commit\"");
    }
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
    fresh_cluster(url, config, remote.submitted_before())?;
    Ok(remote)
}

/// The benchmark driver's client (`--client om-driver`): it ingests the data set into a cluster
/// that holds nothing, or checks that the cluster holds exactly that data set (as a reset
/// leaves it).
fn om_driver(
    url: &str,
    config: &RunConfig,
    auth: &ClientAuth,
    data: &Dataset,
    progress: &Progress,
) -> anyhow::Result<OmDriver> {
    let mut driver = OmDriver::connect(url, config.concurrency, auth, data, started_empty(config))
        .map_err(|e| anyhow!("{e}"))?;
    let started = Instant::now();
    let rows = driver
        .prepare(data, config.concurrency.max(64))
        .map_err(|e| anyhow!("om-driver, {url}: {e}"))?;
    if rows > 0 {
        progress.note(format_args!(
            "om-driver: ingested {rows} rows through the benchmark's API in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    } else {
        progress.note(format_args!(
            "om-driver: the cluster holds the data set as ingested; running again"
        ));
    }
    Ok(driver)
}

/// Whether the cluster a run drives started with no data: `--deploy processes` with the
/// benchmark's driver starts it so (`ProcessCluster::start`); a `--target` says so in its
/// configuration.
fn started_empty(config: &RunConfig) -> bool {
    config.data == "ingest" || (config.target.is_none() && config.client == "om-driver")
}

/// Starts the baseline; with `--durability fsync` it logs to a fresh temporary file, removed
/// when the returned guard drops (nothing recovers from it yet).
fn start_baseline(
    config: &RunConfig,
    data: &Dataset,
) -> anyhow::Result<(BaselineMarketplace, Option<TempLog>)> {
    let log = TempLog::for_baseline(config);
    let b = BaselineConfig {
        silo: silo_config(config),
        log: log.as_ref().map(TempLog::path),
        ..BaselineConfig::default()
    };
    let baseline = BaselineMarketplace::start(data, b)
        .map_err(|e| anyhow!("cannot start the baseline: {e}"))?;
    Ok((baseline, log))
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
    // Declared before the systems so that the files go after the systems have closed them,
    // on error paths too.
    let mut _baseline_log = None;
    let mut _data_dir: Option<TempDataDir> = None;
    let mut vmodb = None;
    let mut baseline = None;
    let mut remote = None;
    let mut om = None;
    let mut processes = None;
    let target: &mut dyn MarketplaceSystem = if system != "vmodb" {
        let (b, log) = start_baseline(config, data)?;
        _baseline_log = log;
        baseline.insert(b)
    } else if let Some(url) = &config.target {
        if config.client == "om-driver" {
            om.insert(om_driver(url, config, &config.auth, data, progress)?)
        } else {
            remote.insert(connect(url, config, &config.auth)?)
        }
    } else if config.deploy == "processes" {
        let cluster: &mut crate::processes::ProcessCluster =
            processes.insert(crate::processes::ProcessCluster::start(config)?);
        progress.note(format_args!(
            "vmodb: {} processes on loopback, front door at {}",
            cluster.pids().len(),
            cluster.url()
        ));
        if config.client == "om-driver" {
            om.insert(om_driver(
                &cluster.url(),
                config,
                &cluster.auth(),
                data,
                progress,
            )?)
        } else {
            remote.insert(connect(&cluster.url(), config, &cluster.auth())?)
        }
    } else {
        let (v, dir) = start_vmodb(config, data)?;
        _data_dir = dir.map(TempDataDir);
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
    let remote = remote.as_ref().or(om.as_ref().map(OmDriver::remote));
    let (mode_violations, replay) = match (&vmodb, remote) {
        (Some(v), _) => vmodb_checks(v.cluster(), config, progress, || {
            v.matches_serial_replay(data)
        })?,
        (None, Some(r)) => remote_checks(r.client(), config, progress, || {
            r.matches_serial_replay(data)
        })?,
        (None, None) => (0, None),
    };
    if let Some(driver) = &om {
        om_driver_checks(driver, config, progress)?;
    }
    if let Some(s) = baseline.as_ref().and_then(|b| b.log_stats()) {
        progress.note_log(&s);
    }
    if let Some(p) = processes
        && let Err(e) = p.stop()
    {
        progress.note(format_args!("warning: {e}"));
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

/// The driver's count of finished transactions (from the commit stream) must be exactly what
/// committed; a cluster driven by `--target` is then reset for the next run, as the driver's
/// post-run task does.
fn om_driver_checks(
    driver: &OmDriver,
    config: &RunConfig,
    progress: &Progress,
) -> anyhow::Result<()> {
    let c = driver.stream_count();
    progress.note(format_args!(
        "om-driver: the commit stream counted {} of {} answered ops finished; the cluster \
         handed out {} TIDs and committed {}, this client sent {} transactions",
        c.counted, c.answered, c.submitted_tids, c.committed_tids, c.sent
    ));
    if c.counted != c.answered || c.submitted_tids != c.committed_tids || c.committed_tids != c.sent
    {
        bail!("om-driver: the commit stream's count disagrees with what committed: {c:?}");
    }
    if config.target.is_some() {
        driver.reset().map_err(|e| anyhow!("om-driver: {e}"))?;
        progress.note(format_args!(
            "om-driver: PATCH /reset: the cluster is back to the data as ingested"
        ));
    }
    Ok(())
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
