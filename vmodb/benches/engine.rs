//! Engine benchmark: store operations on one thread, end-to-end transactions of the three-service
//! shop embedded, and serial replay of the same inputs.
//!
//! `cargo bench -p vmodb --bench engine -- [--seconds S] [--window-ms W] [--inflight N] [--soak-minutes M]`

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/shop.rs"]
mod shop;

use hdrhistogram::Histogram;
use shop::{Item, PlaceOrder};
use std::time::{Duration, Instant};
use vmodb::internals::{commit, read_ctx, single_table_store, write_ctx};
use vmodb::{Check, Cluster, ClusterConfig, CoordinatorConfig, TableDef};

struct Args {
    seconds: f64,
    window_ms: u64,
    inflight: usize,
    soak_minutes: f64,
    skip_store: bool,
    /// Open loop: submit at this rate (tx/s) instead of keeping `inflight` outstanding.
    rate: f64,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5.0,
        window_ms: 10,
        inflight: 4096,
        soak_minutes: 0.0,
        skip_store: false,
        rate: 0.0,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--seconds" => a.seconds = value.parse().expect("--seconds takes a number"),
            "--window-ms" => a.window_ms = value.parse().expect("--window-ms takes an integer"),
            "--inflight" => a.inflight = value.parse().expect("--inflight takes an integer"),
            "--skip-store" => {
                a.skip_store = true;
                i += 1;
                continue;
            }
            "--rate" => a.rate = value.parse().expect("--rate takes a number"),
            "--soak-minutes" => {
                a.soak_minutes = value.parse().expect("--soak-minutes takes a number")
            }
            _ => {
                i += 1; // cargo passes --bench; ignore unknown flags
                continue;
            }
        }
        i += 2;
    }
    a
}

fn store_ops() {
    const ROWS: u32 = 100_000;
    let store = single_table_store(
        TableDef::<Item>::new("items", &["id"]).check("stock", Check::NonNegative),
    )
    .expect("store");
    {
        let ctx = write_ctx(&store, 0);
        let t = ctx.table::<Item>().expect("table");
        for id in 0..ROWS {
            t.insert(Item {
                id,
                price: 1,
                stock: 1_000_000,
                sold: 0,
            })
            .expect("insert");
        }
    }
    commit(&store, 0);
    // Lookups: one snapshot reader, random keys.
    let n = 5_000_000u64;
    let ctx = read_ctx(&store, 0);
    let t = ctx.table::<Item>().expect("table");
    let start = Instant::now();
    let mut key = 12345u32;
    let mut found = 0u64;
    for _ in 0..n {
        key = key.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        if let Some(item) = t.get(&(key % ROWS)) {
            found += item.stock as u64 & 1;
        }
    }
    let lookup_rate = n as f64 / start.elapsed().as_secs_f64();
    std::hint::black_box(found);
    // Updates: each at its own TID (as tasks do), with a batch commit (GC) every 10,000.
    let n = 2_000_000u64;
    let start = Instant::now();
    for tid in 1..=n {
        let ctx = write_ctx(&store, tid);
        let t = ctx.table::<Item>().expect("table");
        key = key.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let mut item = t.get(&(key % ROWS)).expect("row");
        item.stock -= 1;
        item.sold += 1;
        t.update(item).expect("update");
        if tid % 10_000 == 0 {
            commit(&store, tid);
        }
    }
    let update_rate = n as f64 / start.elapsed().as_secs_f64();
    println!("store, one thread, {ROWS} rows:");
    println!("  key lookups     {:>12.0} /s", lookup_rate);
    println!(
        "  read+update     {:>12.0} /s   (each its own TID, constraint checked, GC every 10k)",
        update_rate
    );
    println!(
        "  versions after  {:>12}      (live rows: {ROWS})",
        store.version_count()
    );
}

fn cluster(window_ms: u64, record: bool) -> Cluster {
    let config = ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: Duration::from_millis(window_ms),
            batch_max_txns: 100_000,
            max_in_flight: 1 << 20,
            record_inputs: record,
            ..CoordinatorConfig::default()
        },
        ..ClusterConfig::default()
    };
    Cluster::start(
        shop::app().expect("app"),
        config,
        shop::load(10_000, i64::MAX / 4, 10_000),
    )
    .expect("start")
}

/// `n` checkout inputs with fresh order ids, spread over customers and items.
fn make(n: usize, next_id: &mut u64) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|_| {
            *next_id += 1;
            let id = *next_id;
            let e = PlaceOrder {
                order_id: id,
                customer: (id.wrapping_mul(2_654_435_761) % 10_000) as u32,
                item: (id.wrapping_mul(40_503) % 10_000) as u32,
                qty: 1,
            };
            (
                "checkout".to_string(),
                postcard::to_allocvec(&e).expect("encode"),
            )
        })
        .collect()
}

