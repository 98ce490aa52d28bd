//! The distributed deployment as a user runs it: `vbench check --deploy processes` (every node
//! its own process, driven through the HTTP front door: no anomalies, state equal to the serial
//! replay), and a cluster started with `vbench serve` whose service or coordinator is killed
//! (`kill -9`) or frozen (`kill -STOP`: alive, but silent) under a `vbench run --target` load:
//! the run fails with an error that names what was lost (a frozen node within the heartbeat
//! timeout), and nothing hangs. Nodes get their sockets bound by the test (`--listen-fd`), so
//! no port is ever chosen and then taken by someone else.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Each test runs 9+ processes on a small machine: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const SERVICES: [&str; 8] = [
    "cart", "product", "stock", "order", "payment", "shipment", "seller", "customer",
];

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vbench-proc-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Waits for `child` up to `timeout`; kills it if it is still running then.
fn wait_output(mut child: Child, timeout: Duration) -> (Option<Output>, Duration) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(Some(_)) = child.try_wait() {
            return (child.wait_with_output().ok(), started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, started.elapsed())
}

#[test]
fn deploy_processes_passes_the_consistency_gate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("check");
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(["check", "--deploy", "processes", "--scale", "0.02"])
        .args(["--duration", "3", "--warmup", "1", "--results"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench runs");
    let (out, took) = wait_output(child, Duration::from_secs(180));
    let out = out.unwrap_or_else(|| panic!("vbench check did not finish in {took:?}"));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
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

/// A cluster of `vbench serve` processes, killed when dropped.
struct Cluster {
    nodes: Vec<(String, Child)>,
    http: String,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        Self::start_with(dir, "")
    }

    /// Nine `vbench serve` processes; `run` is added to the cluster file's `[run]` table.
    fn start_with(dir: &Path, run: &str) -> Cluster {
        let listeners: Vec<TcpListener> = (0..10)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
            .collect();
        let port = |i: usize| listeners[i].local_addr().expect("addr").port();
        let mut file = format!(
            "[cluster]\ncoordinator = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:{}\"\n[cluster.services]\n",
            port(0),
            port(1)
        );
        for (i, s) in SERVICES.iter().enumerate() {
            file.push_str(&format!("{s} = \"127.0.0.1:{}\"\n", port(i + 2)));
        }
        file.push_str(&format!("[run]\nscale = 0.02\n{run}\n"));
        let http = format!("127.0.0.1:{}", port(1));
        let path = dir.join("cluster.toml");
        std::fs::write(&path, file).expect("cluster file");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            http,
            dir: dir.to_path_buf(),
        };
        for (i, role) in SERVICES.iter().chain(&["coordinator"]).enumerate() {
            let log = std::fs::File::create(dir.join(format!("{role}.log"))).expect("log");
            let mut command = Command::new(env!("CARGO_BIN_EXE_vbench"));
            command
                .args(["serve", "--role", role, "--cluster"])
                .arg(&path)
                .stdout(log.try_clone().expect("log"))
                .stderr(log);
            // The node's own bound socket (and the front door's, for the coordinator).
            let mut fds = vec![(
                listeners[if *role == "coordinator" { 0 } else { i + 2 }].as_raw_fd(),
                3,
            )];
            command.args(["--listen-fd", "3"]);
            if *role == "coordinator" {
                fds.push((listeners[1].as_raw_fd(), 4));
                command.args(["--http-fd", "4"]);
            }
            // SAFETY: only async-signal-safe descriptor calls between fork and exec.
            unsafe { command.pre_exec(move || pass_fds(&fds)) };
            let child = command.spawn().expect("vbench serve runs");
            cluster.nodes.push((role.to_string(), child));
        }
        drop(listeners); // the children hold them now
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&cluster.http, "/status").is_none_or(|(code, _)| code != 200) {
            for (role, node) in &mut cluster.nodes {
                if let Ok(Some(status)) = node.try_wait() {
                    let log = std::fs::read_to_string(dir.join(format!("{role}.log")));
                    panic!("`{role}` exited ({status}): {}", log.unwrap_or_default());
                }
            }
            assert!(Instant::now() < deadline, "the cluster did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// Sends `signal` to node `role`.
    fn signal(&mut self, role: &str, signal: i32) {
        let pid = i32::try_from(self.node(role).id()).expect("a pid");
        // SAFETY: a plain syscall on our own child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {role}");
    }

    fn log(&self, role: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{role}.log"))).unwrap_or_default()
    }

    fn node(&mut self, role: &str) -> &mut Child {
        let n = self
            .nodes
            .iter_mut()
            .find(|(r, _)| r == role)
            .expect("role");
        &mut n.1
    }

    /// `vbench run --target` against this cluster, in the background.
    fn drive(&self, results: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_vbench"))
            .args(["run", "--target", &format!("http://{}", self.http)])
            .args(["--duration", "60", "--warmup", "0", "--results"])
            .arg(results)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vbench run")
    }
}

/// In a forked child before exec: each socket `from` becomes descriptor `to`, inherited
/// (copied above the targets first, so that no source is overwritten before it moves).
fn pass_fds(fds: &[(i32, i32)]) -> std::io::Result<()> {
    let mut copies = [(-1, -1); 4];
    for (slot, &(from, to)) in copies.iter_mut().zip(fds) {
        // SAFETY: descriptor syscalls on descriptors this process owns.
        let copy = unsafe { libc::fcntl(from, libc::F_DUPFD_CLOEXEC, 10) };
        if copy < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = (copy, to);
    }
    for &(copy, to) in &copies[..fds.len().min(copies.len())] {
        // SAFETY: as above.
        if unsafe { libc::dup2(copy, to) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits (up to `limit`) until `/status` reports a failure; returns it.
fn failure_within(http: &str, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some((200, body)) = get(http, "/status") {
            let status: serde_json::Value = serde_json::from_str(&body).ok()?;
            if let Some(f) = status["failure"].as_str() {
                return Some(f.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Waits (up to `limit`) until every node in `roles` exited; true if all did.
fn all_exited(cluster: &mut Cluster, roles: &[&str], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let running = roles
            .iter()
            .filter(|r| !matches!(cluster.node(r).try_wait(), Ok(Some(_))))
            .count();
        if running == 0 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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

fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text.split_once("\r\n\r\n")?.1.to_string()))
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
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args([
            "crash",
            "--scale",
            "0.02",
            "--concurrency",
            "16",
            "--kills",
            "3",
        ])
        .args(["--kill-every", "1.5", "--warmup", "0.5", "--duration", "3"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench runs");
    let (out, took) = wait_output(child, Duration::from_secs(240));
    let out = out.unwrap_or_else(|| panic!("vbench crash did not finish in {took:?}"));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("PASS").count(), 5, "{stdout}");
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
