//! Drawing with plotters into PNGs. Text goes through ab_glyph with DejaVu Sans embedded in the
//! binary (the `dejavu` crate), so plots render the same on a machine without fonts.

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::register_font;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Line colours, one per series in order (Tableau 10: distinct, and readable when printed grey).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

const FONT: &str = "sans-serif";

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers DejaVu Sans as plotters' `sans-serif` (the family every chart here uses), once.
pub fn register_fonts() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let invalid = |_| "the embedded DejaVu Sans font did not load".to_string();
            register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).map_err(invalid)?;
            register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).map_err(invalid)
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

/// Draws into a white PNG of `size` pixels and saves it at `path`.
pub fn png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    draw(&root)?;
    root.present()
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

/// A bold title over an area; returns the area below it.
pub fn titled<'a>(area: &Area<'a>, title: &str) -> anyhow::Result<Area<'a>> {
    area.titled(title, (FONT, 24).into_font().style(FontStyle::Bold))
        .map_err(plot_error)
}

/// How x positions map to the axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Axis {
    Linear,
    Log,
    /// Positions 0, 1, 2, … each labelled by its tick.
    Categories,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub label: String,
    pub position: f64,
}

/// Mean, min and max of a metric over some runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: impl Iterator<Item = f64>) -> Option<Stat> {
        let mut s = Stat {
            mean: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            n: 0,
        };
        for v in values {
            s.mean += v;
            s.min = s.min.min(v);
            s.max = s.max.max(v);
            s.n += 1;
        }
        (s.n > 0).then(|| Stat {
            mean: s.mean / s.n as f64,
            ..s
        })
    }
}

pub struct Line {
    pub label: String,
    pub points: Vec<(f64, Stat)>,
}

pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub axis: &'a Axis,
    pub ticks: &'a [Tick],
    /// Coloured by their index, so the same series has the same colour in every chart.
    pub lines: &'a [Line],
}

/// A number for a tick or a bar: short, no binary noise (12500 → 12.5k, 0.25 → 0.25).
pub fn number(x: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = x.abs();
    if a >= 10_000.0 {
        format!("{}k", trim(format!("{:.1}", x / 1000.0)))
    } else if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        trim(format!("{x:.2}"))
    } else {
        trim(format!("{x:.3}"))
    }
}

/// The x-axis of a line chart: linear or logarithmic over `lo..hi`, with a tick at each data
/// position (plotters' own ticks would be round numbers that miss them: 10, 20 for 8, 32, 128).
struct DataAxis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
}

impl DataAxis {
    fn new(axis: Axis, ticks: &[Tick]) -> Self {
        let positions: Vec<f64> = ticks.iter().map(|t| t.position).collect();
        let (lo, hi) = positions
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
        let (lo, hi, log) = match axis {
            Axis::Log => (lo / 1.3, hi * 1.3, true),
            Axis::Categories => (-0.5, positions.len().max(1) as f64 - 0.5, false),
            Axis::Linear if hi > lo => (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05, false),
            Axis::Linear => (lo - 1.0, hi + 1.0, false),
        };
        DataAxis {
            lo,
            hi,
            log,
            ticks: positions,
        }
    }

    fn scaled(&self, x: f64) -> f64 {
        if self.log { x.ln() } else { x }
    }
}

