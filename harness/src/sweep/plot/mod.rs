//! `vbench plot DIR`: a sweep's plots and `report.md`, drawn from its `sweep.csv` alone (a
//! sweep calls the same code when it ends).
//!
//! Which parameters varied is read from the table: a parameter column whose value differs
//! between rows. The first is the x-axis (the columns keep the sweep file's order); the lines are
//! one per system and combination of the other varied parameters, each point the mean over the
//! repetitions with min/max whiskers. A numeric x-axis is linear, or logarithmic when its
//! values are spaced more evenly that way (1, 10, 100), and joined by lines; any other is a row
//! of categories, drawn as grouped bars. An open-loop sweep over offered rate also gets its
//! latency–throughput curve. Every figure carries a caption: machine, load model, durability.

mod bars;
mod caption;
mod curve;
pub mod draw;
mod report;
#[cfg(test)]
mod tests;
mod where_time_went;

use crate::sweep::table::{self, Metrics, SweepTable};
use anyhow::Context;
use bars::{BarChart, Bars};
use draw::{Area, Axis, Line, Stat, Tick, XyChart};
use std::path::{Path, PathBuf};

pub const THROUGHPUT_PNG: &str = "throughput.png";
pub const LATENCY_PNG: &str = "latency.png";
pub const ANOMALIES_PNG: &str = "anomalies.png";
pub const LATENCY_THROUGHPUT_PNG: &str = "latency-throughput.png";
pub const WHERE_TIME_WENT_PNG: &str = "where-time-went.png";
pub const REPORT_MD: &str = "report.md";
/// Every file `redraw` may write (a sweep clears them all before it runs, so no figure of an
/// earlier run is left behind); `redraw` returns the ones it wrote: the latency–throughput curve
/// only for a sweep over offered rate, where time went only when a run has those figures.
pub const OUTPUT_FILES: [&str; 6] = [
    THROUGHPUT_PNG,
    LATENCY_PNG,
    ANOMALIES_PNG,
    LATENCY_THROUGHPUT_PNG,
    WHERE_TIME_WENT_PNG,
    REPORT_MD,
];

/// Picks one number out of a run's metrics.
type Metric = fn(&Metrics) -> f64;

/// At most this many bar groups per anomaly class; more, and the bars are per system only.
const MAX_BAR_GROUPS: usize = 8;

/// How a metric over the x-axis is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChartKind {
    /// Points joined by lines: values between two numeric ticks lie between them.
    Lines,
    /// A group of bars per category: nothing lies between `none` and `all`.
    GroupedBars,
}

pub fn chart_kind(axis: Axis) -> ChartKind {
    match axis {
        Axis::Linear | Axis::Log => ChartKind::Lines,
        Axis::Categories => ChartKind::GroupedBars,
    }
}

fn xy_chart(area: &Area, chart: &XyChart) -> anyhow::Result<()> {
    match chart_kind(*chart.axis) {
        ChartKind::Lines => draw::line_chart(area, chart),
        ChartKind::GroupedBars => bars::column_chart(area, chart),
    }
}

