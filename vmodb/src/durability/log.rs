//! The coordinator's commit log: what it records, the group-commit writer thread, and the
//! recovery plan read back from it.
//!
//! The log holds, per commit step, the batches that committed and every input they sequenced
//! (`LoggedCommit`), and a `Checkpoint` record once every service has checkpointed a batch.
//! Recovery restores each service's checkpoint of the last such batch and re-executes the
//! logged inputs after it: handlers are deterministic given their `TxEnv`, so re-execution
//! reproduces the same state, outputs and aborts (the serial replay argument, `replay.rs`).
//! `Reserve` and `Resume` records keep TIDs and batch ids from ever being reused: numbers are
//! reserved ahead of use, and after a restart numbering resumes above every reserved one. The
//! writer thread that appends them is `writer.rs`.

use crate::model::error::TxError;
use crate::model::schema::BatchId;
use crate::model::schema::Tid;
use crate::storage::tx::TxEnv;

/// A sequenced input, as serial replay (and recovery) needs it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SequencedInput {
    pub env: TxEnv,
    pub batch: BatchId,
    pub transaction: String,
    pub payload: Vec<u8>,
}

/// What the coordinator logs per commit when it has a write-ahead log (`ClusterConfig::data_dir`):
/// the batches committing together and every input they sequenced, in TID order; synced before
/// any client hears of the commit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoggedCommit {
    /// (batch, its max TID), in order.
    pub batches: Vec<(BatchId, Tid)>,
    pub inputs: Vec<SequencedInput>,
    /// Inputs that carried a client request id, with their outputs, so that a resubmission
    /// after a restart is answered in full.
    pub requests: Vec<LoggedRequest>,
    /// The inputs that aborted, with where and why (every other one committed).
    pub aborted: Vec<(Tid, String, TxError)>,
    /// The cluster's running time at this commit, in µs, counted across restarts (time down
    /// does not count): request ids are remembered for `request_retention` of it.
    pub uptime_us: u64,
}

/// A request id, its TID, and the output event (name, payload) if it committed with one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoggedRequest {
    pub tid: Tid,
    pub id: String,
    pub output: Option<(String, Vec<u8>)>,
}

/// One record of the coordinator's log.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LogRecord {
    Commit(LoggedCommit),
    /// Every service holds a durable checkpoint of batch `batch` (watermark `tid`).
    /// `committed`: transactions committed up to it over the cluster's life; `uptime_us`: the
    /// cluster's running time then.
    Checkpoint {
        batch: BatchId,
        tid: Tid,
        committed: u64,
        uptime_us: u64,
    },
    /// No TID at or above `tid` and no batch id at or above `batch` was handed out before
    /// this record is durable (the coordinator reserves numbers ahead of use).
    Reserve {
        tid: Tid,
        batch: BatchId,
    },
    /// After a restart, numbering goes on from `tid` and `batch` (the last reservation), above
    /// every number handed out before; `lost`: TID ranges (first, last) that were handed out
    /// or reserved and never committed, this restart's and the previous ones'.
    Resume {
        tid: Tid,
        batch: BatchId,
        lost: Vec<(Tid, Tid)>,
    },
}

/// A committed batch to re-execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedBatch {
    pub batch: BatchId,
    pub max_tid: Tid,
    pub inputs: Vec<SequencedInput>,
    /// A restart came between the previous logged batch and this one: numbering jumped to
    /// (TID, batch), so re-execution jumps there too before this batch.
    pub resumes_at: Option<(Tid, BatchId)>,
}

/// What one log record is, for the writer's truncation (see `write_loop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexed {
    Commit {
        uptime_us: u64,
        last_batch: BatchId,
    },
    Checkpoint {
        batch: BatchId,
    },
    /// Must outlive truncation: the newest `Reserve` and `Resume` are copied forward.
    Sticky,
}

/// What the log says recovery must do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecoveryPlan {
    /// The last checkpoint every service completed: (batch, watermark). (0, 0) is the initial
    /// data, loaded again.
    pub checkpoint: (BatchId, Tid),
    /// Transactions committed up to the checkpoint, over the cluster's life.
    pub committed: u64,
    /// The batches committed after it, in order: re-executed on the restored checkpoint.
    pub replay: Vec<LoggedBatch>,
    /// The commit records at or before the checkpoint still in the log (request ids and
    /// outcomes; every input when the log is kept whole).
    pub before: Vec<LoggedCommit>,
    /// The last batch the log holds (the checkpoint's when nothing followed).
    pub last_batch: BatchId,
    /// The last TID the log holds.
    pub last_tid: Tid,
    /// Request ids of the transactions to re-execute, by TID.
    pub requests: std::collections::HashMap<Tid, String>,
    /// Where numbering resumes: above every TID and batch id ever handed out.
    pub reserved: (Tid, BatchId),
    /// TID ranges lost in earlier restarts (the last `Resume` record's).
    pub lost: Vec<(Tid, Tid)>,
    /// The cluster's running time at the last record that tells it.
    pub uptime_us: u64,
    /// Every record's index and kind, for the writer's truncation.
    pub index: Vec<(u64, Indexed)>,
}

