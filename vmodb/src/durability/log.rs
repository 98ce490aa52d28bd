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
            // A commit step may span the checkpoint: its part up to it is history.
            let (before, after) = split_at_checkpoint(commit, checkpoint);
            if !before.batches.is_empty() {
                plan.before.push(before);
            }
            if after.batches.is_empty() {
                continue;
            }
            plan.requests
                .extend(after.requests.into_iter().map(|r| (r.tid, r.id)));
            let mut inputs = after.inputs.into_iter().peekable();
            for (batch, max_tid) in after.batches {
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

/// Splits a commit step into its batches up to checkpoint `(batch, tid)` and those after it.
fn split_at_checkpoint(
    c: LoggedCommit,
    (batch, tid): (BatchId, Tid),
) -> (LoggedCommit, LoggedCommit) {
    let (b1, b2) = c.batches.into_iter().partition(|(b, _)| *b <= batch);
    let (i1, i2) = c.inputs.into_iter().partition(|i| i.batch <= batch);
    let (r1, r2) = c.requests.into_iter().partition(|r| r.tid <= tid);
    let (a1, a2) = c.aborted.into_iter().partition(|a| a.0 <= tid);
    let part = |batches, inputs, requests, aborted| LoggedCommit {
        batches,
        inputs,
        requests,
        aborted,
    };
    (part(b1, i1, r1, a1), part(b2, i2, r2, a2))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::LoggedRequest;
    use crate::tx::TxEnv;

    fn input(tid: Tid, batch: BatchId) -> SequencedInput {
        SequencedInput {
            env: TxEnv {
                tid,
                timestamp_us: tid,
                seed: tid,
            },
            batch,
            transaction: "t".into(),
            payload: vec![tid as u8],
        }
    }

    fn commit(batches: &[(BatchId, Tid, Tid)]) -> LogRecord {
        LogRecord::Commit(LoggedCommit {
            batches: batches.iter().map(|(b, _, max)| (*b, *max)).collect(),
            inputs: batches
                .iter()
                .flat_map(|(b, first, max)| (*first..=*max).map(|t| input(t, *b)))
                .collect(),
            requests: batches
                .iter()
                .map(|(_, first, _)| LoggedRequest {
                    tid: *first,
                    id: format!("r{first}"),
                    output: None,
                })
                .collect(),
            aborted: Vec::new(),
        })
    }

    #[test]
    fn a_commit_step_spanning_the_checkpoint_is_split() {
        // Batches 1-3 committed in one step (TIDs 1..=6), 4 alone; checkpoint at batch 2.
        let records = vec![
            (0, commit(&[(1, 1, 2), (2, 3, 4), (3, 5, 6)])),
            (1, LogRecord::Checkpoint { batch: 2, tid: 4 }),
            (2, commit(&[(4, 7, 7)])),
        ];
        let plan = RecoveryPlan::from_records(records).expect("consistent");
        assert_eq!(plan.checkpoint, (2, 4));
        assert_eq!(plan.last_batch, 4);
        let replayed: Vec<_> = plan.replay.iter().map(|b| (b.batch, b.max_tid)).collect();
        assert_eq!(replayed, vec![(3, 6), (4, 7)]);
        assert_eq!(plan.replay[0].inputs, vec![input(5, 3), input(6, 3)]);
        assert_eq!(plan.before.len(), 1);
        assert_eq!(plan.before[0].batches, vec![(1, 2), (2, 4)]);
        assert_eq!(plan.before[0].requests.len(), 2);
        assert_eq!(plan.requests.get(&5).map(String::as_str), Some("r5"));
    }

    #[test]
    fn gaps_are_refused() {
        let records = vec![(0, commit(&[(1, 1, 2)])), (1, commit(&[(3, 3, 3)]))];
        let e = RecoveryPlan::from_records(records).expect_err("a missing batch");
        assert!(e.contains("inconsistent"), "{e}");
        let records = vec![(0, commit(&[(1, 1, 2)])), (1, commit(&[(2, 4, 4)]))];
        let e = RecoveryPlan::from_records(records).expect_err("a missing TID");
        assert!(e.contains("TID 4 where 3"), "{e}");
    }
}
