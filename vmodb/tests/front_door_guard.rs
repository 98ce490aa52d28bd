//! Who may use the front door, and how much of it a client can take: bearer tokens in two roles
//! (no token 401, a client's token on an operator route 403), connection limits under which
//! a flood of idle or slow connections leaves `/status` answering and a slow header is cut off,
//! and TLS (only TLS is served, tokens still checked).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::door::Server;
use support::http::{CLIENT_TOKEN, OPERATOR_TOKEN, request_as};
use support::watch::watchdog;
use vmodb::front_door::Limits;

const CHECKOUT: &str =
    r#"{"transaction": "checkout", "input": {"order_id": 1, "customer": 1, "item": 1, "qty": 1}}"#;

#[test]
fn tokens_decide_who_may_do_what() {
    watchdog(Duration::from_secs(30), || {
        let server = Server::start();
        let addr = server.addr.as_str();
        let call = |token, method, path, body| request_as(addr, token, method, path, body);
        // No token, or one the front door does not know: 401, whatever the route.
        for token in [None, Some("Bearer-less-and-unknown-0123456789abcdef")] {
            for (method, path, body) in [
                ("POST", "/shutdown", None),
                ("GET", "/state", None),
                ("GET", "/config", None),
                ("GET", "/status", None),
                ("POST", "/transactions", Some(CHECKOUT)),
                ("GET", "/no/such/route", None),
            ] {
                let r = call(token, method, path, body);
                assert_eq!(r.status, 401, "{method} {path} with {token:?}: {r:?}");
                assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{r:?}");
                assert!(r.error().contains("bearer token"), "{r:?}");
            }
        }
        // A client submits, queries and reads the status; the operator's routes are 403.
        let client = Some(CLIENT_TOKEN);
        assert_eq!(
            call(client, "POST", "/transactions", Some(CHECKOUT)).status,
            200
        );
        assert_eq!(call(client, "GET", "/status", None).status, 200);
        for (method, path) in [
            ("POST", "/shutdown"),
            ("GET", "/state"),
            ("GET", "/inputs"),
            ("GET", "/nodes"),
            ("GET", "/config"),
            ("GET", "/tables/billing/accounts"),
        ] {
            let r = call(client, method, path, None);
            assert_eq!(r.status, 403, "{method} {path}: {r:?}");
        }
        assert!(
            server.served.try_recv().is_err(),
            "a client stopped the front door"
        );
        // The operator reads everything and stops the cluster.
        let operator = Some(OPERATOR_TOKEN);
        assert_eq!(call(operator, "GET", "/state", None).status, 200);
        assert_eq!(call(operator, "GET", "/config", None).status, 200);
        assert_eq!(call(operator, "POST", "/shutdown", None).status, 202);
        let served = server.served.recv_timeout(Duration::from_secs(10));
        assert_eq!(served, Ok(Ok(())));
    });
}

/// With an anonymous role, a request without a token gets it (a client here: it submits and
/// reads the status, not the operator's routes); a wrong token is still a 401. The driver's
/// completion check: the last submitted and committed TIDs as 8 little-endian bytes (as the
/// benchmark's vMODB driver asks for them) or JSON numbers, equal once everything committed,
/// while `/status/committed` stays the event stream by default.
#[test]
fn token_less_requests_get_the_anonymous_role() {
    watchdog(Duration::from_secs(30), || {
        let server = Server::start_anonymous();
        let addr = server.addr.as_str();
        let call = |token, method, path, body| request_as(addr, token, method, path, body);
        assert_eq!(
            call(None, "POST", "/transactions", Some(CHECKOUT)).status,
            200
        );
        assert_eq!(call(None, "GET", "/status", None).status, 200);
        for (method, path) in [("GET", "/state"), ("POST", "/shutdown")] {
            assert_eq!(
                call(None, method, path, None).status,
                403,
                "{method} {path}"
            );
        }
        let wrong = Some("a-token-nobody-gave-out-0123456789abcdef");
        assert_eq!(call(wrong, "GET", "/status", None).status, 401);
        assert_eq!(
            call(Some(OPERATOR_TOKEN), "GET", "/state", None).status,
            200
        );

        let raw = |path: &str, accept: &str| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            )
            .expect("write");
            let mut head = vec![0u8; 4096];
            let n = s.read(&mut head).expect("read");
            head.truncate(n);
            head
        };
        let text = |path: &str, accept: &str| {
            String::from_utf8_lossy(&raw(path, accept)).to_ascii_lowercase()
        };
        let number = |path: &str| -> u64 {
            let answer = text(path, "application/json");
            let body = answer.split_once("\r\n\r\n").expect("a body").1;
            body.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{path}: {answer}"))
        };
        assert_eq!(number("/status/submitted"), 1);
        assert_eq!(number("/status/committed"), 1);
        for path in ["/status/submitted", "/status/committed"] {
            let answer = raw(path, "application/octet-stream");
            let at = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a head");
            assert_eq!(&answer[at + 4..], &1i64.to_le_bytes(), "{path}");
        }
        let stream = text("/status/committed", "text/event-stream");
        assert!(
            stream.contains("content-type: text/event-stream"),
            "{stream}"
        );
    });
}

