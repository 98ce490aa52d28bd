//! The generic routes (listed in the module docs of `front_door`).

use super::{ApiError, CommitNote, FrontDoor, Status, TxRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::convert::Infallible;

pub(super) fn router(door: FrontDoor) -> Router {
    Router::new()
        .route("/transactions", post(transactions))
        .route("/status", get(status))
        .route("/status/committed", get(committed))
        .route("/status/submitted", get(submitted))
        .route("/queries/{service}/{query}", post(query))
        .route("/state", get(state))
        .route("/inputs", get(inputs))
        .route("/tables/{service}/{table}", get(table))
        .route("/nodes", get(nodes))
        .route("/config", get(config))
        .route("/shutdown", post(shutdown))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .with_state(door)
}

/// A JSON body: 400 when it is not JSON (or missing), 422 when it has the wrong shape.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing JSON body"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, format!("malformed JSON body: {e}"))
    })
}

/// `?wait=true|false` (also `1`/`0`; default true); a bad value is a 400 that says so.
pub fn wait_param(query: Option<&str>) -> Result<bool, ApiError> {
    wait_param_or(query, true)
}

/// `wait_param` with `default` when the query does not say.
pub fn wait_param_or(query: Option<&str>, default: bool) -> Result<bool, ApiError> {
    let mut wait = default;
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "wait" {
            wait = match value {
                "true" | "1" | "" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "query parameter `wait` must be true or false, got `{value}`"
                    )));
                }
            };
        }
    }
    Ok(wait)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(TxRequest),
    Many(Vec<TxRequest>),
}

async fn transactions(
    State(door): State<FrontDoor>,
    role: Option<axum::Extension<super::Role>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let wait = wait_param(query.as_deref())?;
    let body: serde_json::Value = parse_json(&body)?;
    let many = body.is_array();
    let requests = match serde_json::from_value::<OneOrMany>(body) {
        Ok(OneOrMany::One(r)) => vec![r],
        Ok(OneOrMany::Many(rs)) => rs,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "expected {\"transaction\": NAME, \"input\": {...}} or an array of them",
            ));
        }
    };
    if requests.is_empty() {
        return Err(ApiError::bad_request("no transaction in the request"));
    }
    let operator = role.is_some_and(|axum::Extension(r)| r >= super::Role::Operator);
    let app = door.backend().app();
    if let Some(r) = requests
        .iter()
        .find(|r| !operator && app.is_operator_only(&r.transaction))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "transaction `{}` is for the operator's token",
                r.transaction
            ),
        ));
    }
    let mut results = door.submit_json(requests, wait).await?;
    let status = if wait {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(match (many, results.pop()) {
        (false, Some(one)) => (status, axum::Json(one)).into_response(),
        (_, last) => {
            results.extend(last);
            (status, axum::Json(results)).into_response()
        }
    })
}

async fn status(State(door): State<FrontDoor>) -> axum::Json<Status> {
    let stats = door.backend().stats();
    // Durable outcomes only: a commit decided but never made durable (the log failed) was
    // never announced, and is not counted.
    let settled = stats.settled.min(stats.sequenced);
    axum::Json(Status {
        submitted: stats.sequenced,
        committed: settled,
        aborted: stats.rollback.aborted,
        in_flight: stats.sequenced - settled,
        last_committed_batch: stats.last_committed_batch,
        failure: door.backend().failure(),
        last_checkpoint: stats.last_checkpoint,
        recovered: stats.recovered,
        lost_tids: stats.lost_tids,
        committed_tid: stats.committed_tid,
    })
}

/// The last TID handed out, as the benchmark's vMODB driver polls it: with `Accept:
/// application/octet-stream`, 8 bytes (a little-endian i64); else a bare JSON number. The
/// driver waits until it equals the last committed TID (`/status/committed`).
async fn submitted(State(door): State<FrontDoor>, headers: axum::http::HeaderMap) -> Response {
    let tid = door.backend().stats().last_tid;
    tid_answer(tid, wants(&headers, "application/octet-stream"))
}

