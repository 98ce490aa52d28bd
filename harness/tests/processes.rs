//! The distributed deployment as a user runs it: `vbench check --deploy processes` (every node
//! its own process, driven through the HTTP front door: no anomalies, state equal to the serial
//! replay), and a cluster started with `vbench serve` whose service or coordinator is killed
//! (`kill -9`) or frozen (`kill -STOP`: alive, but silent) under a `vbench run --target` load:
//! the run fails with an error that names what was lost (a frozen node within the heartbeat
//! timeout), and nothing hangs. Nodes get their sockets bound by the test (`--listen-fd`), so
//! no port is ever chosen and then taken by someone else.

mod support;

use std::time::{Duration, Instant};
use support::*;

#[test]
fn deploy_processes_passes_the_consistency_gate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("check");
    let dir = dir.to_string_lossy();
    let (ok, stdout, stderr) = vbench(
        ["check", "--deploy", "processes", "--scale", "0.02"]
            .into_iter()
            .chain(["--duration", "3", "--warmup", "1", "--results", &dir]),
        Duration::from_secs(180),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("9 processes on loopback"), "{stderr}");
    assert!(stderr.contains("B/transaction"), "{stderr}");
    assert!(stdout.contains("serial replay equal    yes"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(!stderr.contains("did not stop cleanly"), "{stderr}");
    let committed: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("throughput: "))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(committed > 100, "too little work to judge: {stdout}");
}

/// A service frozen with SIGSTOP keeps its sockets open but says nothing: within the heartbeat
/// timeout (here 1.5 s) the coordinator names it, stops taking work (503), and the run under
/// load fails instead of hanging; the other services give up too.
#[test]
fn a_frozen_service_fails_the_cluster_within_the_heartbeat_timeout() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("freeze-service");
    let mut cluster = Cluster::start_with(&dir, "heartbeat_timeout_ms = 1500");
    let run = cluster.drive(&dir);
    std::thread::sleep(Duration::from_secs(2));
    cluster.signal("stock", libc::SIGSTOP);
    let failure = failure_within(&cluster.http, Duration::from_secs(30)).unwrap_or_else(|| {
        panic!(
            "a frozen `stock` went unnoticed: {}",
            cluster.log("coordinator")
        )
    });
    assert!(
        failure.contains("`stock`") && failure.contains("silent"),
        "{failure}"
    );
    let (out, took) = wait_output(run, Duration::from_secs(60));
    let out = out.unwrap_or_else(|| panic!("the run still hangs {took:?} after the freeze"));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("`stock`"), "{stderr}");
    let others: Vec<&str> = SERVICES.iter().copied().filter(|r| *r != "stock").collect();
    assert!(
        all_exited(&mut cluster, &others, Duration::from_secs(30)),
        "services keep running without `stock`"
    );
    cluster.signal("stock", libc::SIGKILL);
}

/// A frozen coordinator: every service notices within the heartbeat timeout, names it, and
/// exits with an error.
#[test]
fn a_frozen_coordinator_is_noticed_by_every_service() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("freeze-coordinator");
    let mut cluster = Cluster::start_with(&dir, "heartbeat_timeout_ms = 1500");
    cluster.signal("coordinator", libc::SIGSTOP);
    assert!(
        all_exited(&mut cluster, &SERVICES, Duration::from_secs(30)),
        "services keep waiting for a frozen coordinator"
    );
    for role in SERVICES {
        let status = cluster
            .node(role)
            .try_wait()
            .ok()
            .flatten()
            .expect("exited");
        assert!(!status.success(), "`{role}` exited cleanly");
        let log = cluster.log(role);
        assert!(
            log.contains("the coordinator") && log.contains("silent"),
            "{role}: {log}"
        );
    }
    cluster.signal("coordinator", libc::SIGKILL);
}

