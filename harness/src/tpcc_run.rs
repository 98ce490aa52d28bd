//! `vbench run --workload tpcc`: populate per the specification (scaled by `--warehouses`, and
//! by `--scale` for quick runs), drive terminals, check the consistency conditions.

use crate::config::RunConfig;
use crate::processes::ProcessCluster;
use crate::system::{
    Progress, SystemRun, TempDataDir, TempLog, cluster_config, fresh_cluster, item_check,
    progress_updater, silo_config, tpcc_scale,
};
use crate::vmodb_checks::{remote_checks, vmodb_checks};
use anyhow::{Context, anyhow};
use std::path::Path;
use std::time::{Duration, Instant};
use workloads::marketplace::checker::AnomalyReport;
use workloads::marketplace::driver::DriveResult;
use workloads::remote::ClientAuth;
use workloads::tpcc::TpccState;
use workloads::tpcc::baseline_system::{BaselineTpcc, BaselineTpccConfig};
use workloads::tpcc::checker::{self, CheckOptions};
use workloads::tpcc::driver::{TpccDriveConfig, TpccSystem, drive, drive_open};
use workloads::tpcc::generator::{TpccInputGenerator, TpccMix, TpccScale, populate};
use workloads::tpcc::remote_system::RemoteTpcc;
use workloads::tpcc::vmodb_system::VmodbTpcc;

pub struct TpccData {
    pub scale: TpccScale,
    pub mix: TpccMix,
    pub initial: TpccState,
}

/// Populates the tables; reads only what `run::DataKey` holds, so a sweep may reuse the result.
pub fn prepare(config: &RunConfig, progress: &Progress) -> anyhow::Result<TpccData> {
    let scale = tpcc_scale(config);
    scale.validate().map_err(|e| anyhow!("TPC-C scale: {e}"))?;
    let mix = TpccMix::preset(&config.tpcc_mix)
        .ok_or_else(|| anyhow!("unknown TPC-C mix `{}`", config.tpcc_mix))?;
    progress.note(format_args!(
        "populating TPC-C: {} warehouse(s), {} items, {} customers and {} orders per district (seed {})",
        scale.warehouses,
        scale.items,
        scale.customers_per_district,
        scale.orders_per_district,
        config.seed
    ));
    let initial = populate(&scale, config.seed);
    Ok(TpccData {
        scale,
        mix,
        initial,
    })
}

