//! The TPC-C driver: a closed loop of terminals, each with its home warehouse and one
//! transaction in flight (no keying or think times: the paper measures peak throughput), or
//! open-loop arrivals at a rate (`drive_open`). Only completions inside the measured window
//! count.

use super::TpccState;
use super::generator::{TPCC_KINDS, TpccInputGenerator, TpccOp};
use crate::marketplace::driver::{Done, DriveResult};
use crate::open_loop::{self, NoGate, OpenLoad};
use crate::probes::Probes;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A system TPC-C can run on.
pub trait TpccSystem: Probes {
    fn name(&self) -> &'static str;
    /// Starts `op`; its completion comes back through `poll` with the same id.
    fn submit(&mut self, id: u64, op: &TpccOp) -> Result<(), String>;
    /// Completions that arrived, waiting up to `wait` for the first.
    fn poll(&mut self, wait: Duration) -> Vec<Done>;
    /// Waits until nothing is in flight.
    fn quiesce(&mut self, timeout: Duration) -> bool;
    /// Every table, at quiescence.
    fn state(&self) -> Result<TpccState, String>;
    /// Why the system can no longer run (its durability log failed); the driver stops at once
    /// when it says so.
    fn fatal(&self) -> Option<String> {
        None
    }
}

#[derive(Clone, Debug)]
pub struct TpccDriveConfig {
    pub warmup: Duration,
    pub duration: Duration,
    /// Terminals, each with one transaction in flight.
    pub terminals: u32,
}

pub fn drive(
    system: &mut dyn TpccSystem,
    generator: &mut TpccInputGenerator,
    config: &TpccDriveConfig,
    progress: &mut dyn FnMut(Duration, u64),
) -> DriveResult {
    let start = Instant::now();
    let measure_from = start + config.warmup;
    let end = measure_from + config.duration;
    system.measure_visibility(measure_from, end);
    let mut result = DriveResult::new(&TPCC_KINDS, config.duration);
    // In flight: id → (terminal, kind).
    let mut in_flight: HashMap<u64, (u32, &'static str)> = HashMap::new();
    let mut idle: Vec<u32> = (0..config.terminals.max(1)).rev().collect();
    let mut next_id = 0u64;
    let mut last_progress = start;
    loop {
        if let Some(why) = system.fatal() {
            result.failures.push(why);
            break; // nothing more can be made durable
        }
        if Instant::now() < end {
            while let Some(terminal) = idle.pop() {
                let op = generator.next_op(terminal);
                next_id += 1;
                match system.submit(next_id, &op) {
                    Ok(()) => {
                        in_flight.insert(next_id, (terminal, op.kind()));
                    }
                    Err(e) => {
                        idle.push(terminal);
                        if result.failures.len() < 10 {
                            result.failures.push(format!("submit {}: {e}", op.kind()));
                        }
                        break;
                    }
                }
            }
        } else if in_flight.is_empty() {
            break;
        }
        for done in system.poll(Duration::from_millis(1)) {
            let Some((terminal, kind)) = in_flight.remove(&done.id) else {
                continue;
            };
            idle.push(terminal);
            let at = Instant::now();
            if at < measure_from || at > end {
                continue;
            }
            result.record(kind, done);
        }
        if last_progress.elapsed() >= Duration::from_millis(100) {
            last_progress = Instant::now();
            progress(start.elapsed(), result.committed);
        }
        if Instant::now() > end + Duration::from_secs(60) {
            break;
        }
    }
    progress(start.elapsed(), result.committed);
    result
}

/// Open-loop TPC-C: arrivals at `load`'s rate, taken by the terminals in turn (each arrival is
/// the next op of terminal `i mod terminals`, so the home warehouses spread as in the closed
/// loop). No per-terminal limit: a terminal's next arrival does not wait for its last.
pub fn drive_open(
    system: &mut dyn TpccSystem,
    generator: &mut TpccInputGenerator,
    config: &TpccDriveConfig,
    load: &OpenLoad,
    progress: &mut dyn FnMut(Duration, u64),
) -> DriveResult {
    let terminals = config.terminals.max(1);
    let mut turn = 0u32;
    let next = || {
        let op = generator.next_op(turn);
        turn = (turn + 1) % terminals;
        let kind = op.kind();
        (op, Vec::<NoGate>::new(), kind)
    };
    let from = Instant::now() + config.warmup;
    system.measure_visibility(from, from + config.duration);
    open_loop::drive(
        system,
        load,
        config.warmup,
        config.duration,
        &TPCC_KINDS,
        next,
        progress,
    )
}

impl open_loop::Target for dyn TpccSystem + '_ {
    type Op = TpccOp;
    fn submit(&mut self, id: u64, op: &TpccOp) -> Result<(), String> {
        TpccSystem::submit(self, id, op)
    }
    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        TpccSystem::poll(self, wait)
    }
    fn fatal(&self) -> Option<String> {
        TpccSystem::fatal(self)
    }
}
