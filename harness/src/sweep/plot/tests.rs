use super::bars::count_axis_top;
use super::caption::{self, MACHINE_TXT};
use super::draw::{Axis, DataAxis, color, count_label, number, symlog, symlog_inverse};
use super::{
    ChartKind, LATENCY_THROUGHPUT_PNG, Layout, OUTPUT_FILES, chart_kind, curve, numeric_axis,
    redraw,
};
use crate::sweep::table::tests::{metrics, scratch_dir};
use crate::sweep::table::{self, RunRow, SweepTable};
use plotters::coord::ranged1d::{BoldPoints, Ranged};
use std::path::Path;

const CLASSES: [&str; 2] = ["stale_replica", "dashboard"];

/// A table of `system` × `batch_max_txns` (1, 10, 100) × `inject` (none, all), two repetitions,
/// the baseline finding anomalies under injection, and one failed run.
fn fixture() -> SweepTable {
    let mut rows = Vec::new();
    let mut point = 0;
    for batch in ["1", "10", "100"] {
        for inject in ["none", "all"] {
            point += 1;
            for repetition in 1..=2 {
                for system in ["vmodb", "baseline"] {
                    let base = if system == "vmodb" { 1000.0 } else { 3000.0 };
                    let tps = base * (1.0 + batch.len() as f64) + f64::from(repetition) * 10.0;
                    let found = if system == "baseline" && inject == "all" {
                        40
                    } else {
                        0
                    };
                    let failed = point == 6 && repetition == 2 && system == "vmodb";
                    rows.push(RunRow {
                        point,
                        repetition,
                        system: system.into(),
                        params: vec![batch.into(), inject.into(), "42".into()],
                        outcome: if failed {
                            Err("vmodb did not quiesce within 60 s after the run".into())
                        } else {
                            Ok(metrics(tps, found, CLASSES.len()))
                        },
                    });
                }
            }
        }
    }
    SweepTable {
        params: vec!["batch_max_txns".into(), "inject".into(), "seed".into()],
        classes: CLASSES.map(String::from).to_vec(),
        rows,
    }
}

#[test]
fn the_first_varied_column_is_the_x_axis_and_the_others_split_the_lines() {
    let t = fixture();
    let layout = Layout::of(&t);
    // `seed` never changes, so it is not varied.
    assert_eq!(layout.varied, [0, 1]);
    assert_eq!(layout.x_name, "batch_max_txns");
    assert_eq!(layout.axis, Axis::Log);
    let labels: Vec<&str> = layout.ticks.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["1", "10", "100"]);
    let series: Vec<&str> = layout.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        series,
        [
            "vmodb inject=none",
            "baseline inject=none",
            "vmodb inject=all",
            "baseline inject=all"
        ]
    );
    let lines = layout.lines(&t, |m| m.throughput_tps);
    // Mean over the two repetitions, with their spread.
    let (x, stat) = lines[0].points[0];
    assert_eq!(
        (x, stat.n, stat.min, stat.max, stat.mean),
        (1.0, 2, 2010.0, 2020.0, 2015.0)
    );
    // The failed run is left out of its point.
    assert_eq!(lines[2].points[2].1.n, 1);
}

#[test]
fn anomaly_bars_are_means_per_run_grouped_by_system_and_point_when_few() {
    let t = fixture();
    let layout = Layout::of(&t);
    // 2 systems x 6 points = 12 groups: too many, so per system.
    let bars = layout.anomaly_bars(&t, true);
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["vmodb", "baseline"]);
    assert_eq!(bars[0].values, [Some(0.0), Some(0.0)]);
    // The baseline found 40 in half of its 12 runs.
    assert_eq!(bars[1].values, [Some(0.0), Some(20.0)]);
    let mut few = fixture();
    few.rows.retain(|r| r.params[0] == "1");
    let bars = Layout::of(&few).anomaly_bars(&few, true);
    assert_eq!(Layout::of(&few).anomaly_bars(&few, false).len(), 2);
    assert_eq!(bars.len(), 4);
    assert_eq!(bars[3].label, "baseline inject=all");
    assert_eq!(bars[3].values[1], Some(40.0));
}

