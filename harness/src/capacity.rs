//! What a load costs and what a system sustains: the figures of one run beyond throughput and
//! latency (offered rate, backlog, where vMODB's latency went, the baseline's deferred work),
//! the rule that says whether a rate was sustained, and `--find-peak`'s search for capacity.

use crate::config::RunConfig;
use crate::run::{self, Progress, SystemRun, WorkloadData};
use crate::sweep::table::{Latency, all_types};
use anyhow::Context;
use hdrhistogram::Histogram;
use std::path::Path;
use workloads::marketplace::driver::DriveResult;

/// A rate is sustained when the system finished (committed or failed) at least this share of
/// what arrived in the window...
const KEPT_UP: f64 = 0.95;
/// ...the arrivals still queued at the end are at most this many seconds' worth...
const BACKLOG_S: f64 = 0.1;
/// ...and the deferred one-way work did not grow by more than this many messages (and half).
const DEFERRED_SLACK: u64 = 1000;

/// Percentiles of a histogram in ms; `None` when it is empty.
fn p_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

fn cell(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| format!("{v:.3}"))
}

/// The figures of one run that describe the load and where time went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadFigures {
    pub offered_tps: Option<f64>,
    pub backlog_end: u64,
    pub in_flight_end: u64,
    pub executed_p50_ms: Option<f64>,
    pub commit_wait_p50_ms: Option<f64>,
    pub commit_wait_p99_ms: Option<f64>,
    pub batch_interval_p50_ms: Option<f64>,
    pub batch_interval_p99_ms: Option<f64>,
    pub deferred_max: Option<u64>,
    pub deferred_grows: Option<bool>,
    pub quiesce_ms: Option<f64>,
    pub visibility_p50_ms: Option<f64>,
    pub visibility_p99_ms: Option<f64>,
    /// With jitter: the delays the system's messages between services got.
    pub injected_delay_p50_ms: Option<f64>,
    pub injected_delay_p99_ms: Option<f64>,
    /// Open loop only: whether the offered rate was sustained (see [`sustained`]).
    pub sustained: Option<bool>,
}

/// The `summary.csv` / `sweep.csv` columns of [`LoadFigures`], in order.
pub const COLUMNS: [&str; 16] = [
    "offered_tps",
    "backlog_end",
    "in_flight_end",
    "executed_p50_ms",
    "commit_wait_p50_ms",
    "commit_wait_p99_ms",
    "batch_interval_p50_ms",
    "batch_interval_p99_ms",
    "deferred_max",
    "deferred_grows",
    "quiesce_ms",
    "visibility_p50_ms",
    "visibility_p99_ms",
    "injected_delay_p50_ms",
    "injected_delay_p99_ms",
    "sustained",
];

impl LoadFigures {
    pub fn of(config: &RunConfig, d: &DriveResult) -> Self {
        let l = &d.load;
        let window_from = config.warmup_s;
        let sampled = !l.deferred_samples.is_empty();
        LoadFigures {
            offered_tps: l.offered_tps,
            backlog_end: l.backlog_end,
            in_flight_end: l.in_flight_end,
            executed_p50_ms: p_ms(&d.executed_us, 0.5),
            commit_wait_p50_ms: p_ms(&d.commit_wait_us, 0.5),
            commit_wait_p99_ms: p_ms(&d.commit_wait_us, 0.99),
            batch_interval_p50_ms: p_ms(&d.batch_interval_us, 0.5),
            batch_interval_p99_ms: p_ms(&d.batch_interval_us, 0.99),
            deferred_max: l.deferred_max(window_from),
            deferred_grows: sampled.then(|| l.deferred_grows(window_from, DEFERRED_SLACK)),
            quiesce_ms: d.quiesce.map(|q| q.as_secs_f64() * 1000.0),
            visibility_p50_ms: d.visibility_us.as_ref().and_then(|h| p_ms(h, 0.5)),
            visibility_p99_ms: d.visibility_us.as_ref().and_then(|h| p_ms(h, 0.99)),
            injected_delay_p50_ms: d.injected_delay_us.as_ref().and_then(|h| p_ms(h, 0.5)),
            injected_delay_p99_ms: d.injected_delay_us.as_ref().and_then(|h| p_ms(h, 0.99)),
            sustained: sustained(d, window_from),
        }
    }