pub fn run_system(
    system: &'static str,
    config: &RunConfig,
    data: &TpccData,
    dump_state: Option<&Path>,
    progress: &Progress,
) -> anyhow::Result<SystemRun> {
    progress.note(format_args!("starting {system}..."));
    let started = Instant::now();
    // Declared before the systems so that the files go after the systems have closed them,
    // on error paths too.
    let mut _baseline_log = None;
    let cluster = cluster_config(config);
    let _data_dir = cluster.data_dir.clone().map(TempDataDir);
    let (mut vmodb, mut baseline, mut remote, mut processes) = (None, None, None, None);
    let target: &mut dyn TpccSystem = if system == "vmodb" && config.target.is_some() {
        let url = config.target.as_deref().unwrap_or_default();
        remote.insert(connect(url, config, &config.auth)?)
    } else if system == "vmodb" && config.deploy == "processes" {
        let cluster: &mut ProcessCluster = processes.insert(ProcessCluster::start(config)?);
        progress.note(format_args!(
            "vmodb: {} processes on loopback, front door at {}",
            cluster.pids().len(),
            cluster.url()
        ));
        remote.insert(connect(&cluster.url(), config, &cluster.auth())?)
    } else if system == "vmodb" {
        vmodb.insert(
            VmodbTpcc::start_with(&data.initial, cluster, item_check(config))
                .map_err(|e| anyhow!("cannot start vmodb: {e}"))?,
        )
    } else {
        let log = TempLog::for_baseline(config);
        let b = BaselineTpccConfig {
            silo: silo_config(config),
            log: log.as_ref().map(TempLog::path),
            ..BaselineTpccConfig::default()
        };
        _baseline_log = log;
        baseline.insert(
            BaselineTpcc::start(&data.initial, b)
                .map_err(|e| anyhow!("cannot start the baseline: {e}"))?,
        )
    };
    let load_s = started.elapsed().as_secs_f64();
    let mut result = drive_with_progress(target, data, config, progress)?;
    if let Some(why) = target.fatal() {
        let exited = processes.as_mut().and_then(ProcessCluster::exited);
        let exited = exited.map_or(String::new(), |e| format!(" ({e})"));
        return Err(anyhow!("{system} failed during the run: {why}{exited}"));
    }
    let quiescing = Instant::now();
    if !target.quiesce(Duration::from_secs(60)) {
        return Err(anyhow!(
            "{system} did not quiesce within 60 s after the run"
        ));
    }
    result.quiesce = Some(quiescing.elapsed());
    // After quiescence: an op's effects may be applied after the driver stopped.
    result.visibility_us = target.visibility();
    result.injected_delay_us = target.injected_delays();
    progress.note(format_args!(
        "checking the TPC-C consistency conditions on {system}..."
    ));
    let state = target
        .state()
        .map_err(|e| anyhow!("cannot read the final state of {system}: {e}"))?;
    let anomalies = check_conditions(&state, data);
    let (mode_violations, replay) = match (&vmodb, &remote) {
        (Some(v), _) => vmodb_checks(v.cluster(), config, progress, || {
            v.matches_serial_replay(&data.initial)
        })?,
        (None, Some(r)) => remote_checks(r.client(), config, progress, || {
            r.matches_serial_replay(&data.initial)
        })?,
        (None, None) => (0, None),
    };
    if let Some(dir) = dump_state {
        crate::dump::write_tpcc_state(dir, &state)
            .with_context(|| format!("dumping state to {}", dir.display()))?;
        progress.note(format_args!("state written to {}", dir.display()));
    }
    if let Some(s) = baseline.as_ref().and_then(BaselineTpcc::log_stats) {
        progress.note_log(&s);
    }
    if let Some(p) = processes
        && let Err(e) = p.stop()
    {
        progress.note(format_args!("warning: {e}"));
    }
    Ok(SystemRun {
        system,
        drive: result,
        anomalies,
        replay_equal: replay.map(|r| r.equal),
        replay_tps: replay.map(|r| r.tps()),
        mode_violations,
        load_s,
    })
}

/// Drives `target` with the configured terminals (or open-loop rate) and a progress bar.
pub(crate) fn drive_with_progress(
    target: &mut dyn TpccSystem,
    data: &TpccData,
    config: &RunConfig,
    progress: &Progress,
) -> anyhow::Result<DriveResult> {
    let mut generator = TpccInputGenerator::new(&data.scale, data.mix.clone(), config.seed)
        .with_rollbacks(config.tpcc_rollback_percent);
    let bar = progress.bar(config)?;
    let drive_config = TpccDriveConfig {
        warmup: Duration::from_secs_f64(config.warmup_s),
        duration: Duration::from_secs_f64(config.duration_s),
        terminals: config.concurrency as u32,
    };
    let name = target.name();
    let mut on_progress = progress_updater(&bar, config, name);
    let result = match config.open_load() {
        Some(load) => drive_open(
            target,
            &mut generator,
            &drive_config,
            &load,
            &mut on_progress,
        ),
        None => drive(target, &mut generator, &drive_config, &mut on_progress),
    };
    progress.finish(&bar);
    Ok(result)
}

/// The specification's consistency conditions (clause 3.3.2) on a final state.
pub(crate) fn check_conditions(state: &TpccState, data: &TpccData) -> AnomalyReport {
    let options = CheckOptions {
        deliveries_ran: data.mix.delivery > 0,
        initial_delivered_per_district: data.scale.orders_per_district
            - data.scale.new_orders_per_district,
    };
    let report = checker::check(state, options);
    AnomalyReport {
        counts: report.counts,
        examples: report.examples,
    }
}

/// A client of the TPC-C cluster at `url`, which must start from its initial population.
fn connect(url: &str, config: &RunConfig, auth: &ClientAuth) -> anyhow::Result<RemoteTpcc> {
    let remote = RemoteTpcc::connect(url, config.concurrency, auth, item_check(config))
        .map_err(|e| anyhow!("{e}"))?;
    fresh_cluster(url, config, remote.submitted_before())?;
    Ok(remote)
}
