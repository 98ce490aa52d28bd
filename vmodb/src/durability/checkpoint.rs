//! Checkpoints: one service's committed state at a batch boundary, one file per checkpoint.
//!
//! `checkpoint-<batch, 20 digits>.ckpt` holds a magic, then `[len u64 LE][crc32 u32 LE]` and a
//! postcard body: the header (batch, watermark TID) and every table's rows as
//! `dump_encoded` wrote them. A file is written to a `.tmp` name, synced, renamed and the
//! directory synced, so a crash leaves either the whole checkpoint or none. The directory's
//! `IDENTITY` (shared with the WAL) refuses another service's or application's files.

use crate::message::BatchId;
use crate::schema::Tid;
use crate::wal::{WalError, check_identity, io_err, sync_dir};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"VMODBCK1";

/// A service's tables as of the end of batch `batch` (watermark `tid`).
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub batch: BatchId,
    pub tid: Tid,
    /// Table name → rows, each row encoded as its entity (postcard).
    pub tables: Vec<(String, Vec<Vec<u8>>)>,
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
        let body =
            postcard::to_allocvec(checkpoint).map_err(|e| WalError::Encode(e.to_string()))?;
        let path = self.path(checkpoint.batch);
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)
            .and_then(|_| out.write_all(&(body.len() as u64).to_le_bytes()))
            .and_then(|_| out.write_all(&crc32fast::hash(&body).to_le_bytes()))
            .and_then(|_| out.write_all(&body))
            .and_then(|_| out.flush())
            .map_err(io_err(&tmp))?;
        out.get_ref().sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        Ok((MAGIC.len() + 12 + body.len()) as u64)
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
        let head = MAGIC.len() + 12;
        if bytes.len() < head || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt(0, "not a checkpoint file"));
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(bytes[16..20].try_into().unwrap_or_default());
        let body = bytes
            .get(head..)
            .filter(|b| b.len() == len)
            .ok_or_else(|| corrupt(head, "truncated"))?;
        if crc32fast::hash(body) != crc {
            return Err(corrupt(head, "checksum mismatch"));
        }
        let checkpoint: Checkpoint =
            postcard::from_bytes(body).map_err(|e| corrupt(head, &e.to_string()))?;
        if checkpoint.batch != batch {
            return Err(corrupt(head, "holds another batch"));
        }
        Ok(checkpoint)
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
    /// writing one.
    pub fn prune(&self, keep_from: BatchId) -> Result<usize, WalError> {
        let mut deleted = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let path = entry.map_err(io_err(&self.dir))?.path();
            let stale = path.extension().is_some_and(|e| e == "tmp")
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("checkpoint-"))
                && path != self.path(keep_from).with_extension("tmp");
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
                ("t".into(), vec![vec![1, 2, 3], vec![4]]),
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
        assert_eq!(ckpts.prune(7).expect("prune"), 1);
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
        assert!(ckpts.read(4).is_err(), "a missing checkpoint is an error");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
