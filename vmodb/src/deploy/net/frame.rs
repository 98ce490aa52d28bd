//! Frames: a little-endian `u32` length, then that many bytes.
//!
//! The handshake's two frames (`Hello`, `HelloReply`) are plain postcard. After it, every frame
//! starts with a kind byte:
//! - `BATCH`: the rest is a postcard `Vec<Message>` (many messages per frame);
//! - `PART`, `LAST_PART`: a piece of a batch too big for one frame (a large `Answer`, say); the
//!   pieces of one batch follow each other on the link, and concatenated they are the batch;
//! - `HEARTBEAT`: nothing else: the sender is alive (an idle link sends one now and then, so a
//!   silent peer is noticed; see `tcp.rs`).
//!
//! A frame is at most `MAX_FRAME` bytes, a reassembled batch at most `MAX_BATCH`. The reader
//! grows its buffer as bytes arrive, never to what a length merely claims. A writer never sends
//! more: it splits a batch that encodes too big, and a single message over `MAX_BATCH` is handed
//! back to the caller (`Written::too_big`), which answers it with an error instead.

use crate::runtime::message::{Envelope, Message, NodeId, TaskReport, ToCoordinator, ToService};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Bumped whenever `Message`, the frame format or the handshake changes shape; peers of another
/// version are refused at the handshake, before any of their frames is decoded.
/// 2: frame kinds (pieces, heartbeats), `Restore { fresh }`, the build id in `Hello`.
/// 3: the authenticated handshake (`Hello::nonce`, `HelloReply::Challenge`, `Proof`).
/// 4: `Message` split by direction (`ToService`, `ToCoordinator`, `Control`, `ControlReply`).
pub const PROTOCOL_VERSION: u32 = 4;
/// Largest frame, in bytes (kind byte included). Larger batches travel in pieces.
pub const MAX_FRAME: usize = 16 << 20;
/// Largest batch, reassembled from its pieces: the most a peer can make a reader buffer.
pub const MAX_BATCH: usize = 1 << 30;
/// The handshake's frames are tiny: before a peer is known, no more than this is read.
pub const MAX_HELLO: usize = 4 << 10;
/// How long a node waits for the other end's handshake frame.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const MAGIC: [u8; 4] = *b"VMDB";

const BATCH: u8 = 0;
const PART: u8 = 1;
const LAST_PART: u8 = 2;
const HEARTBEAT: u8 = 3;

/// What both ends of a link must agree on, as sent in `Hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `App::fingerprint`: the same application declarations.
    pub app: u64,
    /// `App::build_id`: the same build of the application's code.
    pub build: u64,
    /// The cluster description's digest: both ends agree on who is where.
    pub cluster: u64,
}

/// The first frame on every connection. `magic` and `protocol` come first and keep their
/// place in every version, so a peer of another version is told why it is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 4],
    pub protocol: u32,
    pub from: NodeId,
    pub app: u64,
    pub build: u64,
    pub cluster: u64,
    /// Fresh for every connection: the acceptor's proof covers it (see `auth.rs`).
    pub nonce: [u8; 32],
}

/// The connecting node's proof that it holds the cluster key (after `HelloReply::Challenge`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub proof: [u8; 32],
}

/// The part of a `Hello` every protocol version shares.
#[derive(Deserialize)]
struct HelloHead {
    magic: [u8; 4],
    protocol: u32,
}

impl Hello {
    pub fn new(from: NodeId, id: Identity) -> Self {
        Hello {
            magic: MAGIC,
            protocol: PROTOCOL_VERSION,
            from,
            app: id.app,
            build: id.build,
            cluster: id.cluster,
            nonce: super::auth::random_bytes(),
        }
    }

    /// Decodes a hello frame, or says why it is refused (a stranger, another protocol
    /// version, garbage).
    pub fn decode(body: &[u8]) -> Result<Hello, String> {
        let head: HelloHead = postcard::take_from_bytes(body)
            .map(|(h, _)| h)
            .map_err(|e| format!("not a vmodb hello ({e})"))?;
        if head.magic != MAGIC {
            return Err("not a vmodb node (bad magic)".into());
        }
        if head.protocol != PROTOCOL_VERSION {
            return Err(format!(
                "protocol version {} (this node speaks {PROTOCOL_VERSION})",
                head.protocol
            ));
        }
        postcard::from_bytes(body).map_err(|e| format!("a malformed hello ({e})"))
    }

