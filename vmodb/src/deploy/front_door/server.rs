//! The front door's connection loop (hyper's HTTP/1 under axum's router), written out so that
//! no client can take the front door away from the others:
//! - a request's headers must arrive within `Limits::header_timeout` (slowloris), which also
//!   closes a keep-alive connection idle that long;
//! - at most `Limits::max_connections` are open; a newcomer past the cap closes the oldest
//!   connection that has no request in progress (an idle or slow one), so a flood of idle
//!   connections cannot shut out a client that asks something, and when every connection is
//!   busy the newcomer gets a 503 at once;
//! - accepting never stops on an error (out of file handles: the oldest idle one is closed);
//! - with TLS, the handshake must finish within the header timeout too.

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// The front door's resource limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at most (keep it well under the process's file-handle limit).
    pub max_connections: usize,
    /// A request's headers (and a keep-alive connection's next request) must arrive within this.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(20),
        }
    }
}

/// One open connection: how many of its requests are in progress, and how to close it.
#[derive(Default)]
struct Connection {
    busy: AtomicUsize,
    close: Notify,
}

/// Every open connection, oldest first.
#[derive(Default)]
struct Open {
    next: u64,
    connections: BTreeMap<u64, Arc<Connection>>,
}

impl Open {
    /// Closes the oldest connection with no request in progress; false if every one is busy.
    fn evict_idle(&mut self) -> bool {
        let idle = self
            .connections
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match idle.and_then(|id| self.connections.remove(&id)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A request in progress on a connection (it is not idle meanwhile).
struct Busy(Arc<Connection>);

impl Busy {
    fn enter(c: &Arc<Connection>) -> Busy {
        c.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(c))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `routes` on `listener` until `stop` turns true, then lets open requests finish for
/// up to `grace`.
pub(super) async fn serve(
    listener: TcpListener,
    routes: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = stopped(&mut stop) => break,
        };
        while tasks.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file handles (or a connection reset before it was accepted): make
                // room if there is an idle one to close, and go on.
                if !open.lock().evict_idle() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = {
            let mut open = open.lock();
            if open.connections.len() >= limits.max_connections && !open.evict_idle() {
                None
            } else {
                let c = Arc::new(Connection::default());
                open.next += 1;
                let id = open.next;
                open.connections.insert(id, Arc::clone(&c));
                Some((id, c))
            }
        };
        let Some((id, connection)) = connection else {
            tasks.spawn(refuse_busy(stream));
            continue;
        };
        let (routes, open, stop) = (routes.clone(), Arc::clone(&open), stop.clone());
        let tls = tls.clone();
        tasks.spawn(async move {
            match tls {
                None => serve_connection(stream, routes, limits, &connection, stop).await,
                Some(tls) => {
                    let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(stream));
                    tokio::select! {
                        shaken = handshake => {
                            if let Ok(Ok(stream)) = shaken {
                                serve_connection(stream, routes, limits, &connection, stop).await;
                            }
                        }
                        () = connection.close.notified() => {}
                    }
                }
            }
            open.lock().connections.remove(&id);
        });
    }
    drop(listener);
    // Stopping: each connection finishes its requests in progress (graceful), up to `grace`.
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
}

async fn serve_connection<S>(
    stream: S,
    routes: Router,
    limits: Limits,
    connection: &Arc<Connection>,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let tower = TowerToHyperService::new(routes);
    let on = Arc::clone(connection);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::enter(&on);
        let answer = hyper::service::Service::call(&tower, request);
        async move {
            let answer = answer.await;
            drop(busy);
            answer
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = connection.close.notified() => {}
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves once `stop` is true (its guard is not held across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Every connection is busy: say so and close, rather than leave the client waiting.
async fn refuse_busy(mut stream: TcpStream) {
    let body = r#"{"error":"the front door is at its connection limit; try again"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(busy: &[usize]) -> Open {
        let mut open = Open::default();
        for &b in busy {
            open.next += 1;
            let c = Arc::new(Connection::default());
            c.busy.store(b, Ordering::Release);
            open.connections.insert(open.next, c);
        }
        open
    }

    #[test]
    fn the_oldest_idle_connection_makes_room_and_busy_ones_never_do() {
        let mut o = open(&[1, 0, 2, 0]);
        assert!(o.evict_idle());
        assert_eq!(o.connections.keys().copied().collect::<Vec<_>>(), [1, 3, 4]);
        assert!(o.evict_idle());
        assert_eq!(o.connections.keys().copied().collect::<Vec<_>>(), [1, 3]);
        assert!(!o.evict_idle(), "every connection left is busy");
        assert_eq!(o.connections.len(), 2);
    }
}