    /// Reads [`Self::cells`] back (`sweep.csv`).
    pub fn parse(cells: &[&str]) -> Result<Self, String> {
        let [
            offered,
            backlog,
            in_flight,
            executed,
            wait50,
            wait99,
            interval50,
            interval99,
            deferred,
            grows,
            quiesce,
            vis50,
            vis99,
            delay50,
            delay99,
            sustained,
        ] = cells
        else {
            return Err(format!(
                "{} load cells, expected {}",
                cells.len(),
                COLUMNS.len()
            ));
        };
        let float = |name: &str, c: &str| -> Result<Option<f64>, String> {
            match c {
                "" => Ok(None),
                _ => c
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| format!("column `{name}`: `{c}` is not a number")),
            }
        };
        let count = |name: &str, c: &str| -> Result<Option<u64>, String> {
            match c {
                "" => Ok(None),
                _ => c
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| format!("column `{name}`: `{c}` is not a count")),
            }
        };
        let flag = |name: &str, c: &str| -> Result<Option<bool>, String> {
            match c {
                "" => Ok(None),
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(format!(
                    "column `{name}`: `{c}` is not true, false or empty"
                )),
            }
        };
        Ok(LoadFigures {
            offered_tps: float("offered_tps", offered)?,
            backlog_end: count("backlog_end", backlog)?.unwrap_or(0),
            in_flight_end: count("in_flight_end", in_flight)?.unwrap_or(0),
            executed_p50_ms: float("executed_p50_ms", executed)?,
            commit_wait_p50_ms: float("commit_wait_p50_ms", wait50)?,
            commit_wait_p99_ms: float("commit_wait_p99_ms", wait99)?,
            batch_interval_p50_ms: float("batch_interval_p50_ms", interval50)?,
            batch_interval_p99_ms: float("batch_interval_p99_ms", interval99)?,
            deferred_max: count("deferred_max", deferred)?,
            deferred_grows: flag("deferred_grows", grows)?,
            quiesce_ms: float("quiesce_ms", quiesce)?,
            visibility_p50_ms: float("visibility_p50_ms", vis50)?,
            visibility_p99_ms: float("visibility_p99_ms", vis99)?,
            injected_delay_p50_ms: float("injected_delay_p50_ms", delay50)?,
            injected_delay_p99_ms: float("injected_delay_p99_ms", delay99)?,
            sustained: flag("sustained", sustained)?,
        })
    }

    pub fn cells(&self) -> Vec<String> {
        let n = |x: Option<u64>| x.map_or(String::new(), |v| v.to_string());
        let b = |x: Option<bool>| x.map_or(String::new(), |v| v.to_string());
        vec![
            self.offered_tps
                .map_or(String::new(), |v| format!("{v:.1}")),
            self.backlog_end.to_string(),
            self.in_flight_end.to_string(),
            cell(self.executed_p50_ms),
            cell(self.commit_wait_p50_ms),
            cell(self.commit_wait_p99_ms),
            cell(self.batch_interval_p50_ms),
            cell(self.batch_interval_p99_ms),
            n(self.deferred_max),
            b(self.deferred_grows),
            cell(self.quiesce_ms),
            cell(self.visibility_p50_ms),
            cell(self.visibility_p99_ms),
            cell(self.injected_delay_p50_ms),
            cell(self.injected_delay_p99_ms),
            b(self.sustained),
        ]
    }
}

