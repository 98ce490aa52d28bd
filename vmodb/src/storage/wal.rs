//! A write-ahead log: records appended to segment files, made durable by `sync` (one
//! `fdatasync` for everything appended since the last: group commit, paid once per batch).
//!
//! A segment `wal-<first index, 20 digits>.log` holds records `[len u32 LE][crc32 u32 LE]
//! [postcard payload]`, followed by zeros: the log writes zeros ahead of its records a chunk at
//! a time, so that a sync overwrites allocated blocks and need not commit file-system metadata
//! (on ext4 that is ~0.8 ms per sync appending, a fraction of that overwriting). A zero length
//! ends a segment's records. The directory's `IDENTITY` file names what wrote it (format version and
//! the caller's identity, e.g. an application fingerprint). `Wal::open` refuses a directory of
//! another identity, reads every record, and cuts a torn tail of the last segment (a crash
//! mid-append: garbage after the last intact record, and no intact record after it), never
//! replaying it. Damage anywhere else is an error that names the file and offset: before the
//! last segment, or followed by an intact record (records after it were acknowledged; cutting
//! them would lose commits). `truncate_before` drops whole segments a checkpoint made
//! unnecessary, so disk use stays bounded.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const FORMAT: &str = "vmodb-wal 2";
const HEADER: usize = 8;
/// Zeros are written ahead of the records this much at a time.
const ZERO_CHUNK: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{dir} was written by another node or with other settings ({differs}): refusing to use it"
    )]
    Identity {
        dir: PathBuf,
        /// What differs, named: `scale = 0.1 there, 0.05 here; ...`.
        differs: String,
    },
    #[error("{path} is corrupt at byte {offset} ({why}), and later records were acknowledged")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: String,
    },
    #[error("a record does not encode: {0}")]
    Encode(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `open` found.
pub struct Recovered<T> {
    /// Every intact record with its index, in order.
    pub records: Vec<(u64, T)>,
    /// Bytes cut from the end of the last segment (a torn or corrupt tail).
    pub cut_bytes: u64,
}

pub struct Wal {
    dir: PathBuf,
    out: BufWriter<File>,
    path: PathBuf,
    /// Bytes of records in the current segment (where the next one goes).
    len: u64,
    /// The current segment is zeros (or records) up to here.
    zeroed_to: u64,
    /// The index the next record gets.
    next: u64,
    segment_bytes: u64,
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (or creates) the log in `dir`, written by `identity`; segments roll over at
    /// `segment_bytes`.
    pub fn open<T: DeserializeOwned>(
        dir: &Path,
        identity: &str,
        segment_bytes: u64,
    ) -> Result<(Wal, Recovered<T>), WalError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        check_identity(dir, identity)?;
        let segments = segments(dir)?;
        let mut records = Vec::new();
        let mut cut_bytes = 0;
        let mut next = segments.first().map_or(0, |(first, _)| *first);
        let mut last_valid = 0;
        for (i, (first, path)) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            if *first != next {
                let why = format!("starts at record {first}, expected {next}");
                return Err(WalError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    why,
                });
            }
            let (found, valid, len, end) = read_segment::<T>(path, *first)?;
            if end != End::Clean {
                let why = match end {
                    _ if !last => Some("a damaged record before the last segment".to_string()),
                    End::Damaged { intact_at } => Some(format!(
                        "a damaged record followed by an intact one at byte {intact_at}; if the \
                         machine lost power mid-write, the records after the damage may never \
                         have been acknowledged: cut the file at byte {valid} to accept that"
                    )),
                    _ => None,
                };
                if let Some(why) = why {
                    return Err(WalError::Corrupt {
                        path: path.clone(),
                        offset: valid,
                        why,
                    });
                }
                // A crash mid-append: cut it, so it is never replayed or appended after.
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_err(path))?;
                file.set_len(valid).map_err(io_err(path))?;
                file.sync_data().map_err(io_err(path))?;
                cut_bytes = len - valid;
            }
            next = first + found.len() as u64;
            last_valid = valid;
            records.extend(found);
        }
        let (path, len) = match segments.last() {
            Some((_, path)) => (path.clone(), last_valid),
            None => (segment_path(dir, next), 0),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let zeroed_to = file.metadata().map_err(io_err(&path))?.len();
        file.seek(SeekFrom::Start(len)).map_err(io_err(&path))?;
        sync_dir(dir)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            len,
            zeroed_to,
            next,
            segment_bytes: segment_bytes.max(1),
            buf: Vec::new(),
        };
        Ok((wal, Recovered { records, cut_bytes }))
    }

    /// Appends `record` (buffered; durable after the next `sync`); returns its index. A record
    /// that encodes to nothing is refused (a zero length marks the end of a segment's records).
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<u64, WalError> {
        if self.len >= self.segment_bytes {
            self.roll()?;
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; HEADER]);
        let mut body = postcard::to_extend(record, std::mem::take(&mut self.buf))
            .map_err(|e| WalError::Encode(e.to_string()))?;
        if body.len() == HEADER || body.len() - HEADER > u32::MAX as usize {
            let n = body.len() - HEADER;
            self.buf = body;
            return Err(WalError::Encode(format!(
                "a record of {n} bytes cannot be logged (empty, or over 4 GiB)"
            )));
        }
        let len = (body.len() - HEADER) as u32;
        let crc = crc32fast::hash(&body[HEADER..]);
        body[..4].copy_from_slice(&len.to_le_bytes());
        body[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        self.zero_ahead(self.len + body.len() as u64)?;
        self.out.write_all(&body).map_err(io_err(&self.path))?;
        self.len += body.len() as u64;
        self.buf = body;
        self.next += 1;
        Ok(self.next - 1)
    }

    /// Makes sure the segment is zeros (or records) up to `upto`, writing whole chunks of zeros
    /// past the records and syncing them (the file's new size and blocks), so that later syncs
    /// overwrite allocated blocks.
    fn zero_ahead(&mut self, upto: u64) -> Result<(), WalError> {
        if upto <= self.zeroed_to {
            return Ok(());
        }
        let chunk = ZERO_CHUNK.min(self.segment_bytes).max(4096);
        let zeros = vec![0u8; chunk as usize];
        let file = self.out.get_ref();
        while self.zeroed_to < upto {
            file.write_all_at(&zeros, self.zeroed_to)
                .map_err(io_err(&self.path))?;
            self.zeroed_to += chunk;
        }
        file.sync_data().map_err(io_err(&self.path))
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if FULL_DISK.load(std::sync::atomic::Ordering::Acquire) {
            let full = io::Error::from_raw_os_error(28); // ENOSPC
            return Err(io_err(&self.path)(full));
        }
        self.out.flush().map_err(io_err(&self.path))?;
        self.out.get_ref().sync_data().map_err(io_err(&self.path))
    }

    /// A crash in the middle of a write (the simulator's): of the bytes appended since the last
    /// sync and still buffered, only the first `keep(n)` of their `n` reach the file; the rest
    /// never does. Nothing may be appended after this. Returns (bytes kept, bytes buffered).
    pub(crate) fn tear(
        &mut self,
        keep: impl FnOnce(usize) -> usize,
    ) -> Result<(usize, usize), WalError> {
        let file = self.out.get_ref().try_clone().map_err(io_err(&self.path))?;
        let (file, buffered) = std::mem::replace(&mut self.out, BufWriter::new(file)).into_parts();
        let bytes = buffered.unwrap_or_default();
        let n = keep(bytes.len()).min(bytes.len());
        let start = self.len - bytes.len() as u64;
        file.write_all_at(&bytes[..n], start)
            .map_err(io_err(&self.path))?;
        Ok((n, bytes.len()))
    }

    /// The index the next record gets.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Deletes every segment whose records all lie below `index` (a checkpoint covers them).
    /// Returns how many were deleted.
    pub fn truncate_before(&mut self, index: u64) -> Result<usize, WalError> {
        let all = segments(&self.dir)?;
        let mut deleted = 0;
        for pair in all.windows(2) {
            let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *next_first <= index {
                std::fs::remove_file(path).map_err(io_err(path))?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// Bytes on disk in every segment.
    pub fn disk_bytes(&self) -> Result<u64, WalError> {
        let mut total = 0;
        for (_, path) in segments(&self.dir)? {
            total += std::fs::metadata(&path).map_err(io_err(&path))?.len();
        }
        Ok(total)
    }

    fn roll(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let path = segment_path(&self.dir, self.next);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.out = BufWriter::with_capacity(1 << 20, file);
        self.path = path;
        self.len = 0;
        self.zeroed_to = 0;
        Ok(())
    }
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("wal-{first:020}.log"))
}

/// The segments in `dir`, by first index.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let first = name
            .strip_prefix("wal-")
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// How a segment's records end.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Nothing, or only zeros, after the last intact record.
    Clean,
    /// Garbage after the last intact record, and no intact record in it: a torn append.
    Torn,
    /// A damaged record with an intact one after it, at this byte.
    Damaged { intact_at: u64 },
}

