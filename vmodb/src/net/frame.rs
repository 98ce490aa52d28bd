//! Frames: a little-endian `u32` length, then that many bytes of postcard.

use crate::message::{Message, NodeId};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Bumped whenever `Message` or the handshake changes shape; peers of another version are
/// refused at the handshake, before any of their frames is decoded.
pub const PROTOCOL_VERSION: u32 = 1;
/// Larger frames are refused (a corrupt length must not make a node allocate gigabytes). Big
/// enough for a whole service's state in one `Answer`.
pub const MAX_FRAME: usize = 1 << 30;
/// The handshake's frames are tiny: before a peer is known, no more than this is read.
pub const MAX_HELLO: usize = 4 << 10;
/// How long a node waits for the other end's handshake frame.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const MAGIC: [u8; 4] = *b"VMDB";

/// The first frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 4],
    pub protocol: u32,
    pub from: NodeId,
    /// `App::fingerprint`: both ends run the same application.
    pub app: u64,
    /// The cluster description's digest: both ends agree on who is where.
    pub cluster: u64,
}

impl Hello {
    pub fn new(from: NodeId, app: u64, cluster: u64) -> Self {
        Hello {
            magic: MAGIC,
            protocol: PROTOCOL_VERSION,
            from,
            app,
            cluster,
        }
    }

    /// Why a node expecting `(app, cluster)` must refuse this hello, if it must.
    pub fn mismatch(&self, app: u64, cluster: u64) -> Option<String> {
        if self.magic != MAGIC {
            Some("not a vmodb node (bad magic)".into())
        } else if self.protocol != PROTOCOL_VERSION {
            Some(format!(
                "protocol version {} (this node speaks {PROTOCOL_VERSION})",
                self.protocol
            ))
        } else if self.app != app {
            Some(format!(
                "a different application (fingerprint {:016x}, expected {app:016x}): \
                 every node must run the same build and workload configuration",
                self.app
            ))
        } else if self.cluster != cluster {
            Some(format!(
                "a different cluster file or run configuration (digest {:016x}, expected \
                 {cluster:016x})",
                self.cluster
            ))
        } else {
            None
        }
    }
}

/// The answer to `Hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Welcome,
    Refused(String),
}

/// Writes one frame holding `value`, reusing `buf`.
pub fn write_value<T: Serialize>(
    w: &mut impl Write,
    value: &T,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    let mut body = postcard::to_extend(value, std::mem::take(buf))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let len = body.len() - 4;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
        ));
    }
    body[..4].copy_from_slice(&(len as u32).to_le_bytes());
    let result = w.write_all(&body);
    *buf = body;
    result
}

/// Reads one frame's body into `buf`. `Ok(false)` on a clean end of stream before a frame.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    read_frame_within(r, buf, MAX_FRAME)
}

/// `read_frame` refusing frames over `max` bytes.
pub fn read_frame_within(r: &mut impl Read, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced, over the {max}-byte limit"),
        ));
    }
    buf.resize(len, 0);
    r.read_exact(buf)?;
    Ok(true)
}

/// Decodes a frame body.
pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(body).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {} bytes does not decode: {e}", body.len()),
        )
    })
}

/// A batch of messages as one frame body.
pub type Batch = Vec<Message>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_reject_garbage() {
        let mut wire = Vec::new();
        let mut buf = Vec::new();
        let batch: Batch = vec![
            Message::CommitBatch {
                batch: 3,
                max_tid: 99,
                checkpoint: None,
            },
            Message::Shutdown,
        ];
        write_value(&mut wire, &batch, &mut buf).unwrap();
        write_value(&mut wire, &Hello::new(NodeId::Coordinator, 1, 2), &mut buf).unwrap();
        let mut r = &wire[..];
        let mut body = Vec::new();
        assert!(read_frame(&mut r, &mut body).unwrap());
        let back: Batch = decode(&body).unwrap();
        assert_eq!(back.len(), 2);
        assert!(matches!(
            back[0],
            Message::CommitBatch {
                batch: 3,
                max_tid: 99,
                checkpoint: None
            }
        ));
        assert!(read_frame(&mut r, &mut body).unwrap());
        let hello: Hello = decode(&body).unwrap();
        assert_eq!(hello.mismatch(1, 2), None);
        assert!(
            hello
                .mismatch(7, 2)
                .unwrap()
                .contains("different application")
        );
        assert!(
            !read_frame(&mut r, &mut body).unwrap(),
            "clean end of stream"
        );

        // A torn frame is an error, not a clean end.
        let torn = &wire[..wire.len() - 3];
        let mut r = torn;
        assert!(read_frame(&mut r, &mut body).unwrap());
        assert!(read_frame(&mut r, &mut body).is_err());
        // A huge announced length is refused before allocating.
        let mut r = &(u32::MAX.to_le_bytes())[..];
        assert!(read_frame(&mut r, &mut body).is_err());
        // Garbage that frames correctly does not decode into messages.
        assert!(decode::<Batch>(&[0xff, 0xff, 0xff]).is_err());
    }
}