/// Whether an open-loop run sustained its offered rate: it finished nearly all that arrived,
/// left at most a moment's worth of arrivals queued, and its deferred work did not pile up.
/// `None` for a closed loop (it offers only what it finishes).
pub fn sustained(d: &DriveResult, window_from_s: f64) -> Option<bool> {
    let offered = d.load.offered_tps?;
    let finished = (d.committed + d.failed) as f64 / d.measured.as_secs_f64().max(1e-9);
    let kept_up = finished >= KEPT_UP * offered;
    let small_backlog = d.load.backlog_end as f64 <= (offered * BACKLOG_S).max(10.0);
    let steady = !d.load.deferred_grows(window_from_s, DEFERRED_SLACK);
    Some(kept_up && small_backlog && steady)
}

/// The lines `vbench run` prints under the throughput: the open loop's rates and backlog,
/// where vMODB's latency went, and the baseline's deferred work.
pub fn describe(config: &RunConfig, d: &DriveResult) -> Vec<String> {
    let f = LoadFigures::of(config, d);
    let mut lines = Vec::new();
    if let Some(offered) = f.offered_tps {
        lines.push(format!(
            "open loop: offered {offered:.0} tx/s, achieved {:.0} tx/s; at the end {} arrivals \
             queued, {} in flight; {} (latency runs from each operation's arrival)",
            d.throughput(),
            f.backlog_end,
            f.in_flight_end,
            match f.sustained {
                Some(true) => "sustained",
                _ => "NOT sustained",
            }
        ));
    }
    if let (Some(e), Some(w), Some(w99)) = (
        f.executed_p50_ms,
        f.commit_wait_p50_ms,
        f.commit_wait_p99_ms,
    ) {
        lines.push(format!(
            "where vmodb's latency went: last step executed after {e:.2} ms (p50), then the \
             wait for the batch to commit {w:.2} ms (p50), {w99:.2} ms (p99)"
        ));
    }
    if let (Some(b), Some(b99)) = (f.batch_interval_p50_ms, f.batch_interval_p99_ms) {
        lines.push(format!(
            "batch commits every {b:.2} ms (p50), {b99:.2} ms (p99)"
        ));
    }
    if let Some(max) = f.deferred_max {
        lines.push(format!(
            "deferred one-way messages: at most {max} undelivered in the window, {}; done {} after the last answer",
            if f.deferred_grows == Some(true) {
                "GROWING"
            } else {
                "not growing"
            },
            f.quiesce_ms
                .map_or("?".into(), |q| format!("{q:.1} ms"))
        ));
    }
    if let (Some(v50), Some(v99)) = (f.visibility_p50_ms, f.visibility_p99_ms) {
        lines.push(format!(
            "visibility latency (until every effect of an op is applied): p50 {v50:.2} ms, p99 {v99:.2} ms"
        ));
    }
    if let (Some(h), Some(d50), Some(d99)) = (
        &d.injected_delay_us,
        f.injected_delay_p50_ms,
        f.injected_delay_p99_ms,
    ) {
        lines.push(format!(
            "injected delays: {} messages between services, p50 {d50:.2} ms, p99 {d99:.2} ms, max {:.2} ms",
            h.len(),
            h.max() as f64 / 1000.0
        ));
    }
    lines
}

/// `deferred.csv`: the sampled deferred work over the run (the baseline's one-way messages).
pub fn write_deferred_csv(dir: &Path, d: &DriveResult) -> anyhow::Result<()> {
    if d.load.deferred_samples.is_empty() {
        return Ok(());
    }
    let path = dir.join("deferred.csv");
    let mut w = csv::Writer::from_path(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(["elapsed_s", "undelivered_one_way"])?;
    for (t, n) in &d.load.deferred_samples {
        w.write_record([format!("{t:.2}"), n.to_string()])?;
    }
    w.flush()?;
    Ok(())
}

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
pub fn report_peaks(peaks: &[Peak], slo_p99_ms: f64, dir: &Path) -> anyhow::Result<()> {
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
            "  capacity ratio {}/{}: {:.2}",
            v.system,
            b.system,
            sv.rate / sb.rate.max(1e-9)
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
    report_peaks(&peaks, slo, &dir)?;
    std::fs::write(dir.join("config.toml"), toml::to_string(config)?)?;
    Ok(peaks)
}