/// A segment as read: its intact records, the length of its intact prefix, its length, and
/// how it ends.
type SegmentRead<T> = (Vec<(u64, T)>, u64, u64, End);

/// Bytes a search for intact records after damage may checksum before it gives up (and calls
/// the damage what it cannot rule out: damage followed by records).
const SEARCH_BUDGET: usize = 256 << 20;

fn read_segment<T: DeserializeOwned>(path: &Path, first: u64) -> Result<SegmentRead<T>, WalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_err(path))?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some((record, len)) = record_at::<T>(&bytes, at) {
        records.push((first + records.len() as u64, record));
        at += HEADER + len;
    }
    let end = if bytes[at..].iter().all(|b| *b == 0) {
        End::Clean
    } else {
        match intact_after::<T>(&bytes, at) {
            Some(p) => End::Damaged {
                intact_at: p as u64,
            },
            None => End::Torn,
        }
    };
    Ok((records, at as u64, bytes.len() as u64, end))
}

/// The intact record at byte `at` and its length, if there is one there (a zero length is the
/// end of the records).
fn record_at<T: DeserializeOwned>(bytes: &[u8], at: usize) -> Option<(T, usize)> {
    let head = bytes.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    if len == 0 {
        return None;
    }
    let body = bytes.get(at + HEADER..(at + HEADER).checked_add(len)?)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    postcard::from_bytes(body).ok().map(|r| (r, len))
}