    /// Why a node expecting `id` must refuse this (authenticated) hello, if it must. The
    /// reason never tells what was expected: the refusing node logs both values itself.
    pub fn mismatch(&self, id: Identity) -> Option<&'static str> {
        if self.app != id.app {
            Some(
                "a different application (another fingerprint): every node must run the same \
                 build and workload configuration",
            )
        } else if self.build != id.build {
            Some(
                "a different build of the application: handlers must behave the same on every \
                 node",
            )
        } else if self.cluster != id.cluster {
            Some("a different cluster file or run configuration (another digest)")
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
    /// The acceptor's nonce and its proof that it holds the cluster key; the connecting node
    /// answers with `Proof`, then hears `Welcome` or `Refused`.
    Challenge {
        nonce: [u8; 32],
        proof: [u8; 32],
    },
}

/// Writes one handshake frame holding `value`, reusing `buf`.
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

/// What `write_batch` did.
#[derive(Debug, Default)]
pub struct Written {
    /// Frames and bytes written.
    pub frames: usize,
    pub bytes: usize,
    /// Positions in the batch of messages that alone encode over `MAX_BATCH`: not sent.
    pub too_big: Vec<usize>,
}

/// Writes `batch` as one `BATCH` frame, or as pieces when it encodes over `MAX_FRAME`; a batch
/// over `max_batch` is split in halves, and a single message over it is left out (`too_big`).
pub fn write_batch(
    w: &mut impl Write,
    batch: &[Message],
    buf: &mut Vec<u8>,
    max_batch: usize,
) -> io::Result<Written> {
    let mut written = Written::default();
    write_part_of(w, batch, 0, buf, max_batch, &mut written)?;
    // A huge answer once must not pin its buffer for the rest of the link's life.
    if buf.capacity() > 4 * MAX_FRAME {
        *buf = Vec::new();
    }
    Ok(written)
}

fn write_part_of(
    w: &mut impl Write,
    batch: &[Message],
    offset: usize,
    buf: &mut Vec<u8>,
    max_batch: usize,
    written: &mut Written,
) -> io::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    buf.clear();
    buf.extend_from_slice(&[0, 0, 0, 0, BATCH]);
    *buf = postcard::to_extend(batch, std::mem::take(buf))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let encoded = buf.len() - 5;
    if encoded > max_batch {
        if batch.len() == 1 {
            // Events and reports of many transactions split by transaction.
            return match split(&batch[0]) {
                Some(halves) => {
                    write_part_of(w, &halves[..1], offset, buf, max_batch, written)?;
                    write_part_of(w, &halves[1..], offset, buf, max_batch, written)
                }
                None => {
                    written.too_big.push(offset);
                    Ok(())
                }
            };
        }
        let (a, b) = batch.split_at(batch.len() / 2);
        write_part_of(w, a, offset, buf, max_batch, written)?;
        return write_part_of(w, b, offset + a.len(), buf, max_batch, written);
    }
    if encoded < MAX_FRAME {
        let len = (encoded + 1) as u32;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        w.write_all(buf)?;
        written.frames += 1;
        written.bytes += buf.len();
        return Ok(());
    }
    let pieces = buf[5..].chunks(MAX_FRAME - 1);
    let n = pieces.len();
    for (i, piece) in pieces.enumerate() {
        let kind = if i + 1 == n { LAST_PART } else { PART };
        let len = (piece.len() + 1) as u32;
        let mut head = [0u8; 5];
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4] = kind;
        w.write_all(&head)?;
        w.write_all(piece)?;
        written.frames += 1;
        written.bytes += piece.len() + 5;
    }
    Ok(())
}

/// A message of many independent parts as two messages of half as many, in order: events
/// (one per transaction) and task reports. `None` for anything else.
fn split(m: &Message) -> Option<[Message; 2]> {
    match m {
        Message::ToService(ToService::Events(v)) if v.len() > 1 => {
            let (a, b) = v.split_at(v.len() / 2);
            let part = |e: &[Envelope]| Message::ToService(ToService::Events(e.to_vec()));
            Some([part(a), part(b)])
        }
        Message::ToCoordinator(ToCoordinator::Reports { service, reports })
            if reports.len() > 1 =>
        {
            let (a, b) = reports.split_at(reports.len() / 2);
            let part = |r: &[TaskReport]| {
                Message::ToCoordinator(ToCoordinator::Reports {
                    service: *service,
                    reports: r.to_vec(),
                })
            };
            Some([part(a), part(b)])
        }
        _ => None,
    }
}

/// Writes a heartbeat frame.
pub fn write_heartbeat(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&[1, 0, 0, 0, HEARTBEAT])
}

