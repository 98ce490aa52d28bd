//! What a load costs and what a system sustains: the figures of one run beyond throughput and
//! latency (offered rate, backlog, where vMODB's latency went, the baseline's deferred work),
//! and the rule that says whether a rate was sustained (`peak.rs` searches for capacity).

use crate::config::RunConfig;
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