#[test]
fn killing_a_service_fails_the_run_fast() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("kill-service");
    let mut cluster = Cluster::start(&dir);
    let run = cluster.drive(&dir);
    std::thread::sleep(Duration::from_secs(3));
    cluster.node("stock").kill().expect("kill -9 stock");
    let (out, took) = wait_output(run, Duration::from_secs(20));
    let out = out.unwrap_or_else(|| panic!("the run still hangs {took:?} after the kill"));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(10), "reported after {took:?}");
    assert!(stderr.contains("`stock`"), "{stderr}");
    assert!(stderr.contains("cluster down"), "{stderr}");
    // The coordinator says why, and its peers give up on their own.
    let (_, status) = get(&cluster.http, "/status").expect("the front door still answers");
    assert!(status.contains("stock"), "{status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    for role in SERVICES.iter().filter(|r| **r != "stock") {
        let node = cluster.node(role);
        loop {
            if let Ok(Some(status)) = node.try_wait() {
                assert!(
                    !status.success(),
                    "`{role}` exited cleanly after losing a peer"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "`{role}` keeps running without `stock`"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn killing_the_coordinator_fails_the_run_fast() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("kill-coordinator");
    let mut cluster = Cluster::start(&dir);
    let run = cluster.drive(&dir);
    std::thread::sleep(Duration::from_secs(3));
    cluster
        .node("coordinator")
        .kill()
        .expect("kill -9 coordinator");
    let (out, took) = wait_output(run, Duration::from_secs(20));
    let out = out.unwrap_or_else(|| panic!("the run still hangs {took:?} after the kill"));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(10), "reported after {took:?}");
    assert!(stderr.contains("unreachable"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    for role in SERVICES {
        let node = cluster.node(role);
        while !matches!(node.try_wait(), Ok(Some(_))) {
            assert!(
                Instant::now() < deadline,
                "`{role}` keeps running without the coordinator"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `vbench crash` with `args` (small scale, three kills: the middle one is always the
/// coordinator) and checks that every check passed; returns its output.
fn crash_test(args: &[&str]) -> String {
    crash_test_passing(args, 5)
}

/// `crash_test`, expecting `checks` checks (TPC-C's client follows no TIDs: one fewer).
fn crash_test_passing(args: &[&str], checks: usize) -> String {
    let common = [
        "crash",
        "--scale",
        "0.02",
        "--concurrency",
        "16",
        "--kills",
        "3",
    ];
    let timing = ["--kill-every", "1.5", "--warmup", "0.5", "--duration", "3"];
    let all = common.into_iter().chain(timing).chain(args.iter().copied());
    let (ok, stdout, stderr) = vbench(all, Duration::from_secs(240));
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("PASS").count(), checks, "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("kill -9 `coordinator`"), "{stdout}");
    assert_eq!(stdout.matches("serving again").count(), 3, "{stdout}");
    stdout
}

/// The crash test keeping the whole log: after kill -9 of three nodes in turn and recovery
/// each time, every request ran exactly once, no anomaly, and the final state equals the
/// serial replay of every committed input.
#[test]
fn crash_test_recovers_to_the_serial_replay_with_exactly_once_outcomes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = crash_test(&["--replay-check", "--seed", "11"]);
    assert!(
        out.contains("PASS  final state equals the serial replay"),
        "{out}"
    );
    // Late resubmissions and ops followed by TID took part.
    assert!(
        out.contains("late)") && out.contains("followed by TID"),
        "{out}"
    );
}

/// The crash test as in production: checkpoints every 300 ms, 1 MiB log segments and request
/// ids remembered for 2 s of running time (long enough for the client's resubmissions), so the
/// log is truncated behind checkpoints while nodes are killed; exactly once and no anomaly.
#[test]
fn crash_test_with_log_truncation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = crash_test(&[
        "--checkpoint-interval-ms",
        "300",
        "--log-segment-mib",
        "1",
        "--request-retention-s",
        "2",
        // Prompt resubmissions and no TID following: enough load to outgrow a segment.
        "--late-every",
        "0",
        "--track-every",
        "0",
        "--seed",
        "12",
    ]);
    assert!(out.contains("PASS  the commit log was truncated"), "{out}");
}

/// TPC-C as processes (the coordinator and its three services), through the front door's
/// generic route: the consistency conditions hold and the state equals the serial replay.
#[test]
fn tpcc_as_processes_passes_the_consistency_gate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("tpcc-check");
    let dir = dir.to_string_lossy();
    let (ok, stdout, stderr) = vbench(
        ["check", "--workload", "tpcc", "--deploy", "processes"]
            .into_iter()
            .chain([
                "--warehouses",
                "2",
                "--scale",
                "0.02",
                "--concurrency",
                "16",
            ])
            .chain(["--duration", "2", "--warmup", "0.5", "--results", &dir]),
        Duration::from_secs(180),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("4 processes on loopback"), "{stderr}");
    assert!(stdout.contains("serial replay equal    yes"), "{stdout}");
    assert!(stdout.contains("cc12_customer_payments 0"), "{stdout}");
}

/// The crash test on TPC-C: kill -9 of three nodes in turn, recovery each time (checkpoints
/// every 300 ms: from incremental ones over a full one); every request ran exactly once, the
/// twelve consistency conditions hold, and the final state equals the serial replay of every
/// committed input.
#[test]
fn tpcc_crash_test_recovers_to_the_serial_replay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = crash_test_passing(
        &[
            "--workload",
            "tpcc",
            "--warehouses",
            "2",
            "--checkpoint-interval-ms",
            "300",
            "--replay-check",
            "--seed",
            "13",
        ],
        4,
    );
    assert!(
        out.contains("PASS  final state equals the serial replay"),
        "{out}"
    );
    assert!(
        out.contains("PASS  consistency checker: no anomaly"),
        "{out}"
    );
}

/// `--system both` with vMODB as processes runs the baseline in one process (it has no
/// distributed deployment yet): the comparison says so instead of printing a plain ratio.
#[test]
fn a_comparison_across_unlike_deployments_says_so() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("unlike");
    let dir = dir.to_string_lossy();
    let (ok, stdout, stderr) = vbench(
        ["run", "--workload", "tpcc", "--deploy", "processes"]
            .into_iter()
            .chain(["--system", "both", "--warehouses", "1", "--scale", "0.01"])
            .chain(["--concurrency", "8", "--duration", "1", "--warmup", "0.5"])
            .chain(["--results", &dir]),
        Duration::from_secs(180),
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("throughput ratio (unlike deployments)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("throughput ratio vmodb/baseline"),
        "{stdout}"
    );
}
