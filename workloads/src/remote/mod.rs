//! A client of a vMODB cluster's HTTP front door (reqwest): submits JSON transactions, runs
//! queries, and reads status, tables, state and committed inputs. Workloads use it to run
//! against a cluster in other processes (`vbench run --deploy processes` or `--target URL`).
//!
//! Requests in flight run on the client's own small runtime; the driver stays synchronous and
//! hears of each answer through a callback.

mod retry;

pub use retry::Retry;

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};
use vmodb::front_door::{ErrorBody, Status, TxRequest, TxResult};
use vmodb::{App, ClusterState, Entity, NodeStats, SequencedInput};

/// Why a request failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RemoteError {
    /// The cluster cannot serve: the front door is unreachable or says a node was lost (503).
    #[error("cluster down: {0}")]
    Down(String),
    /// The front door refused the request (4xx) with this message.
    #[error("refused ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// An answer that does not decode.
    #[error("bad answer: {0}")]
    Decode(String),
}

impl RemoteError {
    pub fn is_down(&self) -> bool {
        matches!(self, RemoteError::Down(_))
    }
}

/// A front-door bearer token (printed as `Token(..)`, never its value).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into().trim().to_string())
    }

    /// The token in file `path`: its first line that is neither blank nor a `#` comment,
    /// either the token alone or a tokens-file line `<role> <token>`. Errors name the file,
    /// never its contents.
    pub fn read(path: &std::path::Path) -> Result<Token, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        Self::of_file_text(&text)
            .ok_or_else(|| format!("the token file {} is empty", path.display()))
    }

    fn of_file_text(text: &str) -> Option<Token> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))?;
        // A role is a separate word: a token that merely begins with one is kept whole.
        let token = match line.split_once(char::is_whitespace) {
            Some(("client" | "operator", token)) => token,
            _ => line,
        };
        Some(Token::new(token))
    }

    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// What a client of the front door shows and trusts: its bearer token, and for an `https://`
/// front door the PEM certificate of the authority that signed the front door's (or that
/// certificate itself, when self-signed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAuth {
    pub token: Option<Token>,
    pub ca: Option<std::path::PathBuf>,
}

impl ClientAuth {
    pub fn token(token: Token) -> ClientAuth {
        ClientAuth {
            token: Some(token),
            ca: None,
        }
    }
}

