//! `vbench run --system baseline --durability fsync` as a user runs it: the baseline logs every
//! writing operation and reports it only once synced; the run completes with no failures and
//! none of the anomalies single-threaded grains rule out, states its durability in the saved
//! configuration, and leaves no log file behind. TPC-C with durability on both systems passes
//! vMODB's gate and leaves no commit log or baseline log behind.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vbench-dur-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The number after `label` on the line that starts with it (`  negative_stock    0`).
fn count_after(stdout: &str, label: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| l.trim_start().starts_with(label))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The records the `baseline log: N records, ...` line of a run's output reports.
fn logged_records(output: &str) -> u64 {
    let line = output
        .lines()
        .find(|l| l.starts_with("baseline log: "))
        .unwrap_or_else(|| panic!("no baseline log statistics:\n{output}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn baseline_with_fsync_logs_every_operation_and_cleans_up() {
    let dir = scratch("fsync");
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(["run", "--system", "baseline", "--durability", "fsync"])
        .args([
            "--scale",
            "0.02",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--results",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("vbench finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    assert!(logged_records(&all) > 100, "{all}");
    assert!(stdout.contains(" 0 failed)"), "{stdout}");
    for class in [
        "negative_stock",
        "stock_reservation",
        "order_items",
        "payment",
        "customer_counters",
        "lost_update",
        "duplicate",
    ] {
        assert_eq!(count_after(&stdout, class), Some(0), "{class}:\n{stdout}");
    }
    // The saved configuration states the durability setting of the run.
    let config = std::fs::read_dir(&dir)
        .expect("results")
        .flatten()
        .map(|run| run.path().join("config.toml"))
        .find(|p| p.exists())
        .expect("config.toml written");
    let text = std::fs::read_to_string(config).expect("config");
    assert!(text.contains("durability = \"fsync\""), "{text}");
    // The run's log is temporary.
    let prefix = format!("vbench-baseline-log-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "log files left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tpcc_with_fsync_passes_the_gate_on_both_systems_and_cleans_up() {
    let dir = scratch("tpcc-fsync");
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(["check", "--workload", "tpcc", "--system", "both"])
        .args([
            "--durability",
            "fsync",
            "--warehouses",
            "1",
            "--scale",
            "0.01",
        ])
        .args(["--duration", "2", "--warmup", "0", "--results"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("vbench finishes");
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("PASS vmodb TPC-C consistency conditions"),
        "{all}"
    );
    assert!(!all.contains("FAIL"), "{all}");
    assert!(logged_records(&all) > 100, "{all}");
    let ours = |name: &str| name.contains(&format!("-{pid}-")) && name.starts_with("vbench-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .flatten()
        .filter(|e| ours(&e.file_name().to_string_lossy()))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
