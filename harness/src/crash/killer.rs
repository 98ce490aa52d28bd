//! The crash test's killer: `kill -9` of a random node at random (seeded) moments, each
//! followed by a restart of the cluster on its data directory; and a sampler of the data
//! directory's size.

use crate::processes::ProcessCluster;
use anyhow::anyhow;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One kill and the recovery after it.
pub(super) struct Kill {
    pub role: String,
    pub at_s: f64,
    /// From starting the new processes to the front door answering.
    pub serving_after: Duration,
    /// The coordinator's log when the node was killed (allocated: zeros ahead included).
    pub log_bytes: u64,
    /// What the restart recovered from: (checkpoint batch, logged transactions re-executed).
    pub recovered: Option<(u64, u64)>,
}

/// The data directory's size while the run lasts: (max of the log, max of everything, last).
pub(super) fn sample_disk(cluster: &Mutex<ProcessCluster>, done: &AtomicBool) -> (u64, u64, u64) {
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
pub(super) fn kill_loop(
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
