//! The HTTP front door of the coordinator (axum): clients submit transaction inputs as JSON and
//! wait for their outcome, follow commits as server-sent events, read the status, run queries;
//! the harness also reads state, committed inputs and traffic to check a run. Any application
//! works: JSON is converted to and from the wire format by codecs captured where handlers and
//! queries are declared (`json_codec`). Applications may mount their own routes next to these
//! (the marketplace mounts the Online Marketplace benchmark's API) through `FrontDoor`.
//!
//! Routes (JSON unless noted; every error the front door decides is `{"error": "..."}` with a
//! 4xx, or a 503 once the cluster lost a node; axum itself may answer a body over its 2 MB
//! limit or an undecodable path with a plain-text 4xx):
//! - `POST /transactions[?wait=false]`: one `TxRequest` or an array (sequenced together, in
//!   order); answers the `TxResult`s at commit (or at once, `Submitted`, with `wait=false`).
//! - `GET /status`: `Status`. `GET /status/committed`: SSE, one `batch` event per committed
//!   batch, its data the batch's last TID (as the benchmark's vMODB driver expects); an `error`
//!   event if the cluster fails. Asked with `Accept: application/octet-stream` (8 bytes, a
//!   little-endian i64, as the benchmark's vMODB driver polls it), `application/json` or
//!   `text/plain` (a bare number) and not `text/event-stream`, it answers the last committed
//!   TID, and `GET /status/submitted` the last TID handed out: the driver waits until they
//!   are equal.
//! - `POST /queries/{service}/{query}`: the query's input as JSON, its answer as JSON.
//! - `GET /state`, `GET /inputs`, `GET /tables/{service}/{table}`: postcard bodies
//!   (`ClusterState`, `Vec<SequencedInput>`, encoded rows). `GET /nodes`: `NodeStats`
//!   summed over nodes (traffic, mode-checker conflicts, refused events).
//! - `GET /config`: what the cluster was started with (opaque JSON). `POST /shutdown`.

mod access;
mod api;
mod backend;
mod codec;
mod routes;
mod server;
pub mod tls;
mod waiters;

pub use access::{Access, MIN_TOKEN, Role, needed_role};
pub use api::{ErrorBody, Status, TxOutcome, TxRequest, TxResult};
pub use backend::Backend;
pub use routes::{parse_json, wait_param, wait_param_or};
pub use server::Limits;

