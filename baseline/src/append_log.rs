//! An append-only log file with group commit, the baseline's counterpart of vMODB's write-ahead
//! log (`vbench run --durability fsync`): a caller appends a record and learns when it is on
//! disk. The actor design has no batches, so records of concurrent callers group at the writer.
//!
//! One writer thread owns the file (`fdatasync` blocks: it must stay off the tokio workers). It
//! takes everything queued, writes it with one `write_all`, calls `File::sync_data` once, then
//! completes every waiter of that group. Records are framed `[len u32 LE][crc32 u32 LE][payload]`,
//! as vMODB's log frames them. A failed write or sync fails every waiter and every later append
//! (the log is poisoned: after a failed `fsync` the kernel may have dropped the dirty pages, so a
//! retry could report durable what is not). Nothing recovers from the log yet; [`read_all`] reads
//! it back.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Bytes before each payload: length and CRC32 of the payload.
pub const HEADER: usize = 8;

/// One queued record: its header, payload and who waits for it.
struct Entry {
    header: [u8; HEADER],
    payload: Vec<u8>,
    done: oneshot::Sender<io::Result<()>>,
}

/// What the writer has made durable so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendLogStats {
    /// Records written and synced.
    pub records: u64,
    /// Bytes written and synced, headers included.
    pub bytes: u64,
    /// Successful `sync_data` calls (one per group).
    pub syncs: u64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    bytes: AtomicU64,
    syncs: AtomicU64,
}

/// The log. Appends take `&self`, so callers on many threads share one log.
pub struct AppendLog {
    path: PathBuf,
    /// `None` only while dropping (closing the queue is what stops the writer).
    queue: Option<mpsc::Sender<Entry>>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

/// Completes when the record is durable (`Ok`) or cannot be made durable (`Err`). Await it on a
/// runtime, or [`Ticket::wait`] from a plain thread.
pub struct Ticket(TicketState);

enum TicketState {
    Waiting(oneshot::Receiver<io::Result<()>>),
    /// Refused at `append` (the record is too large, the writer is gone); taken when reported.
    Failed(Option<io::Error>),
}

impl Ticket {
    fn failed(e: io::Error) -> Ticket {
        Ticket(TicketState::Failed(Some(e)))
    }

    /// Blocks the calling thread until the record is durable. Not on a runtime worker: there,
    /// await the ticket instead.
    pub fn wait(self) -> io::Result<()> {
        match self.0 {
            TicketState::Waiting(rx) => rx.blocking_recv().unwrap_or_else(|_| Err(writer_gone())),
            TicketState::Failed(e) => Err(e.unwrap_or_else(writer_gone)),
        }
    }
}

impl Future for Ticket {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            TicketState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or_else(|_| Err(writer_gone()))),
            TicketState::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(writer_gone))),
        }
    }
}

fn writer_gone() -> io::Error {
    io::Error::other("the append log's writer stopped before the record was synced")
}

