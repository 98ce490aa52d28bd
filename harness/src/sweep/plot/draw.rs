//! Drawing with plotters into PNGs: the pieces every chart shares (fonts, heading, scales,
//! statistics) and the line chart. Text goes through ab_glyph with DejaVu Sans embedded in the
//! binary (the `dejavu` crate), so plots render the same on a machine without fonts.

use anyhow::anyhow;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::{CoordTranslate, Shift};
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

pub(super) const FONT: &str = "sans-serif";

/// The caption line's colour: darker than the grid, lighter than the title.
const CAPTION_GREY: RGBColor = RGBColor(70, 70, 70);

pub(super) fn color(i: usize) -> RGBColor {
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

pub(super) fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
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

/// A bold title over an area and a smaller caption line under it (machine, load, durability: a
/// figure is read without its report); returns the area below both.
pub fn headed<'a>(area: &Area<'a>, title: &str, caption: &str) -> anyhow::Result<Area<'a>> {
    let below = area
        .titled(title, (FONT, 24).into_font().style(FontStyle::Bold))
        .map_err(plot_error)?;
    below
        .titled(caption, (FONT, 14).into_font().color(&CAPTION_GREY))
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

/// Series over an x-axis: drawn as lines, or as grouped bars over categories.
pub struct XyChart<'a> {
    /// Empty when the area is already headed.
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

/// How values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear,
    Log,
    /// `symlog`: linear near 0, logarithmic beyond, so counts of 0, 349 and 82,500 all show.
    Symlog,
}

/// log10(1 + |x|) with x's sign: 0 at 0, about x/2.3 below 1, about log10(x) above 10; monotone.
pub fn symlog(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p() / std::f64::consts::LN_10
}

/// The value `symlog` maps to `y`.
pub fn symlog_inverse(y: f64) -> f64 {
    y.signum() * (y.abs() * std::f64::consts::LN_10).exp_m1()
}

/// A count in plain words: 0, 1, 10, 100, 1k, 12.5k, 100k, 2M.
pub fn count_label(x: f64) -> String {
    let short = |v: f64, unit: &str| {
        let s = format!("{v:.1}");
        format!("{}{unit}", s.trim_end_matches('0').trim_end_matches('.'))
    };
    match x.abs() {
        a if a >= 1e6 => short(x / 1e6, "M"),
        a if a >= 1e3 => short(x / 1e3, "k"),
        _ => number(x),
    }
}

/// An axis over `lo..hi` with ticks where the data needs them: at each data position of an
/// x-axis (plotters' own ticks would be round numbers that miss them: 10, 20 for 8, 32, 128), at
/// powers of ten for counts, at 1-2-5 steps for a logarithmic value axis.
pub(super) struct DataAxis {
    lo: f64,
    hi: f64,
    scale: Scale,
    ticks: Vec<f64>,
    /// Unlabelled grid lines (a log axis's 2..9 multiples).
    light: Vec<f64>,
}

