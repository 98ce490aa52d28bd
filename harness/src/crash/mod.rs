//! `vbench crash`: the crash test. A multi-process vMODB cluster with durability runs either
//! workload's load (`--workload marketplace` or `tpcc`) while a killer `kill -9`s a random node (the coordinator included) at random
//! moments; after each kill the cluster is restarted on its data directory and recovers, and
//! the client resubmits what it was not answered (with the same request ids). At the end:
//! every request the client made ran exactly once (the cluster sequenced exactly as many
//! transactions as the client was answered, each answer a distinct TID), the consistency
//! checker finds no anomaly (for TPC-C: the specification's consistency conditions), and, with `--replay-check` (which keeps the whole log), the final
//! state equals the serial replay of the committed inputs and every answer names its input in
//! that history. Without it the log is truncated behind checkpoints as in production, and the
//! test checks that it was.

mod clients;
mod killer;

use crate::config::RunConfig;
use crate::processes::ProcessCluster;
use crate::run::prepare;
use crate::system::Progress;
use anyhow::{anyhow, bail};
use killer::{kill_loop, sample_disk};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the crash test's client behaves.
pub struct Clients {
    /// Every this many ops resubmit late: after the checkpoint that follows a restart (0: none).
    pub late_every: u64,
    /// Every this many ops are sent with `?wait=false` and followed by TID (0: none).
    pub track_every: u64,
    /// Write the final state, the initial data and the run log here (`--dump-state`).
    pub dump_state: Option<std::path::PathBuf>,
}

/// Runs the crash test; `Ok(true)` if every check passed.
pub fn crash(
    config: &RunConfig,
    kills: u32,
    every_s: f64,
    clients: &Clients,
) -> anyhow::Result<bool> {
    let mut config = config.clone();
    config.deploy = "processes".into();
    config.durability = "fsync".into();
    config.system = "vmodb".into();
    // Long enough for every kill, with time after the last one.
    config.duration_s = config
        .duration_s
        .max(kills as f64 * every_s * 1.5 + 2.0 - config.warmup_s);
    config.validate()?;
    let progress = Progress::default();
    let data = prepare(&config, &progress)?;
    let cluster = Arc::new(Mutex::new(ProcessCluster::start(&config)?));
    let (url, auth) = {
        let c = cluster.lock().map_err(|_| anyhow!("cluster lock"))?;
        (c.url(), c.auth())
    };
    progress.note(format_args!(
        "crash test: {kills} kills, about one every {every_s} s, front door at {url}"
    ));
    let mut remote = clients::connect(data, &url, &auth, &config, clients)?;
    progress.note(format_args!(
        "the client resubmits every {} op late (after the checkpoint that follows the restart), \
         the others at once",
        ordinal(clients.late_every),
    ));
    if remote.tracking().is_some() {
        progress.note(format_args!(
            "every {} op is sent with ?wait=false and followed by TID",
            ordinal(clients.track_every),
        ));
    }

    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (cluster, done) = (Arc::clone(&cluster), Arc::clone(&done));
        std::thread::spawn(move || sample_disk(&cluster, &done))
    };
    let killer = {
        let (cluster, done) = (Arc::clone(&cluster), Arc::clone(&done));
        let seed = config.seed;
        std::thread::spawn(move || kill_loop(&cluster, &done, kills, every_s, seed))
    };
    let drive = remote.drive(&config, &progress);
    done.store(true, Ordering::Release);
    let kills_done = killer
        .join()
        .map_err(|_| anyhow!("the killer thread panicked"))??;
    let drive = drive?;
    let disk = sampler
        .join()
        .map_err(|_| anyhow!("the disk sampler panicked"))?;
    if let Some(why) = remote.fatal() {
        bail!("the client gave up: {why}");
    }
    if !remote.quiesce(Duration::from_secs(60)) {
        bail!("the cluster did not quiesce within 60 s after the run");
    }

    for k in &kills_done {
        let (from, replayed) = k.recovered.unwrap_or_default();
        println!(
            "kill -9 {:<13} at {:>5.1} s (log {:>5.1} MB); serving again {:.2} s after the \
             restart, from checkpoint batch {from}, re-executing {replayed} transactions",
            format!("`{}`", k.role),
            k.at_s,
            k.log_bytes as f64 / 1e6,
            k.serving_after.as_secs_f64()
        );
    }
    let (seen, resubmitted) = remote.seen();
    let status = remote
        .front_door()
        .status()
        .map_err(|e| anyhow!("status: {e}"))?;
    let history = if config.replay_check {
        let inputs = remote.front_door().committed_inputs();
        Some(inputs.map_err(|e| anyhow!("committed inputs: {e}"))?)
    } else {
        None
    };
    let once = exactly_once(&seen, status.submitted, history.as_deref());
    let tracked = remote.tracking();
    let anomalies = remote.check_state(clients, &progress)?;
    let replay = if config.replay_check {
        let check = remote.replay();
        let check = check.map_err(|e| anyhow!("serial replay: {e}"))?;
        crate::vmodb_checks::note_replay(&progress, &check);
        Some(check.equal)
    } else {
        None
    };
    let log_dir = cluster
        .lock()
        .map_err(|_| anyhow!("cluster lock"))?
        .data_dir()
        .map(|d| d.join("coordinator"));
    // Truncation can only show once the log outgrew its first segment.
    let segments = log_dir.as_ref().map_or(0, |d| {
        std::fs::read_dir(d).map_or(0, |entries| {
            let names = entries.filter_map(|e| e.ok()).map(|e| e.file_name());
            names
                .filter(|n| n.to_string_lossy().starts_with("wal-"))
                .count()
        })
    });
    let first_gone = log_dir.is_some_and(|d| !d.join(format!("wal-{:020}.log", 0)).exists());
    let truncated = first_gone || segments <= 1;
    println!(
        "{} ops committed in the measured window ({} failed), {} resubmitted after a restart \
         ({} late); {} transactions sequenced in all",
        drive.committed,
        drive.failed,
        resubmitted,
        remote.resubmitted_late(),
        status.submitted
    );
    println!(
        "data directory (sampled every second): log at most {:.1} MB, everything at most {:.1} MB, \
         at the end {:.1} MB",
        disk.0 as f64 / 1e6,
        disk.1 as f64 / 1e6,
        disk.2 as f64 / 1e6
    );
    let mut checks = vec![("every request ran exactly once", once)];
    if let Some(tracked) = tracked {
        println!(
            "followed by TID (?wait=false): {} transactions committed as the commit stream \
             said, {} lost in a crash (as /status said) and run again",
            tracked.committed, tracked.lost
        );
        checks.push((
            "TIDs followed on the commit stream never misled the client",
            if tracked.wrong.is_empty() {
                Ok(())
            } else {
                Err(tracked.wrong.join("; "))
            },
        ));
    }
    checks.extend([
        ("consistency checker: no anomaly", anomalies),
        match replay {
            Some(equal) => (
                "final state equals the serial replay of the committed inputs",
                if equal { Ok(()) } else { Err("differs".into()) },
            ),
            None => (
                if first_gone {
                    "the commit log was truncated behind checkpoints (its first segment is gone)"
                } else {
                    "the commit log stayed within one segment (nothing to truncate yet)"
                },
                if truncated {
                    Ok(())
                } else {
                    Err("the first segment is still there".into())
                },
            ),
        },
        (
            "every kill was followed by a recovery",
            if kills_done.len() == kills as usize {
                Ok(())
            } else {
                Err(format!("{} of {kills} kills happened", kills_done.len()))
            },
        ),
    ]);
    let mut passed = true;
    for (what, result) in &checks {
        match result {
            Ok(()) => println!("PASS  {what}"),
            Err(e) => {
                passed = false;
                println!("FAIL  {what}: {e}");
            }
        }
    }
    let cluster = Arc::try_unwrap(cluster)
        .map_err(|_| anyhow!("the cluster is still shared"))?
        .into_inner()
        .map_err(|_| anyhow!("the killer thread panicked"))?;
    if let Err(e) = cluster.stop() {
        progress.note(format_args!("warning: {e}"));
    }
    Ok(passed)
}