impl Ranged for DataAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.scaled(self.hi) - self.scaled(self.lo);
        let at = (self.scaled(*value) - self.scaled(self.lo)) / span;
        limit.0 + (at * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        // Too many positions to label each: every k-th.
        let every = self
            .ticks
            .len()
            .div_ceil(hint.max_num_points().max(1))
            .max(1);
        self.ticks.iter().step_by(every).copied().collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// A y-axis label: in thousands on an axis that reaches 10k, so one axis has one style.
fn y_tick(y: f64, top: f64) -> String {
    if top >= 10_000.0 && y != 0.0 {
        let k = format!("{:.1}", y / 1000.0);
        format!("{}k", k.trim_end_matches('0').trim_end_matches('.'))
    } else {
        number(y)
    }
}

/// Lines with markers, and min/max whiskers where a point has several runs.
pub fn line_chart(area: &Area, chart: &LineChart) -> anyhow::Result<()> {
    let x_axis = DataAxis::new(*chart.axis, chart.ticks);
    let x_label = |x: &f64| {
        let tick = chart.ticks.iter().find(|t| (t.position - x).abs() < 1e-9);
        tick.map_or_else(|| number(*x), |t| t.label.clone())
    };
    let y_max = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(_, s)| s.max))
        .fold(0.0f64, f64::max);
    // Headroom above the data for the legend, so it never hides a line: its height (about
    // 20 px a line) as a share of the plotting area's.
    let (_, area_height) = area.dim_in_pixel();
    let legend_px = 20.0 * chart.lines.len() as f64 + 16.0;
    let plot_px = (f64::from(area_height) - 120.0).max(100.0);
    let headroom = (legend_px / plot_px + 0.06).min(0.6);
    let y_top = if y_max > 0.0 {
        y_max / (1.0 - headroom)
    } else {
        1.0
    };
    let x_desc = if *chart.axis == Axis::Log {
        format!("{} (log scale)", chart.x_desc)
    } else {
        chart.x_desc.to_string()
    };
    let mut c = ChartBuilder::on(area)
        .caption(chart.title, (FONT, 20))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(72)
        .build_cartesian_2d(x_axis, 0.0..y_top)
        .map_err(plot_error)?;
    c.configure_mesh()
        .x_desc(x_desc)
        .y_desc(chart.y_desc)
        .x_labels(16)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| y_tick(*y, y_top))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    for (i, line) in chart.lines.iter().enumerate() {
        let style = color(i).stroke_width(2);
        c.draw_series(LineSeries::new(
            line.points.iter().map(|(x, s)| (*x, s.mean)),
            style,
        ))
        .map_err(plot_error)?
        .label(line.label.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
        c.draw_series(
            line.points
                .iter()
                .map(|(x, s)| Circle::new((*x, s.mean), 4, color(i).filled())),
        )
        .map_err(plot_error)?;
        let spread = line.points.iter().filter(|(_, s)| s.n > 1 && s.max > s.min);
        for (x, s) in spread {
            let thin = color(i).stroke_width(1);
            c.draw_series([PathElement::new(vec![(*x, s.min), (*x, s.max)], thin)])
                .map_err(plot_error)?;
            for end in [s.min, s.max] {
                let cap =
                    EmptyElement::at((*x, end)) + PathElement::new(vec![(-5, 0), (5, 0)], thin);
                c.draw_series([cap]).map_err(plot_error)?;
            }
        }
    }
    if !chart.lines.is_empty() {
        c.configure_series_labels()
            .position(legend_corner(chart.lines))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 14))
            .draw()
            .map_err(plot_error)?;
    }
    Ok(())
}

/// The upper corner whose third of the plot holds the lower values, so the legend hides less.
fn legend_corner(lines: &[Line]) -> SeriesLabelPosition {
    let xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let highest = |keep: &dyn Fn(f64) -> bool| {
        lines
            .iter()
            .flat_map(|l| l.points.iter())
            .filter(|(x, _)| keep(*x))
            .map(|(_, s)| s.max)
            .fold(0.0f64, f64::max)
    };
    let third = (hi - lo) / 3.0;
    let left = highest(&|x| x <= lo + third);
    let right = highest(&|x| x >= hi - third);
    if left <= right {
        SeriesLabelPosition::UpperLeft
    } else {
        SeriesLabelPosition::UpperRight
    }
}

pub struct Bars {
    pub label: String,
    /// One per category; `None` where the category does not apply (another workload's class).
    pub values: Vec<Option<f64>>,
}

pub struct BarChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub categories: &'a [String],
    pub groups: &'a [Bars],
    /// Lines printed under the legend (e.g. the categories left out).
    pub note: &'a [String],
}

/// Width of the column right of a bar chart that holds its legend and note.
const LEGEND_WIDTH: u32 = 320;

/// Horizontal grouped bars: a row per category (the first on top), a bar per group in legend
/// order, each labelled with its value (small counts stay readable next to large ones). The
/// legend has a column of its own so it never hides a bar.
pub fn bar_chart(area: &Area, chart: &BarChart) -> anyhow::Result<()> {
    let body = titled(area, chart.title)?;
    let (width, _) = body.dim_in_pixel();
    let (plot, side) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    let n = chart.categories.len().max(1);
    let x_max = chart
        .groups
        .iter()
        .flat_map(|g| g.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let x_top = if x_max > 0.0 { x_max * 1.2 } else { 1.0 };
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
        .build_cartesian_2d(0.0..x_top, -0.5..(n as f64 - 0.5))
        .map_err(plot_error)?;
    c.configure_mesh()
        .disable_y_mesh()
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        // One label slot more than categories makes plotters put a tick on each category.
        .y_labels(n + 1)
        .y_label_formatter(&category)
        .x_label_formatter(&|x| number(*x))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 13))
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
