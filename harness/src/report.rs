//! The end-of-run table on stdout and the CSV files in `results/<run-id>/`.

use crate::config::{Injection, RunConfig};
use crate::system::SystemRun;
use anyhow::Context;
use std::path::Path;
use workloads::marketplace::checker::AnomalyReport;
use workloads::marketplace::driver::{DriveResult, TypeStats};

pub struct RunSummary<'a> {
    pub run_id: &'a str,
    pub system: &'a str,
    pub config: &'a RunConfig,
    pub drive: &'a DriveResult,
    pub anomalies: &'a AnomalyReport,
    pub replay_equal: Option<bool>,
    /// The serial replay's throughput on one thread (with `--replay-check`).
    pub replay_tps: Option<f64>,
    pub load_s: f64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A latency quantile in ms (0 when nothing of this type committed).
fn quantile_ms(t: &TypeStats, q: f64) -> f64 {
    if t.committed == 0 {
        0.0
    } else {
        ms(t.latency_us.value_at_quantile(q))
    }
}

pub fn print(s: &RunSummary) {
    let d = s.drive;
    println!();
    println!(
        "{} on {} — {:.0} s measured, {}, batch window {} ms, scale {}, durability {} (data loaded in {:.1} s)",
        s.config.workload,
        s.system,
        d.measured.as_secs_f64(),
        s.config.load_label(),
        s.config.batch_window_ms,
        s.config.scale,
        s.config.durability,
        s.load_s
    );
    if !s.config.inject.is_off() {
        println!("injected: {}", injection_label(&s.config.inject));
    }
    println!(
        "throughput: {:.0} committed transactions/s ({} committed, {} failed)",
        d.throughput(),
        d.committed,
        d.failed
    );
    for line in crate::capacity::describe(s.config, d) {
        println!("{line}");
    }
    println!();
    println!(
        "{:<20} {:>10} {:>8} {:>10} {:>10} {:>10}",
        "transaction", "committed", "failed", "p50 ms", "p90 ms", "p99 ms"
    );
    for (kind, t) in &d.per_type {
        let q = |x: f64| quantile_ms(t, x);
        println!(
            "{:<20} {:>10} {:>8} {:>10.2} {:>10.2} {:>10.2}",
            kind,
            t.committed,
            t.failed,
            q(0.5),
            q(0.9),
            q(0.99)
        );
    }
    println!();
    println!("consistency (anomalies per class):");
    for (class, n) in &s.anomalies.counts {
        println!("  {class:<22} {n}");
    }
    if let Some(eq) = s.replay_equal {
        println!(
            "  {:<22} {}",
            "serial replay equal",
            if eq { "yes" } else { "NO" }
        );
    }
    if let Some(tps) = s.replay_tps {
        println!("  {:<22} {tps:.0} tx/s on one thread", "serial replay");
    }
    for e in s.anomalies.examples.iter().take(5) {
        println!("  example: {e}");
    }
    for f in d.failures.iter().take(5) {
        println!("  failure: {f}");
    }
}

pub fn write(dir: &Path, s: &RunSummary) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("config.toml"), toml::to_string(s.config)?)?;
    let d = s.drive;
    let mut w = csv::Writer::from_path(dir.join("summary.csv"))?;
    let mut header: Vec<&str> = vec![
        "run_id",
        "workload",
        "system",
        "duration_s",
        "concurrency",
        "batch_window_ms",
        "batch_max_txns",
        "scale",
        "seed",
        "committed",
        "failed",
        "throughput_tps",
        "inject",
        "anomalies_total",
        "replay_equal",
        "replay_tps",
        "load",
        "durability",
    ];
    header.extend(crate::capacity::COLUMNS);
    w.write_record(&header)?;
    let mut row = vec![
        s.run_id.to_string(),
        s.config.workload.clone(),
        s.system.to_string(),
        format!("{:.3}", d.measured.as_secs_f64()),
        s.config.concurrency.to_string(),
        s.config.batch_window_ms.to_string(),
        s.config.batch_max_txns.to_string(),
        s.config.scale.to_string(),
        s.config.seed.to_string(),
        d.committed.to_string(),
        d.failed.to_string(),
        format!("{:.1}", d.throughput()),
        injection_label(&s.config.inject),
        s.anomalies.total().to_string(),
        s.replay_equal.map_or(String::new(), |b| b.to_string()),
        s.replay_tps.map_or(String::new(), |t| format!("{t:.0}")),
        s.config.load_label(),
        s.config.durability.clone(),
    ];
    row.extend(crate::capacity::LoadFigures::of(s.config, d).cells());
    w.write_record(&row)?;
    w.flush()?;
    crate::capacity::write_deferred_csv(dir, d)?;
    let mut w = csv::Writer::from_path(dir.join("latency.csv"))?;
    w.write_record([
        "transaction",
        "committed",
        "failed",
        "mean_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
    ])?;
    for (kind, t) in &d.per_type {
        let h = &t.latency_us;
        let q = |x: f64| quantile_ms(t, x);
        w.write_record([
            kind.to_string(),
            t.committed.to_string(),
            t.failed.to_string(),
            format!(
                "{:.3}",
                if t.committed == 0 {
                    0.0
                } else {
                    h.mean() / 1000.0
                }
            ),
            format!("{:.3}", q(0.5)),
            format!("{:.3}", q(0.9)),
            format!("{:.3}", q(0.99)),
            format!("{:.3}", if t.committed == 0 { 0.0 } else { ms(h.max()) }),
        ])?;
    }
    w.flush()?;
    let mut w = csv::Writer::from_path(dir.join("anomalies.csv"))?;
    w.write_record(["class", "count"])?;
    for (class, n) in &s.anomalies.counts {
        w.write_record([class.to_string(), n.to_string()])?;
    }
    w.flush()?;
    Ok(())
}

