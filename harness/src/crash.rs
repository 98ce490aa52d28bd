//! `vbench crash`: the crash test. A multi-process vMODB marketplace with durability runs the
//! benchmark load while a killer `kill -9`s a random node (the coordinator included) at random
//! moments; after each kill the cluster is restarted on its data directory and recovers, and
//! the client resubmits what it was not answered (with the same request ids). At the end:
//! every request the client made ran exactly once (the cluster sequenced exactly as many
//! transactions as the client was answered, each answer a distinct TID), the consistency
//! checker finds no anomaly, and, with `--replay-check` (which keeps the whole log), the final
//! state equals the serial replay of the committed inputs and every answer names its input in
//! that history. Without it the log is truncated behind checkpoints as in production, and the
//! test checks that it was.

use crate::config::RunConfig;
use crate::processes::ProcessCluster;
use crate::run::{WorkloadData, drive_with_progress, prepare};
use crate::system::{Progress, input_config};
use anyhow::{anyhow, bail};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::marketplace::checker;
use workloads::marketplace::driver::MarketplaceSystem;
use workloads::marketplace::generator::InputGenerator;
use workloads::marketplace::remote_system::RemoteMarketplace;

/// One kill and the recovery after it.
struct Kill {
    role: String,
    at_s: f64,
    /// From starting the new processes to the front door answering.
    serving_after: Duration,
    /// The coordinator's log when the node was killed (allocated: zeros ahead included).
    log_bytes: u64,
    /// What the restart recovered from: (checkpoint batch, logged transactions re-executed).
    recovered: Option<(u64, u64)>,
}

/// Runs the crash test; `Ok(true)` if every check passed.
/// How the crash test's client behaves.
pub struct Clients {
    /// Every this many ops resubmit late: after the checkpoint that follows a restart (0: none).
    pub late_every: u64,
    /// Every this many ops are sent with `?wait=false` and followed by TID (0: none).
    pub track_every: u64,
    /// Write the final state, the initial data and the run log here (`--dump-state`).
    pub dump_state: Option<std::path::PathBuf>,
}

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
    let WorkloadData::Marketplace(scale, data) = prepare(&config, &progress)? else {
        bail!("vbench crash runs the marketplace only");
    };
    let cluster = Arc::new(Mutex::new(ProcessCluster::start(&config)?));
    let (url, auth) = {
        let c = cluster.lock().map_err(|_| anyhow!("cluster lock"))?;
        (c.url(), c.auth())
    };
    progress.note(format_args!(
        "crash test: {kills} kills, about one every {every_s} s, front door at {url}"
    ));
    let mut remote =
        RemoteMarketplace::connect(&url, config.concurrency, &auth).map_err(|e| anyhow!("{e}"))?;
    remote.retry_when_down(&format!("crash-{}", config.seed));
    remote.resubmit_late(clients.late_every);
    if clients.track_every > 0 {
        remote.track_by_tid(clients.track_every);
    }
    progress.note(format_args!(
        "the client resubmits every {} op late (after the checkpoint that follows the restart), \
         the others at once; every {} op is sent with ?wait=false and followed by TID",
        ordinal(clients.late_every),
        ordinal(clients.track_every),
    ));

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
    let mut generator = InputGenerator::new(&scale, input_config(&config), config.seed);
    let drive = drive_with_progress(&mut remote, &mut generator, &config, &progress);
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
        .client()
        .status()
        .map_err(|e| anyhow!("status: {e}"))?;
    let history = if config.replay_check {
        let inputs = remote.client().committed_inputs();
        Some(inputs.map_err(|e| anyhow!("committed inputs: {e}"))?)
    } else {
        None
    };
    let once = exactly_once(&seen, status.submitted, history.as_deref());
    let tracked = remote.tracking().unwrap_or_default();
    let state = remote.state().map_err(|e| anyhow!("final state: {e}"))?;
    let anomalies = checker::check(&data, &state, remote.log());
    if let Some(dir) = &clients.dump_state {
        let counters = remote.customer_orders().map_err(|e| anyhow!("{e}"))?;
        crate::dump::write_marketplace(dir, &data, &state, counters.as_deref(), remote.log())
            .map_err(|e| anyhow!("dumping state to {}: {e}", dir.display()))?;
        progress.note(format_args!("state written to {}", dir.display()));
    }
    let replay = if config.replay_check {
        let check = remote.matches_serial_replay(&data);
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
    println!(
        "followed by TID (?wait=false): {} transactions committed as the commit stream said, \
         {} lost in a crash (as /status said) and run again",
        tracked.committed, tracked.lost
    );
    let checks = [
        ("every request ran exactly once", once),
        (
            "TIDs followed on the commit stream never misled the client",
            if tracked.wrong.is_empty() {
                Ok(())
            } else {
                Err(tracked.wrong.join("; "))
            },
        ),
        (
            "consistency checker: no anomaly",
            if anomalies.is_clean() {
                Ok(())
            } else {
                Err(format!("{:?} {:?}", anomalies.counts, anomalies.examples))
            },
        ),
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
    ];
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

/// The data directory's size while the run lasts: (max of the log, max of everything, last).
fn sample_disk(cluster: &Mutex<ProcessCluster>, done: &AtomicBool) -> (u64, u64, u64) {
    let mut out = (0, 0, 0);
    while !done.load(Ordering::Acquire) {
        if let Ok(c) = cluster.try_lock() {
            let (log, all) = c.data_bytes();
            out = (out.0.max(log), out.1.max(all), all);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    out
}

/// Kills a random node every `every_s` seconds on average (seeded), restarting the cluster
/// after each kill, until `kills` happened or the run is `done`.
fn kill_loop(
    cluster: &Mutex<ProcessCluster>,
    done: &AtomicBool,
    kills: u32,
    every_s: f64,
    seed: u64,
) -> anyhow::Result<Vec<Kill>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xdead);
    let started = Instant::now();
    let mut out = Vec::new();
    while out.len() < kills as usize {
        let wait = Duration::from_secs_f64(every_s * rng.random_range(0.5..1.5));
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if done.load(Ordering::Acquire) {
                return Ok(out);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut c = cluster
            .lock()
            .map_err(|_| anyhow!("the cluster lock is poisoned"))?;
        // The middle kill always takes the coordinator; the others a random node.
        let role = if out.len() == kills as usize / 2 {
            "coordinator".to_string()
        } else {
            c.roles()[rng.random_range(0..c.roles().len())].clone()
        };
        let at_s = started.elapsed().as_secs_f64();
        c.kill(&role)?;
        let (log_bytes, _) = c.data_bytes();
        let serving_after = c.restart(Duration::from_secs(1))?;
        let recovered = c.status().and_then(|s| s.recovered);
        out.push(Kill {
            role,
            at_s,
            serving_after,
            log_bytes,
            recovered,
        });
    }
    Ok(out)
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