#[test]
fn axes_follow_the_values() {
    assert_eq!(numeric_axis(&[1.0, 10.0, 100.0, 1000.0]), Axis::Log);
    assert_eq!(numeric_axis(&[8.0, 32.0, 128.0]), Axis::Log);
    assert_eq!(numeric_axis(&[10.0, 20.0, 30.0, 40.0]), Axis::Linear);
    assert_eq!(numeric_axis(&[0.0, 1.0, 100.0]), Axis::Linear);
    assert_eq!(numeric_axis(&[1.0, 100.0]), Axis::Linear);
    let mut t = fixture();
    for r in &mut t.rows {
        r.params[0] = format!("zipf:{}", r.params[0]);
    }
    let layout = Layout::of(&t);
    assert_eq!(layout.axis, Axis::Categories);
    assert_eq!(layout.ticks[2].position, 2.0);
    // Nothing varies: one category holding every run.
    t.rows.retain(|r| r.point == 1);
    let layout = Layout::of(&t);
    assert!(layout.varied.is_empty());
    assert_eq!(
        (layout.x_name.as_str(), layout.series.len()),
        ("all runs", 2)
    );
    assert_eq!(number(12_500.0), "12.5k");
    assert_eq!(number(0.25), "0.25");
    assert_eq!(number(2.0), "2");
}

/// Width, height and colour type from a PNG's header (signature, then the IHDR chunk).
fn png_header(bytes: &[u8]) -> (u32, u32, u8) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20), bytes[25])
}