/// The commit stream (SSE), or, to a client that asks for bytes, JSON or text and not for an
/// event stream, the last TID of the last commit announced (as `submitted` answers).
async fn committed(State(door): State<FrontDoor>, headers: axum::http::HeaderMap) -> Response {
    let octets = wants(&headers, "application/octet-stream");
    let number = ["application/json", "text/plain"]
        .iter()
        .any(|t| wants(&headers, t));
    if (octets || number) && !wants(&headers, "text/event-stream") {
        return tid_answer(door.backend().stats().committed_tid, octets);
    }
    committed_stream(door).into_response()
}

/// Whether the request's `Accept` names `media`.
fn wants(headers: &axum::http::HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|a| a.to_str().ok())
        .any(|a| a.contains(media))
}

fn tid_answer(tid: crate::model::schema::Tid, octets: bool) -> Response {
    if octets {
        let bytes = (tid as i64).to_le_bytes().to_vec();
        ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
    } else {
        axum::Json(tid).into_response()
    }
}

fn committed_stream(
    door: FrontDoor,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let rx = door.inner.commits.subscribe();
    let events = futures::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(CommitNote::Batch { batch, max_tid }) => {
                    let e = Event::default()
                        .event("batch")
                        .id(batch.to_string())
                        .data(max_tid.to_string());
                    return Some((Ok(e), (rx, false)));
                }
                Ok(CommitNote::Failed(why)) => {
                    let e = Event::default().event("error").data(why);
                    return Some((Ok(e), (rx, true)));
                }
                // A slow reader missed some batches; later ones still tell the last TID.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Ok(CommitNote::Closed) | Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return None;
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

async fn query(
    State(door): State<FrontDoor>,
    Path((service, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let input: serde_json::Value = parse_json(&body)?;
    door.query_json(&service, &name, input)
        .await
        .map(axum::Json)
}

fn postcard_body<T: serde::Serialize>(value: &T) -> Result<Response, ApiError> {
    let bytes = postcard::to_allocvec(value)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Runs a blocking backend call off the async workers; its error is a 503 (a lost node).
async fn blocking<T: Send + 'static>(
    door: &FrontDoor,
    f: impl FnOnce(&FrontDoor) -> Result<T, String> + Send + 'static,
) -> Result<T, ApiError> {
    let door = door.clone();
    tokio::task::spawn_blocking(move || f(&door))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))
}

async fn state(State(door): State<FrontDoor>) -> Result<Response, ApiError> {
    let state = blocking(&door, |d| d.backend().state()).await?;
    postcard_body(&state)
}

async fn inputs(State(door): State<FrontDoor>) -> Result<Response, ApiError> {
    postcard_body(&door.backend().committed_inputs())
}

async fn table(
    State(door): State<FrontDoor>,
    Path((service, table)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    match door.backend().app().table_names(&service) {
        None => {
            let e = format!("unknown service `{service}`");
            return Err(ApiError::new(StatusCode::NOT_FOUND, e));
        }
        Some(tables) if !tables.contains(&table.as_str()) => {
            let e = format!(
                "service `{service}` has no table `{table}` (it has: {})",
                tables.join(", ")
            );
            return Err(ApiError::new(StatusCode::NOT_FOUND, e));
        }
        Some(_) => {}
    }
    let rows = blocking(&door, move |d| {
        d.backend()
            .table_raw(&service, &table)
            .map_err(|e| e.to_string())
    })
    .await?;
    postcard_body(&rows)
}

async fn nodes(State(door): State<FrontDoor>) -> Result<Response, ApiError> {
    let t = blocking(&door, |d| d.backend().node_stats()).await?;
    Ok(axum::Json(t).into_response())
}

async fn config(State(door): State<FrontDoor>) -> axum::Json<serde_json::Value> {
    axum::Json(door.inner.config.clone())
}

async fn shutdown(State(door): State<FrontDoor>) -> StatusCode {
    // Stopping sends to every node (which may wait on a link): off the async workers.
    let _ = tokio::task::spawn_blocking(move || door.shutdown()).await;
    StatusCode::ACCEPTED
}
