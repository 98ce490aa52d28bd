//! The cluster file: where every node listens.

use crate::app::{App, fnv1a};
use crate::deploy::net::{ClusterKey, LinkConfig};
use crate::model::error::BootstrapError;
use crate::runtime::message::{NodeId, ServiceId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every node's address, and the secrets that say who belongs. In TOML:
///
/// ```toml
/// coordinator = "127.0.0.1:7100"   # node-to-node
/// http = "127.0.0.1:8080"          # the coordinator's front door
/// key_file = "cluster.key"         # the secret every node proves it holds
/// tokens_file = "tokens"           # the front door's bearer tokens (`front_door::Access`)
/// anonymous = "client"             # optional: requests without a token get this role
/// tls_cert = "cert.pem"            # optional: the front door serves HTTPS only
/// tls_key = "key.pem"
/// [services]
/// cart = "127.0.0.1:7101"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub coordinator: String,
    pub http: String,
    pub services: BTreeMap<String, String>,
    /// The file holding the cluster key (`net::ClusterKey`); relative to the cluster file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// The file of the front door's bearer tokens; relative to the cluster file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_file: Option<PathBuf>,
    /// The role (`client` or `operator`) of front-door requests that carry no token; absent:
    /// they are refused (401). For clients that cannot send a token (the Online Marketplace
    /// benchmark's driver); bind the front door where only they reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<String>,
    /// The front door serves TLS only, with this PEM certificate chain and key (both or
    /// neither); relative to the cluster file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The key itself: read from `key_file` (`read_key`), or made by `bind_loopback`. Never
    /// written out; a node cannot start without it.
    #[serde(skip)]
    pub key: Option<ClusterKey>,
}

/// Bound listeners for every node of a cluster (`ClusterSpec::bind_loopback`).
#[derive(Debug)]
pub struct Listeners {
    pub coordinator: TcpListener,
    /// The front door's.
    pub http: TcpListener,
    pub services: BTreeMap<String, TcpListener>,
}

/// Settings of one node process.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// How long a node waits for its peers to come up.
    pub connect_timeout: Duration,
    /// Worker threads of a service process.
    pub workers: usize,
    pub check_modes: bool,
    /// A digest of whatever else every node must agree on (e.g. the configuration the data
    /// set and application are built from), checked at every handshake with the cluster file.
    pub config_digest: u64,
    /// The settings that decide what a data directory holds (one `key = value` per line, e.g.
    /// the data set's scale and seed): a directory is bound to these, and only these.
    pub state_settings: String,
    /// Durability: where the coordinator keeps its commit log (`coordinator/`) and a service
    /// its checkpoints (`<service>/`); nodes on one machine may share it.
    pub data_dir: Option<std::path::PathBuf>,
    /// A peer silent this long (no message, no heartbeat) is lost, and fails the cluster.
    pub heartbeat_timeout: Duration,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            connect_timeout: Duration::from_secs(30),
            workers: 1,
            check_modes: false,
            config_digest: 0,
            state_settings: String::new(),
            data_dir: None,
            heartbeat_timeout: crate::deploy::net::DEFAULT_HEARTBEAT_TIMEOUT,
        }
    }
}

impl ClusterSpec {
    /// Every service of `app` on loopback, on consecutive ports from `first_port` (the
    /// coordinator takes `first_port`, the front door `first_port + 1`).
    pub fn loopback(app: &App, first_port: u16) -> Self {
        let addr = |i: usize| format!("127.0.0.1:{}", first_port as usize + i);
        ClusterSpec {
            coordinator: addr(0),
            http: addr(1),
            services: app
                .service_names()
                .enumerate()
                .map(|(i, s)| (s.to_string(), addr(i + 2)))
                .collect(),
            key_file: None,
            tokens_file: None,
            anonymous: None,
            tls_cert: None,
            tls_key: None,
            key: Some(ClusterKey::random()),
        }
    }

    /// Reads `key_file` (relative to `base`, the cluster file's directory) into `key`.
    pub fn read_key(&mut self, base: &Path) -> Result<(), BootstrapError> {
        let Some(file) = &self.key_file else {
            return Err(BootstrapError(
                "cluster file: no `key_file` in [cluster]: every node must prove it holds the \
                 cluster's secret (create one with `openssl rand -hex 32 > cluster.key`, \
                 readable only by the nodes' user)"
                    .into(),
            ));
        };
        let key = ClusterKey::read(&base.join(file)).map_err(BootstrapError)?;
        self.key = Some(key);
        Ok(())
    }