/// Open loop: submits at `rate` tx/s in 1 ms slices for `seconds`, then drains.
fn drive_open(
    cluster: &Cluster,
    seconds: f64,
    rate: f64,
    next_id: &mut u64,
) -> (u64, f64, Histogram<u64>) {
    let client = cluster.client();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut submitted = 0u64;
    let mut committed = 0u64;
    while Instant::now() < end {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        if due > submitted {
            client
                .submit_all(make((due - submitted) as usize, next_id))
                .expect("submit");
            submitted = due;
        }
        while let Ok(c) = client.completions().try_recv() {
            committed += 1;
            let _ = hist.record(c.latency.as_micros() as u64);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = start.elapsed().as_secs_f64();
    while committed < submitted {
        let Ok(c) = client.completions().recv_timeout(Duration::from_secs(30)) else {
            break;
        };
        committed += 1;
        let _ = hist.record(c.latency.as_micros() as u64);
    }
    (committed, committed as f64 / elapsed, hist)
}

/// Inputs for a closed loop: `n` fresh transactions, numbered from `next_id`.
type MakeInputs = fn(usize, &mut u64) -> Vec<(String, Vec<u8>)>;

/// Closed loop: keeps `inflight` transactions from `make` outstanding for `seconds`; returns
/// (committed, rate, latency histogram).
fn drive(
    cluster: &Cluster,
    make: MakeInputs,
    seconds: f64,
    inflight: usize,
    next_id: &mut u64,
) -> (u64, f64, Histogram<u64>) {
    let client = cluster.client();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    client.submit_all(make(inflight, next_id)).expect("submit");
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let (mut committed, mut outstanding) = (0u64, inflight);
    while outstanding > 0 {
        let Ok(c) = client.completions().recv_timeout(Duration::from_secs(30)) else {
            break;
        };
        let mut burst = vec![c];
        while let Ok(c) = client.completions().try_recv() {
            burst.push(c);
        }
        for c in &burst {
            let _ = hist.record(c.latency.as_micros() as u64);
        }
        outstanding -= burst.len();
        committed += burst.len() as u64;
        if Instant::now() < end {
            client
                .submit_all(make(burst.len(), next_id))
                .expect("submit");
            outstanding += burst.len();
        }
    }
    (
        committed,
        committed as f64 / start.elapsed().as_secs_f64(),
        hist,
    )
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
        })
        .map_or(0.0, |pages| pages * 4096.0 / (1 << 20) as f64)
}

fn end_to_end(a: &Args) {
    let c = cluster(a.window_ms, true);
    let mut next_id = 0;
    // Warm-up, then measure.
    drive(&c, make, 1.0, a.inflight, &mut next_id);
    let (committed, rate, hist) = if a.rate > 0.0 {
        drive_open(&c, a.seconds, a.rate, &mut next_id)
    } else {
        drive(&c, make, a.seconds, a.inflight, &mut next_id)
    };
    assert!(c.wait_idle(Duration::from_secs(30)));
    let load = if a.rate > 0.0 {
        format!("open loop at {} tx/s", a.rate)
    } else {
        format!("{} in flight", a.inflight)
    };
    println!(
        "end to end, shop checkout (orders -> inventory -> billing), window {} ms, {load}, {} workers:",
        a.window_ms,
        ClusterConfig::default().workers
    );
    println!("  committed       {committed:>12}");
    println!("  throughput      {rate:>12.0} tx/s");
    println!(
        "  latency         p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.9) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    let inputs = c.committed_inputs();
    let state = c.state();
    drop(c);
    let start = Instant::now();
    let replayed = vmodb::serial_replay(
        &shop::app().expect("app"),
        shop::load(10_000, i64::MAX / 4, 10_000),
        &inputs,
    )
    .expect("replay");
    let replay_secs = start.elapsed().as_secs_f64();
    let replay_rate = inputs.len() as f64 / replay_secs;
    println!(
        "serial replay of the same {} inputs (incl. warm-up):",
        inputs.len()
    );
    println!(
        "  throughput      {replay_rate:>12.0} tx/s   (concurrent / serial = {:.2})",
        rate / replay_rate
    );
    println!("  state equal     {:>12}", state == replayed);
}

/// `n` rebalance inputs: two services, updates only, so the data size stays constant.
fn make_rebalance(n: usize, next_id: &mut u64) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|_| {
            *next_id += 1;
            let id = *next_id;
            let e = shop::Rebalance {
                item: (id.wrapping_mul(40_503) % 10_000) as u32,
                customer: (id.wrapping_mul(2_654_435_761) % 10_000) as u32,
                amount: 1,
            };
            (
                "rebalance".to_string(),
                postcard::to_allocvec(&e).expect("encode"),
            )
        })
        .collect()
}

/// Memory over a long run at constant data size: RSS and versions must stay flat.
fn soak(a: &Args) {
    let c = cluster(a.window_ms, false);
    let mut next_id = 0;
    let end = Instant::now() + Duration::from_secs_f64(a.soak_minutes * 60.0);
    println!(
        "soak: {} minutes of rebalance (inventory -> billing, updates only: constant data)",
        a.soak_minutes
    );
    while Instant::now() < end {
        let (committed, rate, hist) = drive(&c, make_rebalance, 20.0, a.inflight, &mut next_id);
        let s = c.stats();
        println!(
            "  +{committed} tx  {rate:.0} tx/s  p50 {:.1} ms  rss {:.0} MiB  versions {}  in flight {}",
            hist.value_at_quantile(0.5) as f64 / 1000.0,
            rss_mib(),
            s.versions,
            s.coordinator.in_flight
        );
    }
}

fn main() {
    let a = args();
    if a.soak_minutes > 0.0 {
        soak(&a);
        return;
    }
    if !a.skip_store {
        store_ops();
    }
    if std::env::var_os("VMODB_BENCH_STORE_ONLY").is_none() {
        end_to_end(&a);
    }
}
