//! The sweep table: its fixed schema, what it reads back, and a damaged table refused with line
//! and column. The helpers here also serve the plots' tests.

use super::{self as table, Latency, Metrics, RunRow, SweepWriter};
use crate::sweep::tests::parse;
use workloads::marketplace::checker::CLASSES;

/// The temporary directory of one test (std only: no tempfile crate).
pub fn scratch_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vbench-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A successful row's metrics with a given throughput and dashboard anomalies.
pub fn metrics(throughput: f64, dashboard: u64, classes: usize) -> Metrics {
    let mut anomalies = vec![Some(0); classes];
    anomalies[classes - 1] = Some(dashboard);
    Metrics {
        committed: (throughput * 3.0) as u64,
        failed: 1,
        measured_s: 3.0,
        throughput_tps: throughput,
        load_s: 0.25,
        latency: Latency {
            mean: 1.5,
            p50: 1.25,
            p90: 2.5,
            p99: 5.0,
            p999: 9.75,
            max: 12.0,
        },
        replay_equal: Some(true),
        mode_violations: 0,
        anomalies_total: dashboard,
        load: Default::default(),
        anomalies,
    }
}

#[test]
fn the_sweep_table_has_a_fixed_schema_and_reads_back_what_was_written() {
    let s =
        parse("[fixed]\nsystem = \"both\"\n[vary]\nbatch_max_txns = [1, 10]\n").expect("parses");
    let params = table::parameter_columns(&s).expect("columns");
    let classes = table::anomaly_classes(&s);
    let header = table::header(&params, &classes);
    assert_eq!(
        header[..4],
        ["point", "repetition", "system", "batch_max_txns"]
    );
    let metrics_at = header
        .iter()
        .position(|c| c == "error")
        .expect("error column");
    assert_eq!(
        header[metrics_at..metrics_at + 15],
        [
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
        ]
    );
    let load_at = metrics_at + 15;
    let load_end = load_at + crate::capacity::COLUMNS.len();
    assert_eq!(header[load_at..load_end], crate::capacity::COLUMNS);
    let anomaly_columns: Vec<String> = CLASSES.iter().map(|c| format!("anomaly.{c}")).collect();
    assert_eq!(header[load_end..], anomaly_columns[..]);
    // Every setting of the configuration is a column, flattened.
    for column in [
        "workload",
        "seed",
        "scale",
        "inject.hot",
        "mix.delivery",
        "warehouses",
    ] {
        assert!(params.contains(&column.to_string()), "{column}");
    }

    let dir = scratch_dir("schema");
    let mut writer = SweepWriter::create(&dir, params.clone(), classes.clone()).expect("create");
    let cells = writer.cells(&s.points[1]).expect("cells");
    assert_eq!(cells[0], "10");
    let rows = vec![
        RunRow {
            point: 2,
            repetition: 1,
            system: "vmodb".into(),
            params: cells.clone(),
            outcome: Ok(Metrics {
                load: crate::capacity::LoadFigures {
                    offered_tps: Some(1250.0),
                    backlog_end: 3,
                    commit_wait_p50_ms: Some(4.5),
                    batch_interval_p99_ms: Some(12.25),
                    deferred_max: Some(17),
                    deferred_grows: Some(false),
                    sustained: Some(true),
                    ..Default::default()
                },
                ..metrics(1234.5, 0, classes.len())
            }),
        },
        RunRow {
            point: 2,
            repetition: 1,
            system: "baseline".into(),
            params: cells,
            outcome: Err("cannot start the baseline:\nout of memory".into()),
        },
    ];
    for r in &rows {
        writer.write(r).expect("write");
    }
    let back = table::read(&dir.join(table::SWEEP_CSV)).expect("reads back");
    assert_eq!(back.params, params);
    assert_eq!(back.classes, classes);
    assert_eq!(back.rows[0], rows[0]);
    // Errors are kept on one line.
    assert_eq!(
        back.rows[1].outcome,
        Err("cannot start the baseline: out of memory".into())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_table_is_refused_with_line_and_column() {
    let dir = scratch_dir("damaged");
    let path = dir.join(table::SWEEP_CSV);
    // A table from before the load columns: still read (the rows below fit it).
    let good = ["point", "repetition", "system", "concurrency"]
        .into_iter()
        .chain(table::METRIC_COLUMNS)
        .chain(["anomaly.dashboard"])
        .collect::<Vec<_>>()
        .join(",");
    for (text, says) in [
        (
            "run,system\n1,vmodb\n".to_string(),
            "must start with point,repetition,system",
        ),
        (
            "point,repetition,system,concurrency\n".to_string(),
            "no `error` column",
        ),
        (
            format!("{good}\n1,1,vmodb,8,,abc,0,3,1,0,1,1,1,1,1,1,,0,0,0\n"),
            "line 2, column `committed`: `abc` is not a number",
        ),
        (
            format!("{good}\n1,1,vmodb,8,,1,0,3,1,0,1,1,1,1,1,1,maybe,0,0,0\n"),
            "`replay_equal`: `maybe`",
        ),
        (format!("{good},extra\n"), "unexpected column `extra`"),
    ] {
        std::fs::write(&path, text).expect("write");
        let e = format!("{:#}", table::read(&path).expect_err(says));
        assert!(e.contains(says), "`{says}` not in `{e}`");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