/// Where an intact record starts after the damaged one at `at`, if anywhere: first where the
/// damaged record's own length says the next one starts, then at every later byte. If the
/// search runs out of budget, it answers `at` (damage it cannot tell from a torn tail is
/// refused, never cut).
fn intact_after<T: DeserializeOwned>(bytes: &[u8], at: usize) -> Option<usize> {
    let declared = bytes
        .get(at..at + 4)
        .map(|h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize);
    if let Some(next) = declared.and_then(|l| (at + HEADER).checked_add(l))
        && record_at::<T>(bytes, next).is_some()
    {
        return Some(next);
    }
    let mut budget = SEARCH_BUDGET;
    for p in at + 1..bytes.len().saturating_sub(HEADER) {
        let len = u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]);
        let len = len as usize;
        if len == 0 || len > bytes.len() - p - HEADER {
            continue;
        }
        if len > budget {
            return Some(at);
        }
        budget -= len;
        if record_at::<T>(bytes, p).is_some() {
            return Some(p);
        }
    }
    None
}

/// Fault injection: while set, every `Wal::sync` in this process fails as on a full disk.
static FULL_DISK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every log sync in this process fail as on a full disk (`ENOSPC`), or work again. For
/// tests of what a failing disk does; process-wide, so such a test needs a process of its own.
#[doc(hidden)]
pub fn simulate_full_disk(full: bool) {
    FULL_DISK.store(full, std::sync::atomic::Ordering::Release);
}

pub(crate) fn check_identity(dir: &Path, identity: &str) -> Result<(), WalError> {
    let path = dir.join("IDENTITY");
    let expected = format!("{FORMAT}\n{identity}\n");
    match std::fs::read_to_string(&path) {
        Ok(found) if found == expected => Ok(()),
        Ok(found) => Err(WalError::Identity {
            dir: dir.to_path_buf(),
            differs: differences(&found, &expected),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if !segments(dir)?.is_empty() {
                return Err(WalError::Identity {
                    dir: dir.to_path_buf(),
                    differs: "log segments without an IDENTITY file".into(),
                });
            }
            let tmp = dir.join("IDENTITY.tmp");
            std::fs::write(&tmp, &expected).map_err(io_err(&tmp))?;
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
            sync_dir(dir)
        }
        Err(e) => Err(WalError::Io { path, source: e }),
    }
}

/// What differs between two identities (`found` on disk, `expected` by this node): each
/// `key = value` line by key, any other line as a whole.
fn differences(found: &str, expected: &str) -> String {
    let split = |text: &str| {
        let mut settings = std::collections::BTreeMap::new();
        let mut lines = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match line.split_once(" = ") {
                Some((k, v)) => {
                    settings.insert(k.to_string(), v.to_string());
                }
                None => lines.push(line.to_string()),
            }
        }
        (settings, lines)
    };
    let ((there, there_lines), (here, here_lines)) = (split(found), split(expected));
    let mut out = Vec::new();
    if there_lines != here_lines {
        out.push(format!(
            "written by \"{}\", this node is \"{}\"",
            there_lines.join(" / "),
            here_lines.join(" / ")
        ));
    }
    let keys: std::collections::BTreeSet<&String> = there.keys().chain(here.keys()).collect();
    for k in keys {
        let (a, b) = (there.get(k), here.get(k));
        if a != b {
            let show = |v: Option<&String>| v.map_or("unset".to_string(), |v| v.clone());
            out.push(format!("{k} = {} there, {} here", show(a), show(b)));
        }
    }
    out.join("; ")
}

/// Makes a directory's entries (new, renamed or deleted files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}
