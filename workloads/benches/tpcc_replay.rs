//! The TPC-C serial path: the store and handler work of one transaction, with no coordinator,
//! scheduler or transport. Generates a population and an input stream, sequences the inputs as a
//! coordinator would (`sequence_ops`) and times `SerialReplay::run` alone (not loading, not the
//! final dump), per transaction type and for the whole stream.
//!
//! `cargo bench -p workloads --bench tpcc_replay -- [--warehouses 4] [--scale 0.1]
//! [--transactions 200000] [--mix standard|new-order] [--seed 42] [--stream-only]`

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;
use workloads::tpcc::generator::{TpccInputGenerator, TpccMix, TpccScale, populate};
use workloads::tpcc::services;
use workloads::tpcc::vmodb_system::{loader, sequence_ops};

struct Args {
    warehouses: u32,
    scale: f64,
    transactions: usize,
    mix: String,
    seed: u64,
    /// Skip the per-type replays (for profiling the whole stream alone).
    stream_only: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        warehouses: 4,
        scale: 0.1,
        transactions: 200_000,
        mix: "standard".into(),
        seed: 42,
        stream_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--bench" => continue, // cargo bench passes it
            "--stream-only" => {
                a.stream_only = true;
                continue;
            }
            _ => {}
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--warehouses" => a.warehouses = value.parse().map_err(|e| bad(&e))?,
            "--scale" => a.scale = value.parse().map_err(|e| bad(&e))?,
            "--transactions" => a.transactions = value.parse().map_err(|e| bad(&e))?,
            "--mix" => a.mix = value,
            "--seed" => a.seed = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), String> {
    let a = args()?;
    let scale = TpccScale::fraction(a.warehouses, a.scale);
    scale.validate()?;
    let mix = TpccMix::preset(&a.mix).ok_or(format!("unknown mix {}", a.mix))?;
    let initial = populate(&scale, a.seed);
    let mut generator = TpccInputGenerator::new(&scale, mix, a.seed)
        .with_rollbacks(workloads::tpcc::generator::SPEC_ROLLBACK_PERCENT);
    let terminals = a.warehouses * 10;
    let ops: Vec<_> = (0..a.transactions)
        .map(|i| generator.next_op(i as u32 % terminals))
        .collect();
    let inputs = sequence_ops(&ops, 1_000, a.seed)?;
    let app = services::app().map_err(|e| e.to_string())?;

    let before_load = rss_bytes();
    let mut replay = vmodb::SerialReplay::load(&app, loader(&initial)).map_err(|e| e.0)?;
    let loaded = rss_bytes().saturating_sub(before_load);
    // The rows loaded into the stores (items twice: the warehouse service keeps a copy).
    let s = &initial;
    let rows = s.warehouses.len() * 2
        + s.districts.len()
        + s.customers.len()
        + s.history.len()
        + s.items.len() * 2
        + s.stock.len()
        + s.orders.len()
        + s.new_orders.len()
        + s.order_lines.len();
    println!(
        "loaded {rows} rows: {:.0} MiB resident, {:.0} bytes per row (versions, keys, indexes)",
        loaded as f64 / (1 << 20) as f64,
        loaded as f64 / rows.max(1) as f64
    );
    let start = Instant::now();
    let outcomes = replay.run(&inputs).map_err(|e| e.0)?;
    let secs = start.elapsed().as_secs_f64();
    let failed = outcomes.iter().filter(|(_, f)| f.is_some()).count();
    println!(
        "TPC-C serial replay, {} mix, {} warehouses, scale {}: {} transactions ({failed} rolled back)",
        a.mix, a.warehouses, a.scale, a.transactions
    );
    println!(
        "  whole stream   {:>10.0} tx/s   {:>8.2} µs/tx",
        a.transactions as f64 / secs,
        secs * 1e6 / a.transactions as f64
    );

    if a.stream_only {
        return Ok(());
    }
    // Per type: the same stream's transactions of one type, replayed alone on fresh stores.
    for kind in [
        "new_order",
        "payment",
        "order_status",
        "delivery",
        "stock_level",
    ] {
        let mut replay = vmodb::SerialReplay::load(&app, loader(&initial)).map_err(|e| e.0)?;
        let of_kind: Vec<_> = inputs
            .iter()
            .filter(|i| i.transaction == kind)
            .cloned()
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let start = Instant::now();
        replay.run(&of_kind).map_err(|e| e.0)?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "  {kind:<14} {:>10.0} tx/s   {:>8.2} µs/tx   ({} alone)",
            of_kind.len() as f64 / secs,
            secs * 1e6 / of_kind.len() as f64,
            of_kind.len()
        );
    }
    Ok(())
}

/// This process's resident memory (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
