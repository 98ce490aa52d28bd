//! `where-time-went.png`: what a latency percentile alone does not show, over the sweep's
//! x-axis — vMODB's wait for its batch to commit and the interval between batch commits, the
//! baseline's latency until all of an operation's effects are applied and its backlog of
//! undelivered one-way messages. A series without a figure (the other system) draws no points.

use super::draw::{self, Area, Line, XyChart};
use super::{Layout, xy_chart};
use crate::sweep::table::{Metrics, SweepTable};

type Figure = fn(&Metrics) -> Option<f64>;

/// Each panel: its title, its y-axis and the figure it draws.
const PANELS: [(&str, &str, Figure); 4] = [
    ("vMODB: wait for the batch to commit, p99", "ms", |m| {
        m.load.commit_wait_p99_ms
    }),
    ("vMODB: interval between batch commits, p99", "ms", |m| {
        m.load.batch_interval_p99_ms
    }),
    (
        "baseline: latency until all effects are applied, p99",
        "ms",
        |m| m.load.visibility_p99_ms,
    ),
    (
        "baseline: largest backlog of undelivered one-way messages",
        "messages",
        |m| m.load.deferred_max.map(|n| n as f64),
    ),
];

/// Each panel's lines; `None` when no run has any of the figures.
pub fn panels(layout: &Layout, table: &SweepTable) -> Option<Vec<Vec<Line>>> {
    let panels: Vec<Vec<Line>> = PANELS
        .iter()
        .map(|(_, _, figure)| layout.lines_where(table, *figure))
        .collect();
    let any = panels.iter().flatten().any(|l| !l.points.is_empty());
    any.then_some(panels)
}

pub fn draw(
    root: &Area,
    title: &str,
    caption: &str,
    layout: &Layout,
    panels: &[Vec<Line>],
) -> anyhow::Result<()> {
    let areas = draw::headed(root, title, caption)?.split_evenly((2, 2));
    for ((area, (name, unit, _)), lines) in areas.iter().zip(PANELS).zip(panels) {
        xy_chart(
            area,
            &XyChart {
                title: name,
                x_desc: &layout.x_name,
                y_desc: unit,
                axis: &layout.axis,
                ticks: &layout.ticks,
                lines,
            },
        )?;
    }
    Ok(())
}
