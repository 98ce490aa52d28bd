//! `--deploy processes`: the coordinator and every service as child processes (`vbench serve`)
//! on loopback ports, stopped when the run ends, and killed if it fails: a `ProcessCluster`
//! never outlives its owner. It binds every port itself (port 0: the OS picks a free one) and
//! hands each child its bound socket (`--listen-fd`), so no other process can take a port
//! between choosing and using it, and a restarted node gets the very same socket.

use crate::config::RunConfig;
use crate::serve::ClusterFile;
use anyhow::{Context, anyhow, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vmodb::net::ClusterKey;
use vmodb::processes::{ClusterSpec, Listeners};
use workloads::remote::{ClientAuth, Token};

/// Where a child finds its node's listening socket, and the coordinator its front door's.
const LISTEN_FD: i32 = 3;
const HTTP_FD: i32 = 4;

pub struct ProcessCluster {
    children: Vec<(String, Child)>,
    /// Every node's bound listener (and the front door's, as `http`), held for the whole run.
    listeners: Listeners,
    dir: PathBuf,
    http: String,
    /// The cluster file every node reads.
    file: PathBuf,
    /// With `durability = "fsync"`: the data directory every node shares.
    data: Option<PathBuf>,
    roles: Vec<String>,
    /// The operator's front-door token (fresh for every cluster; in `dir/tokens`).
    token: Token,
}

/// Writes `text` to a new file only its owner may read.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl ProcessCluster {
    /// Starts every node as a child process and waits until the front door answers.
    pub fn start(config: &RunConfig) -> anyhow::Result<Self> {
        let app = crate::serve::vmodb_app(config)?;
        let (mut spec, listeners) =
            ClusterSpec::bind_loopback(&app).context("cannot bind loopback ports")?;
        let dir = std::env::temp_dir().join(format!(
            "vbench-cluster-{}-{}",
            std::process::id(),
            crate::report::timestamp()
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join("cluster.toml");
        // Fresh secrets for this cluster only: the nodes' key and the front door's tokens.
        write_secret(&dir.join("cluster.key"), &ClusterKey::random_secret())?;
        let token = Token::new(ClusterKey::random_secret());
        let tokens = format!(
            "operator {}\nclient {}\n",
            token.secret(),
            ClusterKey::random_secret()
        );
        write_secret(&dir.join("tokens"), &tokens)?;
        spec.key_file = Some("cluster.key".into());
        spec.tokens_file = Some("tokens".into());
        let mut run = config.clone();
        run.deploy = "processes".into();
        if config.client == "om-driver" {
            run.data = "ingest".into(); // the driver loads the data set through the API
        }
        let text = toml::to_string(&ClusterFile {
            cluster: spec.clone(),
            run,
        })?;
        std::fs::write(&file, text)?;
        let data = (config.durability == "fsync").then(|| dir.join("data"));
        let mut cluster = ProcessCluster {
            children: Vec::new(),
            listeners,
            dir,
            http: spec.http.clone(),
            file,
            data,
            roles: app
                .service_names()
                .chain(["coordinator"])
                .map(String::from)
                .collect(),
            token,
        };
        cluster.spawn_all()?;
        cluster.wait_ready(Duration::from_secs(60))?;
        Ok(cluster)
    }

    fn spawn_all(&mut self) -> anyhow::Result<()> {
        let exe = std::env::current_exe().context("cannot find the vbench executable")?;
        for role in self.roles.clone() {
            // Appended to: a restarted node's log follows its predecessor's.
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path(&role))?;
            let mut command = Command::new(&exe);
            command
                .args(["serve", "--role", &role, "--cluster"])
                .arg(&self.file);
            if let Some(data) = &self.data {
                command.arg("--data-dir").arg(data);
            }
            let listener = match self.listeners.services.get(&role) {
                Some(l) => l,
                None => &self.listeners.coordinator,
            };
            let mut inherit = vec![(listener.as_raw_fd(), LISTEN_FD)];
            command.args(["--listen-fd", &LISTEN_FD.to_string()]);
            if role == "coordinator" {
                inherit.push((self.listeners.http.as_raw_fd(), HTTP_FD));
                command.args(["--http-fd", &HTTP_FD.to_string()]);
            }
            // SAFETY: only `fcntl` and `dup2` run between fork and exec (async-signal-safe).
            unsafe { command.pre_exec(move || pass_fds(&inherit)) };
            let child = command
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start `{role}`"))?;
            self.children.push((role, child));
        }
        Ok(())
    }

    /// The front door's `/status`, if it answers.
    pub fn status(&self) -> Option<vmodb::front_door::Status> {
        let (code, body) = http_request(&self.http, &self.token, "GET", "/status").ok()?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// The data directory every node shares (with durability).
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data.as_deref()
    }

    /// Bytes on disk in the data directory: (the coordinator's log, everything).
    pub fn data_bytes(&self) -> (u64, u64) {
        match &self.data {
            None => (0, 0),
            Some(d) => (dir_bytes(&d.join("coordinator")), dir_bytes(d)),
        }
    }

    /// The roles of the nodes, services first, the coordinator last.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Kills node `role` with SIGKILL (no chance to flush or say goodbye).
    pub fn kill(&mut self, role: &str) -> anyhow::Result<()> {
        let (_, child) = self
            .children
            .iter_mut()
            .find(|(r, _)| r == role)
            .ok_or_else(|| anyhow!("no node `{role}`"))?;
        child
            .kill()
            .with_context(|| format!("cannot kill `{role}`"))?;
        child.wait()?;
        Ok(())
    }

    /// Restarts the cluster after a node died: the survivors stop on their own when they lose
    /// a peer (killed if they have not after `grace`), then every node starts again on the same
    /// addresses and data directory. Returns how long the new cluster took to serve.
    pub fn restart(&mut self, grace: Duration) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + grace;
        for (_, child) in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.children.clear();
        let started = Instant::now();
        self.spawn_all()?;
        self.wait_ready(Duration::from_secs(60))?;
        Ok(started.elapsed())
    }

    /// What a client of this cluster shows: the operator's token (plain HTTP on loopback).
    pub fn auth(&self) -> ClientAuth {
        ClientAuth::token(self.token.clone())
    }

    /// The front door's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The process ids, by role.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let ids = self.children.iter().map(|(r, c)| (r.clone(), c.id()));
        ids.collect()
    }

    fn log_path(&self, role: &str) -> PathBuf {
        self.dir.join(format!("{role}.log"))
    }

    /// A node that exited, with its status and the end of its log.
    pub fn exited(&mut self) -> Option<String> {
        for i in 0..self.children.len() {
            if let Ok(Some(status)) = self.children[i].1.try_wait() {
                let role = self.children[i].0.clone();
                let log = std::fs::read_to_string(self.log_path(&role)).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Some(format!("`{role}` exited ({status}): {}", tail.join(" | ")));
            }
        }
        None
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(dead) = self.exited() {
                bail!("the cluster did not come up: {dead}");
            }
            if http_request(&self.http, &self.token, "GET", "/status")
                .is_ok_and(|(code, _)| code == 200)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the cluster did not come up within {} s (logs in {})",
                    timeout.as_secs(),
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the cluster through its front door; whatever is still running after a grace
    /// period is killed. A node that did not stop cleanly is an error naming it and its log
    /// (the logs are kept then).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = http_request(&self.http, &self.token, "POST", "/shutdown");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut unclean = Vec::new();
        for (role, child) in &mut self.children {
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => break None,
                }
            };
            match status {
                Some(s) if s.success() => {}
                Some(s) => unclean.push(format!("`{role}` exited with {s}")),
                None => unclean.push(format!("`{role}` did not stop within 10 s (killed)")),
            }
        }
        if unclean.is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
            return Ok(());
        }
        bail!(
            "the cluster did not stop cleanly: {} (logs in {})",
            unclean.join("; "),
            self.dir.display()
        )
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Bytes in the files under `dir`, recursively (0 if it is gone).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// In a forked child before exec: gives it each socket `from` as descriptor `to`, without
/// close-on-exec. Every source is first copied above the targets, so a source that happens
/// to sit at a target number is not overwritten before it is moved.
fn pass_fds(fds: &[(i32, i32)]) -> std::io::Result<()> {
    // No allocation between fork and exec: at most a few sockets, on the stack.
    let mut copies = [(-1, -1); 4];
    if fds.len() > copies.len() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let high = fds.iter().map(|(_, to)| *to).max().unwrap_or(0) + 1;
    for (slot, &(from, to)) in copies.iter_mut().zip(fds) {
        // SAFETY: plain descriptor syscalls on descriptors this process owns.
        let copy = unsafe { libc::fcntl(from, libc::F_DUPFD_CLOEXEC, high) };
        if copy < 0 {
            return Err(std::io::Error::last_os_error());
        }
        *slot = (copy, to);
    }
    for &(copy, to) in &copies[..fds.len()] {
        // SAFETY: as above; `dup2` clears close-on-exec on the target.
        if unsafe { libc::dup2(copy, to) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A bare HTTP/1.1 request with an empty body and `token`: (status code, body).
pub fn http_request(
    addr: &str,
    token: &Token,
    method: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        token.secret()
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((code, body))
}
