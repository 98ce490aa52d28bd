//! The sweep's CSV files, written during the sweep and read back by `vbench plot`.
//!
//! `sweep.csv`, one row per run (a point, a repetition, a system):
//! `point, repetition, system`, then the parameters (the varied keys first, in file order, with
//! their values as written; then every other setting of the run's configuration, flattened to
//! dotted names like `inject.hot`; settings inside a varied key are left to it), then
//! `error` (empty when the run succeeded; the metrics are empty when it did not), `committed`,
//! `failed`, `measured_s`, `throughput_tps`, `load_s`, `mean_ms`, `p50_ms`, `p90_ms`, `p99_ms`,
//! `p999_ms`, `max_ms` (latency over all transaction types), `replay_equal` (true, false, or
//! empty when not checked), `mode_violations`, `anomalies_total`, the load columns of
//! `capacity::COLUMNS` (offered rate, backlog, vMODB's latency split and batch interval, the
//! baseline's deferred work and visibility latency, `sustained`; a table written before them
//! is read without them), and one `anomaly.<class>`
//! column per anomaly class of the sweep's workloads (the marketplace checker's classes, the
//! TPC-C conditions; empty for a row of the other workload).
//!
//! `latency.csv`, one row per run and transaction type: `point, repetition, system,
//! transaction, committed, failed, mean_ms, p50_ms, p90_ms, p99_ms, p999_ms, max_ms`.

use super::spec::{Point, Sweep, cell};
use crate::capacity::{self, LoadFigures};
use crate::config::RunConfig;
use crate::system::SystemRun;
use anyhow::{Context, anyhow, bail};
use hdrhistogram::Histogram;
use std::fs::File;
use std::path::Path;
use toml::{Table, Value};
use workloads::marketplace::checker::CLASSES;
use workloads::marketplace::driver::DriveResult;
use workloads::tpcc::checker::CONDITIONS;

pub const SWEEP_CSV: &str = "sweep.csv";
pub const LATENCY_CSV: &str = "latency.csv";

/// The columns before the parameters.
pub const LEAD_COLUMNS: [&str; 3] = ["point", "repetition", "system"];
/// The columns after the parameters, before the anomaly classes; `error` comes first.
pub const METRIC_COLUMNS: [&str; 15] = [
    "error",
    "committed",
    "failed",
    "measured_s",
    "throughput_tps",
    "load_s",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "replay_equal",
    "mode_violations",
    "anomalies_total",
];
pub const ANOMALY_PREFIX: &str = "anomaly.";
pub const LATENCY_COLUMNS: [&str; 12] = [
    "point",
    "repetition",
    "system",
    "transaction",
    "committed",
    "failed",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
];

/// Latency percentiles in ms (0 when nothing committed).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }

    fn cells(&self) -> [String; 6] {
        [self.mean, self.p50, self.p90, self.p99, self.p999, self.max].map(|x| format!("{x:.3}"))
    }
}

/// What a successful run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    pub committed: u64,
    pub failed: u64,
    pub measured_s: f64,
    pub throughput_tps: f64,
    pub load_s: f64,
    pub latency: Latency,
    pub replay_equal: Option<bool>,
    pub mode_violations: u64,
    pub anomalies_total: u64,
    /// One per anomaly column of the table; `None` for a class of another workload.
    pub anomalies: Vec<Option<u64>>,
    /// The open loop's rates and backlog, where vMODB's latency went, the baseline's deferred
    /// work (defaults when a table written before these columns lacks them).
    pub load: LoadFigures,
}

impl Metrics {
    /// `classes` are the table's anomaly columns without the prefix.
    pub fn of(run: &SystemRun, config: &RunConfig, classes: &[String]) -> anyhow::Result<Self> {
        let d = &run.drive;
        Ok(Metrics {
            committed: d.committed,
            failed: d.failed,
            measured_s: d.measured.as_secs_f64(),
            throughput_tps: d.throughput(),
            load_s: run.load_s,
            latency: Latency::of(&all_types(d)?),
            replay_equal: run.replay_equal,
            mode_violations: run.mode_violations,
            anomalies_total: run.anomalies.total(),
            anomalies: classes
                .iter()
                .map(|c| run.anomalies.counts.get(c.as_str()).copied())
                .collect(),
            load: LoadFigures::of(config, d),
        })
    }
}

