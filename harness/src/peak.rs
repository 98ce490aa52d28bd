//! `--find-peak`: the search for a system's capacity (the highest offered rate it sustains),
//! by doubling then bisecting open-loop runs, and `peak.csv`.

use crate::capacity::sustained;
use crate::config::RunConfig;
use crate::run;
use crate::run::WorkloadData;
use crate::sweep::table::{Latency, all_types};
use crate::system::{Progress, SystemRun};
use anyhow::Context;
use std::path::Path;

/// One step of the search: a rate and what the run at it measured.
#[derive(Clone, Debug)]
pub struct Step {
    pub rate: f64,
    pub achieved: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub backlog_end: u64,
    pub ok: bool,
    pub why: String,
}

/// A system's capacity: the highest rate found sustained with p99 under the bound.
#[derive(Clone, Debug)]
pub struct Peak {
    pub system: &'static str,
    /// `None`: no tested rate was sustained.
    pub peak: Option<Step>,
    pub steps: Vec<Step>,
}

/// Judges one open-loop run against the bound.
pub fn judge(
    rate: f64,
    run: &SystemRun,
    slo_p99_ms: f64,
    window_from_s: f64,
) -> anyhow::Result<Step> {
    let d = &run.drive;
    let latency = Latency::of(&all_types(d)?);
    let p99 = latency.p99;
    let mut why = Vec::new();
    if sustained(d, window_from_s) != Some(true) {
        why.push("not sustained");
    }
    if p99 > slo_p99_ms {
        why.push("p99 over the bound");
    }
    if d.committed == 0 {
        why.push("nothing committed");
    }
    Ok(Step {
        rate,
        achieved: d.throughput(),
        p50_ms: latency.p50,
        p99_ms: p99,
        backlog_end: d.load.backlog_end,
        ok: why.is_empty(),
        why: why.join(", "),
    })
}

/// How many runs narrow the bracket between the last good and the first bad rate.
const BISECTIONS: usize = 5;

/// Searches `system`'s capacity: a closed-loop probe with many clients estimates the most it
/// can finish (C), then a bisection on a log scale between 0.05 C (assumed good, checked) and
/// 1.2 C (assumed bad) keeps the highest rate that was sustained with p99 under the bound.
pub fn find_peak(
    system: &'static str,
    config: &RunConfig,
    data: &WorkloadData,
    slo_p99_ms: f64,
    progress: &Progress,
) -> anyhow::Result<Peak> {
    let probe = RunConfig {
        rate_tps: 0.0,
        concurrency: config.concurrency.max(512),
        ..config.clone()
    };
    progress.note(format_args!(
        "{system}: closed-loop probe with {} clients...",
        probe.concurrency
    ));
    let c = run::run_on(system, &probe, data, None, progress)?
        .drive
        .throughput()
        .max(10.0);
    let mut steps = Vec::new();
    let try_rate = |rate: f64, steps: &mut Vec<Step>| -> anyhow::Result<bool> {
        let at = RunConfig {
            rate_tps: rate.round().max(1.0),
            ..config.clone()
        };
        let run = run::run_on(system, &at, data, None, progress)?;
        let step = judge(at.rate_tps, &run, slo_p99_ms, config.warmup_s)?;
        progress.note(format_args!(
            "{system}: {:>9.0} tx/s offered -> {:>9.0} achieved, p50 {:.2} ms, p99 {:.2} ms: {}",
            step.rate,
            step.achieved,
            step.p50_ms,
            step.p99_ms,
            if step.ok { "ok" } else { &step.why }
        ));
        let ok = step.ok;
        steps.push(step);
        Ok(ok)
    };
    let (mut lo, mut hi) = (0.05 * c, 1.2 * c);
    if !try_rate(lo, &mut steps)? {
        // Even a twentieth of the probe fails: report that, not a guess.
        return Ok(Peak {
            system,
            peak: None,
            steps,
        });
    }
    if try_rate(hi, &mut steps)? {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..BISECTIONS {
        let mid = (lo * hi).sqrt();
        if try_rate(mid, &mut steps)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let peak = steps
        .iter()
        .filter(|s| s.ok)
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
        .cloned();
    Ok(Peak {
        system,
        peak,
        steps,
    })
}

/// Prints the peaks side by side and writes `peak.csv` (every step of every system).
/// `unlike`: the systems ran in unlike deployments (vMODB as processes, the baseline in one),
/// said next to the ratio.
pub fn report_peaks(
    peaks: &[Peak],
    slo_p99_ms: f64,
    unlike: bool,
    dir: &Path,
) -> anyhow::Result<()> {
    println!();
    println!("capacity: the highest offered rate sustained with p99 <= {slo_p99_ms} ms");
    for p in peaks {
        match &p.peak {
            Some(s) => println!(
                "  {:<9} {:>9.0} tx/s offered, {:>9.0} achieved, p50 {:.2} ms, p99 {:.2} ms",
                p.system, s.rate, s.achieved, s.p50_ms, s.p99_ms
            ),
            None => println!("  {:<9} no tested rate was sustained", p.system),
        }
    }
    if let [v, b] = peaks
        && let (Some(sv), Some(sb)) = (&v.peak, &b.peak)
    {
        println!(
            "  capacity ratio {}/{}: {:.2}{}",
            v.system,
            b.system,
            sv.rate / sb.rate.max(1e-9),
            if unlike {
                " (unlike deployments: vmodb as processes, the baseline in one process)"
            } else {
                ""
            }
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("peak.csv");
    let mut w = csv::Writer::from_path(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record([
        "system",
        "offered_tps",
        "achieved_tps",
        "p50_ms",
        "p99_ms",
        "backlog_end",
        "ok",
        "why",
        "peak",
    ])?;
    for p in peaks {
        for s in &p.steps {
            let is_peak = p.peak.as_ref().is_some_and(|k| k.rate == s.rate && s.ok);
            w.write_record([
                p.system.to_string(),
                format!("{:.0}", s.rate),
                format!("{:.1}", s.achieved),
                format!("{:.3}", s.p50_ms),
                format!("{:.3}", s.p99_ms),
                s.backlog_end.to_string(),
                s.ok.to_string(),
                s.why.clone(),
                is_peak.to_string(),
            ])?;
        }
    }
    w.flush()?;
    println!("\nresults written to {}", dir.display());
    Ok(())
}

/// `vbench run --find-peak`: each system's capacity under a p99 bound (default: 10 × the batch
/// window), and their ratio.
pub fn run_find_peak(
    config: &RunConfig,
    slo_p99_ms: Option<f64>,
    results: &Path,
) -> anyhow::Result<Vec<Peak>> {
    config.validate()?;
    let slo = slo_p99_ms.unwrap_or(10.0 * config.batch_window_ms as f64);
    if !slo.is_finite() || slo <= 0.0 {
        anyhow::bail!("--slo-p99-ms must be a positive number of ms, got {slo}");
    }
    let progress = Progress::default();
    let data = run::prepare(config, &progress)?;
    let mut peaks = Vec::new();
    for &system in run::systems(config) {
        peaks.push(find_peak(system, config, &data, slo, &progress)?);
    }
    let dir = results.join(format!(
        "{}-{}-{}-peak",
        crate::report::timestamp(),
        config.workload,
        config.system
    ));
    let unlike = config.deploy == "processes" || config.target.is_some();
    report_peaks(&peaks, slo, unlike, &dir)?;
    std::fs::write(dir.join("config.toml"), toml::to_string(config)?)?;
    Ok(peaks)
}
