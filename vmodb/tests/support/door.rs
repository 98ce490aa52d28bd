//! A front door over a fresh embedded shop cluster, served on its own thread, and requests to
//! it with the operator's token (`http::access`).
#![allow(dead_code)]

use super::http::{Response, request};
use super::shop;
use serde_json::Value as Json;
use serde_json::json;
use std::net::TcpStream;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};
use vmodb::Cluster;
use vmodb::front_door::{FrontDoor, Limits};

const ITEMS: u32 = 10;
const STOCK: i64 = 50;
const CUSTOMERS: u32 = 20;

/// A front door over a fresh embedded shop cluster, served on its own thread.
pub struct Server {
    pub addr: String,
    /// What `serve` returned, once it returns.
    pub served: mpsc::Receiver<Result<(), String>>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(super::util::config_ms(2, 64))
    }

    pub fn start_with(config: vmodb::ClusterConfig) -> Server {
        Self::start_limited(config, Limits::default())
    }

    pub fn start_limited(config: vmodb::ClusterConfig, limits: Limits) -> Server {
        Self::start_serving(config, limits, None, super::http::access())
    }

    /// A front door that lets requests without a token in as a client.
    pub fn start_anonymous() -> Server {
        let access = super::http::access().anonymous(vmodb::front_door::Role::Client);
        let config = super::util::config_ms(2, 64);
        Self::start_serving(config, Limits::default(), None, access)
    }

    /// A front door serving TLS only, with `tls`.
    pub fn start_tls(tls: Arc<rustls::ServerConfig>) -> Server {
        let config = super::util::config_ms(2, 64);
        Self::start_serving(config, Limits::default(), Some(tls), super::http::access())
    }

    fn start_serving(
        config: vmodb::ClusterConfig,
        limits: Limits,
        tls: Option<Arc<rustls::ServerConfig>>,
        access: vmodb::front_door::Access,
    ) -> Server {
        let cluster = Cluster::start(
            shop::app().expect("app"),
            config,
            shop::load(ITEMS, STOCK, CUSTOMERS),
        )
        .expect("the cluster starts");
        let door = FrontDoor::with_limits(Arc::new(cluster), json!({"k": 1}), access, limits);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("addr").to_string();
        let (tx, served) = mpsc::channel();
        thread::spawn(move || {
            let served = match tls {
                Some(tls) => door.serve_tls_on(listener, door.router(), tls),
                None => door.serve_on(listener, door.router()),
            };
            let _ = tx.send(served);
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(&addr).is_err() {
            if let Ok(r) = served.try_recv() {
                panic!("the front door stopped at once: {r:?}");
            }
            assert!(Instant::now() < deadline, "the front door does not listen");
            thread::sleep(Duration::from_millis(10));
        }
        Server { addr, served }
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, None)
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        request(&self.addr, "POST", path, Some(body))
    }

    pub fn post_json(&self, path: &str, body: &Json) -> Response {
        self.post(path, &body.to_string())
    }

    pub fn status(&self) -> Json {
        let r = self.get("/status");
        assert_eq!(r.status, 200, "{r:?}");
        r.json()
    }
}
