//! `vbench serve`: one node of a distributed vMODB cluster running either workload — the
//! coordinator (with the HTTP front door) or one service — from a cluster file that names every
//! node's address and the run configuration every node builds its application and data from.

use crate::config::RunConfig;
use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vmodb::front_door::{Access, FrontDoor, Limits};
use vmodb::processes::{ClusterSpec, CoordinatorProcess, NodeOptions, ServiceProcess};
use vmodb::{App, BootstrapError, Loader};
use workloads::marketplace::generator::{Scale, generate};
use workloads::marketplace::{http, services, vmodb_system};
use workloads::tpcc;

/// The cluster file:
///
/// ```toml
/// [cluster]
/// coordinator = "127.0.0.1:7100"
/// http = "127.0.0.1:7101"
/// key_file = "cluster.key"   # the secret every node proves it holds (relative to this file)
/// tokens_file = "tokens"     # the front door's `client <token>` / `operator <token>` lines
/// [cluster.services]
/// cart = "127.0.0.1:7102"   # ... every service
/// [run]                      # optional: any run setting (scale, seed, batch_window_ms, ...)
/// scale = 0.1
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub run: RunConfig,
}

impl ClusterFile {
    /// Reads and checks the file, and the cluster key it names (`key_file`, relative to the
    /// file's directory).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the cluster file {}", path.display()))?;
        let mut file: ClusterFile = toml::from_str(&text)
            .with_context(|| format!("invalid cluster file {}", path.display()))?;
        file.run.validate()?;
        file.cluster
            .read_key(&base_dir(path))
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(file)
    }

    /// The front door's tokens: the file `tokens_file` names, and `VMODB_CLIENT_TOKEN` /
    /// `VMODB_OPERATOR_TOKEN`. A front door without any token would refuse everyone: an error.
    pub fn access(&self, path: &Path) -> anyhow::Result<Access> {
        let mut access = Access::default();
        if let Some(file) = &self.cluster.tokens_file {
            access = access
                .read(&base_dir(path).join(file))
                .map_err(anyhow::Error::msg)?;
        }
        let mut access = access.from_env().map_err(anyhow::Error::msg)?;
        if let Some(role) = &self.cluster.anonymous {
            let role = vmodb::front_door::Role::parse(role).ok_or_else(|| {
                anyhow!("[cluster] anonymous = `{role}`: expected `client` or `operator`")
            })?;
            access = access.anonymous(role);
        }
        if access.is_empty() {
            bail!(
                "the front door has no tokens: name a tokens file in [cluster] (`tokens_file`, \
                 lines `client <token>` and `operator <token>`), set VMODB_CLIENT_TOKEN / \
                 VMODB_OPERATOR_TOKEN, or let requests without a token in (`anonymous = \
                 \"client\"`)"
            );
        }
        Ok(access)
    }

    /// The front door's TLS configuration, when the file names a certificate and key.
    pub fn tls(&self, path: &Path) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        let base = base_dir(path);
        match (&self.cluster.tls_cert, &self.cluster.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                let config =
                    vmodb::front_door::tls::server_config(&base.join(cert), &base.join(key))
                        .map_err(anyhow::Error::msg)?;
                Ok(Some(config))
            }
            _ => bail!("[cluster] needs both tls_cert and tls_key, or neither"),
        }
    }
}

/// The directory relative paths in a cluster file start from.
fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Raises this process's open-file limit to its hard limit (the front door's connections and
/// the node links need handles) and returns it.
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// The front door's limits: connections capped well below the open-file limit (the rest is
/// for node links, logs and checkpoints).
fn front_door_limits() -> Limits {
    let files = open_file_limit();
    Limits {
        max_connections: (files / 2).clamp(64, 16_384) as usize,
        ..Limits::default()
    }
}

/// Node settings from the run's: a service process gets one worker unless set (a distributed
/// cluster on one machine has many processes per core). Every node must have been given the
/// same run configuration (it decides the application and the data): its digest is checked at
/// every handshake.
pub fn node_options(config: &RunConfig, data_dir: Option<PathBuf>) -> anyhow::Result<NodeOptions> {
    match (&data_dir, config.durability.as_str()) {
        (None, "fsync") => bail!("durability = \"fsync\" needs a data directory (--data-dir)"),
        (Some(dir), "none") => bail!(
            "--data-dir {} given, but durability is \"none\" in the cluster file",
            dir.display()
        ),
        _ => {}
    }
    Ok(NodeOptions {
        connect_timeout: Duration::from_secs(30),
        workers: config.workers.max(1),
        check_modes: config.check_modes,
        config_digest: ClusterSpec::config_digest(&toml::to_string(config)?),
        state_settings: config.state_settings(),
        data_dir,
        heartbeat_timeout: Duration::from_millis(config.heartbeat_timeout_ms.max(1)),
    })
}