/// Reads one frame's body into `buf`, refusing frames over `max` bytes. `Ok(false)` on a clean
/// end of stream before a frame. The buffer grows with the bytes that actually arrive.
pub fn read_frame_within(r: &mut impl Read, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    let mut len = [0u8; 4];
    // Only an end before the first byte of a frame is clean; a cut length is a torn frame.
    loop {
        match r.read(&mut len[..1]) {
            Ok(0) => return Ok(false),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    r.read_exact(&mut len[1..])?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced, over the {max}-byte limit"),
        ));
    }
    buf.clear();
    // Grow at most to twice what has arrived (and by 64 KiB at first), so a length that lies
    // costs no more memory than the bytes the peer really sends.
    while buf.len() < len {
        let step = (len - buf.len()).min(buf.len().max(64 << 10));
        let at = buf.len();
        buf.resize(at + step, 0);
        r.read_exact(&mut buf[at..])?;
    }
    Ok(true)
}

/// Decodes a handshake frame body.
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

/// What a frame after the handshake carried.
#[derive(Debug)]
pub enum Frame {
    Batch(Batch),
    Heartbeat,
}

/// Reads frames after the handshake, putting pieces back together.
#[derive(Default)]
pub struct FrameReader {
    body: Vec<u8>,
    parts: Vec<u8>,
}

impl FrameReader {
    /// The next batch or heartbeat; `Ok(None)` on a clean end of stream (between batches).
    pub fn next(&mut self, r: &mut impl Read) -> io::Result<Option<Frame>> {
        let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        loop {
            if !read_frame_within(r, &mut self.body, MAX_FRAME)? {
                if self.parts.is_empty() {
                    return Ok(None);
                }
                return Err(bad("the stream ended inside a batch sent in pieces".into()));
            }
            let Some((&kind, rest)) = self.body.split_first() else {
                return Err(bad("an empty frame".into()));
            };
            match kind {
                BATCH if self.parts.is_empty() => return decode_batch(rest).map(Some),
                HEARTBEAT if rest.is_empty() => return Ok(Some(Frame::Heartbeat)),
                PART | LAST_PART => {
                    if self.parts.len() + rest.len() > MAX_BATCH {
                        return Err(bad(format!(
                            "a batch in pieces grows over the {MAX_BATCH}-byte limit"
                        )));
                    }
                    self.parts.extend_from_slice(rest);
                    if kind == LAST_PART {
                        let batch = decode_batch(&self.parts);
                        self.parts = Vec::new();
                        return batch.map(Some);
                    }
                }
                other => {
                    return Err(bad(format!(
                        "a frame of kind {other} ({} bytes) where it does not belong",
                        self.body.len()
                    )));
                }
            }
            if self.body.capacity() > 2 * MAX_FRAME {
                self.body = Vec::new();
            }
        }
    }
}