/// Dark pixels (text, axes) in the top band, where only the title is.
fn dark_pixels_in_title(path: &Path) -> usize {
    let image = image::open(path).expect("decodes").to_rgb8();
    let band = image.height().min(40);
    (0..band)
        .flat_map(|y| (0..image.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count()
}

fn write_table(dir: &Path, t: &SweepTable) {
    let mut w =
        table::SweepWriter::create(dir, t.params.clone(), t.classes.clone()).expect("create");
    for r in &t.rows {
        w.write(r).expect("row");
    }
}

#[test]
fn plots_and_report_are_drawn_from_the_csv_alone_with_their_text() {
    let dir = scratch_dir("plots");
    write_table(&dir, &fixture());
    std::fs::write(
        dir.join("sweep.toml"),
        "name = \"fixture\"\ndescription = \"Batch size, with and without injection.\"\n",
    )
    .expect("sweep.toml");
    std::fs::write(dir.join(MACHINE_TXT), "machine: 2 cores\n8 GiB\n").expect("machine.txt");
    let written = redraw(&dir).expect("draws");
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    // No offered rate in this table: no latency–throughput curve.
    assert_eq!(
        names,
        [
            "throughput.png",
            "latency.png",
            "anomalies.png",
            "report.md"
        ]
    );
    assert!(names.iter().all(|n| OUTPUT_FILES.contains(&n.as_str())));
    assert!(!dir.join(LATENCY_THROUGHPUT_PNG).exists());
    for (name, size) in [
        ("throughput.png", (1000, 620)),
        ("latency.png", (1400, 940)),
        ("anomalies.png", (1200, 420)),
    ] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).expect(name);
        assert!(bytes.len() > 10_000, "{name} is only {} bytes", bytes.len());
        let (w, h, colour) = png_header(&bytes);
        assert_eq!((w, h), size, "{name}");
        assert_eq!(colour, 2, "{name}: RGB");
        // The embedded font drew the title: without a font plotters draws no text at all.
        assert!(dark_pixels_in_title(&path) > 200, "{name}: no title text");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    for needle in [
        "# Sweep `fixture`\n\nmachine: 2 cores, 8 GiB · closed loop · durability: not recorded\n",
        "Batch size, with and without injection.",
        "![Throughput](throughput.png)",
        "![Latency percentiles](latency.png)",
        "![Anomalies per class](anomalies.png)",
        "[sweep.csv](sweep.csv)",
        "Varied: `batch_max_txns` (x-axis), `inject`.",
        "| vmodb inject=none | 1 | 2 | 2015 (2010–2020) |",
        "- point 6, repetition 2, vmodb: vmodb did not quiesce",
    ] {
        assert!(
            report.contains(needle),
            "report.md lacks `{needle}`:\n{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plot_refuses_a_directory_without_a_sweep_table() {
    let dir = scratch_dir("empty");
    let e = format!("{:#}", redraw(&dir).expect_err("no table"));
    assert!(e.contains("sweep.csv"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `t` with one more parameter column, `cell(row)` in each row.
fn with_column(mut t: SweepTable, name: &str, cell: impl Fn(&RunRow) -> String) -> SweepTable {
    t.params.push(name.into());
    for row in &mut t.rows {
        let value = cell(row);
        row.params.push(value);
    }
    t
}

/// The fixture reduced to `inject` (none, all): one categorical parameter, like `headline`.
fn headline_like() -> SweepTable {
    let mut t = fixture();
    t.rows.retain(|r| r.params[0] == "1");
    t
}

/// Pixels of exactly the first series' colour (bars are filled with it; lines are 2 px wide).
fn first_series_pixels(path: &Path) -> usize {
    let image = image::open(path).expect("decodes").to_rgb8();
    let c = color(0);
    image.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count()
}

#[test]
fn categories_are_drawn_as_grouped_bars_and_numbers_as_lines() {
    assert_eq!(chart_kind(Axis::Categories), ChartKind::GroupedBars);
    assert_eq!(chart_kind(Axis::Linear), ChartKind::Lines);
    assert_eq!(chart_kind(Axis::Log), ChartKind::Lines);
    let headline = headline_like();
    let layout = Layout::of(&headline);
    assert_eq!(layout.x_name, "inject");
    assert_eq!(chart_kind(layout.axis), ChartKind::GroupedBars);
    // The drawing follows: filled bars cover far more pixels than a line with markers.
    let bars = scratch_dir("bars");
    write_table(&bars, &headline);
    redraw(&bars).expect("draws");
    let lines = scratch_dir("lines");
    write_table(&lines, &fixture());
    redraw(&lines).expect("draws");
    for name in ["throughput.png", "latency.png"] {
        let (in_bars, in_lines) = (
            first_series_pixels(&bars.join(name)),
            first_series_pixels(&lines.join(name)),
        );
        assert!(in_bars > 15_000, "{name}: bars cover only {in_bars} px");
        assert!(in_lines < 8_000, "{name}: lines cover {in_lines} px");
    }
    let _ = std::fs::remove_dir_all(&bars);
    let _ = std::fs::remove_dir_all(&lines);
}

#[test]
fn anomaly_counts_are_on_a_symlog_axis() {
    assert_eq!(symlog(0.0), 0.0);
    let values = [0.0, 0.25, 1.0, 2.0, 10.0, 349.0, 4529.0, 82_500.0, 1e6];
    for w in values.windows(2) {
        assert!(symlog(w[0]) < symlog(w[1]), "not monotone at {w:?}");
    }
    for v in values {
        assert!((symlog_inverse(symlog(v)) - v).abs() <= v * 1e-9 + 1e-12);
    }
    // On an 800-pixel axis ending past 82,500, 349 is half-way, not 3 px from 0 as on a linear one.
    let axis = DataAxis::counts(count_axis_top(82_500.0));
    let px = |v: f64| axis.map(&v, (0, 800));
    assert_eq!(px(0.0), 0, "a bar of 0 stays at the axis");
    assert!(px(349.0) > 350, "349 at {} px", px(349.0));
    assert!(px(82_500.0) - px(349.0) > 150);
    assert!(px(82_500.0) <= 800);
    let labels: Vec<String> = axis
        .key_points(BoldPoints(20))
        .into_iter()
        .map(count_label)
        .collect();
    assert_eq!(labels, ["0", "1", "10", "100", "1k", "10k", "100k"]);
    // An all-zero chart still has a scale.
    assert_eq!(DataAxis::counts(count_axis_top(0.0)).range(), 0.0..10.0);
}

#[test]
fn the_caption_names_machine_load_model_and_durability() {
    // An older table: none of the columns.
    let old = fixture();
    assert_eq!(
        caption::line("machine: not recorded", &old),
        "machine: not recorded · closed loop · durability: not recorded"
    );
    let closed = with_column(fixture(), "concurrency", |_| "64".into());
    let closed = with_column(closed, "durability", |_| "none".into());
    assert_eq!(caption::load_model(&closed), "closed loop, 64 clients");
    assert_eq!(caption::durability(&closed), "none");
    let tpcc = with_column(closed, "workload", |_| "tpcc".into());
    assert_eq!(caption::load_model(&tpcc), "closed loop, 64 terminals");
    let varied = with_column(fixture(), "concurrency", |r| format!("{}", r.point * 8));
    let varied = with_column(varied, "durability", |r| {
        ["none", "fsync"][r.point % 2].into()
    });
    assert_eq!(
        caption::load_model(&varied),
        "closed loop, number of clients varies"
    );
    assert_eq!(caption::durability(&varied), "varies");
    // An offered rate of 0 is the closed loop.
    let zero = with_column(fixture(), "rate_tps", |_| "0".into());
    let zero = with_column(zero, "concurrency", |_| "1".into());
    assert_eq!(caption::load_model(&zero), "closed loop, 1 client");
    let open = with_column(fixture(), "rate_tps", |_| "5000".into());
    assert_eq!(caption::load_model(&open), "open loop at 5000 tx/s");
    let poisson = with_column(open, "arrivals", |_| "poisson".into());
    assert_eq!(
        caption::load_model(&poisson),
        "open loop, Poisson arrivals at 5000 tx/s"
    );
    let constant = with_column(fixture(), "rate_tps", |_| "12500".into());
    let constant = with_column(constant, "arrivals", |_| "constant".into());
    assert_eq!(
        caption::load_model(&constant),
        "open loop, constant arrivals at 12.5k tx/s"
    );
    let sweep = with_column(fixture(), "rate_tps", |r| format!("{}", r.point * 1000));
    assert_eq!(
        caption::load_model(&sweep),
        "open loop, offered rate varies"
    );
    let mixed = with_column(fixture(), "rate_tps", |r| format!("{}", r.point % 2));
    assert_eq!(
        caption::load_model(&mixed),
        "load model varies (open and closed loop)"
    );
    let dir = scratch_dir("machine");
    assert_eq!(caption::machine(&dir), "machine: not recorded");
    std::fs::write(dir.join(MACHINE_TXT), "AMD EPYC, 2 cores\n\nLinux 6.1\n").expect("write");
    assert_eq!(
        caption::machine(&dir),
        "machine: AMD EPYC, 2 cores, Linux 6.1"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An open-loop sweep over offered rate, the rates in the file out of order (4000, 1000,
/// 2000): the baseline saturates at 3000 tx/s, vMODB at 1500, and latency climbs past capacity.
fn open_loop() -> SweepTable {
    let mut rows = Vec::new();
    for (point, rate) in [4000.0, 1000.0, 2000.0].into_iter().enumerate() {
        for repetition in 1..=2 {
            for (system, capacity) in [("vmodb", 1500.0), ("baseline", 3000.0)] {
                let mut m = metrics(f64::min(rate, capacity) + f64::from(repetition), 0, 2);
                m.latency.p50 = 1.0 + rate / capacity;
                m.latency.p99 = if rate > capacity { 500.0 } else { 10.0 };
                rows.push(RunRow {
                    point: point + 1,
                    repetition,
                    system: system.into(),
                    params: vec![rate.to_string(), "poisson".into(), "none".into()],
                    outcome: Ok(m),
                });
            }
        }
    }
    SweepTable {
        params: vec!["rate_tps".into(), "arrivals".into(), "durability".into()],
        classes: CLASSES.map(String::from).to_vec(),
        rows,
    }
}

#[test]
fn the_latency_throughput_curve_follows_the_offered_rate() {
    let t = open_loop();
    let curves = curve::curves(&t, &Layout::of(&t)).expect("the rate varies");
    let labels: Vec<&str> = curves.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["vmodb", "baseline"]);
    let rates: Vec<f64> = curves[0].points.iter().map(|p| p.rate_tps).collect();
    assert_eq!(rates, [1000.0, 2000.0, 4000.0]);
    let baseline: Vec<(f64, f64)> = curves[1]
        .points
        .iter()
        .map(|p| (p.throughput.mean, p.p99_ms.mean))
        .collect();
    // Means over the two repetitions (+1 and +2 tx/s).
    assert_eq!(baseline, [(1001.5, 10.0), (2001.5, 10.0), (3001.5, 500.0)]);
    assert_eq!(curves[0].points[2].p50_ms.mean, 1.0 + 4000.0 / 1500.0);
    // Closed-loop rows (rate 0) have no offered rate and no place on the curve.
    let mut with_closed = open_loop();
    for row in with_closed.rows.iter_mut().filter(|r| r.point == 1) {
        row.params[0] = "0".into();
    }
    let curves = curve::curves(&with_closed, &Layout::of(&with_closed)).expect("varies");
    let rates: Vec<f64> = curves[1].points.iter().map(|p| p.rate_tps).collect();
    assert_eq!(rates, [1000.0, 2000.0]);
    // A constant rate, or none at all: no curve.
    let mut constant = open_loop();
    constant.rows.retain(|r| r.point == 1);
    assert!(curve::curves(&constant, &Layout::of(&constant)).is_none());
    assert!(curve::curves(&fixture(), &Layout::of(&fixture())).is_none());
}

#[test]
fn a_sweep_over_offered_rate_also_gets_the_latency_throughput_plot() {
    let dir = scratch_dir("curve");
    write_table(&dir, &open_loop());
    let written = redraw(&dir).expect("draws");
    let path = dir.join(LATENCY_THROUGHPUT_PNG);
    assert!(written.contains(&path), "{written:?}");
    assert_eq!(written.len(), 5);
    let bytes = std::fs::read(&path).expect("latency-throughput.png");
    assert_eq!(png_header(&bytes), (1400, 640, 2));
    assert!(dark_pixels_in_title(&path) > 200, "no title text");
    // Both series drew their curves.
    assert!(first_series_pixels(&path) > 300);
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    for needle in [
        "machine: not recorded · open loop, offered rate varies, Poisson arrivals · durability: none",
        "![Latency vs throughput](latency-throughput.png)",
    ] {
        assert!(
            report.contains(needle),
            "report.md lacks `{needle}`:\n{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The figures a latency percentile hides get their own plot when runs have them: vMODB's
/// commit wait and batch interval, the baseline's visibility latency and deferred backlog.
#[test]
fn runs_with_load_figures_also_get_where_time_went() {
    let mut t = open_loop();
    for row in &mut t.rows {
        let Ok(m) = row.outcome.as_mut() else {
            continue;
        };
        if row.system == "vmodb" {
            m.load.commit_wait_p99_ms = Some(12.0);
            m.load.batch_interval_p99_ms = Some(15.0);
        } else {
            m.load.visibility_p99_ms = Some(3.0);
            m.load.deferred_max = Some(40);
        }
    }
    let layout = Layout::of(&t);
    let panels = super::where_time_went::panels(&layout, &t).expect("figures");
    let points = |panel: usize, series: usize| panels[panel][series].points.len();
    // vMODB (series 0) draws the first two panels, the baseline (series 1) the last two.
    assert_eq!(
        [points(0, 0), points(1, 0), points(2, 0), points(3, 0)],
        [3, 3, 0, 0]
    );
    assert_eq!(
        [points(0, 1), points(1, 1), points(2, 1), points(3, 1)],
        [0, 0, 3, 3]
    );
    let dir = scratch_dir("where");
    write_table(&dir, &t);
    let written = redraw(&dir).expect("draws");
    let path = dir.join(super::WHERE_TIME_WENT_PNG);
    assert!(written.contains(&path), "{written:?}");
    let bytes = std::fs::read(&path).expect("where-time-went.png");
    assert_eq!(png_header(&bytes), (1400, 940, 2));
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report");
    assert!(report.contains("![Where time went](where-time-went.png)"));
    let _ = std::fs::remove_dir_all(&dir);
    // Without any of the figures: no such plot.
    assert!(super::where_time_went::panels(&Layout::of(&open_loop()), &open_loop()).is_none());
}
