//! The coordinator's commit log: what it records, the group-commit writer thread, and the
//! recovery plan read back from it.
//!
//! The log holds, per commit step, the batches that committed and every input they sequenced
//! (`LoggedCommit`), and a `Checkpoint` record once every service has checkpointed a batch.
//! Recovery restores each service's checkpoint of the last such batch and re-executes the
//! logged inputs after it: handlers are deterministic given their `TxEnv`, so re-execution
//! reproduces the same state, outputs and aborts (the serial replay argument, `replay.rs`).

use crate::coordinator::{LoggedCommit, SequencedInput};
use crate::message::BatchId;
use crate::schema::Tid;
use crate::wal::Wal;
use crossbeam_channel::{Receiver, Sender};
use std::thread::JoinHandle;

/// One record of the coordinator's log.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LogRecord {
    Commit(LoggedCommit),
    /// Every service holds a durable checkpoint of batch `batch` (watermark `tid`).
    Checkpoint {
        batch: BatchId,
        tid: Tid,
    },
}

/// A committed batch to re-execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedBatch {
    pub batch: BatchId,
    pub max_tid: Tid,
    pub inputs: Vec<SequencedInput>,
}

/// What the log says recovery must do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecoveryPlan {
    /// The last checkpoint every service completed: (batch, watermark). (0, 0) is the initial
    /// data, loaded again.
    pub checkpoint: (BatchId, Tid),
    /// The batches committed after it, in order: re-executed on the restored checkpoint.
    pub replay: Vec<LoggedBatch>,
    /// The commit records at or before the checkpoint still in the log (request ids and
    /// outcomes; every input when the log is kept whole).
    pub before: Vec<LoggedCommit>,
    /// The last batch the log holds (the checkpoint's when nothing followed).
    pub last_batch: BatchId,
    /// Request ids of the transactions to re-execute, by TID.
    pub requests: std::collections::HashMap<Tid, String>,
}

impl RecoveryPlan {
    /// Reads the plan from the log's records, checking they are consistent: batches
    /// consecutive, TIDs dense after the checkpoint.
    pub fn from_records(records: Vec<(u64, LogRecord)>) -> Result<RecoveryPlan, String> {
        let checkpoint = records
            .iter()
            .rev()
            .find_map(|(_, r)| match r {
                LogRecord::Checkpoint { batch, tid } => Some((*batch, *tid)),
                LogRecord::Commit(_) => None,
            })
            .unwrap_or((0, 0));
        let mut plan = RecoveryPlan {
            checkpoint,
            last_batch: checkpoint.0,
            ..RecoveryPlan::default()
        };
        let mut last: Option<BatchId> = None;
        let mut next_tid = checkpoint.1 + 1;
        for (index, record) in records {
            let LogRecord::Commit(commit) = record else {
                continue;
            };
            for &(batch, _) in &commit.batches {
                if last.is_some_and(|l| batch != l + 1) {
                    return Err(format!(
                        "log record {index}: batch {batch} follows batch {last:?}: the log is inconsistent"
                    ));
                }
                last = Some(batch);
            }
            let Some(&(last_here, _)) = commit.batches.last() else {
                continue;
            };
            if last_here <= checkpoint.0 {
                plan.before.push(commit);
                continue;
            }
            if commit.batches[0].0 <= checkpoint.0 {
                return Err(format!(
                    "log record {index}: a commit spans checkpoint batch {}: the log is inconsistent",
                    checkpoint.0
                ));
            }
            plan.requests.extend(commit.requests);
            let mut inputs = commit.inputs.into_iter().peekable();
            for (batch, max_tid) in commit.batches {
                let mut mine = Vec::new();
                while let Some(input) = inputs.next_if(|i| i.batch == batch) {
                    if input.env.tid != next_tid {
                        return Err(format!(
                            "log record {index}: TID {} where {next_tid} was expected",
                            input.env.tid
                        ));
                    }
                    next_tid += 1;
                    mine.push(input);
                }
                if next_tid != max_tid + 1 {
                    return Err(format!(
                        "log record {index}: batch {batch} ends at TID {max_tid}, its inputs at {}",
                        next_tid - 1
                    ));
                }
                plan.last_batch = batch;
                plan.replay.push(LoggedBatch {
                    batch,
                    max_tid,
                    inputs: mine,
                });
            }
            if inputs.next().is_some() {
                return Err(format!("log record {index}: an input of no logged batch"));
            }
        }
        if plan.replay.is_empty() {
            plan.last_batch = last.unwrap_or(0).max(checkpoint.0);
        }
        Ok(plan)
    }
}