    /// Every node of `app` on a free loopback port, with the listeners already bound (so no
    /// other process can take a port between choosing and binding it): hand each to its node
    /// (`CoordinatorProcess::start_on`, `ServiceProcess::start_on`, `FrontDoor::serve_on`).
    pub fn bind_loopback(app: &App) -> std::io::Result<(ClusterSpec, Listeners)> {
        let bind = || -> std::io::Result<(String, TcpListener)> {
            let l = TcpListener::bind("127.0.0.1:0")?;
            Ok((l.local_addr()?.to_string(), l))
        };
        let (coordinator, c) = bind()?;
        let (http, h) = bind()?;
        let mut services = BTreeMap::new();
        let mut listeners = BTreeMap::new();
        for name in app.service_names() {
            let (addr, l) = bind()?;
            services.insert(name.to_string(), addr);
            listeners.insert(name.to_string(), l);
        }
        let spec = ClusterSpec {
            coordinator,
            http,
            services,
            key_file: None,
            tokens_file: None,
            anonymous: None,
            tls_cert: None,
            tls_key: None,
            key: Some(ClusterKey::random()),
        };
        let listeners = Listeners {
            coordinator: c,
            http: h,
            services: listeners,
        };
        Ok((spec, listeners))
    }

    /// The file names exactly the application's services, and every address is distinct and
    /// well formed.
    pub fn check(&self, app: &App) -> Result<(), BootstrapError> {
        let fail = |m: String| Err(BootstrapError(format!("cluster file: {m}")));
        let declared: BTreeSet<&str> = app.service_names().collect();
        let named: BTreeSet<&str> = self.services.keys().map(String::as_str).collect();
        if let Some(s) = declared.difference(&named).next() {
            return fail(format!("no address for service `{s}`"));
        }
        if let Some(s) = named.difference(&declared).next() {
            let known: Vec<&str> = declared.iter().copied().collect();
            return fail(format!(
                "unknown service `{s}` (the application has: {})",
                known.join(", ")
            ));
        }
        let mut seen = BTreeSet::new();
        let all = [("coordinator", &self.coordinator), ("http", &self.http)];
        let services = self.services.iter().map(|(n, a)| (n.as_str(), a));
        for (node, addr) in all.into_iter().chain(services) {
            if addr
                .to_socket_addrs()
                .map_or(true, |mut a| a.next().is_none())
            {
                return fail(format!("`{node}`: `{addr}` is not a host:port address"));
            }
            if !seen.insert(addr.as_str()) {
                return fail(format!("`{node}`: address `{addr}` is used twice"));
            }
        }
        Ok(())
    }

    /// A digest of `text` (e.g. a node's serialized run configuration) for
    /// `NodeOptions::config_digest`: stable across processes and builds.
    pub fn config_digest(text: &str) -> u64 {
        fnv1a(text.as_bytes())
    }

    /// A digest of the file, compared at every handshake.
    pub fn digest(&self) -> u64 {
        let mut d = format!("{}|{}|", self.coordinator, self.http);
        for (s, a) in &self.services {
            d.push_str(&format!("{s}={a}|"));
        }
        fnv1a(d.as_bytes())
    }

    /// The node-to-node address of `node`.
    pub(crate) fn address(&self, app: &App, node: NodeId) -> &str {
        match node {
            NodeId::Coordinator => &self.coordinator,
            NodeId::Service(i) => &self.services[&app.services[i as usize].name],
        }
    }

    /// Link settings for node `me`: every other node is a peer.
    pub(crate) fn links(
        &self,
        app: &App,
        me: NodeId,
        options: &NodeOptions,
    ) -> Result<LinkConfig, BootstrapError> {
        let key = self.key.clone().ok_or_else(|| {
            BootstrapError("the cluster has no key (`key_file` in the cluster file)".into())
        })?;
        let nodes = std::iter::once(NodeId::Coordinator)
            .chain((0..app.services.len()).map(|i| NodeId::Service(i as ServiceId)));
        let peers = nodes
            .filter(|n| *n != me)
            .map(|n| {
                let name = match n {
                    NodeId::Coordinator => "coordinator".to_string(),
                    NodeId::Service(i) => app.services[i as usize].name.clone(),
                };
                (n, (name, self.address(app, n).to_string()))
            })
            .collect();
        let identity = crate::deploy::net::Identity {
            app: app.fingerprint(),
            build: app.build_id(),
            cluster: self.digest() ^ options.config_digest.rotate_left(17),
        };
        let mut config = LinkConfig::new(me, peers, identity, key);
        config.connect_timeout = options.connect_timeout;
        config.heartbeat_timeout = options.heartbeat_timeout;
        Ok(config)
    }
}

/// Binds `addr`, with an error that says which node could not.
pub(crate) fn listen(addr: &str, node: &str) -> Result<std::net::TcpListener, BootstrapError> {
    std::net::TcpListener::bind(addr)
        .map_err(|e| BootstrapError(format!("{node} cannot listen on {addr}: {e}")))
}
