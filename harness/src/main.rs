//! vbench: runs the benchmark workloads on vmodb and on the eventually consistent actor baseline,
//! reports throughput, latency and consistency, and writes results under `results/`.

// Allocation-heavy engine work runs measurably faster on mimalloc than on glibc malloc; it keeps
// what it frees (`keep_freed_memory`, first thing in `main`).
#[global_allocator]
static ALLOC: workloads::allocator::MiMalloc = workloads::allocator::MiMalloc;

mod capacity;
mod check;
mod config;
mod crash;
mod dump;
mod peak;
mod processes;
mod report;
mod run;
mod serve;
mod sweep;
mod system;
mod tpcc_run;
mod vmodb_checks;

use clap::{Parser, Subcommand};
use config::{Injection, RunConfig, parse_distribution, parse_injection, parse_mix};
use std::path::PathBuf;
use std::process::ExitCode;
use workloads::marketplace::generator::{KeyDistribution, Mix};
use workloads::remote::{ClientAuth, RemoteError, Token};

#[derive(Parser)]
#[command(
    name = "vbench",
    version,
    about = "Benchmarks vmodb against an eventually consistent actor baseline: throughput, latency and consistency",
    after_help = "Exit status: 0 done; 1 a sweep had failed runs; 2 bad input or an error; \
                  3 vmodb violated consistency (run, check)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload once and report (defaults: marketplace on vmodb, about a minute).
    Run(RunArgs),
    /// The consistency gate (CI): a run with serial replay and the mode checker on, one PASS/FAIL
    /// line per vmodb guarantee; exits 3 if any fails. Takes the flags of `run`.
    Check(RunArgs),
    /// Run a sweep file (fixed and varied settings, repetitions); writes results/<name>/ with
    /// sweep.csv, latency.csv, per-run files, PNG plots and report.md.
    Sweep(SweepArgs),
    /// Redraw a sweep's plots and report.md from its sweep.csv, without running anything.
    Plot(PlotArgs),
    /// Run one node of a distributed vMODB cluster, either workload (the coordinator with its
    /// HTTP front door, or one service) from a cluster file naming every node's address.
    Serve(ServeArgs),
    /// The crash test: vMODB as processes with durability under either workload's load; a random
    /// node (the coordinator included) is killed with SIGKILL again and again, the cluster
    /// restarts and recovers, and the client resubmits what was not answered. PASS/FAIL for
    /// exactly-once outcomes, zero anomalies, and serial-replay equality; exits 3 on a FAIL.
    Crash(CrashArgs),
}

#[derive(clap::Args)]
struct CrashArgs {
    #[command(flatten)]
    run: RunArgs,
    /// How many nodes to kill, one after another.
    #[arg(long, default_value_t = 3)]
    kills: u32,
    /// Seconds between kills, on average (each wait is uniform in 0.5x..1.5x, seeded).
    #[arg(long, default_value_t = 3.0)]
    kill_every: f64,
    /// Every N-th unanswered op is resubmitted late: only after the checkpoint that follows
    /// the restart (the hardest case for remembering request ids); the others at once (0: none).
    #[arg(long, default_value_t = 4)]
    late_every: u64,
    /// Send every N-th op with `?wait=false` and follow it by TID on the commit stream, then
    /// check what the TIDs said against the outcomes (0: none).
    #[arg(long, default_value_t = 5)]
    track_every: u64,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// `coordinator` or a service name: the marketplace's cart, product, stock, order,
    /// payment, shipment, seller, customer; TPC-C's warehouse, inventory, order.
    #[arg(long)]
    role: String,
    /// The cluster file: `[cluster]` addresses and an optional `[run]` configuration.
    #[arg(long)]
    cluster: PathBuf,
    /// With `durability = "fsync"` in the cluster file: the node's data directory (the
    /// coordinator's commit log, a service's checkpoints; nodes may share one). A node
    /// restarted on it recovers.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Recover a commit log written by another build of vbench (re-executing its
    /// transactions with this build's handlers), with a warning, instead of refusing.
    #[arg(long)]
    allow_new_build: bool,
    /// Listen on this inherited file descriptor (a socket bound to the node's address by a
    /// supervisor, e.g. `--deploy processes`) instead of binding the address.
    #[arg(long)]
    listen_fd: Option<i32>,
    /// The coordinator's front door: listen on this inherited file descriptor.
    #[arg(long)]
    http_fd: Option<i32>,
}

