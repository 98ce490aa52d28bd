//! vbench: runs the benchmark workloads on vmodb and on the eventually consistent actor baseline,
//! reports throughput, latency and consistency, and writes results under `results/`.

// Allocation-heavy engine work runs measurably faster on mimalloc than on glibc malloc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod config;
mod dump;
mod report;
mod run;
mod tpcc_run;

use clap::{Parser, Subcommand};
use config::{Injection, RunConfig, parse_distribution, parse_injection, parse_mix};
use std::path::PathBuf;
use std::process::ExitCode;
use workloads::marketplace::generator::{KeyDistribution, Mix};

#[derive(Parser)]
#[command(
    name = "vbench",
    version,
    about = "Benchmarks vmodb against an eventually consistent actor baseline: throughput, latency and consistency"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload once and report (defaults: marketplace on vmodb, about a minute).
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Start from a configuration file (e.g. results/<run>/config.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Workload: marketplace or tpcc.
    #[arg(long)]
    workload: Option<String>,
    /// System: vmodb, baseline (the eventually consistent actors), or both (same inputs, side by side).
    #[arg(long)]
    system: Option<String>,
    /// Measured seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds before measuring.
    #[arg(long)]
    warmup: Option<f64>,
    /// Transactions in flight (closed loop; TPC-C: terminals).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Batch window in milliseconds.
    #[arg(long)]
    batch_window_ms: Option<u64>,
    /// Maximum transactions per batch.
    #[arg(long)]
    batch_size: Option<u32>,
    /// Also seal a batch after this many ms without arrivals (0 = off).
    #[arg(long)]
    batch_idle_ms: Option<u64>,
    #[arg(long)]
    seed: Option<u64>,
    /// Data set scale relative to the benchmark's (marketplace 1.0 = 100,000 customers and
    /// products; TPC-C 1.0 = the specification's population per warehouse).
    #[arg(long)]
    scale: Option<f64>,
    /// Mix: benchmark, paper, or weights checkout,dashboard,price,product,delivery.
    #[arg(long, value_parser = parse_mix)]
    mix: Option<Mix>,
    /// Seller choice: uniform or zipf:S.
    #[arg(long, value_parser = parse_distribution)]
    seller_dist: Option<KeyDistribution>,
    /// Product choice within a seller: uniform or zipf:S.
    #[arg(long, value_parser = parse_distribution)]
    product_dist: Option<KeyDistribution>,
    /// Faults to inject: jitter=MS, hot[=S], targeted[=PERCENT], burst[=N] (comma-separated), or all.
    #[arg(long, value_parser = parse_injection)]
    inject: Option<Injection>,
    /// TPC-C: number of warehouses.
    #[arg(long)]
    warehouses: Option<u32>,
    /// TPC-C mix: standard (45/43/4/4/4) or new-order.
    #[arg(long)]
    tpcc_mix: Option<String>,
    /// Engine worker threads (0 = one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Record committed inputs and compare the final state with their serial replay.
    #[arg(long)]
    replay_check: bool,
    /// Check the services' execution-mode declarations against their row accesses (slower).
    #[arg(long)]
    check_modes: bool,
    /// Write every table of every service as CSV under this directory.
    #[arg(long)]
    dump_state: Option<PathBuf>,
    /// Where run directories go.
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<RunConfig> {
        let mut c = match &self.config {
            Some(path) => RunConfig::load(path)?,
            None => RunConfig::default(),
        };
        macro_rules! set {
            ($($field:ident <- $arg:expr),* $(,)?) => {$( if let Some(v) = $arg.clone() { c.$field = v; } )*};
        }
        set!(
            workload <- self.workload, system <- self.system, duration_s <- self.duration, warmup_s <- self.warmup,
            concurrency <- self.concurrency, batch_window_ms <- self.batch_window_ms, batch_max_txns <- self.batch_size,
            batch_idle_ms <- self.batch_idle_ms,
            seed <- self.seed, scale <- self.scale, mix <- self.mix, seller_distribution <- self.seller_dist,
            product_distribution <- self.product_dist, workers <- self.workers, inject <- self.inject,
            warehouses <- self.warehouses, tpcc_mix <- self.tpcc_mix,
        );
        c.replay_check |= self.replay_check;
        c.check_modes |= self.check_modes;
        Ok(c)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            let outcome = args
                .config()
                .and_then(|c| run::run(&c, args.dump_state.as_deref(), &args.results));
            match outcome {
                Ok(o) if o.vmodb_clean() => ExitCode::SUCCESS,
                Ok(_) => {
                    eprintln!("vbench: vmodb violated consistency (see the table above)");
                    ExitCode::from(3)
                }
                Err(e) => {
                    eprintln!("vbench: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