/// The client's TLS settings: the roots in `ca` (none without it, so an `https://` front door
/// needs one), ring as the crypto provider.
fn tls_config(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .and_then(|c| c.collect())
            .map_err(|e| format!("CA certificate {}: {e}", ca.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate {}: {e}", ca.display()))?;
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(vmodb::front_door::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub struct FrontDoorClient {
    base: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl FrontDoorClient {
    /// A client of the front door at `base` (e.g. `http://127.0.0.1:8080`, or `https://...`
    /// with `auth.ca`) keeping up to `connections` connections open, sending `auth.token` with
    /// every request.
    pub fn new(base: &str, connections: usize, auth: &ClientAuth) -> Result<Self, String> {
        if base.starts_with("https://") && auth.ca.is_none() {
            return Err(format!(
                "{base}: an https front door needs the certificate to trust (--ca-file or \
                 VMODB_CA_FILE)"
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("front-door-client")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the HTTP client runtime: {e}"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &auth.token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.0))
                .map_err(|_| "the front-door token has characters a header cannot carry")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(auth.ca.as_deref())?)
            .default_headers(headers)
            .no_proxy()
            // Idle connections are dropped before the front door's header timeout closes
            // them, so a request never goes out on a connection being closed.
            .pool_idle_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(connections.max(1))
            .tcp_nodelay(true)
            // A front door restarting on a socket its supervisor keeps bound accepts
            // connections before it serves them: never wait long for one.
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(FrontDoorClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            runtime,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Submits `requests` (sequenced together, in order) and calls `done` with their outcomes
    /// once they committed; returns at once.
    pub fn spawn_submit(
        &self,
        requests: Vec<TxRequest>,
        done: impl FnOnce(Result<Vec<TxResult>, RemoteError>) + Send + 'static,
    ) {
        let post = self.http.post(format!("{}/transactions", self.base));
        self.runtime.spawn(async move {
            let result = async { decode_json(post.json(&requests).send().await).await };
            done(result.await);
        });
    }

    /// Submits `requests` with `?wait=false`: `done` gets their TIDs (outcome `submitted`) as
    /// soon as they are sequenced; returns at once.
    pub fn spawn_submit_detached(
        &self,
        requests: Vec<TxRequest>,
        done: impl FnOnce(Result<Vec<TxResult>, RemoteError>) + Send + 'static,
    ) {
        let post = self
            .http
            .post(format!("{}/transactions?wait=false", self.base));
        self.runtime.spawn(async move {
            let result = async { decode_json(post.json(&requests).send().await).await };
            done(result.await);
        });
    }

    /// Sends `calls` (method, path, JSON body) one after another, each once the previous one
    /// was answered, and calls `done` with each answer's status and JSON body (`null` when it
    /// has none) and when the last call was sent; returns at once. A call the front door does
    /// not answer (unreachable, or 503: the cluster is down) ends the sequence with its error.
    pub fn spawn_calls(
        &self,
        calls: Vec<(reqwest::Method, String, Option<serde_json::Value>)>,
        done: impl FnOnce(Result<Vec<(u16, serde_json::Value)>, RemoteError>, Instant) + Send + 'static,
    ) {
        let (http, base) = (self.http.clone(), self.base.clone());
        self.runtime.spawn(async move {
            let mut answers = Vec::with_capacity(calls.len());
            let mut last_sent = Instant::now();
            for (method, path, body) in calls {
                last_sent = Instant::now();
                let mut request = http.request(method, format!("{base}{path}"));
                if let Some(body) = &body {
                    request = request.json(body);
                }
                match call_answer(request.send().await).await {
                    Ok(answer) => answers.push(answer),
                    Err(e) => return done(Err(e), last_sent),
                }
            }
            done(Ok(answers), last_sent);
        });
    }

    /// One call as `spawn_calls` makes it, waiting for its answer.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), RemoteError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = &body {
            request = request.json(body);
        }
        self.runtime
            .block_on(async { call_answer(request.send().await).await })
    }

    /// The last submitted and the last committed TID, as the benchmark's vMODB driver polls
    /// them (`GET /status/submitted` and `/status/committed` with `Accept:
    /// application/octet-stream`: 8 bytes, a little-endian i64); `None` for one that did not
    /// answer so.
    pub fn submitted_and_committed(&self) -> (Option<u64>, Option<u64>) {
        let tid = |path: &str| {
            let get = self
                .http
                .get(format!("{}{path}", self.base))
                .header(reqwest::header::ACCEPT, "application/octet-stream");
            self.runtime.block_on(async {
                let r = check(get.send().await.ok()?).await.ok()?;
                let bytes: [u8; 8] = r.bytes().await.ok()?.as_ref().try_into().ok()?;
                u64::try_from(i64::from_le_bytes(bytes)).ok()
            })
        };
        (tid("/status/submitted"), tid("/status/committed"))
    }

    /// Follows the commit stream (`GET /status/committed`, server-sent events) in the
    /// background, calling `on_commit` with each committed batch's last TID, and reconnecting
    /// when the stream ends (a restarted cluster), until `on_commit` returns false.
    pub fn follow_commits(&self, on_commit: impl Fn(vmodb::Tid) -> bool + Send + 'static) {
        let (http, url) = (self.http.clone(), format!("{}/status/committed", self.base));
        self.runtime.spawn(async move {
            loop {
                if let Ok(mut r) = http.get(&url).send().await {
                    let mut text = String::new();
                    while let Ok(Some(chunk)) = r.chunk().await {
                        text.push_str(&String::from_utf8_lossy(&chunk));
                        // Events end with a blank line; a `batch` event's data is its max TID.
                        while let Some(end) = text.find("\n\n") {
                            let event: String = text.drain(..end + 2).collect();
                            let field = |name: &str| {
                                event.lines().find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    (k == name).then(|| v.trim().to_string())
                                })
                            };
                            let is_batch = field("event").as_deref() == Some("batch");
                            let tid = field("data").and_then(|d| d.parse().ok());
                            if let (true, Some(tid)) = (is_batch, tid)
                                && !on_commit(tid)
                            {
                                return;
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    /// Runs query `query` at `service` and calls `done` with the answer; returns at once.
    pub fn spawn_query<In: Serialize, Out: DeserializeOwned + Send + 'static>(
        &self,
        service: &str,
        query: &str,
        input: &In,
        done: impl FnOnce(Result<Out, RemoteError>) + Send + 'static,
    ) {
        let post = self
            .http
            .post(format!("{}/queries/{service}/{query}", self.base))
            .json(input);
        self.runtime.spawn(async move {
            done(decode_json(post.send().await).await);
        });
    }

    /// Submits `requests` and waits for their outcomes.
    pub fn submit(&self, requests: Vec<TxRequest>) -> Result<Vec<TxResult>, RemoteError> {
        let post = self.http.post(format!("{}/transactions", self.base));
        self.runtime
            .block_on(async { decode_json(post.json(&requests).send().await).await })
    }

    pub fn status(&self) -> Result<Status, RemoteError> {
        self.get_json("/status")
    }

    /// Every node's counters (traffic, mode checker, refusals), summed.
    pub fn node_stats(&self) -> Result<NodeStats, RemoteError> {
        self.get_json("/nodes")
    }

    /// What the cluster was started with (`GET /config`).
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, RemoteError> {
        self.get_json("/config")
    }

    /// Waits until nothing is in flight, or `timeout`.
    pub fn wait_idle(&self, timeout: Duration) -> Result<bool, RemoteError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status()?.in_flight == 0 {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every row of service `service`'s table of `E`, in key order.
    pub fn read_table<E: Entity>(&self, app: &App, service: &str) -> Result<Vec<E>, RemoteError> {
        let table = app
            .table_name_of::<E>(service)
            .map_err(|e| RemoteError::Decode(e.to_string()))?;
        let rows: Vec<Vec<u8>> = self.get_postcard(&format!("/tables/{service}/{table}"))?;
        rows.iter()
            .map(|r| postcard::from_bytes(r).map_err(|e| RemoteError::Decode(e.to_string())))
            .collect()
    }

    pub fn state(&self) -> Result<ClusterState, RemoteError> {
        self.get_postcard("/state")
    }

    pub fn committed_inputs(&self) -> Result<Vec<SequencedInput>, RemoteError> {
        self.get_postcard("/inputs")
    }

    /// Stops the cluster.
    pub fn shutdown(&self) -> Result<(), RemoteError> {
        let post = self.http.post(format!("{}/shutdown", self.base));
        self.runtime.block_on(async {
            let r = post.send().await.map_err(unreachable)?;
            check(r).await.map(|_| ())
        })
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        let get = self.http.get(format!("{}{path}", self.base));
        self.runtime
            .block_on(async { decode_json(get.send().await).await })
    }

    fn get_postcard<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        let get = self.http.get(format!("{}{path}", self.base));
        self.runtime.block_on(async {
            let r = check(get.send().await.map_err(unreachable)?).await?;
            let bytes = r.bytes().await.map_err(unreachable)?;
            postcard::from_bytes(&bytes).map_err(|e| RemoteError::Decode(e.to_string()))
        })
    }
}

fn unreachable(e: reqwest::Error) -> RemoteError {
    RemoteError::Down(format!("the front door is unreachable: {e}"))
}

/// A 2xx answer, or the front door's error.
async fn check(r: reqwest::Response) -> Result<reqwest::Response, RemoteError> {
    let status = r.status();
    if status.is_success() {
        return Ok(r);
    }
    let text = r.text().await.unwrap_or_default();
    let message = serde_json::from_str::<ErrorBody>(&text).map_or(text, |b| b.error);
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        Err(RemoteError::Down(message))
    } else {
        Err(RemoteError::Rejected {
            status: status.as_u16(),
            message,
        })
    }
}

/// Any answer but a 503: its status and JSON body (`null` when empty or not JSON).
async fn call_answer(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, serde_json::Value), RemoteError> {
    let r = sent.map_err(unreachable)?;
    let status = r.status();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return check(r).await.map(|_| (503, serde_json::Value::Null));
    }
    let bytes = r.bytes().await.map_err(unreachable)?;
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok((status.as_u16(), body))
}

async fn decode_json<T: DeserializeOwned>(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, RemoteError> {
    let r = check(sent.map_err(unreachable)?).await?;
    let bytes = r.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&bytes).map_err(|e| RemoteError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn a_token_file_holds_a_token_alone_or_a_role_and_a_token() {
        let read = |text: &str| Token::of_file_text(text).map(|t| t.secret().to_string());
        assert_eq!(read("# ours\n\n  abc123  \n").as_deref(), Some("abc123"));
        assert_eq!(
            read("operator  abc123\nclient def").as_deref(),
            Some("abc123")
        );
        // A token that begins with a role's name is not cut.
        assert_eq!(read("operatorabc123").as_deref(), Some("operatorabc123"));
        assert_eq!(read("client-7f3e").as_deref(), Some("client-7f3e"));
        assert_eq!(read("# nothing\n"), None);
    }
}