fn ordinal(n: u64) -> String {
    match n {
        0 => "no".into(),
        1 => "".into(),
        2 => "2nd".into(),
        3 => "3rd".into(),
        n => format!("{n}th"),
    }
}

/// Each request ran exactly once: no TID was answered twice, the cluster sequenced exactly as
/// many transactions as the client was answered (a lost commit would leave an answer missing
/// or a TID reused, a duplicate run an extra transaction), and, with the history, each answer
/// names the transaction logged at its TID. (TIDs are not dense across restarts: numbering
/// resumes above every TID handed out before a crash.)
fn exactly_once(
    seen: &[(vmodb::Tid, String)],
    sequenced: u64,
    history: Option<&[vmodb::SequencedInput]>,
) -> Result<(), String> {
    let logged: Option<std::collections::HashMap<vmodb::Tid, &str>> = history.map(|h| {
        h.iter()
            .map(|i| (i.env.tid, i.transaction.as_str()))
            .collect()
    });
    let mut tids = std::collections::HashSet::new();
    for (tid, transaction) in seen {
        if !tids.insert(*tid) {
            return Err(format!("TID {tid} was answered twice"));
        }
        let Some(logged) = &logged else { continue };
        match logged.get(tid) {
            None => {
                return Err(format!(
                    "TID {tid} ({transaction}) is not in the committed history"
                ));
            }
            Some(t) if t != transaction => {
                return Err(format!(
                    "TID {tid} was answered as `{transaction}`, the history has `{t}`"
                ));
            }
            Some(_) => {}
        }
    }
    if seen.len() as u64 != sequenced {
        return Err(format!(
            "{sequenced} transactions were sequenced, the client was answered for {}",
            seen.len()
        ));
    }
    if let Some(h) = history.filter(|h| h.len() as u64 != sequenced) {
        return Err(format!(
            "the history holds {} transactions, {sequenced} were sequenced",
            h.len()
        ));
    }
    Ok(())
}
