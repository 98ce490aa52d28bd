//! The latency–throughput curve of an open-loop sweep over offered rate: achieved throughput
//! against latency, one line per series, points in order of offered rate. Where a curve turns
//! up (latency climbing while throughput no longer follows the offered rate) is the system's
//! capacity; this is the figure the field compares systems by.

use super::caption::{RATE_COLUMN, column, rate};
use super::draw::{
    Area, DataAxis, FONT, Stat, builder, color, headed, legend, number, plot_error, y_tick,
};
use super::{Layout, series_label};
use crate::sweep::table::{Metrics, SweepTable};
use plotters::prelude::*;

/// One offered rate of a series: means (and spread) over its successful repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    pub rate_tps: f64,
    pub throughput: Stat,
    pub p50_ms: Stat,
    pub p99_ms: Stat,
}

#[derive(Debug, PartialEq)]
pub struct Curve {
    pub label: String,
    /// In increasing offered rate.
    pub points: Vec<CurvePoint>,
}

/// Offered rates and the metrics of the runs at each.
type RunsByRate<'t> = Vec<(f64, Vec<&'t Metrics>)>;

/// Picks one latency out of a point.
type PointLatency = fn(&CurvePoint) -> f64;

/// The curves, one per system and combination of the other varied parameters, when the table
/// varies the offered rate; `None` when `rate_tps` is not a column or does not vary. Rows without
/// an offered rate (closed loop) and failed runs are left out.
pub fn curves(table: &SweepTable, layout: &Layout) -> Option<Vec<Curve>> {
    let rate_column = column(table, RATE_COLUMN).filter(|c| layout.varied.contains(c))?;
    let others: Vec<usize> = layout
        .varied
        .iter()
        .copied()
        .filter(|&c| c != rate_column)
        .collect();
    // Per series, per offered rate, the metrics of its runs (first-seen order; sorted below).
    let mut series: Vec<(String, RunsByRate)> = Vec::new();
    for row in &table.rows {
        let (Ok(metrics), Some(rate_tps)) = (&row.outcome, rate(row, rate_column)) else {
            continue;
        };
        let label = series_label(table, row, &others);
        let index = match series.iter().position(|(l, _)| *l == label) {
            Some(index) => index,
            None => {
                series.push((label, Vec::new()));
                series.len() - 1
            }
        };
        let rates = &mut series[index].1;
        match rates.iter_mut().find(|(r, _)| *r == rate_tps) {
            Some((_, runs)) => runs.push(metrics),
            None => rates.push((rate_tps, vec![metrics])),
        }
    }
    Some(
        series
            .into_iter()
            .map(|(label, mut rates)| {
                rates.sort_by(|a, b| a.0.total_cmp(&b.0));
                let points = rates
                    .into_iter()
                    .filter_map(|(rate_tps, runs)| {
                        let stat = |f: fn(&Metrics) -> f64| Stat::of(runs.iter().map(|m| f(m)));
                        Some(CurvePoint {
                            rate_tps,
                            throughput: stat(|m| m.throughput_tps)?,
                            p50_ms: stat(|m| m.latency.p50)?,
                            p99_ms: stat(|m| m.latency.p99)?,
                        })
                    })
                    .collect();
                Curve { label, points }
            })
            .collect(),
    )
}

/// Two panels side by side, p50 and p99, on the same logarithmic latency axis so they compare.
pub fn draw(area: &Area, title: &str, caption: &str, curves: &[Curve]) -> anyhow::Result<()> {
    let body = headed(area, title, caption)?;
    let panels = body.split_evenly((1, 2));
    // Latencies of 0 (nothing committed) have no place on a log axis.
    let latencies: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.points.iter().flat_map(|p| [p.p50_ms.mean, p.p99_ms.mean]))
        .filter(|&ms| ms > 0.0 && ms.is_finite())
        .collect();
    let lo = latencies.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = latencies.iter().copied().fold(0.0f64, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo / 1.5, hi * 3.0)
    } else {
        (0.1, 10.0)
    };
    let x_max = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.throughput.mean))
        .fold(0.0f64, f64::max);
    let x_top = if x_max > 0.0 { x_max * 1.08 } else { 1.0 };
    let percentiles: [(&str, PointLatency); 2] =
        [("p50", |p| p.p50_ms.mean), ("p99", |p| p.p99_ms.mean)];
    for (panel, (name, latency)) in panels.iter().zip(percentiles) {
        let mut c = builder(panel, &format!("{name} latency"))
            .build_cartesian_2d(0.0..x_top, DataAxis::log_values(lo, hi))
            .map_err(plot_error)?;
        c.configure_mesh()
            .x_desc("achieved throughput (committed tx/s)")
            .y_desc(format!("{name} latency (ms, log scale)"))
            .y_labels(14)
            .x_label_formatter(&|x| y_tick(*x, x_top))
            .y_label_formatter(&|y| number(*y))
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;
        for (i, curve) in curves.iter().enumerate() {
            let points: Vec<(f64, f64)> = curve
                .points
                .iter()
                .map(|p| (p.throughput.mean, latency(p)))
                .filter(|&(_, ms)| ms > 0.0)
                .collect();
            let style = color(i).stroke_width(2);
            c.draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(plot_error)?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
            c.draw_series(points.iter().map(|&p| Circle::new(p, 4, color(i).filled())))
                .map_err(plot_error)?;
        }
        if !curves.is_empty() {
            // Latency climbs at the right, where capacity is reached: the legend goes left.
            legend(&mut c, SeriesLabelPosition::UpperLeft)?;
        }
    }
    Ok(())
}