/// The latency of every committed transaction, whatever its type.
pub fn all_types(d: &DriveResult) -> anyhow::Result<Histogram<u64>> {
    let mut all = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| anyhow!("latency histogram: {e}"))?;
    for t in d.per_type.values() {
        all.add(&t.latency_us)
            .map_err(|e| anyhow!("merging latency histograms: {e}"))?;
    }
    Ok(all)
}

/// One row of `sweep.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    pub point: usize,
    pub repetition: u32,
    pub system: String,
    /// One cell per parameter column ("" where the run's configuration lacks it).
    pub params: Vec<String>,
    /// The metrics, or why the run failed.
    pub outcome: Result<Metrics, String>,
}

/// `sweep.csv` as read back.
#[derive(Debug, PartialEq)]
pub struct SweepTable {
    pub params: Vec<String>,
    /// Anomaly classes, without the `anomaly.` prefix.
    pub classes: Vec<String>,
    pub rows: Vec<RunRow>,
}

/// A point's parameters as (column, cell): the varied keys as written, then every other setting
/// flattened. `system` is left out: each row names the system that ran.
pub fn parameters(point: &Point) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = point
        .settings
        .iter()
        .filter(|(k, _)| k != "system")
        .map(|(k, v)| (k.clone(), cell(v)))
        .collect();
    let table = Table::try_from(&point.config)
        .map_err(|e| anyhow!("cannot flatten the configuration: {e}"))?;
    let varied: Vec<&str> = point.settings.iter().map(|(k, _)| k.as_str()).collect();
    let inside_varied = |path: &str| {
        varied
            .iter()
            .any(|v| path == *v || path.starts_with(&format!("{v}.")))
    };
    let mut stack = vec![(String::new(), &table)];
    let mut flat = Vec::new();
    while let Some((prefix, t)) = stack.pop() {
        for (key, value) in t {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Table(inner) => stack.push((path, inner)),
                _ if path == "system" || inside_varied(&path) => {}
                _ => flat.push((path, cell(value))),
            }
        }
    }
    flat.sort();
    out.extend(flat);
    Ok(out)
}