/// Runs after a record is durable (`Ok`) or could not be made so (`Err`, why).
pub(crate) type Then = Box<dyn FnOnce(Result<(), String>) + Send>;

enum Job {
    Append {
        record: Option<LogRecord>,
        then: Option<Then>,
    },
    Stop,
}

/// The log's writer thread: it takes every job queued, appends their records, syncs once
/// (group commit: one `fdatasync` however many commit steps queued meanwhile), then runs their
/// continuations in order. The coordinator keeps sequencing and executing the next batches
/// while a sync is in progress; only the announcement of a commit waits for it.
pub(crate) struct CommitLog {
    jobs: Sender<Job>,
    thread: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl CommitLog {
    /// Starts the writer over `wal`. Unless `keep_all`, a new checkpoint record lets the log
    /// drop every segment before the previous one (a restart still finds the request ids and
    /// outcomes of a full checkpoint interval before its recovery point).
    pub fn start(wal: Wal, keep_all: bool) -> std::io::Result<CommitLog> {
        let (jobs, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("vmodb-commit-log".into())
            .spawn(move || write_loop(wal, keep_all, rx))?;
        Ok(CommitLog {
            jobs,
            thread: parking_lot::Mutex::new(Some(thread)),
        })
    }

    /// Queues `record` (if any) and `then`, run once everything queued before is durable.
    pub fn append(&self, record: Option<LogRecord>, then: Option<Then>) {
        if let Err(crossbeam_channel::SendError(Job::Append {
            then: Some(then), ..
        })) = self.jobs.send(Job::Append { record, then })
        {
            then(Err("the commit log stopped".into()));
        }
    }

    /// Stops the writer after the jobs queued so far; waits for it unless called from it.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            if h.thread().id() == std::thread::current().id() {
                return;
            }
            let _ = h.join();
        }
    }
}

impl Drop for CommitLog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_loop(mut wal: Wal, keep_all: bool, jobs: Receiver<Job>) {
    let mut failed: Option<String> = None;
    // Indexes of the last two checkpoint records appended.
    let mut checkpoints: Vec<u64> = Vec::new();
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter());
        let mut thens = Vec::new();
        let mut stop = false;
        let mut new_checkpoint = false;
        for job in group {
            match job {
                Job::Stop => stop = true,
                Job::Append { record, then } => {
                    if let (Some(r), None) = (&record, &failed) {
                        match wal.append(r) {
                            Ok(index) if matches!(r, LogRecord::Checkpoint { .. }) => {
                                checkpoints.push(index);
                                new_checkpoint = true;
                            }
                            Ok(_) => {}
                            Err(e) => failed = Some(e.to_string()),
                        }
                    }
                    thens.extend(then);
                }
            }
        }
        if failed.is_none()
            && let Err(e) = wal.sync()
        {
            failed = Some(e.to_string());
        }
        if new_checkpoint && !keep_all && failed.is_none() && checkpoints.len() >= 2 {
            let keep_from = checkpoints[checkpoints.len() - 2];
            checkpoints.drain(..checkpoints.len() - 2);
            if let Err(e) = wal.truncate_before(keep_from) {
                // Not fatal: the log only grows until a later truncation succeeds.
                crate::node::log_warning(&format!("commit log: truncation failed: {e}"));
            }
        }
        for then in thens {
            then(match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            });
        }
        if stop {
            return;
        }
    }
}
