//! The TPC-C serial path: the store and handler work of one transaction, with no coordinator,
//! scheduler or transport. Generates a population and an input stream, sequences the inputs as a
//! coordinator would (`sequence_ops`) and times `SerialReplay::run` alone (not loading, not the
//! final dump), per transaction type and for the whole stream.
//!
//! `cargo bench -p workloads --bench tpcc_replay -- [--warehouses 4] [--scale 0.1]
//! [--transactions 200000] [--mix standard|new-order] [--seed 42] [--stream-only]`

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;
use workloads::allocator::MiMalloc;
use workloads::tpcc::generator::{TpccInputGenerator, TpccMix, TpccScale, populate};
use workloads::tpcc::services;
use workloads::tpcc::vmodb_system::{loader, sequence_ops};

#[global_allocator]
static ALLOC: Counting = Counting;

/// mimalloc, counting the bytes live while `COUNTING` is on: what the stores hold after loading,
/// exactly, whatever the allocator keeps resident besides (a resident-set figure counts freed
/// memory the allocator keeps, and misses text shared with the generated population).
struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

fn count(bytes: usize, sign: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(sign * bytes as isize, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to mimalloc unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout.size(), -1);
        count(new_size, 1);
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

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
    workloads::allocator::keep_freed_memory();
    let a = args()?;
    let scale = TpccScale::fraction(a.warehouses, a.scale);
    scale.validate()?;
    let mix = TpccMix::preset(&a.mix).ok_or(format!("unknown mix {}", a.mix))?;
    let mut generator = TpccInputGenerator::new(&scale, mix, a.seed)
        .with_rollbacks(workloads::tpcc::generator::SPEC_ROLLBACK_PERCENT);
    let terminals = a.warehouses * 10;
    let ops: Vec<_> = (0..a.transactions)
        .map(|i| generator.next_op(i as u32 % terminals))
        .collect();
    let inputs = sequence_ops(&ops, 1_000, a.seed)?;
    let app = services::app().map_err(|e| e.to_string())?;

    // What the stores hold: live bytes after loading, with the population they came from gone.
    COUNTING.store(true, Ordering::Relaxed);
    let population = populate(&scale, a.seed);
    let mut replay = vmodb::SerialReplay::load(&app, loader(&population)).map_err(|e| e.0)?;
    let rows = row_count(&population);
    drop(population);
    COUNTING.store(false, Ordering::Relaxed);
    let loaded = LIVE.load(Ordering::Relaxed).max(0) as usize;
    println!(
        "loaded {rows} rows: {:.0} MiB live, {:.0} bytes per row (versions, keys, indexes)",
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
    let initial = populate(&scale, a.seed);
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

/// The rows a population loads into the stores (items twice: the warehouse service keeps a copy).
fn row_count(s: &workloads::tpcc::TpccState) -> usize {
    s.warehouses.len() * 2
        + s.districts.len()
        + s.customers.len()
        + s.history.len()
        + s.items.len() * 2
        + s.stock.len()
        + s.orders.len()
        + s.new_orders.len()
        + s.order_lines.len()
}