/// `jitter=2ms hot=1 targeted=50% burst=8`, or `none`.
pub fn injection_label(i: &Injection) -> String {
    let mut parts = Vec::new();
    if i.jitter_ms > 0.0 {
        parts.push(format!("jitter={}ms", i.jitter_ms));
    }
    if i.hot > 0.0 {
        parts.push(format!("hot={}", i.hot));
    }
    if i.targeted_updates > 0 {
        parts.push(format!("targeted={}%", i.targeted_updates));
    }
    if i.burst >= 2 {
        parts.push(format!("burst={}", i.burst));
    }
    if i.reorder {
        parts.push("reorder".into());
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

/// The side-by-side table of a `--system both` run.
pub fn print_comparison(config: &RunConfig, v: &SystemRun, b: &SystemRun) {
    let (tv, tb) = (v.drive.throughput(), b.drive.throughput());
    println!();
    println!(
        "vmodb vs baseline — same data and inputs (seed {}), injected: {}",
        config.seed,
        injection_label(&config.inject)
    );
    println!("{:<34} {:>14} {:>14}", "", "vmodb", "baseline");
    let distributed = config.deploy == "processes" || config.target.is_some();
    if distributed {
        // The baseline has no distributed deployment yet: the ratio is not like for like.
        println!(
            "{:<34} {:>14} {:>14}",
            "deployment", "processes", "one process"
        );
    }
    println!("{:<34} {:>14.0} {:>14.0}", "throughput (tx/s)", tv, tb);
    println!(
        "{:<34} {:>14}",
        if distributed {
            "throughput ratio (unlike deployments)"
        } else {
            "throughput ratio vmodb/baseline"
        },
        format!("{:.2}", tv / tb.max(1e-9))
    );
    for (kind, t) in &v.drive.per_type {
        let Some(u) = b.drive.per_type.get(kind) else {
            continue;
        };
        for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
            println!(
                "{:<34} {:>14.2} {:>14.2}",
                format!("{kind} {label} ms"),
                quantile_ms(t, q),
                quantile_ms(u, q)
            );
        }
    }
    for (class, n) in &v.anomalies.counts {
        println!(
            "{:<34} {:>14} {:>14}",
            format!("anomalies: {class}"),
            n,
            b.anomalies.count(class)
        );
    }
    println!(
        "{:<34} {:>14} {:>14}",
        "anomalies: total",
        v.anomalies.total(),
        b.anomalies.total()
    );
}

/// `comparison.csv`: one row per metric, a column per system.
pub fn write_comparison(dir: &Path, v: &SystemRun, b: &SystemRun) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut w = csv::Writer::from_path(dir.join("comparison.csv"))?;
    w.write_record(["metric", "vmodb", "baseline"])?;
    let (tv, tb) = (v.drive.throughput(), b.drive.throughput());
    w.write_record([
        "throughput_tps".to_string(),
        format!("{tv:.1}"),
        format!("{tb:.1}"),
    ])?;
    for (kind, t) in &v.drive.per_type {
        let Some(u) = b.drive.per_type.get(kind) else {
            continue;
        };
        for (q, label) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
            w.write_record([
                format!("{kind}_{label}_ms"),
                format!("{:.3}", quantile_ms(t, q)),
                format!("{:.3}", quantile_ms(u, q)),
            ])?;
        }
    }
    for (class, n) in &v.anomalies.counts {
        w.write_record([
            format!("anomalies_{class}"),
            n.to_string(),
            b.anomalies.count(class).to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// `YYYYMMDD-HHMMSS` in UTC, from the system clock (harness only; never in handlers).
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let rem = secs % 86_400;
    let date = workloads::marketplace::model::yyyymmdd(secs * 1_000_000);
    format!(
        "{date}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