impl AppendLog {
    /// Opens (creating if need be) the log at `path`; records go after whatever it holds. The
    /// parent directory is synced so that a new file's name is durable too.
    pub fn open(path: impl AsRef<Path>) -> io::Result<AppendLog> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        let counters = Arc::new(Counters::default());
        let (queue, rx) = mpsc::channel();
        let c = Arc::clone(&counters);
        let writer = std::thread::Builder::new()
            .name("append-log".into())
            .spawn(move || write_loop(file, &rx, &c))?;
        Ok(AppendLog {
            path,
            queue: Some(queue),
            writer: Some(writer),
            counters,
        })
    }

    /// Queues `record`; never blocks. The ticket completes once the record is synced.
    pub fn append(&self, record: Vec<u8>) -> Ticket {
        let Ok(len) = u32::try_from(record.len()) else {
            return Ticket::failed(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a record of {} bytes exceeds the 4 GiB frame", record.len()),
            ));
        };
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        // The CRC is computed here, by the appending thread, so that the writer only copies.
        header[4..].copy_from_slice(&crc32fast::hash(&record).to_le_bytes());
        let (done, rx) = oneshot::channel();
        let entry = Entry {
            header,
            payload: record,
            done,
        };
        match self.queue.as_ref().map(|q| q.send(entry)) {
            Some(Ok(())) => Ticket(TicketState::Waiting(rx)),
            _ => Ticket::failed(writer_gone()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> AppendLogStats {
        let c = &self.counters;
        AppendLogStats {
            records: c.records.load(Ordering::SeqCst),
            bytes: c.bytes.load(Ordering::SeqCst),
            syncs: c.syncs.load(Ordering::SeqCst),
        }
    }
}

impl Drop for AppendLog {
    /// Closes the queue and waits for the writer to write and sync what was queued.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer: one group per wake-up, until the queue is closed and empty.
fn write_loop(mut file: File, rx: &mpsc::Receiver<Entry>, counters: &Counters) {
    let mut buf = Vec::new();
    let mut waiters = Vec::new();
    // Set by the first failure; every later group fails with it (see the module comment).
    let mut poisoned: Option<(io::ErrorKind, String)> = None;
    while let Ok(first) = rx.recv() {
        buf.clear();
        for e in std::iter::once(first).chain(rx.try_iter()) {
            buf.extend_from_slice(&e.header);
            buf.extend_from_slice(&e.payload);
            waiters.push(e.done);
        }
        let result = match &poisoned {
            Some(_) => Err(()),
            None => file
                .write_all(&buf)
                .and_then(|()| file.sync_data())
                .map_err(|e| poisoned = Some((e.kind(), e.to_string()))),
        };
        if result.is_ok() {
            // Counted before anyone is told, so a caller that heard "durable" sees its record.
            counters
                .records
                .fetch_add(waiters.len() as u64, Ordering::SeqCst);
            counters.bytes.fetch_add(buf.len() as u64, Ordering::SeqCst);
            counters.syncs.fetch_add(1, Ordering::SeqCst);
        }
        for done in waiters.drain(..) {
            let outcome = match &poisoned {
                None => Ok(()),
                Some((kind, msg)) => Err(io::Error::new(*kind, format!("append log: {msg}"))),
            };
            let _ = done.send(outcome); // a waiter that gave up needs no answer
        }
    }
}

/// Every record of the log at `path`, in order. A torn or corrupt frame (a crash mid-write, a
/// flipped bit) is an `InvalidData` error naming its offset.
pub fn read_all(path: impl AsRef<Path>) -> io::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path)?;
    let bad = |at: usize, what: &str| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{what} at byte {at}"))
    };
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + HEADER)
            .ok_or_else(|| bad(at, "torn header"))?;
        let (len, crc) = header.split_at(4);
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let body_at = at + HEADER;
        let body = bytes
            .get(body_at..body_at + word(len) as usize)
            .ok_or_else(|| bad(at, "torn record"))?;
        if crc32fast::hash(body) != word(crc) {
            return Err(bad(at, "checksum mismatch"));
        }
        records.push(body.to_vec());
        at = body_at + body.len();
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("append-log-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn record(thread: u32, i: u32) -> Vec<u8> {
        // Varying lengths, empty records included.
        let mut r = format!("{thread}:{i}:").into_bytes();
        r.resize(r.len() + (i % 37) as usize * 3, b'x');
        if i.is_multiple_of(50) {
            r.clear();
        }
        r
    }

    #[test]
    fn concurrent_appends_group_and_read_back_intact() {
        let dir = scratch("group");
        let path = dir.join("log");
        let log = AppendLog::open(&path).expect("open");
        let (threads, per_thread) = (4u32, 500u32);
        std::thread::scope(|s| {
            for t in 0..threads {
                let log = &log;
                s.spawn(move || {
                    // Fire-and-forget, then wait: appends pile up while a group syncs.
                    let tickets: Vec<_> =
                        (0..per_thread).map(|i| log.append(record(t, i))).collect();
                    for ticket in tickets {
                        ticket.wait().expect("durable");
                    }
                });
            }
        });
        let stats = log.stats();
        let n = u64::from(threads * per_thread);
        assert_eq!(stats.records, n);
        assert!(
            stats.syncs >= 1 && stats.syncs < n,
            "{stats:?}: not grouped"
        );
        let size = std::fs::metadata(&path).expect("metadata").len();
        assert_eq!(stats.bytes, size);
        drop(log);
        let back = read_all(&path).expect("read back");
        assert_eq!(back.len() as u64, n);
        // Each thread's records in its own order; together every record exactly once.
        for t in 0..threads {
            let mine: Vec<_> = back
                .iter()
                .filter(|r| r.starts_with(format!("{t}:").as_bytes()))
                .cloned()
                .collect();
            let expected: Vec<_> = (0..per_thread)
                .map(|i| record(t, i))
                .filter(|r| !r.is_empty())
                .collect();
            assert_eq!(mine, expected, "thread {t}");
        }
        let empty = back.iter().filter(|r| r.is_empty()).count() as u32;
        assert_eq!(empty, threads * per_thread.div_ceil(50));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tickets_complete_on_a_runtime_and_drop_flushes_the_queue() {
        let dir = scratch("drop");
        let path = dir.join("log");
        let log = AppendLog::open(&path).expect("open");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime
            .block_on(log.append(b"awaited".to_vec()))
            .expect("durable");
        // Queued and never awaited before the drop: the drop must still write and sync them.
        let tickets: Vec<_> = (0..100u32).map(|i| log.append(record(9, i))).collect();
        drop(log);
        for t in tickets {
            t.wait().expect("flushed on drop");
        }
        let back = read_all(&path).expect("read back");
        assert_eq!(back.len(), 101);
        assert_eq!(back[0], b"awaited");
        // Reopening appends after what is there.
        let log = AppendLog::open(&path).expect("reopen");
        log.append(b"again".to_vec()).wait().expect("durable");
        drop(log);
        let back = read_all(&path).expect("read back");
        assert_eq!(back.len(), 102);
        assert_eq!(back[101], b"again");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn read_all_refuses_torn_and_corrupt_frames() {
        let dir = scratch("corrupt");
        let path = dir.join("log");
        let log = AppendLog::open(&path).expect("open");
        for i in 0..3u32 {
            log.append(record(1, i + 1)).wait().expect("durable");
        }
        drop(log);
        let good = std::fs::read(&path).expect("read");
        std::fs::write(&path, &good[..good.len() - 1]).expect("write");
        let e = read_all(&path).expect_err("torn");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut flipped = good.clone();
        flipped[HEADER + 1] ^= 0x10;
        std::fs::write(&path, &flipped).expect("write");
        let e = read_all(&path).expect_err("corrupt");
        assert!(e.to_string().contains("checksum mismatch at byte 0"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_fails_every_waiter_without_panicking() {
        // /dev/full refuses every write with ENOSPC, as a full disk would.
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let log = AppendLog::open(full).expect("open /dev/full");
        let tickets: Vec<_> = (0..50u32).map(|i| log.append(record(2, i))).collect();
        for t in tickets {
            let e = t.wait().expect_err("cannot be durable");
            assert!(e.to_string().starts_with("append log:"), "{e}");
        }
        // Poisoned: later appends fail too, and nothing is counted as durable.
        let e = log.append(b"later".to_vec()).wait().expect_err("poisoned");
        assert!(e.to_string().starts_with("append log:"), "{e}");
        assert_eq!(log.stats(), AppendLogStats::default());
        drop(log); // stops cleanly
    }

    #[test]
    fn opening_a_missing_directory_is_an_error() {
        let dir = scratch("missing");
        let e = AppendLog::open(dir.join("no/such/dir/log"))
            .err()
            .expect("refused");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
