//! `report.md`: what the sweep ran, the plots, a table of the means, and the failed runs.

use super::draw::{Stat, number};
use super::{
    ANOMALIES_PNG, LATENCY_PNG, LATENCY_THROUGHPUT_PNG, Layout, THROUGHPUT_PNG, WHERE_TIME_WENT_PNG,
};
use crate::sweep::table::{LATENCY_CSV, Metrics, SWEEP_CSV, SweepTable};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Failure messages are cut to this many characters in the report (the CSV has them whole).
const ERROR_CHARS: usize = 300;

/// What the report opens with.
pub struct Heading<'a> {
    pub name: &'a str,
    /// From the sweep file; may be empty.
    pub description: &'a str,
    /// The same line as under every plot's title: machine, load model, durability.
    pub caption: &'a str,
}

/// The report; `curve` says whether the latency–throughput curve was drawn.
/// Which optional figures the sweep has.
pub struct Figures {
    pub latency_throughput: bool,
    pub where_time_went: bool,
}

pub fn markdown(
    heading: &Heading,
    table: &SweepTable,
    layout: &Layout,
    figures: Figures,
) -> String {
    let Heading {
        name,
        description,
        caption,
    } = heading;
    let mut md = String::new();
    let points: BTreeSet<usize> = table.rows.iter().map(|r| r.point).collect();
    let repetitions = table.rows.iter().map(|r| r.repetition).max().unwrap_or(0);
    let systems: BTreeSet<&str> = table.rows.iter().map(|r| r.system.as_str()).collect();
    let failed: Vec<_> = table.rows.iter().filter(|r| r.outcome.is_err()).collect();
    let varied: Vec<String> = layout
        .varied
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let axis = if i == 0 { " (x-axis)" } else { "" };
            format!("`{}`{axis}", table.params[c])
        })
        .collect();
    // Writing to a String cannot fail; `let _` keeps that out of the signature.
    let _ = writeln!(md, "# Sweep `{name}`\n");
    let _ = writeln!(md, "{caption}\n");
    if !description.is_empty() {
        let _ = writeln!(md, "{description}\n");
    }
    let _ = writeln!(
        md,
        "{} runs: {} points × up to {} repetitions on {}; {} failed. Varied: {}.\n",
        table.rows.len(),
        points.len(),
        repetitions,
        systems.into_iter().collect::<Vec<_>>().join(", "),
        failed.len(),
        if varied.is_empty() {
            "nothing".into()
        } else {
            varied.join(", ")
        }
    );
    let _ = writeln!(
        md,
        "Data: [{SWEEP_CSV}]({SWEEP_CSV}) (one row per run: every parameter and metric), \
         [{LATENCY_CSV}]({LATENCY_CSV}) (per transaction type), and each run's own files under \
         `runs/<point>/r<repetition>/<system>/`. Redraw the plots with `vbench plot <this directory>`.\n"
    );
    for (title, file) in [
        ("Throughput", THROUGHPUT_PNG),
        ("Latency percentiles", LATENCY_PNG),
        ("Anomalies per class", ANOMALIES_PNG),
    ] {
        let _ = writeln!(md, "## {title}\n\n![{title}]({file})\n");
    }
    if figures.latency_throughput {
        let _ = writeln!(
            md,
            "## Latency vs throughput\n\n\
             One line per series, its points in order of offered rate (`rate_tps`), each the mean \
             over the repetitions: achieved throughput against p50 and p99 latency. Where a curve \
             turns up, the system has reached its capacity.\n\n\
             ![Latency vs throughput]({LATENCY_THROUGHPUT_PNG})\n"
        );
    }
    if figures.where_time_went {
        let _ = writeln!(
            md,
            "## Where time went\n\n\
             vMODB: the wait for the batch to commit and the interval between batch commits \
             (p99); the baseline: the latency until all of an operation's effects are applied \
             (p99) and the largest backlog of undelivered one-way messages.\n\n\
             ![Where time went]({WHERE_TIME_WENT_PNG})\n"
        );
    }
    let _ = writeln!(md, "## Means over the repetitions\n");
    let _ = writeln!(
        md,
        "| series | {} | runs | tx/s (min–max) | p50 ms | p99 ms | anomalies per run |",
        layout.x_name
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
    for series in &layout.series {
        for (tick, rows) in layout.ticks.iter().zip(&series.rows) {
            let runs: Vec<&Metrics> = rows
                .iter()
                .filter_map(|&r| table.rows[r].outcome.as_ref().ok())
                .collect();
            let stat = |f: fn(&Metrics) -> f64| Stat::of(runs.iter().map(|m| f(m)));
            let Some(tps) = stat(|m| m.throughput_tps) else {
                continue;
            };
            let mean = |f: fn(&Metrics) -> f64| stat(f).map_or("–".into(), |s| number(s.mean));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} ({}–{}) | {} | {} | {} |",
                series.label,
                tick.label,
                tps.n,
                number(tps.mean),
                number(tps.min),
                number(tps.max),
                mean(|m| m.latency.p50),
                mean(|m| m.latency.p99),
                mean(|m| m.anomalies_total as f64),
            );
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(md, "\n## Failed runs\n");
        for r in failed {
            let error = r.outcome.as_ref().err().map_or("", |e| e.as_str());
            let cut: String = error.chars().take(ERROR_CHARS).collect();
            let more = if cut.len() < error.len() { " …" } else { "" };
            let _ = writeln!(
                md,
                "- point {}, repetition {}, {}: {cut}{more}",
                r.point, r.repetition, r.system
            );
        }
    }
    md
}
