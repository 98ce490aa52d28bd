//! The handshake that opens every link, both sides (protocol in `auth.rs`):
//!
//! ```text
//! connector → acceptor   Hello { from, identity, nonce_c }
//! acceptor  → connector  Challenge { nonce_a, MAC(key, "accept", hello, nonce_a, acceptor) }
//!                        (or Refused: not a vmodb node, another protocol version)
//! connector → acceptor   Proof { MAC(key, "connect", hello, nonce_a) }
//! acceptor  → connector  Welcome | Refused(reason)
//! ```
//!
//! The whole handshake has one deadline (`HANDSHAKE_TIMEOUT`), not one per read, so a peer
//! that trickles a byte at a time cannot hold a node's thread for longer.

use super::auth::{ClusterKey, random_bytes};
use super::frame::{self, Hello, HelloReply, Identity, MAX_HELLO, Proof};
use crate::runtime::message::NodeId;
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

const ACCEPT: &str = "vmodb-accept";
const CONNECT: &str = "vmodb-connect";

/// What a node proves and claims at a handshake.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub me: NodeId,
    pub identity: Identity,
    pub key: ClusterKey,
}

/// Why a handshake did not open a link.
#[derive(Debug)]
pub enum HandshakeError {
    /// The socket failed, timed out, or closed.
    Io(io::Error),
    /// The other end refused, saying why.
    Refused(String),
    /// The other end did not prove it holds the cluster key, or broke the protocol.
    Untrusted(String),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Io(e) => write!(f, "{e}"),
            HandshakeError::Refused(r) => write!(f, "refused: {r}"),
            HandshakeError::Untrusted(r) => write!(f, "{r}"),
        }
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

/// The connecting side: says hello, checks that the acceptor is node `peer` holding the key,
/// proves this node holds it, and reads the verdict.
pub fn connect(
    stream: &mut TcpStream,
    me: &Credentials,
    peer: NodeId,
    deadline: Instant,
) -> Result<(), HandshakeError> {
    let hello = Hello::new(me.me, me.identity);
    let mut buf = Vec::new();
    frame::write_value(stream, &hello, &mut buf)?;
    let hello = postcard::to_allocvec(&hello).map_err(io::Error::other)?;
    let (nonce, proof) = match read_reply(stream, deadline)? {
        HelloReply::Challenge { nonce, proof } => (nonce, proof),
        HelloReply::Refused(reason) => return Err(HandshakeError::Refused(reason)),
        HelloReply::Welcome => {
            return Err(HandshakeError::Untrusted(
                "it welcomed this node without proving it holds the cluster key".into(),
            ));
        }
    };
    let peer_id = postcard::to_allocvec(&peer).map_err(io::Error::other)?;
    if !me.key.verify(ACCEPT, &[&hello, &nonce, &peer_id], &proof) {
        return Err(HandshakeError::Untrusted(
            "it did not prove it holds this cluster's key (another key file, or not this \
             cluster's node at that address)"
                .into(),
        ));
    }
    let proof = me.key.prove(CONNECT, &[&hello, &nonce]);
    frame::write_value(stream, &Proof { proof }, &mut buf)?;
    match read_reply(stream, deadline)? {
        HelloReply::Welcome => Ok(()),
        HelloReply::Refused(reason) => Err(HandshakeError::Refused(reason)),
        HelloReply::Challenge { .. } => Err(HandshakeError::Untrusted(
            "it challenged this node twice".into(),
        )),
    }
}

/// The accepting side up to the verdict: reads the hello, proves this node holds the key, and
/// checks the connecting node's proof. Returns the authenticated hello; on failure it has
/// answered `Refused` already (saying only what a stranger may know) and returns what to log.
pub fn authenticate(
    stream: &mut TcpStream,
    me: &Credentials,
    deadline: Instant,
) -> Result<Hello, String> {
    let mut body = Vec::new();
    let mut buf = Vec::new();
    match frame::read_frame_within(&mut Deadline::new(stream, deadline), &mut body, MAX_HELLO) {
        Ok(true) => {}
        Ok(false) => return Err("it closed the connection before its hello".into()),
        Err(e) => return Err(format!("no hello: {}", slow_or(e))),
    }
    let hello = match Hello::decode(&body) {
        Ok(hello) => hello,
        Err(why) => {
            let _ = frame::write_value(stream, &HelloReply::Refused(why.clone()), &mut buf);
            return Err(why);
        }
    };
    let nonce = random_bytes();
    let my_id = postcard::to_allocvec(&me.me).map_err(|e| e.to_string())?;
    let proof = me.key.prove(ACCEPT, &[&body, &nonce, &my_id]);
    let challenge = HelloReply::Challenge { nonce, proof };
    frame::write_value(stream, &challenge, &mut buf).map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let proven =
        match frame::read_frame_within(&mut Deadline::new(stream, deadline), &mut reply, MAX_HELLO)
        {
            Ok(true) => frame::decode::<Proof>(&reply)
                .is_ok_and(|p| me.key.verify(CONNECT, &[&body, &nonce], &p.proof)),
            Ok(false) => return Err("it closed the connection before proving the key".into()),
            Err(e) => return Err(format!("no proof of the key: {}", slow_or(e))),
        };
    if !proven {
        let refusal = HelloReply::Refused("authentication failed".into());
        let _ = frame::write_value(stream, &refusal, &mut buf);
        return Err(format!(
            "it claims to be {:?} but did not prove it holds the cluster key",
            hello.from
        ));
    }
    Ok(hello)
}

/// A read error as people read it: a timeout is the handshake's deadline passing.
fn slow_or(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
            "the handshake took over {} s",
            frame::HANDSHAKE_TIMEOUT.as_secs()
        ),
        _ => e.to_string(),
    }
}

/// Answers an authenticated hello.
pub fn answer(stream: &mut TcpStream, reply: &HelloReply) -> io::Result<()> {
    frame::write_value(stream, reply, &mut Vec::new())
}

fn read_reply(stream: &mut TcpStream, deadline: Instant) -> Result<HelloReply, HandshakeError> {
    let mut body = Vec::new();
    if !frame::read_frame_within(&mut Deadline::new(stream, deadline), &mut body, MAX_HELLO)? {
        return Err(HandshakeError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(frame::decode::<HelloReply>(&body)?)
}

/// A socket whose reads all end by one deadline.
struct Deadline<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> Deadline<'a> {
    fn new(stream: &'a TcpStream, deadline: Instant) -> Self {
        Deadline { stream, deadline }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the handshake took too long",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        stream.read(buf)
    }
}