/// The parameter columns of a sweep: every point's parameters, in first-seen order.
pub fn parameter_columns(sweep: &Sweep) -> anyhow::Result<Vec<String>> {
    let mut columns: Vec<String> = Vec::new();
    for point in &sweep.points {
        for (column, _) in parameters(point)? {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
    Ok(columns)
}

/// The anomaly classes of the sweep's workloads (marketplace first, then TPC-C).
pub fn anomaly_classes(sweep: &Sweep) -> Vec<String> {
    let has = |w: &str| sweep.points.iter().any(|p| p.config.workload == w);
    let mut classes: Vec<String> = Vec::new();
    if has("marketplace") {
        classes.extend(CLASSES.iter().map(|c| c.to_string()));
    }
    if has("tpcc") {
        classes.extend(CONDITIONS.iter().map(|c| c.to_string()));
    }
    classes
}

/// The header of `sweep.csv` for these parameter and anomaly columns.
pub fn header(params: &[String], classes: &[String]) -> Vec<String> {
    LEAD_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(params.iter().cloned())
        .chain(METRIC_COLUMNS.iter().map(|c| c.to_string()))
        .chain(capacity::COLUMNS.iter().map(|c| c.to_string()))
        .chain(classes.iter().map(|c| format!("{ANOMALY_PREFIX}{c}")))
        .collect()
}

/// Writes `sweep.csv` and `latency.csv` row by row, flushing each so an interrupted sweep keeps
/// what it measured.
pub struct SweepWriter {
    runs: csv::Writer<File>,
    latency: csv::Writer<File>,
    pub params: Vec<String>,
    pub classes: Vec<String>,
}

impl SweepWriter {
    pub fn create(dir: &Path, params: Vec<String>, classes: Vec<String>) -> anyhow::Result<Self> {
        let open = |name: &str| {
            let path = dir.join(name);
            csv::Writer::from_path(&path)
                .with_context(|| format!("cannot write {}", path.display()))
        };
        let mut runs = open(SWEEP_CSV)?;
        runs.write_record(header(&params, &classes))?;
        runs.flush()?;
        let mut latency = open(LATENCY_CSV)?;
        latency.write_record(LATENCY_COLUMNS)?;
        latency.flush()?;
        Ok(SweepWriter {
            runs,
            latency,
            params,
            classes,
        })
    }

    /// The parameter cells of a point, aligned with this writer's columns.
    pub fn cells(&self, point: &Point) -> anyhow::Result<Vec<String>> {
        let params = parameters(point)?;
        Ok(self
            .params
            .iter()
            .map(|c| {
                params
                    .iter()
                    .find(|(k, _)| k == c)
                    .map_or(String::new(), |(_, v)| v.clone())
            })
            .collect())
    }

    pub fn write(&mut self, row: &RunRow) -> anyhow::Result<()> {
        self.runs.write_record(record(row, self.classes.len()))?;
        self.runs.flush()?;
        Ok(())
    }

    /// The per-type latency of a successful run.
    pub fn write_latency(
        &mut self,
        point: usize,
        repetition: u32,
        system: &str,
        drive: &DriveResult,
    ) -> anyhow::Result<()> {
        for (kind, t) in &drive.per_type {
            let mut r = vec![
                point.to_string(),
                repetition.to_string(),
                system.to_string(),
                kind.to_string(),
                t.committed.to_string(),
                t.failed.to_string(),
            ];
            r.extend(Latency::of(&t.latency_us).cells());
            self.latency.write_record(r)?;
        }
        self.latency.flush()?;
        Ok(())
    }
}

/// A row's cells, in `header` order, with `classes` anomaly cells.
pub fn record(row: &RunRow, classes: usize) -> Vec<String> {
    let mut r = vec![
        row.point.to_string(),
        row.repetition.to_string(),
        row.system.clone(),
    ];
    r.extend(row.params.iter().cloned());
    match &row.outcome {
        Err(error) => {
            // One line per cell: a CSV reader should not have to cope with multi-line errors.
            r.push(error.replace(['\n', '\r'], " "));
            r.extend(std::iter::repeat_n(
                String::new(),
                METRIC_COLUMNS.len() - 1 + capacity::COLUMNS.len() + classes,
            ));
        }
        Ok(m) => {
            r.push(String::new());
            r.extend([
                m.committed.to_string(),
                m.failed.to_string(),
                format!("{:.3}", m.measured_s),
                format!("{:.1}", m.throughput_tps),
                format!("{:.3}", m.load_s),
            ]);
            r.extend(m.latency.cells());
            r.extend([
                m.replay_equal.map_or(String::new(), |b| b.to_string()),
                m.mode_violations.to_string(),
                m.anomalies_total.to_string(),
            ]);
            r.extend(m.load.cells());
            let mut anomalies: Vec<String> = m
                .anomalies
                .iter()
                .map(|n| n.map_or(String::new(), |n| n.to_string()))
                .collect();
            anomalies.resize(classes, String::new());
            r.extend(anomalies);
        }
    }
    r
}

/// Reads `sweep.csv` back, checking its header against the schema above.
pub fn read(path: &Path) -> anyhow::Result<SweepTable> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{}: no header row", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let bad = |why: String| anyhow!("{}: not a sweep table: {why}", path.display());
    if header.len() < LEAD_COLUMNS.len() || header[..LEAD_COLUMNS.len()] != LEAD_COLUMNS {
        return Err(bad(format!(
            "it must start with {}",
            LEAD_COLUMNS.join(",")
        )));
    }
    let error_at = header
        .iter()
        .position(|c| c == "error")
        .ok_or_else(|| bad("no `error` column".into()))?;
    let metrics_end = error_at + METRIC_COLUMNS.len();
    if header.get(error_at..metrics_end) != Some(&METRIC_COLUMNS.map(String::from)[..]) {
        return Err(bad(format!(
            "after the parameters it needs the columns {}",
            METRIC_COLUMNS.join(",")
        )));
    }
    let params = header[LEAD_COLUMNS.len()..error_at].to_vec();
    // The load columns, when the table has them (tables written before them do not).
    let load_columns = capacity::COLUMNS.map(String::from);
    let has_load =
        header.get(metrics_end..metrics_end + load_columns.len()) == Some(&load_columns[..]);
    let classes_from = if has_load {
        metrics_end + load_columns.len()
    } else {
        metrics_end
    };
    let mut classes = Vec::new();
    for c in &header[classes_from..] {
        match c.strip_prefix(ANOMALY_PREFIX) {
            Some(class) => classes.push(class.to_string()),
            None => return Err(bad(format!("unexpected column `{c}` after the metrics"))),
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: malformed row", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |column: usize| -> anyhow::Result<&str> {
            record.get(column).ok_or_else(|| {
                anyhow!(
                    "{} line {line}: missing column `{}`",
                    path.display(),
                    header[column]
                )
            })
        };
        let number = |column: usize| -> anyhow::Result<f64> {
            let text = at(column)?;
            text.parse::<f64>().map_err(|_| {
                anyhow!(
                    "{} line {line}, column `{}`: `{text}` is not a number",
                    path.display(),
                    header[column]
                )
            })
        };
        let count = |column: usize| -> anyhow::Result<u64> {
            let x = number(column)?;
            if x < 0.0 || x.fract() != 0.0 {
                bail!(
                    "{} line {line}, column `{}`: `{x}` is not a count",
                    path.display(),
                    header[column]
                );
            }
            Ok(x as u64)
        };
        let error = at(error_at)?;
        let outcome = if error.is_empty() {
            let m = |i: usize| error_at + i;
            let replay_equal = match at(m(12))? {
                "" => None,
                "true" => Some(true),
                "false" => Some(false),
                other => bail!(
                    "{} line {line}, column `replay_equal`: `{other}` is not true, false or empty",
                    path.display()
                ),
            };
            let mut anomalies = Vec::with_capacity(classes.len());
            for column in classes_from..header.len() {
                anomalies.push(match at(column)? {
                    "" => None,
                    _ => Some(count(column)?),
                });
            }
            Ok(Metrics {
                committed: count(m(1))?,
                failed: count(m(2))?,
                measured_s: number(m(3))?,
                throughput_tps: number(m(4))?,
                load_s: number(m(5))?,
                latency: Latency {
                    mean: number(m(6))?,
                    p50: number(m(7))?,
                    p90: number(m(8))?,
                    p99: number(m(9))?,
                    p999: number(m(10))?,
                    max: number(m(11))?,
                },
                replay_equal,
                mode_violations: count(m(13))?,
                anomalies_total: count(m(14))?,
                anomalies,
                load: if has_load {
                    let cells = (metrics_end..classes_from)
                        .map(at)
                        .collect::<anyhow::Result<Vec<&str>>>()?;
                    LoadFigures::parse(&cells)
                        .map_err(|e| anyhow!("{} line {line}: {e}", path.display()))?
                } else {
                    LoadFigures::default()
                },
            })
        } else {
            Err(error.to_string())
        };
        rows.push(RunRow {
            point: count(0)? as usize,
            repetition: count(1)? as u32,
            system: at(2)?.to_string(),
            params: (LEAD_COLUMNS.len()..error_at)
                .map(|c| at(c).map(str::to_string))
                .collect::<anyhow::Result<_>>()?,
            outcome,
        });
    }
    Ok(SweepTable {
        params,
        classes,
        rows,
    })
}

#[cfg(test)]
pub(crate) mod tests;