use crate::model::error::{QueryError, SubmitError};
use crate::model::schema::Tid;
use crate::runtime::coordinator::{Completion, Outcome, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use waiters::Waiters;

/// An HTTP error: status and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

enum Submitted {
    Waiting(waiters::Pending),
    Detached(Vec<crate::model::schema::Tid>),
}

/// A commit as the SSE stream tells it.
#[derive(Clone, Debug)]
pub(crate) enum CommitNote {
    Batch {
        batch: u64,
        max_tid: u64,
    },
    Failed(String),
    /// The front door is shutting down: streams end (so the server can stop).
    Closed,
}

/// The front door over one cluster. Cheap to clone; routes share it.
#[derive(Clone)]
pub struct FrontDoor {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    backend: Arc<dyn Backend>,
    waiters: Arc<Waiters>,
    commits: tokio::sync::broadcast::Sender<CommitNote>,
    config: serde_json::Value,
    stop: tokio::sync::watch::Sender<bool>,
    access: Arc<Access>,
    limits: Limits,
}

impl FrontDoor {
    /// A front door over `backend` that lets in the tokens of `access` (`access.rs`); `config`
    /// is served at `GET /config` as given.
    pub fn new(backend: Arc<dyn Backend>, config: serde_json::Value, access: Access) -> FrontDoor {
        Self::with_limits(backend, config, access, Limits::default())
    }

    /// `new`, with other connection limits.
    pub fn with_limits(
        backend: Arc<dyn Backend>,
        config: serde_json::Value,
        access: Access,
        limits: Limits,
    ) -> FrontDoor {
        let (commits, _) = tokio::sync::broadcast::channel(4096);
        let waiters = Waiters::start(&backend, commits.clone());
        FrontDoor {
            inner: Arc::new(Inner {
                backend,
                waiters,
                commits,
                config,
                stop: tokio::sync::watch::Sender::new(false),
                access: Arc::new(access),
                limits,
            }),
        }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// The generic routes (see the module docs), to merge application routes into.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Converts each `(transaction, JSON input)` to the wire, sequences them together, and
    /// (with `wait`) waits for every outcome.
    pub async fn submit_json(
        &self,
        inputs: Vec<TxRequest>,
        wait: bool,
    ) -> Result<Vec<TxResult>, ApiError> {
        self.fail_if_down()?;
        let app = self.inner.backend.app();
        let mut encoded = Vec::with_capacity(inputs.len());
        for r in inputs {
            let payload = codec::input_to_wire(app, &r.transaction, r.input)?;
            encoded.push(Request {
                transaction: r.transaction,
                payload,
                id: r.id.map(|id| Arc::from(id.as_str())),
            });
        }
        let names: Vec<String> = encoded.iter().map(|r| r.transaction.clone()).collect();
        // Sequencing may wait (admission, a full link): off the async workers.
        let door = self.clone();
        let submitted = tokio::task::spawn_blocking(move || {
            let waiters = &door.inner.waiters;
            if wait {
                waiters.submit(encoded).map(Submitted::Waiting)
            } else {
                waiters.submit_detached(encoded).map(Submitted::Detached)
            }
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| self.submit_error(e))?;
        let pending = match submitted {
            Submitted::Waiting(pending) => pending,
            Submitted::Detached(tids) => {
                let results = tids
                    .into_iter()
                    .zip(names)
                    .map(|(tid, transaction)| TxResult {
                        tid,
                        transaction,
                        outcome: TxOutcome::Submitted,
                    });
                return Ok(results.collect());
            }
        };
        let (tids, mut rx) = pending;
        let wanted: std::collections::HashSet<Tid> = tids.iter().copied().collect();
        let mut got: std::collections::HashMap<Tid, Completion> = Default::default();
        let mut down = self.inner.waiters.down();
        while got.len() < wanted.len() {
            tokio::select! {
                c = rx.recv() => match c {
                    Some(c) if wanted.contains(&c.tid) => {
                        got.entry(c.tid).or_insert(c);
                    }
                    Some(_) => {}
                    // Every notifier is gone: the cluster will never complete the rest.
                    None => return Err(self.down_error()),
                },
                _ = down.wait_for(|d| *d) => return Err(self.down_error()),
            }
        }
        // Every position gets its TID's outcome (a repeated id: the same one twice).
        let results = tids.into_iter().map(|tid| {
            let completion = got.get(&tid).cloned();
            completion.map(|c| self.result(tid, c))
        });
        results
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.down_error())
    }

    /// Runs query `query` at `service` with a JSON input; answers JSON.
    pub async fn query_json(
        &self,
        service: &str,
        query: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        self.fail_if_down()?;
        let app = self.inner.backend.app();
        let def = crate::deploy::cluster::query_def(app, service, query)
            .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
        let (to_json, wire) = (def.output_json.to_json, (def.input_json.to_wire)(input));
        let wire = wire.map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("input of query `{query}` does not match its type: {e}"),
            )
        })?;
        let door = self.clone();
        let (service, query) = (service.to_string(), query.to_string());
        // A remote query blocks on the service's answer: off the async workers.
        let out = tokio::task::spawn_blocking(move || {
            door.inner.backend.query_raw(&service, &query, wire)
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| match e {
            // The service could not be asked (lost, or no answer in time): not the input's fault.
            QueryError::Remote(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            e => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        })?;
        to_json(&out).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))
    }

    /// Serves the front door with `routes` on `addr` until `POST /shutdown` (blocking; runs
    /// its own small runtime so the engine's threads stay as they are).
    pub fn serve(&self, addr: &str, routes: axum::Router) -> Result<(), String> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("the front door cannot listen on {addr}: {e}"))?;
        self.serve_on(listener, routes)
    }

    /// `serve` on a listener bound already (e.g. by `ClusterSpec::bind_loopback`).
    pub fn serve_on(
        &self,
        listener: std::net::TcpListener,
        routes: axum::Router,
    ) -> Result<(), String> {
        self.serve_with(listener, routes, None)
    }

    /// `serve_on` over TLS (`tls::server_config`): only TLS connections are served.
    pub fn serve_tls_on(
        &self,
        listener: std::net::TcpListener,
        routes: axum::Router,
        tls: Arc<rustls::ServerConfig>,
    ) -> Result<(), String> {
        self.serve_with(listener, routes, Some(tls))
    }

    fn serve_with(
        &self,
        listener: std::net::TcpListener,
        routes: axum::Router,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<(), String> {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vmodb-http")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the front door runtime: {e}"))?;
        // Every route, the application's included, behind the token check.
        let access = Arc::clone(&self.inner.access);
        let routes = routes.layer(axum::middleware::from_fn(move |request, next| {
            Arc::clone(&access).check(request, next)
        }));
        let (limits, stop) = (self.inner.limits, self.inner.stop.subscribe());
        runtime.block_on(async move {
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener))
                .map_err(|e| format!("the front door cannot listen on {addr}: {e}"))?;
            // Requests still open a while after the stop (a client that never reads its
            // answer) must not keep the process alive.
            let grace = std::time::Duration::from_secs(5);
            let tls = tls.map(tokio_rustls::TlsAcceptor::from);
            server::serve(listener, routes, limits, stop, grace, tls).await;
            Ok::<(), String>(())
        })?;
        self.inner.waiters.stop();
        Ok(())
    }

    /// Stops `serve` (and, through the backend, the cluster's other processes). Requests still
    /// waiting for a commit are answered 503; commit streams end.
    pub fn shutdown(&self) {
        self.inner.waiters.close();
        let _ = self.inner.commits.send(CommitNote::Closed);
        self.inner.backend.shutdown();
        self.inner.stop.send_replace(true);
    }

    fn fail_if_down(&self) -> Result<(), ApiError> {
        match self.inner.backend.failure() {
            Some(_) => Err(self.down_error()),
            None => Ok(()),
        }
    }

    fn down_error(&self) -> ApiError {
        let why = self.inner.backend.failure();
        let why = why.unwrap_or_else(|| "the cluster is shutting down".into());
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cluster down: {why}"),
        )
    }

    fn submit_error(&self, e: SubmitError) -> ApiError {
        match e {
            SubmitError::UnknownTransaction(_) => {
                ApiError::new(StatusCode::NOT_FOUND, e.to_string())
            }
            SubmitError::Encode { .. }
            | SubmitError::RequestIdTooLong { .. }
            | SubmitError::Invalid { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            SubmitError::ShutDown => self.down_error(),
        }
    }

    fn result(&self, tid: u64, c: Completion) -> TxResult {
        let latency_us = c.latency.as_micros() as u64;
        let outcome = match c.outcome {
            Outcome::Committed { output } => TxOutcome::Committed {
                batch: c.batch,
                output: output.and_then(|o| {
                    let app = self.inner.backend.app();
                    codec::output_to_json(app, &c.transaction, &o)
                }),
                latency_us,
            },
            Outcome::Aborted { service, error } => TxOutcome::Aborted {
                batch: c.batch,
                service,
                error: error.to_string(),
                latency_us,
            },
        };
        TxResult {
            tid,
            transaction: c.transaction.to_string(),
            outcome,
        }
    }
}
