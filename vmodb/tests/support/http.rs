//! A hand-written HTTP/1.1 client over `TcpStream` (no client library): one request per
//! connection (`Connection: close`), whole responses (plain or chunked bodies), and a reader
//! for a server-sent event stream. Every socket read has a timeout.
#![allow(dead_code)]

use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The read timeout of every socket.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let h = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        h.map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            let body = String::from_utf8_lossy(&self.body);
            panic!("not JSON ({e}): {body:?} (status {})", self.status)
        })
    }

    /// The message of an `{"error": ...}` body (and nothing else in it).
    pub fn error(&self) -> String {
        let body = self.json();
        let object = body.as_object().expect("an error body is an object");
        assert_eq!(object.len(), 1, "{body}");
        object["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {body}"))
            .to_string()
    }
}

/// The test front doors' tokens (`access()`).
pub const CLIENT_TOKEN: &str = "test-client-token-0123456789abcdef0123";
pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789abcdef01";

/// The front-door access of the tests: one client and one operator token.
pub fn access() -> vmodb::front_door::Access {
    use vmodb::front_door::{Access, Role};
    Access::default()
        .allow(Role::Client, CLIENT_TOKEN)
        .and_then(|a| a.allow(Role::Operator, OPERATOR_TOKEN))
        .expect("test tokens")
}

/// Writes an HTTP/1.1 request (`Connection: close`) with the operator's token.
pub fn send_request(stream: &mut TcpStream, method: &str, path: &str, body: Option<&str>) {
    send_request_as(stream, Some(OPERATOR_TOKEN), method, path, body)
}

/// Writes an HTTP/1.1 request (`Connection: close`) with `token`, if any.
pub fn send_request_as(
    stream: &mut TcpStream,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write request");
    if let Some(b) = body {
        stream.write_all(b.as_bytes()).expect("write body");
    }
}

/// Reads a status line and headers.
pub fn read_head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':').expect("a header");
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    (status, headers)
}

/// The next chunk of a chunked body (`None` after the last one).
pub fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    reader.read_line(&mut line).expect("chunk size");
    let size = line.trim().split(';').next().unwrap_or_default();
    let size = usize::from_str_radix(size, 16).unwrap_or_else(|_| panic!("chunk size {line:?}"));
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).expect("chunk");
    assert_eq!(&chunk[size..], b"\r\n", "chunk framing");
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

/// One request on a fresh connection, with the operator's token; the whole response.
pub fn request(addr: &str, method: &str, path: &str, body: Option<&str>) -> Response {
    request_as(addr, Some(OPERATOR_TOKEN), method, path, body)
}

/// One request on a fresh connection with `token`, if any; the whole response.
pub fn request_as(
    addr: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    send_request_as(&mut stream, token, method, path, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if chunked {
        while let Some(chunk) = read_chunk(&mut reader) {
            response.body.extend(chunk);
        }
    } else if let Some(n) = response.header("content-length") {
        let n: usize = n.parse().expect("content length");
        response.body = vec![0; n];
        reader.read_exact(&mut response.body).expect("body");
    } else {
        reader.read_to_end(&mut response.body).expect("body");
    }
    response
}

/// Follows `GET /status/committed`; yields `(event, id, data)` per event, with a timeout.
pub struct EventStream {
    reader: BufReader<TcpStream>,
    pending: String,
}

impl EventStream {
    pub fn open(addr: &str) -> EventStream {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        send_request(&mut stream, "GET", "/status/committed", None);
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        assert_eq!(status, 200, "{headers:?}");
        let header = |n: &str| {
            let h = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n));
            h.map(|(_, v)| v.clone()).unwrap_or_default()
        };
        assert!(
            header("content-type").starts_with("text/event-stream"),
            "{headers:?}"
        );
        assert!(
            header("transfer-encoding").eq_ignore_ascii_case("chunked"),
            "{headers:?}"
        );
        EventStream {
            reader,
            pending: String::new(),
        }
    }

    /// The next event's fields (comments skipped).
    pub fn next(&mut self) -> Vec<(String, String)> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let event: String = self.pending.drain(..end + 2).collect();
                let fields: Vec<(String, String)> = event
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with(':'))
                    .map(|l| {
                        let (k, v) = l.split_once(':').unwrap_or((l, ""));
                        (k.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string())
                    })
                    .collect();
                if !fields.is_empty() {
                    return fields;
                }
                continue;
            }
            let chunk = read_chunk(&mut self.reader).expect("the stream ended");
            self.pending
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
        }
    }
}

/// The value of field `name` of an event (panics if it has none).
pub fn field<'a>(event: &'a [(String, String)], name: &str) -> &'a str {
    let f = event.iter().find(|(k, _)| k == name);
    f.map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no `{name}` in {event:?}"))
}