fn decode_batch(body: &[u8]) -> io::Result<Frame> {
    decode::<Batch>(body).map(Frame::Batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(batch: u64) -> Message {
        Message::ToService(ToService::CommitBatch {
            batch,
            max_tid: batch * 10,
            checkpoint: None,
        })
    }

    fn answer(bytes: usize) -> Message {
        Message::ControlReply(crate::runtime::message::ControlReply::Answer {
            id: 7,
            answer: Ok(crate::runtime::message::Answer::Query(vec![0xab; bytes])),
        })
    }

    #[test]
    fn frames_round_trip_and_reject_garbage() {
        let mut wire = Vec::new();
        let mut buf = Vec::new();
        let id = Identity {
            app: 1,
            build: 3,
            cluster: 2,
        };
        write_value(&mut wire, &Hello::new(NodeId::Coordinator, id), &mut buf).unwrap();
        let batch: Batch = vec![
            commit(3),
            Message::Control(crate::runtime::message::Control::Shutdown),
        ];
        write_batch(&mut wire, &batch, &mut buf, MAX_BATCH).unwrap();
        write_heartbeat(&mut wire).unwrap();
        let mut r = &wire[..];
        let mut body = Vec::new();
        assert!(read_frame_within(&mut r, &mut body, MAX_HELLO).unwrap());
        let hello = Hello::decode(&body).unwrap();
        assert_eq!(hello.mismatch(id), None);
        let other = Identity { app: 7, ..id };
        assert!(
            hello
                .mismatch(other)
                .unwrap()
                .contains("different application")
        );
        let rebuilt = Identity { build: 9, ..id };
        assert!(hello.mismatch(rebuilt).unwrap().contains("different build"));
        let mut reader = FrameReader::default();
        match reader.next(&mut r).unwrap() {
            Some(Frame::Batch(back)) => {
                assert_eq!(back.len(), 2);
                assert!(matches!(
                    back[0],
                    Message::ToService(ToService::CommitBatch { batch: 3, .. })
                ));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            reader.next(&mut r).unwrap(),
            Some(Frame::Heartbeat)
        ));
        assert!(
            reader.next(&mut r).unwrap().is_none(),
            "clean end of stream"
        );

        // A torn frame is an error, not a clean end.
        let mut r = &wire[..wire.len() - 3];
        assert!(read_frame_within(&mut r, &mut body, MAX_HELLO).unwrap());
        let mut reader = FrameReader::default();
        assert!(reader.next(&mut r).is_ok());
        assert!(reader.next(&mut r).is_err());
        // Garbage that frames correctly does not decode into messages.
        let mut r = &[4u8, 0, 0, 0, BATCH, 0xff, 0xff, 0xff][..];
        assert!(FrameReader::default().next(&mut r).is_err());
        // An old peer's hello is refused with the reason, not as garbage.
        let old = postcard::to_allocvec(&(MAGIC, 1u32, NodeId::Coordinator, 1u64, 2u64)).unwrap();
        let why = Hello::decode(&old).unwrap_err();
        assert!(why.contains("protocol version 1"), "{why}");
    }

    /// A length that claims more than arrives makes the reader hold only what arrived.
    #[test]
    fn a_lying_length_allocates_only_what_arrives() {
        let mut wire = ((MAX_FRAME - 1) as u32).to_le_bytes().to_vec();
        wire.extend_from_slice(&[BATCH; 100]);
        let mut body = Vec::new();
        let mut r = &wire[..];
        assert!(read_frame_within(&mut r, &mut body, MAX_FRAME).is_err());
        assert!(body.capacity() <= 1 << 20, "{} bytes held", body.capacity());
        // Over the limit: refused before reading on.
        let mut r = &(u32::MAX.to_le_bytes())[..];
        assert!(read_frame_within(&mut r, &mut body, MAX_FRAME).is_err());
    }

    /// A batch bigger than a frame travels in pieces and comes back whole; a message over the
    /// batch limit is handed back, and everything around it still goes.
    #[test]
    fn big_batches_travel_in_pieces() {
        let mut wire = Vec::new();
        let mut buf = Vec::new();
        let batch = vec![commit(1), answer(MAX_FRAME + 1000), commit(2)];
        let w = write_batch(&mut wire, &batch, &mut buf, MAX_BATCH).unwrap();
        assert!(w.frames >= 2 && w.too_big.is_empty(), "{w:?}");
        let mut reader = FrameReader::default();
        let mut r = &wire[..];
        match reader.next(&mut r).unwrap() {
            Some(Frame::Batch(back)) => {
                assert_eq!(back.len(), 3);
                match &back[1] {
                    Message::ControlReply(crate::runtime::message::ControlReply::Answer {
                        answer: Ok(crate::runtime::message::Answer::Query(q)),
                        ..
                    }) => assert_eq!(q.len(), MAX_FRAME + 1000),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        // With a 64 KiB batch limit the big answer cannot go; the commits around it do.
        let mut wire = Vec::new();
        let batch = vec![commit(1), answer(100_000), commit(2)];
        let w = write_batch(&mut wire, &batch, &mut buf, 64 << 10).unwrap();
        assert_eq!(w.too_big, vec![1]);
        let mut r = &wire[..];
        let mut got = Vec::new();
        while let Some(Frame::Batch(b)) = reader.next(&mut r).unwrap() {
            got.extend(b);
        }
        assert_eq!(got.len(), 2);
        assert!(matches!(
            got[1],
            Message::ToService(ToService::CommitBatch { batch: 2, .. })
        ));
        // Events of many transactions over the limit go as several messages, all of them.
        let envelope = |tid| crate::runtime::message::Envelope {
            env: crate::storage::tx::TxEnv {
                tid,
                timestamp_us: 0,
                seed: 0,
            },
            batch: 1,
            dag: 0,
            node: 0,
            prevs: vec![0].into(),
            payload: Some(vec![1; 30_000]),
            round: 0,
        };
        let events = Message::ToService(ToService::Events((1..=10).map(envelope).collect()));
        let mut wire = Vec::new();
        let w = write_batch(&mut wire, &[events], &mut buf, 64 << 10).unwrap();
        assert!(w.too_big.is_empty(), "{w:?}");
        let mut r = &wire[..];
        let mut tids = Vec::new();
        while let Some(Frame::Batch(b)) = reader.next(&mut r).unwrap() {
            for m in b {
                if let Message::ToService(ToService::Events(v)) = m {
                    tids.extend(v.iter().map(|e| e.env.tid));
                }
            }
        }
        assert_eq!(tids, (1..=10).collect::<Vec<_>>());
    }
}