/// Reads `dir/sweep.csv` and (re)writes the plots and `report.md`; returns the paths it wrote.
pub fn redraw(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let table = table::read(&dir.join(table::SWEEP_CSV))?;
    let layout = Layout::of(&table);
    let name = sweep_name(dir);
    let caption = caption::line(&caption::machine(dir), &table);
    draw::register_fonts()?;
    let mut written = Vec::new();
    let path = dir.join(THROUGHPUT_PNG);
    draw::png(&path, (1000, 620), |root| {
        let title = format!("{name}: throughput vs {}", layout.x_name);
        let body = draw::headed(root, &title, &caption)?;
        let lines = layout.lines(&table, |m| m.throughput_tps);
        xy_chart(
            &body,
            &XyChart {
                title: "",
                x_desc: &layout.x_name,
                y_desc: "committed transactions / s",
                axis: &layout.axis,
                ticks: &layout.ticks,
                lines: &lines,
            },
        )
    })?;
    written.push(path);
    let path = dir.join(LATENCY_PNG);
    draw::png(&path, (1400, 940), |root| {
        let title = format!(
            "{name}: latency percentiles vs {} (all transaction types)",
            layout.x_name
        );
        let panels = draw::headed(root, &title, &caption)?.split_evenly((2, 2));
        let percentiles: [(&str, Metric); 4] = [
            ("p50", |m| m.latency.p50),
            ("p90", |m| m.latency.p90),
            ("p99", |m| m.latency.p99),
            ("p99.9", |m| m.latency.p999),
        ];
        for (panel, (label, metric)) in panels.iter().zip(percentiles) {
            let lines = layout.lines(&table, metric);
            xy_chart(
                panel,
                &XyChart {
                    title: &format!("{label} latency"),
                    x_desc: &layout.x_name,
                    y_desc: &format!("{label} latency (ms)"),
                    axis: &layout.axis,
                    ticks: &layout.ticks,
                    lines: &lines,
                },
            )?;
        }
        Ok(())
    })?;
    written.push(path);
    let path = dir.join(ANOMALIES_PNG);
    let anomalies = AnomalyChart::of(&layout, &table);
    let rows = anomalies.classes.len().max(1) as u32;
    let height = (150 + rows * (14 * anomalies.bars.len() as u32).max(30)).max(420);
    draw::png(&path, (1200, height), |root| {
        bars::bar_chart(
            root,
            &BarChart {
                title: &format!("{name}: {}", anomalies.title),
                caption: &caption,
                x_desc: "mean anomalies per run",
                y_desc: "anomaly class",
                categories: &anomalies.classes,
                groups: &anomalies.bars,
                note: &anomalies.note,
            },
        )
    })?;
    written.push(path);
    let curves = curve::curves(&table, &layout);
    if let Some(curves) = &curves {
        let path = dir.join(LATENCY_THROUGHPUT_PNG);
        draw::png(&path, (1400, 640), |root| {
            let title = format!("{name}: latency vs achieved throughput, by offered rate");
            curve::draw(root, &title, &caption, curves)
        })?;
        written.push(path);
    }
    let where_time_went = where_time_went::panels(&layout, &table);
    if let Some(panels) = &where_time_went {
        let path = dir.join(WHERE_TIME_WENT_PNG);
        draw::png(&path, (1400, 940), |root| {
            let title = format!("{name}: where time went, vs {}", layout.x_name);
            where_time_went::draw(root, &title, &caption, &layout, panels)
        })?;
        written.push(path);
    }
    let path = dir.join(REPORT_MD);
    let heading = report::Heading {
        name: &name,
        description: &description(dir),
        caption: &caption,
    };
    std::fs::write(
        &path,
        report::markdown(
            &heading,
            &table,
            &layout,
            report::Figures {
                latency_throughput: curves.is_some(),
                where_time_went: where_time_went.is_some(),
            },
        ),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    Ok(written)
}

/// The anomaly bars to draw: the classes that any run found (all of them when none did), and a
/// note naming the ones left out.
struct AnomalyChart {
    title: String,
    classes: Vec<String>,
    bars: Vec<Bars>,
    note: Vec<String>,
}

impl AnomalyChart {
    fn of(layout: &Layout, table: &SweepTable) -> Self {
        let bars = layout.anomaly_bars(table, true);
        let found: Vec<usize> = (0..table.classes.len())
            .filter(|&c| bars.iter().any(|b| b.values[c].unwrap_or(0.0) > 0.0))
            .collect();
        if found.is_empty() {
            // Every class, a zero per system: the chart says "none", compactly.
            return AnomalyChart {
                title: "anomalies per class, mean per run (none found)".into(),
                classes: table.classes.clone(),
                bars: layout.anomaly_bars(table, false),
                note: Vec::new(),
            };
        }
        let mut note = vec!["None in any run:".to_string()];
        note.extend(
            (0..table.classes.len())
                .filter(|c| !found.contains(c))
                .map(|c| format!("  {}", table.classes[c])),
        );
        if note.len() == 1 {
            note.clear();
        }
        AnomalyChart {
            title: "anomalies per class, mean per run".into(),
            classes: found.iter().map(|&c| table.classes[c].clone()).collect(),
            bars: bars
                .into_iter()
                .map(|b| Bars {
                    label: b.label,
                    values: found.iter().map(|&c| b.values[c]).collect(),
                })
                .collect(),
            note,
        }
    }
}

/// The sweep's name: from the copy of its file kept with the results, else the directory's.
fn sweep_name(dir: &Path) -> String {
    sweep_file_field(dir, "name").unwrap_or_else(|| {
        dir.file_name()
            .map_or("sweep".into(), |n| n.to_string_lossy().into_owned())
    })
}

fn description(dir: &Path) -> String {
    sweep_file_field(dir, "description").unwrap_or_default()
}

/// A top-level string of `dir/sweep.toml`, if the file is there and has it.
fn sweep_file_field(dir: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("sweep.toml")).ok()?;
    let file: toml::Table = toml::from_str(&text).ok()?;
    file.get(key)?.as_str().map(|s| s.trim().to_string())
}