/// Request ids are remembered (and logged with durability): one over 256 bytes is refused
/// with 422 before anything is sequenced; one of 256 bytes runs.
#[test]
fn a_request_id_is_at_most_256_bytes() {
    watchdog(Duration::from_secs(30), || {
        let server = Server::start();
        let with_id = |order: u64, id: String| {
            serde_json::json!({
                "transaction": "checkout",
                "input": {"order_id": order, "customer": 1, "item": 1, "qty": 1},
                "id": id,
            })
        };
        let r = server.post_json("/transactions", &with_id(1, "x".repeat(1 << 20)));
        assert_eq!(r.status, 422, "{:?}", r.status);
        assert!(
            r.error().contains("over the 256-byte limit"),
            "{}",
            r.error()
        );
        let r = server.post_json("/transactions", &with_id(2, "x".repeat(257)));
        assert_eq!(r.status, 422, "{:?}", r.status);
        let r = server.post_json("/transactions", &with_id(3, "y".repeat(256)));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(server.status()["submitted"], 1);
    });
}

/// Far more idle connections than the cap, and slow ones that never finish their headers: a
/// client that asks `/status` is still answered, at once.
#[test]
fn idle_and_slow_connections_leave_status_answering() {
    watchdog(Duration::from_secs(60), || {
        let limits = Limits {
            max_connections: 64,
            header_timeout: Duration::from_secs(30),
        };
        let server = Server::start_limited(support::util::config_ms(2, 64), limits);
        let addr = server.addr.as_str();
        let mut held = Vec::new();
        for i in 0..400 {
            let mut s = TcpStream::connect(addr).expect("connect");
            if i % 4 == 0 {
                // Slowloris: a request line and half a header, never finished.
                s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .expect("write");
            }
            held.push(s);
        }
        let started = Instant::now();
        let r = request_as(addr, Some(CLIENT_TOKEN), "GET", "/status", None);
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{r:?}");
        assert!(took < Duration::from_secs(3), "/status took {took:?}");
        // The oldest of them were closed to make room.
        let mut first = &held[1];
        first
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        assert!(
            matches!(first.read(&mut [0u8; 1]), Ok(0) | Err(_)),
            "the oldest idle connection is still open"
        );
    });
}

/// A request whose headers do not arrive within the header timeout loses its connection,
/// however steadily it trickles.
#[test]
fn a_slow_header_is_cut_off() {
    watchdog(Duration::from_secs(60), || {
        let limits = Limits {
            header_timeout: Duration::from_secs(1),
            ..Limits::default()
        };
        let server = Server::start_limited(support::util::config_ms(2, 64), limits);
        let mut s = TcpStream::connect(&server.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
            .expect("write");
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "a trickling header kept its connection for 20 s"
            );
            if s.write_all(b"X-A: b\r\n").is_err() {
                break;
            }
            match s.read(&mut [0u8; 64]) {
                Ok(_) => break, // closed, or a 408 before closing
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
    });
}

/// A self-signed certificate for 127.0.0.1, as the server's config and the client's root.
fn self_signed() -> (std::sync::Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let dir = std::env::temp_dir().join(format!("vmodb-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).expect("cert file");
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).expect("key file");
    let config = vmodb::front_door::tls::server_config(&cert_file, &key_file).expect("TLS config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let _ = std::fs::remove_dir_all(&dir);
    (config, roots)
}

/// `GET path` over TLS with `token`, if any: the status code.
fn get_tls(addr: &str, roots: &rustls::RootCertStore, token: Option<&str>, path: &str) -> u16 {
    let config = rustls::ClientConfig::builder_with_provider(vmodb::front_door::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).expect("write over TLS");
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer over TLS: {text:?}"))
}

#[test]
fn a_tls_front_door_serves_only_tls_and_still_checks_tokens() {
    watchdog(Duration::from_secs(30), || {
        let (config, roots) = self_signed();
        let server = Server::start_tls(config);
        assert_eq!(
            get_tls(&server.addr, &roots, Some(CLIENT_TOKEN), "/status"),
            200
        );
        assert_eq!(get_tls(&server.addr, &roots, None, "/status"), 401);
        assert_eq!(
            get_tls(&server.addr, &roots, Some(CLIENT_TOKEN), "/state"),
            403
        );
        // Plain HTTP on the TLS port gets no HTTP answer.
        let mut plain = TcpStream::connect(&server.addr).expect("connect");
        plain
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        plain
            .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    });
}
