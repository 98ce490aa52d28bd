use super::draw::{Axis, number};
use super::{Layout, OUTPUT_FILES, numeric_axis, redraw};
use crate::sweep::table::{self, RunRow, SweepTable};
use crate::sweep::tests::{metrics, scratch_dir};
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
    let written = redraw(&dir).expect("draws");
    assert_eq!(written.len(), OUTPUT_FILES.len());
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
        "# Sweep `fixture`",
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