/// Logarithmic when the (sorted, distinct) positive values are more evenly spaced on a log scale
/// than on a linear one (1, 10, 100, 1000; 8, 32, 128), else linear.
pub fn numeric_axis(sorted: &[f64]) -> Axis {
    if sorted.len() < 3 || sorted[0] <= 0.0 {
        return Axis::Linear;
    }
    // Unevenness: the spread of the gaps relative to their mean.
    let unevenness = |values: Vec<f64>| {
        let gaps: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        var.sqrt() / mean
    };
    let linear = unevenness(sorted.to_vec());
    let log = unevenness(sorted.iter().map(|v| v.ln()).collect());
    if log < linear {
        Axis::Log
    } else {
        Axis::Linear
    }
}

/// A series' name: the row's system and its values of `columns` (`vmodb inject=all`).
pub(crate) fn series_label(table: &SweepTable, row: &table::RunRow, columns: &[usize]) -> String {
    let mut label = row.system.clone();
    for &c in columns {
        let cell = row.params.get(c).map_or("", String::as_str);
        label.push_str(&format!(" {}={cell}", table.params[c]));
    }
    label
}

/// How the rows of a table fall into x positions and lines.
#[derive(Debug)]
pub struct Layout {
    /// The parameters that vary, in column order (indexes into `SweepTable::params`).
    pub varied: Vec<usize>,
    /// The x-axis parameter's (`varied[0]`) name, or `all runs` when nothing varies.
    pub x_name: String,
    pub axis: Axis,
    pub ticks: Vec<Tick>,
    pub series: Vec<Series>,
}

/// One line: a system and a combination of the other varied parameters.
#[derive(Debug, PartialEq)]
pub struct Series {
    pub label: String,
    /// Per tick, the successful rows (indexes into `SweepTable::rows`).
    pub rows: Vec<Vec<usize>>,
}

