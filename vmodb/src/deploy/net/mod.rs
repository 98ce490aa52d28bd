//! The network transport: the engine's `Transport` over TCP, for the distributed deployment
//! (`processes/`). One connection per ordered pair of nodes, written by one sender at a time
//! (`link.rs`: the sender that finds the socket free writes everything queued) and read by one
//! reader thread, so messages from one sender to one receiver keep their order (the
//! `Transport` contract) and every link has exactly one writer at any moment.
//!
//! Wire format (`frame.rs`): every frame is a little-endian `u32` length and that many bytes. A
//! connection opens with the handshake (`handshake.rs`): `Hello` (magic, protocol version,
//! sender, application fingerprint, build id, cluster digest, nonce), a challenge and a proof
//! by which both ends show they hold the cluster key (`auth.rs`), then `Welcome` or
//! `Refused(reason)`. A node then accepts each message kind only from a node that may send it
//! (`Message::may_travel`). After the handshake every frame
//! carries a batch of `Message`s, as many as were queued when the write began (many events per
//! frame), a piece of a batch too big for one frame, or a heartbeat. A frame over `MAX_FRAME`
//! bytes, a batch over `MAX_BATCH`, a frame that does not decode, a version or fingerprint
//! mismatch, or a peer silent for `LinkConfig::heartbeat_timeout` closes the link with an error
//! that names the peer; nothing is half-applied. A message too big to send is never sent: an
//! answer becomes an error answer (the ask fails, not the link).

mod auth;
mod frame;
pub mod handshake;
mod link;
mod tcp;

pub use crate::runtime::message::Traffic;
pub use auth::{ClusterKey, MIN_SECRET};
pub use frame::{
    Hello, HelloReply, Identity, MAX_BATCH, MAX_FRAME, MAX_HELLO, PROTOCOL_VERSION, Proof,
};
pub use tcp::{DEFAULT_HEARTBEAT_TIMEOUT, Inbound, LinkConfig, TcpTransport};

use crate::runtime::message::NodeId;
use std::fmt;

/// Why a link failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetError {
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: String, detail: String },
    #[error("cannot reach {peer} at {addr} within {secs:.1} s: {detail}")]
    Unreachable {
        peer: Peer,
        addr: String,
        secs: f64,
        detail: String,
    },
    #[error("{peer} refused the connection: {reason}")]
    Refused { peer: Peer, reason: String },
    #[error("{peer}: {detail}")]
    Broken { peer: Peer, detail: String },
    #[error("{peer} stopped: {reason}")]
    Left { peer: Peer, reason: String },
    #[error("{0}")]
    Protocol(String),
}

/// A node as people read it: "service `stock`" or "the coordinator".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: NodeId,
    pub name: String,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            NodeId::Coordinator => write!(f, "the coordinator"),
            NodeId::Service(_) => write!(f, "service `{}`", self.name),
        }
    }
}
