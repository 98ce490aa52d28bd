//! Checkpoints: one service's committed state at a batch boundary, one file per checkpoint.
//!
//! `checkpoint-<batch, 20 digits>.ckpt` holds a magic, `[header len u32 LE]`, a postcard
//! header (batch, watermark TID, each table's name and byte length), every table's rows as
//! `encode_visible` framed them, and a CRC-32 of everything after the magic. Rows are written
//! as they are (no second encoding of the whole state). A file is written to a `.tmp` name, synced, renamed and the
//! directory synced, so a crash leaves either the whole checkpoint or none. The directory's
//! `IDENTITY` (shared with the WAL) refuses another service's or application's files.

use crate::message::BatchId;
use crate::schema::Tid;
use crate::wal::{WalError, check_identity, io_err, sync_dir};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"VMODBCK2";

/// A service's tables as of the end of batch `batch` (watermark `tid`).
#[derive(Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub batch: BatchId,
    pub tid: Tid,
    /// Table name → rows, each `[len u32 LE][postcard row]`.
    pub tables: Vec<(String, Vec<u8>)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    batch: BatchId,
    tid: Tid,
    tables: Vec<(String, u64)>,
}

/// Where one service keeps its checkpoints.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    dir: PathBuf,
}

impl CheckpointDir {
    /// Opens (or creates) `dir` for `identity`; another identity's directory is refused.
    pub fn open(dir: &Path, identity: &str) -> Result<CheckpointDir, WalError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        check_identity(dir, identity)?;
        Ok(CheckpointDir {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, batch: BatchId) -> PathBuf {
        self.dir.join(format!("checkpoint-{batch:020}.ckpt"))
    }

    /// Writes `checkpoint` durably; returns its size in bytes.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, WalError> {
        let header = Header {
            batch: checkpoint.batch,
            tid: checkpoint.tid,
            tables: checkpoint
                .tables
                .iter()
                .map(|(name, rows)| (name.clone(), rows.len() as u64))
                .collect(),
        };
        let header = postcard::to_allocvec(&header).map_err(|e| WalError::Encode(e.to_string()))?;
        let path = self.path(checkpoint.batch);
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut crc = crc32fast::Hasher::new();
        let mut size = MAGIC.len() as u64 + 4;
        let mut put = |out: &mut BufWriter<File>, bytes: &[u8]| {
            crc.update(bytes);
            size += bytes.len() as u64;
            out.write_all(bytes)
        };
        out.write_all(MAGIC)
            .and_then(|_| put(&mut out, &(header.len() as u32).to_le_bytes()))
            .and_then(|_| put(&mut out, &header))
            .map_err(io_err(&tmp))?;
        for (_, rows) in &checkpoint.tables {
            put(&mut out, rows).map_err(io_err(&tmp))?;
        }
        out.write_all(&crc.finalize().to_le_bytes())
            .and_then(|_| out.flush())
            .map_err(io_err(&tmp))?;
        out.get_ref().sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        Ok(size)
    }