impl RecoveryPlan {
    /// Reads the plan from the log's records, checking they are consistent: batches
    /// consecutive and TIDs dense after the checkpoint (except where a `Resume` jumps ahead).
    pub fn from_records(records: Vec<(u64, LogRecord)>) -> Result<RecoveryPlan, String> {
        let (checkpoint, committed) = records
            .iter()
            .rev()
            .find_map(|(_, r)| match r {
                LogRecord::Checkpoint {
                    batch,
                    tid,
                    committed,
                    ..
                } => Some(((*batch, *tid), *committed)),
                _ => None,
            })
            .unwrap_or(((0, 0), 0));
        let mut plan = RecoveryPlan {
            checkpoint,
            committed,
            last_batch: checkpoint.0,
            last_tid: checkpoint.1,
            ..RecoveryPlan::default()
        };
        let mut last: Option<BatchId> = None;
        let mut next_tid = checkpoint.1 + 1;
        let mut reserved: Option<(Tid, BatchId)> = None;
        // A restart's jump not yet attached to the batch that follows it.
        let mut jump: Option<(Tid, BatchId)> = None;
        for (index, record) in records {
            let commit = match record {
                LogRecord::Commit(commit) => commit,
                LogRecord::Checkpoint {
                    uptime_us, batch, ..
                } => {
                    plan.uptime_us = plan.uptime_us.max(uptime_us);
                    plan.index.push((index, Indexed::Checkpoint { batch }));
                    continue;
                }
                LogRecord::Reserve { tid, batch } => {
                    let (t, b) = reserved.unwrap_or((0, 0));
                    reserved = Some((t.max(tid), b.max(batch)));
                    plan.index.push((index, Indexed::Sticky));
                    continue;
                }
                LogRecord::Resume { tid, batch, lost } => {
                    // Numbers only ever go up: a copy of an old `Resume` (see `truncate`)
                    // changes nothing, and before any commit the next one sets the pace.
                    if let Some(l) = last.filter(|l| batch > *l + 1) {
                        last = Some(batch - 1).max(Some(l));
                    }
                    // A jump within what is re-executed: recovery must jump there too.
                    if tid > next_tid {
                        jump = Some((tid, batch));
                    }
                    next_tid = next_tid.max(tid);
                    plan.lost = lost;
                    plan.index.push((index, Indexed::Sticky));
                    continue;
                }
            };
            plan.uptime_us = plan.uptime_us.max(commit.uptime_us);
            let uptime_us = commit.uptime_us;
            let last_batch = commit.batches.last().map_or(0, |b| b.0);
            plan.index.push((
                index,
                Indexed::Commit {
                    uptime_us,
                    last_batch,
                },
            ));
            for &(batch, max_tid) in &commit.batches {
                if last.is_some_and(|l| batch != l + 1) {
                    return Err(format!(
                        "log record {index}: batch {batch} follows batch {last:?}: the log is inconsistent"
                    ));
                }
                last = Some(batch);
                plan.last_tid = plan.last_tid.max(max_tid);
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
                    resumes_at: jump.take(),
                });
            }
            if inputs.next().is_some() {
                return Err(format!("log record {index}: an input of no logged batch"));
            }
        }
        if plan.replay.is_empty() {
            plan.last_batch = last.unwrap_or(0).max(checkpoint.0);
        }
        // A log from before reservations: everything logged was all that was handed out.
        let after_log = (plan.last_tid + 1, plan.last_batch + 1);
        let (t, b) = reserved.unwrap_or(after_log);
        plan.reserved = (t.max(after_log.0), b.max(after_log.1));
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
    let uptime_us = c.uptime_us;
    let part = |batches, inputs, requests, aborted| LoggedCommit {
        batches,
        inputs,
        requests,
        aborted,
        uptime_us,
    };
    (part(b1, i1, r1, a1), part(b2, i2, r2, a2))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::tx::TxEnv;

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
            uptime_us: batches[0].0 * 1000,
        })
    }

    pub(crate) fn checkpoint(batch: BatchId, tid: Tid) -> LogRecord {
        LogRecord::Checkpoint {
            batch,
            tid,
            committed: tid,
            uptime_us: batch * 1000,
        }
    }

    #[test]
    fn a_commit_step_spanning_the_checkpoint_is_split() {
        // Batches 1-3 committed in one step (TIDs 1..=6), 4 alone; checkpoint at batch 2.
        let records = vec![
            (0, commit(&[(1, 1, 2), (2, 3, 4), (3, 5, 6)])),
            (1, checkpoint(2, 4)),
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

    /// After a restart numbering jumps to the reservation, and the plan follows the jump only
    /// where a `Resume` says so; the reservation survives as the highest one seen.
    #[test]
    fn numbering_resumes_above_every_reservation() {
        let records = vec![
            (
                0,
                LogRecord::Reserve {
                    tid: 100,
                    batch: 50,
                },
            ),
            (1, commit(&[(1, 1, 2)])),
            (
                2,
                LogRecord::Reserve {
                    tid: 400,
                    batch: 100,
                },
            ),
            (
                3,
                LogRecord::Resume {
                    tid: 300,
                    batch: 90,
                    lost: vec![(3, 299)],
                },
            ),
            (4, commit(&[(90, 300, 301), (91, 302, 302)])),
            (
                5,
                LogRecord::Reserve {
                    tid: 200,
                    batch: 60,
                },
            ),
        ];
        let plan = RecoveryPlan::from_records(records).expect("consistent");
        assert_eq!(plan.reserved, (400, 100));
        assert_eq!(plan.last_tid, 302);
        assert_eq!(plan.last_batch, 91);
        assert_eq!(plan.lost, vec![(3, 299)]);
        assert_eq!(plan.replay.len(), 3);
        let jumps: Vec<_> = plan.replay.iter().map(|b| b.resumes_at).collect();
        assert_eq!(jumps, vec![None, Some((300, 90)), None]);
        // Without the `Resume`, the jump is a gap.
        let records = vec![(0, commit(&[(1, 1, 2)])), (1, commit(&[(90, 300, 301)]))];
        assert!(RecoveryPlan::from_records(records).is_err());
        // A log without reservations resumes right after what it holds.
        let plan = RecoveryPlan::from_records(vec![(0, commit(&[(1, 1, 2)]))]).expect("plan");
        assert_eq!(plan.reserved, (3, 2));
    }
}
