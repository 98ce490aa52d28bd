//! The crash test's client for each workload: it drives the cluster through the front door,
//! resubmits (same request ids) what a down cluster left unanswered, and judges the final
//! state by the workload's own checker.

use super::Clients;
use crate::config::RunConfig;
use crate::run::{WorkloadData, drive_with_progress};
use crate::system::item_check;
use crate::system::{Progress, input_config};
use crate::tpcc_run::{TpccData, check_conditions};
use anyhow::anyhow;
use std::time::Duration;
use vmodb::{ReplayCheck, Tid};
use workloads::marketplace::checker;
use workloads::marketplace::driver::{DriveResult, MarketplaceSystem};
use workloads::marketplace::generator::{Dataset, InputGenerator, Scale};
use workloads::marketplace::remote_system::{RemoteMarketplace, TrackingReport};
use workloads::remote::{ClientAuth, FrontDoorClient};
use workloads::tpcc::driver::TpccSystem;
use workloads::tpcc::remote_system::RemoteTpcc;

/// What the crash test needs of a workload's client.
pub(super) trait CrashClient {
    fn drive(&mut self, config: &RunConfig, progress: &Progress) -> anyhow::Result<DriveResult>;
    fn fatal(&self) -> Option<String>;
    fn quiesce(&mut self, timeout: Duration) -> bool;
    fn front_door(&self) -> &FrontDoorClient;
    /// Every outcome the client was told, (TID, transaction), and how many ops it resubmitted.
    fn seen(&self) -> (Vec<(Tid, String)>, u64);
    fn resubmitted_late(&self) -> u64;
    /// What following ops by TID found; `None` if this workload's client does not.
    fn tracking(&self) -> Option<TrackingReport>;
    /// The workload's consistency checker on the final state (dumped first with
    /// `--dump-state`): `Err` describes the anomalies.
    fn check_state(
        &self,
        clients: &Clients,
        progress: &Progress,
    ) -> anyhow::Result<Result<(), String>>;
    fn replay(&self) -> Result<ReplayCheck, String>;
}

/// Connects the workload's client to the cluster at `url`, resubmitting across restarts.
pub(super) fn connect(
    data: WorkloadData,
    url: &str,
    auth: &ClientAuth,
    config: &RunConfig,
    clients: &Clients,
) -> anyhow::Result<Box<dyn CrashClient>> {
    let nonce = format!("crash-{}", config.seed);
    Ok(match data {
        WorkloadData::Marketplace(scale, data) => {
            let mut remote = RemoteMarketplace::connect(url, config.concurrency, auth)
                .map_err(|e| anyhow!("{e}"))?;
            remote.retry_when_down(&nonce);
            remote.resubmit_late(clients.late_every);
            if clients.track_every > 0 {
                remote.track_by_tid(clients.track_every);
            }
            Box::new(Marketplace {
                remote,
                scale,
                data,
            })
        }
        WorkloadData::Tpcc(data) => {
            let mut remote = RemoteTpcc::connect(url, config.concurrency, auth, item_check(config))
                .map_err(|e| anyhow!("{e}"))?;
            remote.retry_when_down(&nonce, clients.late_every);
            Box::new(Tpcc { remote, data })
        }
    })
}

/// The checker's report as the crash test prints it.
fn verdict(anomalies: &checker::AnomalyReport) -> Result<(), String> {
    if anomalies.is_clean() {
        Ok(())
    } else {
        Err(format!("{:?} {:?}", anomalies.counts, anomalies.examples))
    }
}

struct Marketplace {
    remote: RemoteMarketplace,
    scale: Scale,
    data: Dataset,
}

impl CrashClient for Marketplace {
    fn drive(&mut self, config: &RunConfig, progress: &Progress) -> anyhow::Result<DriveResult> {
        let mut generator = InputGenerator::new(&self.scale, input_config(config), config.seed);
        drive_with_progress(&mut self.remote, &mut generator, config, progress)
    }
    fn fatal(&self) -> Option<String> {
        self.remote.fatal()
    }
    fn quiesce(&mut self, timeout: Duration) -> bool {
        self.remote.quiesce(timeout)
    }
    fn front_door(&self) -> &FrontDoorClient {
        self.remote.client()
    }
    fn seen(&self) -> (Vec<(Tid, String)>, u64) {
        self.remote.seen()
    }
    fn resubmitted_late(&self) -> u64 {
        self.remote.resubmitted_late()
    }
    fn tracking(&self) -> Option<TrackingReport> {
        Some(self.remote.tracking().unwrap_or_default())
    }
    fn check_state(
        &self,
        clients: &Clients,
        progress: &Progress,
    ) -> anyhow::Result<Result<(), String>> {
        let remote = &self.remote;
        let state = remote.state().map_err(|e| anyhow!("final state: {e}"))?;
        let anomalies = checker::check(&self.data, &state, remote.log());
        if let Some(dir) = &clients.dump_state {
            let counters = remote.customer_orders().map_err(|e| anyhow!("{e}"))?;
            crate::dump::write_marketplace(
                dir,
                &self.data,
                &state,
                counters.as_deref(),
                remote.log(),
            )
            .map_err(|e| anyhow!("dumping state to {}: {e}", dir.display()))?;
            progress.note(format_args!("state written to {}", dir.display()));
        }
        Ok(verdict(&anomalies))
    }
    fn replay(&self) -> Result<ReplayCheck, String> {
        self.remote.matches_serial_replay(&self.data)
    }
}

struct Tpcc {
    remote: RemoteTpcc,
    data: TpccData,
}

impl CrashClient for Tpcc {
    fn drive(&mut self, config: &RunConfig, progress: &Progress) -> anyhow::Result<DriveResult> {
        crate::tpcc_run::drive_with_progress(&mut self.remote, &self.data, config, progress)
    }
    fn fatal(&self) -> Option<String> {
        TpccSystem::fatal(&self.remote)
    }
    fn quiesce(&mut self, timeout: Duration) -> bool {
        self.remote.quiesce(timeout)
    }
    fn front_door(&self) -> &FrontDoorClient {
        self.remote.client()
    }
    fn seen(&self) -> (Vec<(Tid, String)>, u64) {
        self.remote.seen()
    }
    fn resubmitted_late(&self) -> u64 {
        self.remote.resubmitted_late()
    }
    fn tracking(&self) -> Option<TrackingReport> {
        None
    }
    fn check_state(
        &self,
        clients: &Clients,
        progress: &Progress,
    ) -> anyhow::Result<Result<(), String>> {
        let state = self
            .remote
            .state()
            .map_err(|e| anyhow!("final state: {e}"))?;
        let anomalies = check_conditions(&state, &self.data);
        if let Some(dir) = &clients.dump_state {
            crate::dump::write_tpcc_state(dir, &state)
                .map_err(|e| anyhow!("dumping state to {}: {e}", dir.display()))?;
            progress.note(format_args!("state written to {}", dir.display()));
        }
        Ok(verdict(&anomalies))
    }
    fn replay(&self) -> Result<ReplayCheck, String> {
        self.remote.matches_serial_replay(&self.data.initial)
    }
}
