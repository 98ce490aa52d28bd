//! A cluster of `vbench serve` processes on loopback for the tests, and what they share.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use workloads::remote::{ClientAuth, FrontDoorClient, Token};

/// Each test runs 9+ processes on a small machine: one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub const SERVICES: [&str; 8] = [
    "cart", "product", "stock", "order", "payment", "shipment", "seller", "customer",
];

/// A test's directory, removed when the test passes (kept, for a look, when it fails).
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn scratch(test: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("vbench-proc-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir)
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Waits for `child` up to `timeout`; kills it if it is still running then.
pub fn wait_output(mut child: Child, timeout: Duration) -> (Option<Output>, Duration) {
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

/// Runs `vbench` with `args` to its end, failing the test if it takes over `timeout`:
/// whether it succeeded, its stdout and its stderr.
pub fn vbench<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
    timeout: Duration,
) -> (bool, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench runs");
    let (out, took) = wait_output(child, timeout);
    let out = out.unwrap_or_else(|| panic!("vbench did not finish in {took:?}"));
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// A cluster of `vbench serve` processes, killed when dropped.
pub struct Cluster {
    pub nodes: Vec<(String, Child)>,
    pub http: String,
    pub dir: PathBuf,
    /// The cluster file's path, and the nodes' listeners' addresses (coordinator first).
    pub file: PathBuf,
    pub coordinator: String,
    /// Every service's node address, in `SERVICES` order.
    pub services: Vec<String>,
}

/// The front door's tokens in the test clusters (`tokens` next to the cluster file).
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789abcdef0123";
pub const CLIENT_TOKEN: &str = "test-client-token-0123456789abcdef012345";
/// The cluster key's secret (`cluster.key`).
pub const KEY_SECRET: &str = "test-cluster-key-0123456789abcdef0123456";

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    pub fn start(dir: &Path) -> Cluster {
        Self::start_with(dir, "")
    }

    /// Nine `vbench serve` processes; `run` is added to the cluster file's `[run]` table.
    pub fn start_with(dir: &Path, run: &str) -> Cluster {
        Self::start_opts(dir, run, false, "")
    }

    /// Nine nodes whose front door lets requests without a token in as a client (as the
    /// benchmark's driver sends them); `run` as in `start_with`.
    pub fn start_anonymous(dir: &Path, run: &str) -> Cluster {
        Self::start_opts(dir, run, false, "anonymous = \"client\"\n")
    }

    /// Nine nodes whose front door serves TLS only, with a self-signed certificate for
    /// 127.0.0.1 in `dir/cert.pem` (the one to trust).
    pub fn start_tls(dir: &Path) -> Cluster {
        Self::start_opts(dir, "", true, "")
    }

    /// `cluster` is added to the cluster file's `[cluster]` table.
    fn start_opts(dir: &Path, run: &str, tls: bool, cluster: &str) -> Cluster {
        let listeners: Vec<TcpListener> = (0..10)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
            .collect();
        let port = |i: usize| listeners[i].local_addr().expect("addr").port();
        let mut file = format!(
            "[cluster]\ncoordinator = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:{}\"\n\
             key_file = \"cluster.key\"\ntokens_file = \"tokens\"\n{cluster}[cluster.services]\n",
            port(0),
            port(1)
        );
        std::fs::write(dir.join("cluster.key"), KEY_SECRET).expect("key file");
        let tokens = format!("operator {OPERATOR_TOKEN}\nclient {CLIENT_TOKEN}\n");
        std::fs::write(dir.join("tokens"), tokens).expect("tokens file");
        for (i, s) in SERVICES.iter().enumerate() {
            file.push_str(&format!("{s} = \"127.0.0.1:{}\"\n", port(i + 2)));
        }
        if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
                .expect("a certificate");
            std::fs::write(dir.join("cert.pem"), cert.cert.pem()).expect("cert file");
            std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).expect("key");
            file = file.replace(
                "[cluster.services]",
                "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n[cluster.services]",
            );
        }
        file.push_str(&format!("[run]\nscale = 0.02\n{run}\n"));
        let http = format!("127.0.0.1:{}", port(1));
        let path = dir.join("cluster.toml");
        std::fs::write(&path, file).expect("cluster file");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            http,
            dir: dir.to_path_buf(),
            file: path.clone(),
            coordinator: format!("127.0.0.1:{}", port(0)),
            services: (0..SERVICES.len())
                .map(|i| format!("127.0.0.1:{}", port(i + 2)))
                .collect(),
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
        // Over TLS, the harness's own client (trusting the certificate) asks.
        let https = tls.then(|| {
            let auth = ClientAuth {
                token: Some(Token::new(OPERATOR_TOKEN)),
                ca: Some(dir.join("cert.pem")),
            };
            let url = format!("https://{}", cluster.http);
            FrontDoorClient::new(&url, 1, &auth).expect("an https client")
        });
        let up = |c: &Cluster| match &https {
            None => get(&c.http, "/status").is_some_and(|(code, _)| code == 200),
            Some(client) => client.status().is_ok(),
        };
        while !up(&cluster) {
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
    pub fn signal(&mut self, role: &str, signal: i32) {
        let pid = i32::try_from(self.node(role).id()).expect("a pid");
        // SAFETY: a plain syscall on our own child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {role}");
    }

    pub fn log(&self, role: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{role}.log"))).unwrap_or_default()
    }

    pub fn node(&mut self, role: &str) -> &mut Child {
        let n = self
            .nodes
            .iter_mut()
            .find(|(r, _)| r == role)
            .expect("role");
        &mut n.1
    }

    /// `vbench run --target` against this cluster, in the background.
    pub fn drive(&self, results: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_vbench"))
            .args(["run", "--target", &format!("http://{}", self.http)])
            .env("VMODB_TOKEN", OPERATOR_TOKEN)
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
pub fn pass_fds(fds: &[(i32, i32)]) -> std::io::Result<()> {
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
pub fn failure_within(http: &str, limit: Duration) -> Option<String> {
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
pub fn all_exited(cluster: &mut Cluster, roles: &[&str], limit: Duration) -> bool {
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

/// `GET path` with the operator's token: (status, body).
pub fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    call(addr, Some(OPERATOR_TOKEN), "GET", path)
}

/// An empty-bodied request with `token`, if any: (status, body).
pub fn call(addr: &str, token: Option<&str>, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let authorization = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{authorization}Content-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
    .ok()?;
    // Some bodies are binary (`/state` is postcard): read bytes, show them lossily.
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text.split_once("\r\n\r\n")?.1.to_string()))
}