impl DataAxis {
    /// The x-axis of an `XyChart`: a tick at each data position.
    pub(super) fn new(axis: Axis, ticks: &[Tick]) -> Self {
        let positions: Vec<f64> = ticks.iter().map(|t| t.position).collect();
        let (lo, hi) = positions
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 0.0) };
        let (lo, hi, scale) = match axis {
            Axis::Log => (lo / 1.3, hi * 1.3, Scale::Log),
            Axis::Categories => (-0.5, positions.len().max(1) as f64 - 0.5, Scale::Linear),
            Axis::Linear if hi > lo => {
                (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05, Scale::Linear)
            }
            Axis::Linear => (lo - 1.0, hi + 1.0, Scale::Linear),
        };
        DataAxis {
            lo,
            hi,
            scale,
            ticks: positions,
            light: Vec::new(),
        }
    }

    /// A symlog axis for counts from 0 to `top`: ticks at 0, 1, 10, 100, …
    pub(super) fn counts(top: f64) -> Self {
        let mut ticks = vec![0.0];
        let mut light = Vec::new();
        let mut decade = 1.0;
        while decade <= top {
            ticks.push(decade);
            light.extend((2..=9).map(|m| decade * f64::from(m)).filter(|&v| v <= top));
            decade *= 10.0;
        }
        DataAxis {
            lo: 0.0,
            hi: top,
            scale: Scale::Symlog,
            ticks,
            light,
        }
    }

    /// A logarithmic value axis over `lo..hi` (both > 0), ticks at 1, 2, 5 times powers of ten.
    pub(super) fn log_values(lo: f64, hi: f64) -> Self {
        let mut ticks = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            ticks.extend(
                [1.0, 2.0, 5.0]
                    .map(|m| m * decade)
                    .into_iter()
                    .filter(|v| (lo..=hi).contains(v)),
            );
            decade *= 10.0;
        }
        DataAxis {
            lo,
            hi,
            scale: Scale::Log,
            ticks,
            light: Vec::new(),
        }
    }

    fn scaled(&self, x: f64) -> f64 {
        match self.scale {
            Scale::Linear => x,
            Scale::Log => x.ln(),
            Scale::Symlog => symlog(x),
        }
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
            return self.light.clone();
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
pub(super) fn y_tick(y: f64, top: f64) -> String {
    if top >= 10_000.0 && y != 0.0 {
        let k = format!("{:.1}", y / 1000.0);
        format!("{}k", k.trim_end_matches('0').trim_end_matches('.'))
    } else {
        number(y)
    }
}

/// The top of a value axis from 0 that leaves room above the data for a legend of `entries`
/// lines (about 20 px each) in `area`, so the legend never hides the data.
pub(super) fn y_top_with_legend(area: &Area, y_max: f64, entries: usize) -> f64 {
    let (_, area_height) = area.dim_in_pixel();
    let legend_px = 20.0 * entries as f64 + 16.0;
    let plot_px = (f64::from(area_height) - 120.0).max(100.0);
    let headroom = (legend_px / plot_px + 0.06).min(0.6);
    if y_max > 0.0 {
        y_max / (1.0 - headroom)
    } else {
        1.0
    }
}

/// The highest whisker of any series.
pub(super) fn y_max(lines: &[Line]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(_, s)| s.max))
        .fold(0.0f64, f64::max)
}

/// The label of the tick at `x`, if any (plotters asks for labels at key points only).
pub(super) fn tick_label(ticks: &[Tick], x: f64) -> String {
    let tick = ticks.iter().find(|t| (t.position - x).abs() < 1e-9);
    tick.map_or_else(|| number(x), |t| t.label.clone())
}

/// A chart builder with this module's margins, and the title when there is one.
pub(super) fn builder<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut b = ChartBuilder::on(area);
    b.margin(14).x_label_area_size(50).y_label_area_size(72);
    if !title.is_empty() {
        b.caption(title, (FONT, 20));
    }
    b
}

/// Lines with markers, and min/max whiskers where a point has several runs.
pub fn line_chart(area: &Area, chart: &XyChart) -> anyhow::Result<()> {
    let x_axis = DataAxis::new(*chart.axis, chart.ticks);
    let x_label = |x: &f64| tick_label(chart.ticks, *x);
    let y_top = y_top_with_legend(area, y_max(chart.lines), chart.lines.len());
    let x_desc = if *chart.axis == Axis::Log {
        format!("{} (log scale)", chart.x_desc)
    } else {
        chart.x_desc.to_string()
    };
    let mut c = builder(area, chart.title)
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
        legend(&mut c, legend_corner(chart.lines))?;
    }
    Ok(())
}

/// The legend of the labelled series, in a white box at `position`.
pub(super) fn legend<'a, 'b: 'a, CT: CoordTranslate>(
    c: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    c.configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 14))
        .draw()
        .map_err(plot_error)
}

/// The upper corner whose third of the plot holds the lower values, so the legend hides less.
pub(super) fn legend_corner(lines: &[Line]) -> SeriesLabelPosition {
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