    /// Reads checkpoint `batch`, checking its magic, checksum and batch number.
    pub fn read(&self, batch: BatchId) -> Result<Checkpoint, WalError> {
        let path = self.path(batch);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err(&path))?;
        let corrupt = |offset: usize, why: &str| WalError::Corrupt {
            path: path.clone(),
            offset: offset as u64,
            why: why.to_string(),
        };
        let m = MAGIC.len();
        if bytes.len() < m + 8 || &bytes[..m] != MAGIC {
            return Err(corrupt(0, "not a checkpoint file"));
        }
        let (body, tail) = bytes[m..].split_at(bytes.len() - m - 4);
        let crc = u32::from_le_bytes(tail.try_into().unwrap_or_default());
        if crc32fast::hash(body) != crc {
            return Err(corrupt(m, "checksum mismatch"));
        }
        let len = u32::from_le_bytes(body[..4].try_into().unwrap_or_default()) as usize;
        let header: Header = body
            .get(4..4 + len)
            .and_then(|h| postcard::from_bytes(h).ok())
            .ok_or_else(|| corrupt(m + 4, "bad header"))?;
        if header.batch != batch {
            return Err(corrupt(m + 4, "holds another batch"));
        }
        let mut at = 4 + len;
        let mut tables = Vec::with_capacity(header.tables.len());
        for (name, n) in header.tables {
            let end = usize::try_from(n).ok().and_then(|n| at.checked_add(n));
            let rows = end
                .and_then(|end| body.get(at..end))
                .ok_or_else(|| corrupt(m + at, "a table is cut short"))?;
            at += rows.len();
            tables.push((name, rows.to_vec()));
        }
        if at != body.len() {
            return Err(corrupt(m + at, "bytes after the last table"));
        }
        Ok(Checkpoint {
            batch,
            tid: header.tid,
            tables,
        })
    }

    /// The batches of the checkpoints present, ascending.
    pub fn batches(&self) -> Result<Vec<BatchId>, WalError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let path = entry.map_err(io_err(&self.dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let batch = name
                .strip_prefix("checkpoint-")
                .and_then(|n| n.strip_suffix(".ckpt"))
                .and_then(|n| n.parse::<u64>().ok());
            out.extend(batch);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Deletes every checkpoint older than `keep_from`, and any `.tmp` left by a crash while
    /// writing one (but the one of `writing`, in case it is being written).
    pub fn prune(&self, keep_from: BatchId, writing: BatchId) -> Result<usize, WalError> {
        let mut deleted = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let path = entry.map_err(io_err(&self.dir))?.path();
            let stale = path.extension().is_some_and(|e| e == "tmp")
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("checkpoint-"))
                && path != self.path(writing).with_extension("tmp");
            if stale {
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
        for batch in self.batches()? {
            if batch < keep_from {
                let path = self.path(batch);
                std::fs::remove_file(&path).map_err(io_err(&path))?;
                deleted += 1;
            }
        }
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// Bytes on disk in every checkpoint.
    pub fn disk_bytes(&self) -> Result<u64, WalError> {
        let mut total = 0;
        for batch in self.batches()? {
            let path = self.path(batch);
            total += std::fs::metadata(&path).map_err(io_err(&path))?.len();
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vmodb-ckpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn sample(batch: BatchId) -> Checkpoint {
        Checkpoint {
            batch,
            tid: batch * 10,
            tables: vec![
                ("t".into(), vec![3, 0, 0, 0, 1, 2, 3]),
                ("u".into(), vec![]),
            ],
        }
    }

    #[test]
    fn round_trip_prune_and_refusals() {
        let dir = temp("rt");
        let ckpts = CheckpointDir::open(&dir, "svc a").expect("open");
        for b in [3, 7, 9] {
            ckpts.write(&sample(b)).expect("write");
        }
        assert_eq!(ckpts.batches().expect("list"), vec![3, 7, 9]);
        assert_eq!(ckpts.read(7).expect("read"), sample(7));
        assert_eq!(ckpts.prune(7, 9).expect("prune"), 1);
        assert_eq!(ckpts.batches().expect("list"), vec![7, 9]);
        // Another identity's directory is refused.
        let e = CheckpointDir::open(&dir, "svc b").expect_err("refused");
        assert!(e.to_string().contains("refusing"), "{e}");
        // Any flipped byte or a cut end is detected, never restored.
        let path = ckpts.path(9);
        let good = std::fs::read(&path).expect("bytes");
        for at in [0, 9, 17, 25, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            std::fs::write(&path, &bad).expect("write");
            assert!(ckpts.read(9).is_err(), "flip at {at} not detected");
        }
        std::fs::write(&path, &good[..good.len() - 1]).expect("write");
        assert!(ckpts.read(9).is_err());
        // A header whose table lengths overflow (a valid checksum over lying contents) is an
        // error, never a panic.
        let header = Header {
            batch: 9,
            tid: 90,
            tables: vec![("t".into(), u64::MAX), ("u".into(), 2)],
        };
        let header = postcard::to_allocvec(&header).expect("header");
        let mut body = (header.len() as u32).to_le_bytes().to_vec();
        body.extend(&header);
        body.extend([0u8; 8]);
        let mut lying = MAGIC.to_vec();
        lying.extend(&body);
        lying.extend(crc32fast::hash(&body).to_le_bytes());
        std::fs::write(&path, &lying).expect("write");
        let e = ckpts.read(9).expect_err("lengths that overflow");
        assert!(e.to_string().contains("cut short"), "{e}");
        assert!(ckpts.read(4).is_err(), "a missing checkpoint is an error");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