#[derive(clap::Args)]
struct SweepArgs {
    /// The sweep file, e.g. experiments/example.toml.
    file: PathBuf,
    /// Where the sweep's directory goes.
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

#[derive(clap::Args)]
struct PlotArgs {
    /// A sweep's results directory (holding sweep.csv), e.g. results/example.
    dir: PathBuf,
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
    /// Open loop: offer this many operations per second, whatever the system does (latency
    /// then runs from each operation's arrival); without it, a closed loop of --concurrency.
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: poisson (default, seeded) or constant arrivals.
    #[arg(long)]
    arrivals: Option<String>,
    /// Find each system's capacity: the highest offered rate it sustains with p99 latency under
    /// --slo-p99-ms, by a short search over open-loop rates (each step a run of --duration).
    #[arg(long)]
    find_peak: bool,
    /// With --find-peak: the p99 latency bound in ms (default: 10 x the batch window).
    #[arg(long)]
    slo_p99_ms: Option<f64>,
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
    /// Faults to inject: jitter=MS (per-link FIFO on both systems), reorder (the baseline's one-way
    /// messages may overtake each other), hot[=S], targeted[=PERCENT], burst[=N] (comma-separated), or all.
    #[arg(long, value_parser = parse_injection)]
    inject: Option<Injection>,
    /// TPC-C: number of warehouses.
    #[arg(long)]
    warehouses: Option<u32>,
    /// TPC-C mix: standard (45/43/4/4/4) or new-order.
    #[arg(long)]
    tpcc_mix: Option<String>,
    /// TPC-C: percent of New-Orders that roll back on an unused item (default 1, the spec's).
    #[arg(long)]
    rollbacks: Option<u32>,
    /// TPC-C on vmodb: where New-Order finds an unused item: entry (no rollback round) or
    /// inventory (after the warehouse step: a cross-service abort).
    #[arg(long)]
    item_check: Option<String>,
    /// Marketplace: a checkout aborts when any item cannot be reserved (else partial, as the benchmark).
    #[arg(long)]
    all_or_nothing: bool,
    /// Engine worker threads (0 = one per core; with --deploy processes, per service process,
    /// 0 = one).
    #[arg(long)]
    workers: Option<usize>,
    /// vMODB deployment: embedded (one process) or processes (coordinator and every service
    /// as separate processes on loopback, driven through the HTTP front door).
    #[arg(long)]
    deploy: Option<String>,
    /// Durability: none, or fsync (vMODB logs every commit step and syncs it before anyone
    /// hears of it, and checkpoints; the baseline logs every writing op's input and syncs it
    /// before reporting the op; both group syncs across concurrent work).
    #[arg(long)]
    durability: Option<String>,
    /// With vMODB durability: milliseconds between checkpoints (default 5000).
    #[arg(long)]
    checkpoint_interval_ms: Option<u64>,
    /// With vMODB durability: the commit log's segment size in MiB (default 64).
    #[arg(long)]
    log_segment_mib: Option<u64>,
    /// vMODB: seconds (of cluster running time) a committed request id is remembered, also
    /// across restarts (default 30).
    #[arg(long)]
    request_retention_s: Option<f64>,
    /// Distributed vMODB: milliseconds a node may stay silent before it counts as lost and
    /// the cluster fails (default 10000).
    #[arg(long)]
    heartbeat_timeout_ms: Option<u64>,
    /// How a distributed vMODB (--deploy processes, --target) is driven: vmodb (our JSON
    /// client) or om-driver (the Online Marketplace benchmark driver's API and bodies; it
    /// ingests the data set into a cluster started empty, `[run] data = "ingest"`).
    #[arg(long)]
    client: Option<String>,
    /// Drive an already running vMODB cluster (`vbench serve`) through its front door at this
    /// URL; data and batching come from the cluster's configuration.
    #[arg(long)]
    target: Option<String>,
    /// With --target: a file holding the front-door token to use (an `operator` token: the
    /// checks read the cluster's state); default: the VMODB_TOKEN environment variable.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// With an https --target: the PEM certificate to trust (the front door's own, if
    /// self-signed); default: the VMODB_CA_FILE environment variable.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Record committed inputs and compare the final state with their serial replay.
    #[arg(long)]
    replay_check: bool,
    /// Check the services' execution-mode declarations against their row accesses (slower).
    #[arg(long)]
    check_modes: bool,
    /// Gate as `vbench check` does: serial replay and mode checker on, PASS/FAIL per check.
    #[arg(long)]
    check: bool,
    /// Write every table of every service as CSV under this directory.
    #[arg(long)]
    dump_state: Option<PathBuf>,
    /// Where run directories go.
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<RunConfig> {
        if self.target.is_none() && (self.token_file.is_some() || self.ca_file.is_some()) {
            anyhow::bail!("--token-file and --ca-file go with --target");
        }
        let token = match &self.token_file {
            Some(file) => Some(Token::read(file).map_err(anyhow::Error::msg)?),
            None => std::env::var("VMODB_TOKEN").ok().map(Token::new),
        };
        let ca =
            (self.ca_file.clone()).or_else(|| std::env::var_os("VMODB_CA_FILE").map(PathBuf::from));
        let auth = ClientAuth { token, ca };
        let remote = match &self.target {
            Some(url) => Some(remote_config(url, &auth)?),
            None => None,
        };
        let mut c = match (&remote, &self.config) {
            (Some(r), _) => r.clone(),
            (None, Some(path)) => RunConfig::load(path)?,
            (None, None) => RunConfig::default(),
        };
        macro_rules! set {
            ($($field:ident <- $arg:expr),* $(,)?) => {$( if let Some(v) = $arg.clone() { c.$field = v; } )*};
        }
        set!(
            workload <- self.workload, system <- self.system, duration_s <- self.duration, warmup_s <- self.warmup,
            concurrency <- self.concurrency, rate_tps <- self.rate, arrivals <- self.arrivals,
            batch_window_ms <- self.batch_window_ms, batch_max_txns <- self.batch_size,
            batch_idle_ms <- self.batch_idle_ms,
            seed <- self.seed, scale <- self.scale, mix <- self.mix, seller_distribution <- self.seller_dist,
            product_distribution <- self.product_dist, workers <- self.workers, inject <- self.inject,
            warehouses <- self.warehouses, tpcc_mix <- self.tpcc_mix,
            tpcc_rollback_percent <- self.rollbacks, tpcc_item_check <- self.item_check,
            deploy <- self.deploy, durability <- self.durability, client <- self.client,
            checkpoint_interval_ms <- self.checkpoint_interval_ms, log_segment_mib <- self.log_segment_mib,
            request_retention_s <- self.request_retention_s, heartbeat_timeout_ms <- self.heartbeat_timeout_ms,
        );
        c.all_or_nothing_checkout |= self.all_or_nothing;
        c.replay_check |= self.replay_check;
        c.check_modes |= self.check_modes;
        if let (Some(r), Some(url)) = (&remote, &self.target) {
            check_against_cluster(&c, r, url)?;
            c.target = Some(url.clone());
            c.auth = auth;
        }
        Ok(c)
    }
}

/// The configuration a running cluster was started with (its front door's `/config`).
fn remote_config(url: &str, auth: &ClientAuth) -> anyhow::Result<RunConfig> {
    let client =
        workloads::remote::FrontDoorClient::new(url, 1, auth).map_err(anyhow::Error::msg)?;
    client.config().map_err(|e| {
        let hint = match (&e, &auth.token) {
            (RemoteError::Rejected { status: 401, .. }, None) => {
                " (pass the operator's token: --token-file FILE or VMODB_TOKEN)"
            }
            (
                RemoteError::Rejected {
                    status: 401 | 403, ..
                },
                Some(_),
            ) => " (the checks need the operator's token, not a client's)",
            _ => "",
        };
        anyhow::anyhow!("cannot read the configuration of the cluster at {url}: {e}{hint}")
    })
}

/// A run against a running cluster can change how it drives (duration, concurrency, mix), not
/// what the cluster holds or how it runs.
fn check_against_cluster(c: &RunConfig, cluster: &RunConfig, url: &str) -> anyhow::Result<()> {
    if system::DataKey::of(c) != system::DataKey::of(cluster) {
        anyhow::bail!(
            "the cluster at {url} holds workload {} at scale {} with seed {}; \
             --workload/--scale/--seed must match or be left out",
            cluster.workload,
            cluster.scale,
            cluster.seed
        );
    }
    if c.system != "vmodb" {
        anyhow::bail!("--target drives a vMODB cluster: --system must be vmodb");
    }
    for (wanted, has, flag) in [
        (c.replay_check, cluster.replay_check, "replay_check"),
        (c.check_modes, cluster.check_modes, "check_modes"),
    ] {
        if wanted && !has {
            anyhow::bail!("the cluster at {url} was started without {flag} = true in [run]");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    workloads::allocator::keep_freed_memory();
    // The engine's warnings (a refused peer, a dropped message, a failed log) go to stderr;
    // `VBENCH_LOG=debug` adds its details (e.g. every checkpoint: kind, bytes, time).
    let level = match std::env::var("VBENCH_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) if args.check => check(&args),
        Command::Run(args) if args.find_peak => match args
            .config()
            .and_then(|c| peak::run_find_peak(&c, args.slo_p99_ms, &args.results))
        {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => failed(e),
        },
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
                Err(e) => failed(e),
            }
        }
        Command::Check(args) => check(&args),
        Command::Sweep(args) => match sweep::run(&args.file, &args.results) {
            Ok(o) if o.failed == 0 => ExitCode::SUCCESS,
            Ok(o) => {
                eprintln!(
                    "vbench: {} of {} runs failed (their rows in {} say why)",
                    o.failed,
                    o.runs,
                    o.dir.join(sweep::table::SWEEP_CSV).display()
                );
                ExitCode::from(1)
            }
            Err(e) => failed(e),
        },
        Command::Crash(args) => match args.run.config().and_then(|c| {
            let clients = crash::Clients {
                late_every: args.late_every,
                track_every: args.track_every,
                dump_state: args.run.dump_state.clone(),
            };
            crash::crash(&c, args.kills, args.kill_every, &clients)
        }) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => {
                eprintln!("vbench: the crash test failed (see the FAIL lines above)");
                ExitCode::from(3)
            }
            Err(e) => failed(e),
        },
        Command::Serve(args) => match serve::serve(&serve::Node {
            role: args.role,
            cluster: args.cluster,
            data_dir: args.data_dir,
            allow_new_build: args.allow_new_build,
            listen_fd: args.listen_fd,
            http_fd: args.http_fd,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(e),
        },
        Command::Plot(args) => match sweep::plot::redraw(&args.dir) {
            Ok(files) => {
                for f in files {
                    println!("wrote {}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => failed(e),
        },
    }
}

/// `vbench check`: the run with vmodb's own checks on, then a verdict per guarantee.
fn check(args: &RunArgs) -> ExitCode {
    let config = match args.config() {
        Ok(c) => check::with_checks(c),
        Err(e) => return failed(e),
    };
    match run::run(&config, args.dump_state.as_deref(), &args.results) {
        Ok(outcome) => {
            let passed = check::print(&check::verdicts(&config, &outcome));
            // The verdicts and the exit code judge the same facts.
            if passed && outcome.vmodb_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => failed(e),
    }
}

fn failed(e: anyhow::Error) -> ExitCode {
    eprintln!("vbench: {e:#}");
    ExitCode::from(2)
}
