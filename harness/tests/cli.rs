//! The `vbench` binary as a user runs it: `plot` on a committed fixture table, and `sweep` on
//! bad sweep files (refused before anything runs, with the key and line named).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(args)
        .output()
        .expect("vbench runs")
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vbench-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn plot_redraws_a_committed_sweep_table() {
    let dir = scratch("plot");
    for file in ["sweep.csv", "sweep.toml"] {
        std::fs::copy(fixture("tpcc-warehouses").join(file), dir.join(file)).expect("copy");
    }
    let out = vbench(&["plot", dir.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for png in ["throughput.png", "latency.png", "anomalies.png"] {
        let bytes = std::fs::read(dir.join(png)).expect(png);
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
        assert!(bytes.len() > 10_000, "{png}: {} bytes", bytes.len());
    }
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(report.contains("# Sweep `tpcc-warehouses`"), "{report}");
    assert!(
        report.contains("Varied: `warehouses` (x-axis)."),
        "{report}"
    );
    assert!(report.contains("- point 4, repetition 2, baseline: cannot start the baseline"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sweep_refuses_a_bad_file_naming_key_and_line() {
    let dir = scratch("bad-sweep");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n\n[fixed]\nduration_s = 1\n\n[vary]\nbatch_window_ms = [1, \"ten\"]\n",
    )
    .expect("write");
    let results = dir.join("results");
    let out = vbench(&[
        "sweep",
        file.to_str().expect("utf-8 path"),
        "--results",
        results.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(
        stderr.contains("`vary.batch_window_ms` (line 7), value ten"),
        "{stderr}"
    );
    assert!(!results.exists(), "nothing may run or be written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plot_and_sweep_explain_missing_inputs() {
    let out = vbench(&["plot", "/nonexistent/sweep-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read /nonexistent/sweep-dir/sweep.csv")
    );
    let out = vbench(&["sweep", "/nonexistent/sweep.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/sweep.toml"));
}