/// What `vbench serve` was asked to run.
pub struct Node {
    pub role: String,
    pub cluster: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub allow_new_build: bool,
    /// Inherited listening sockets (from a supervisor that bound them).
    pub listen_fd: Option<i32>,
    pub http_fd: Option<i32>,
}

/// A listening socket inherited as file descriptor `fd`.
fn inherited(fd: Option<i32>, what: &str) -> anyhow::Result<Option<TcpListener>> {
    let Some(fd) = fd else { return Ok(None) };
    if fd < 3 {
        bail!("--{what} {fd}: not an inherited socket (0-2 are the standard streams)");
    }
    // SAFETY: the supervisor passed this descriptor for this process to own; it is used once.
    let listener = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    listener
        .local_addr()
        .with_context(|| format!("--{what} {fd}: not a listening socket"))?;
    Ok(Some(listener))
}

/// Runs node `role` until the cluster stops (or, for a service, fails).
pub fn serve(node: &Node) -> anyhow::Result<()> {
    let role = node.role.as_str();
    let file = ClusterFile::load(&node.cluster)?;
    let (config, spec) = (&file.run, &file.cluster);
    let app = vmodb_app(config)?;
    let options = node_options(config, node.data_dir.clone())?;
    let listener = inherited(node.listen_fd, "listen-fd")?;
    if role == "coordinator" {
        // Checked before any node starts, so a bad tokens or TLS file stops nothing.
        let access = file.access(&node.cluster)?;
        let tls = file.tls(&node.cluster)?;
        let mut coordinator = crate::system::cluster_config(config).coordinator;
        coordinator.allow_new_build = node.allow_new_build;
        let process = match listener {
            Some(l) => CoordinatorProcess::start_on(l, app, spec, coordinator, &options)?,
            None => CoordinatorProcess::start(app, spec, coordinator, &options)?,
        };
        let door = FrontDoor::with_limits(
            Arc::new(process),
            serde_json::to_value(config)?,
            access,
            front_door_limits(),
        );
        let answer_at = match config.answer_at.as_str() {
            "sequenced" => http::AnswerAt::Sequenced,
            _ => http::AnswerAt::Commit,
        };
        // The Online Marketplace benchmark's API next to the generic routes; TPC-C has the
        // generic ones only (`POST /transactions`).
        let routes = match config.workload.as_str() {
            "marketplace" => door
                .router()
                .merge(http::routes_answering(door.clone(), answer_at)),
            _ => door.router(),
        };
        let listener = match inherited(node.http_fd, "http-fd")? {
            Some(l) => l,
            None => TcpListener::bind(&spec.http)
                .with_context(|| format!("the front door cannot listen on {}", spec.http))?,
        };
        match tls {
            Some(tls) => {
                eprintln!("coordinator: front door at https://{}", spec.http);
                door.serve_tls_on(listener, routes, tls)
            }
            None => {
                eprintln!("coordinator: front door at http://{}", spec.http);
                door.serve_on(listener, routes)
            }
        }
        .map_err(|e| anyhow!(e))
    } else {
        if node.http_fd.is_some() {
            bail!("--http-fd is for the coordinator only");
        }
        // Generated only if there is no checkpoint to restore (the coordinator decides).
        let load = data_loader(config);
        let process = match listener {
            Some(l) => ServiceProcess::start_on(l, app, spec, role, &options, load)?,
            None => ServiceProcess::start(app, spec, role, &options, load)?,
        };
        eprintln!("service `{role}`: listening at {}", spec.services[role]);
        process.wait().map_err(|e| anyhow!("service `{role}`: {e}"))
    }
}

/// The application a cluster runs for `config`'s workload (and TPC-C's item check).
pub fn vmodb_app(config: &RunConfig) -> anyhow::Result<App> {
    let app = match config.workload.as_str() {
        "tpcc" => tpcc::services::app_with(crate::system::item_check(config)),
        _ => services::app(),
    };
    app.map_err(|e| anyhow!("{e}"))
}

type DataLoader = Box<dyn FnOnce(&Loader) -> Result<(), BootstrapError> + Send>;

/// What a service loads at first start: the data set `config` generates (each service inserts
/// its own tables). A marketplace with `data = "ingest"` starts empty: its data comes through
/// the ingestion routes.
fn data_loader(config: &RunConfig) -> DataLoader {
    let (scale, seed) = (config.scale, config.seed);
    match config.workload.as_str() {
        "tpcc" => {
            let scale = crate::system::tpcc_scale(config);
            Box::new(move |l: &Loader| {
                let state = tpcc::generator::populate(&scale, seed);
                tpcc::vmodb_system::loader(&state)(l)
            })
        }
        _ if config.data == "ingest" => Box::new(|_: &Loader| Ok(())),
        _ => Box::new(move |l: &Loader| {
            let data = generate(&Scale::scaled(scale), seed);
            vmodb_system::loader(&data)(l)
        }),
    }
}