impl Layout {
    pub fn of(table: &SweepTable) -> Self {
        let varied: Vec<usize> = (0..table.params.len())
            .filter(|&c| {
                let mut cells = table.rows.iter().map(|r| &r.params[c]);
                let first = cells.next();
                cells.any(|cell| Some(cell) != first)
            })
            .collect();
        let x = varied.first().copied();
        let mut labels: Vec<String> = Vec::new();
        for row in &table.rows {
            let label = x.map_or_else(|| "all runs".to_string(), |c| row.params[c].clone());
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let numbers: Option<Vec<f64>> = labels
            .iter()
            .map(|l| l.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        let (axis, ticks) = match numbers.filter(|_| x.is_some()) {
            Some(values) => {
                let mut ticks: Vec<Tick> = labels
                    .iter()
                    .zip(values)
                    .map(|(label, position)| Tick {
                        label: label.clone(),
                        position,
                    })
                    .collect();
                ticks.sort_by(|a, b| a.position.total_cmp(&b.position));
                let positions: Vec<f64> = ticks.iter().map(|t| t.position).collect();
                (numeric_axis(&positions), ticks)
            }
            None => (
                Axis::Categories,
                labels
                    .iter()
                    .enumerate()
                    .map(|(i, label)| Tick {
                        label: label.clone(),
                        position: i as f64,
                    })
                    .collect(),
            ),
        };
        let mut series: Vec<Series> = Vec::new();
        for (i, row) in table.rows.iter().enumerate() {
            let label = series_label(table, row, &varied[1.min(varied.len())..]);
            let index = match series.iter().position(|s| s.label == label) {
                Some(index) => index,
                None => {
                    series.push(Series {
                        label,
                        rows: vec![Vec::new(); ticks.len()],
                    });
                    series.len() - 1
                }
            };
            let cell = x.map_or("all runs", |c| row.params[c].as_str());
            if row.outcome.is_ok()
                && let Some(t) = ticks.iter().position(|t| t.label == cell)
            {
                series[index].rows[t].push(i);
            }
        }
        Layout {
            varied,
            x_name: x.map_or_else(|| "all runs".to_string(), |c| table.params[c].clone()),
            axis,
            ticks,
            series,
        }
    }

    /// One line per series: a figure's mean, min and max over the rows at each tick that have
    /// it (a figure some runs lack draws points only where a run has it).
    pub fn lines_where(
        &self,
        table: &SweepTable,
        figure: impl Fn(&Metrics) -> Option<f64>,
    ) -> Vec<Line> {
        self.series
            .iter()
            .map(|s| Line {
                label: s.label.clone(),
                points: self
                    .ticks
                    .iter()
                    .zip(&s.rows)
                    .filter_map(|(tick, rows)| {
                        let values = rows
                            .iter()
                            .filter_map(|&r| table.rows[r].outcome.as_ref().ok())
                            .filter_map(&figure);
                        Stat::of(values).map(|stat| (tick.position, stat))
                    })
                    .collect(),
            })
            .collect()
    }

    /// One line per series: a metric's mean, min and max over the rows at each tick.
    pub fn lines(&self, table: &SweepTable, metric: impl Fn(&Metrics) -> f64) -> Vec<Line> {
        self.lines_where(table, |m| Some(metric(m)))
    }

    /// Bars per anomaly class, each the mean count per run: per system and point when `detailed`
    /// and that makes few groups, else per system.
    pub fn anomaly_bars(&self, table: &SweepTable, detailed: bool) -> Vec<Bars> {
        let group_of = |row: &table::RunRow, detailed: bool| {
            let columns: &[usize] = if detailed { &self.varied } else { &[] };
            series_label(table, row, columns)
        };
        let groups = |detailed: bool| {
            let mut groups: Vec<(String, Vec<&Metrics>)> = Vec::new();
            for row in &table.rows {
                let Ok(m) = &row.outcome else { continue };
                let label = group_of(row, detailed);
                match groups.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, members)) => members.push(m),
                    None => groups.push((label, vec![m])),
                }
            }
            groups
        };
        let mut chosen = groups(detailed);
        if chosen.len() > MAX_BAR_GROUPS {
            chosen = groups(false);
        }
        chosen
            .into_iter()
            .map(|(label, members)| Bars {
                label,
                values: (0..table.classes.len())
                    .map(|c| {
                        let counts = members
                            .iter()
                            .filter_map(|m| m.anomalies.get(c).copied().flatten());
                        Stat::of(counts.map(|n| n as f64)).map(|s| s.mean)
                    })
                    .collect(),
            })
            .collect()
    }
}
