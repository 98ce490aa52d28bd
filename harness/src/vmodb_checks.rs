//! What vbench checks of vMODB after a run besides anomalies: rollback and mode-checker
//! counts, node traffic (remote), and the serial replay's equality and throughput.

use crate::config::RunConfig;
use crate::system::Progress;
use anyhow::anyhow;
use vmodb::ReplayCheck;
use workloads::remote::FrontDoorClient;

/// vMODB's own checks after a run: the mode checker's conflicts (printed with `--check-modes`)
/// and, with `--replay-check`, whether the state equals the serial replay (`replay`).
pub(crate) fn vmodb_checks(
    cluster: &vmodb::Cluster,
    config: &RunConfig,
    progress: &Progress,
    replay: impl FnOnce() -> Result<ReplayCheck, String>,
) -> anyhow::Result<(u64, Option<ReplayCheck>)> {
    let (n, examples) = cluster.mode_violations();
    let r = cluster.stats().coordinator.rollback;
    if r.aborted > 0 {
        progress.note(format_args!(
            "aborts: {} transactions; rollback rounds: {} pauses, {} rounds, {} re-executed",
            r.aborted, r.resolutions, r.rounds, r.reexecuted
        ));
    }
    if config.check_modes {
        progress.note(format_args!(
            "mode checker: {n} conflicting concurrent accesses"
        ));
        for e in examples.iter().take(5) {
            progress.note(format_args!("  {e}"));
        }
    }
    let replay = if config.replay_check {
        let check = replay().map_err(|e| anyhow!("serial replay: {e}"))?;
        note_replay(progress, &check);
        Some(check)
    } else {
        None
    };
    Ok((n, replay))
}

/// The serial replay's own figures (its state's equality is in the report).
pub(crate) fn note_replay(progress: &Progress, check: &ReplayCheck) {
    progress.note(format_args!(
        "serial replay: {} transactions in {:.2} s on one thread: {:.0} tx/s",
        check.transactions,
        check.run_secs,
        check.tps()
    ));
}

/// vMODB's own checks on a cluster in other processes, through its front door, and what its
/// nodes sent over the network.
pub(crate) fn remote_checks(
    client: &FrontDoorClient,
    config: &RunConfig,
    progress: &Progress,
    replay: impl FnOnce() -> Result<ReplayCheck, String>,
) -> anyhow::Result<(u64, Option<ReplayCheck>)> {
    let nodes = client
        .node_stats()
        .map_err(|e| anyhow!("node statistics: {e}"))?;
    let status = client.status().map_err(|e| anyhow!("status: {e}"))?;
    let t = nodes.traffic;
    let per_tx = t.bytes as f64 / status.submitted.max(1) as f64;
    progress.note(format_args!(
        "network: {} bytes in {} frames ({} messages) for {} transactions: {per_tx:.0} B/transaction",
        t.bytes, t.frames, t.messages, status.submitted
    ));
    if status.aborted > 0 {
        progress.note(format_args!("aborts: {} transactions", status.aborted));
    }
    if config.check_modes {
        progress.note(format_args!(
            "mode checker: {} conflicting concurrent accesses",
            nodes.mode_violations
        ));
        for e in nodes.mode_examples.iter().take(5) {
            progress.note(format_args!("  {e}"));
        }
    }
    let replay = if config.replay_check {
        let check = replay();
        let check = check.map_err(|e| anyhow!("serial replay: {e}"))?;
        note_replay(progress, &check);
        Some(check)
    } else {
        None
    };
    Ok((nodes.mode_violations, replay))
}
