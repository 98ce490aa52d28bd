//! Bar charts: the anomaly counts (horizontal, on a symlog axis) and grouped columns for a
//! metric over categories (a line joining `none` and `all` would suggest values in between).

use super::draw::{
    Area, Axis, DataAxis, FONT, Stat, XyChart, builder, color, count_label, headed, legend,
    legend_corner, number, plot_error, symlog, symlog_inverse, tick_label, y_max, y_tick,
    y_top_with_legend,
};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub struct Bars {
    pub label: String,
    /// One per category; `None` where the category does not apply (another workload's class).
    pub values: Vec<Option<f64>>,
}

pub struct BarChart<'a> {
    pub title: &'a str,
    pub caption: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub categories: &'a [String],
    pub groups: &'a [Bars],
    /// Lines printed under the legend (e.g. the categories left out).
    pub note: &'a [String],
}

/// Width of the column right of a bar chart that holds its legend and note.
const LEGEND_WIDTH: u32 = 320;

/// The end of a symlog count axis whose largest value is `max`: room right of the longest bar
/// for its label, and at least up to 10 so an all-zero chart still has a scale.
pub fn count_axis_top(max: f64) -> f64 {
    symlog_inverse(symlog(max) * 1.12).max(10.0)
}

/// Horizontal grouped bars: a row per category (the first on top), a bar per group in legend
/// order, each labelled with its value. The count axis is symlog (linear below 1, logarithmic
/// above), so 349 shows next to 82,500 and 0 stays at the axis. The legend has a column of its
/// own so it never hides a bar.
pub fn bar_chart(area: &Area, chart: &BarChart) -> anyhow::Result<()> {
    let body = headed(area, chart.title, chart.caption)?;
    let (width, _) = body.dim_in_pixel();
    let (plot, side) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let n = chart.categories.len().max(1);
    let x_max = chart
        .groups
        .iter()
        .flat_map(|g| g.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let row = |category: usize| (n - 1 - category) as f64;
    let category = |y: &f64| {
        let i = y.round();
        let on_tick = (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n;
        let label = on_tick
            .then(|| chart.categories.get(n - 1 - i as usize))
            .flatten();
        label.map_or(String::new(), |l| l.clone())
    };
    let mut c = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(190)
        .build_cartesian_2d(
            DataAxis::counts(count_axis_top(x_max)),
            -0.5..(n as f64 - 0.5),
        )
        .map_err(plot_error)?;
    c.configure_mesh()
        .disable_y_mesh()
        .x_desc(format!("{} (log scale above 1)", chart.x_desc))
        .y_desc(chart.y_desc)
        .x_labels(16)
        // One label slot more than categories makes plotters put a tick on each category.
        .y_labels(n + 1)
        .y_label_formatter(&category)
        .x_label_formatter(&|x| count_label(*x))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(BLACK.mix(0.06))
        .draw()
        .map_err(plot_error)?;
    let k = chart.groups.len().max(1);
    let height = 0.8 / k as f64;
    for (g, bars) in chart.groups.iter().enumerate() {
        let fill = color(g).filled();
        let placed: Vec<(f64, f64)> = bars
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (v, row(i) + 0.4 - height * (g as f64 + 0.5))))
            .collect();
        c.draw_series(placed.iter().map(|&(v, y)| {
            Rectangle::new([(0.0, y - height * 0.42), (v, y + height * 0.42)], fill)
        }))
        .map_err(plot_error)?;
        c.draw_series(
            placed.iter().map(|&(v, y)| {
                EmptyElement::at((v, y)) + Text::new(number(v), (5, -6), (FONT, 12))
            }),
        )
        .map_err(plot_error)?;
    }
    let mut y = 24;
    for (g, bars) in chart.groups.iter().enumerate() {
        side.draw(&Rectangle::new([(8, y), (22, y + 14)], color(g).filled()))
            .map_err(plot_error)?;
        side.draw(&Text::new(bars.label.as_str(), (30, y), (FONT, 14)))
            .map_err(plot_error)?;
        y += 24;
    }
    y += 12;
    for line in chart.note {
        side.draw(&Text::new(line.as_str(), (8, y), (FONT, 13)))
            .map_err(plot_error)?;
        y += 19;
    }
    Ok(())
}

/// Where bar `series` of `count` sits in the group at category position `x`: the group takes
/// 80% of the category's width, split evenly, in legend order from the left.
pub fn bar_span(x: f64, series: usize, count: usize) -> (f64, f64) {
    let width = 0.8 / count.max(1) as f64;
    let left = x - 0.4 + width * series as f64;
    // A sliver of white between neighbouring bars.
    (left + width * 0.05, left + width * 0.95)
}

/// Bars narrower than this many pixels get no value label (it would overlap its neighbours').
const LABELLED_BAR_PX: f64 = 34.0;

/// Vertical grouped bars over categories: a group per category, a bar per series (its mean
/// over the runs), min/max whiskers where a point has several runs, and the mean written on top
/// when the bars are wide enough.
pub fn column_chart(area: &Area, chart: &XyChart) -> anyhow::Result<()> {
    let x_axis = DataAxis::new(Axis::Categories, chart.ticks);
    let x_label = |x: &f64| tick_label(chart.ticks, *x);
    // Room above for the legend and the labels over the whiskers.
    let y_top = y_top_with_legend(area, y_max(chart.lines) * 1.05, chart.lines.len());
    let mut c = builder(area, chart.title)
        .build_cartesian_2d(x_axis, 0.0..y_top)
        .map_err(plot_error)?;
    c.configure_mesh()
        .disable_x_mesh()
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        .x_labels(chart.ticks.len().max(1))
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| y_tick(*y, y_top))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    let count = chart.lines.len();
    let (plot_px, _) = c.plotting_area().dim_in_pixel();
    let bar_px = f64::from(plot_px) / chart.ticks.len().max(1) as f64 * 0.8 / count.max(1) as f64;
    let label_style =
        TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, line) in chart.lines.iter().enumerate() {
        let fill = color(i).filled();
        let placed: Vec<(f64, f64, Stat)> = line
            .points
            .iter()
            .map(|&(x, s)| {
                let (left, right) = bar_span(x, i, count);
                (left, right, s)
            })
            .collect();
        c.draw_series(
            placed
                .iter()
                .map(|&(left, right, s)| Rectangle::new([(left, 0.0), (right, s.mean)], fill)),
        )
        .map_err(plot_error)?
        .label(line.label.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
        let whisker = BLACK.mix(0.75).stroke_width(1);
        for &(left, right, s) in placed.iter().filter(|(_, _, s)| s.n > 1 && s.max > s.min) {
            let mid = (left + right) / 2.0;
            c.draw_series([PathElement::new(vec![(mid, s.min), (mid, s.max)], whisker)])
                .map_err(plot_error)?;
            for end in [s.min, s.max] {
                let cap =
                    EmptyElement::at((mid, end)) + PathElement::new(vec![(-5, 0), (5, 0)], whisker);
                c.draw_series([cap]).map_err(plot_error)?;
            }
        }
        if bar_px >= LABELLED_BAR_PX {
            c.draw_series(placed.iter().map(|&(left, right, s)| {
                EmptyElement::at(((left + right) / 2.0, s.max.max(s.mean)))
                    + Text::new(number(s.mean), (0, -4), label_style.clone())
            }))
            .map_err(plot_error)?;
        }
    }
    if !chart.lines.is_empty() {
        legend(&mut c, legend_corner(chart.lines))?;
    }
    Ok(())
}
