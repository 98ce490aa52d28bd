//! The commit log's writer thread: group commit, continuations once durable, and truncation
//! behind checkpoints (keeping what recovery and request ids need).

use super::log::{Indexed, LogRecord};
use crate::model::schema::BatchId;
use crate::storage::wal::Wal;
use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// Under the simulator: the writer it runs, step by step (no thread).
    simulated: Option<Arc<SimLog>>,
}

/// What the log must keep when it truncates.
#[derive(Clone, Debug)]
pub(crate) struct Keep {
    /// Keep everything (`record_inputs`: the full history survives restarts).
    pub all: bool,
    /// Keep the commits of this much running time before the newest (their request ids).
    pub retention: Duration,
}

impl CommitLog {
    /// Starts the writer over `wal`, whose records so far are `index` (from the recovery plan,
    /// so truncation goes on across restarts). Each new checkpoint record lets the log drop the
    /// segments that hold neither the commits after the checkpoint before it nor the commits
    /// within `keep.retention` of the newest (see `write_loop`).
    pub fn start(wal: Wal, keep: Keep, index: Vec<(u64, Indexed)>) -> std::io::Result<CommitLog> {
        let (jobs, rx) = crossbeam_channel::unbounded();
        let writer = LogWriter::new(wal, keep, index);
        let thread = std::thread::Builder::new()
            .name("vmodb-commit-log".into())
            .spawn(move || write_loop(writer, rx))?;
        Ok(CommitLog {
            jobs,
            thread: parking_lot::Mutex::new(Some(thread)),
            simulated: None,
        })
    }

    /// `start` without a thread: the simulator syncs and runs continuations (`SimLog`).
    pub fn simulated(wal: Wal, keep: Keep, index: Vec<(u64, Indexed)>) -> (CommitLog, Arc<SimLog>) {
        let (jobs, rx) = crossbeam_channel::unbounded();
        let sim = Arc::new(SimLog {
            jobs: rx,
            writer: parking_lot::Mutex::new(LogWriter::new(wal, keep, index)),
            synced: parking_lot::Mutex::new(VecDeque::new()),
        });
        let log = CommitLog {
            jobs,
            thread: parking_lot::Mutex::new(None),
            simulated: Some(Arc::clone(&sim)),
        };
        (log, sim)
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

    /// Appends `records` and waits until they are durable.
    pub fn append_durably(&self, records: Vec<LogRecord>) -> Result<(), String> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let n = records.len();
        for (i, r) in records.into_iter().enumerate() {
            let then: Option<Then> = (i + 1 == n).then(|| {
                let tx = tx.clone();
                Box::new(move |done: Result<(), String>| drop(tx.send(done))) as Then
            });
            self.append(Some(r), then);
        }
        drop(tx);
        if let Some(sim) = &self.simulated {
            // Nothing else runs the simulated writer meanwhile: durable now, told now.
            sim.sync();
            while sim.announce_next() {}
        }
        rx.recv()
            .unwrap_or_else(|_| Err("the commit log stopped".into()))
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

/// The writer's view of the log for truncation: the commits still held (index, running time,
/// last batch), the last checkpoint record (index, batch), and the newest records that must
/// outlive any truncation.
struct Retained {
    commits: VecDeque<(u64, u64, BatchId)>,
    checkpoint: Option<(u64, BatchId)>,
    sticky: Vec<(u64, Option<LogRecord>)>,
}

impl Retained {
    fn new(index: Vec<(u64, Indexed)>) -> Retained {
        let mut r = Retained {
            commits: VecDeque::new(),
            checkpoint: None,
            sticky: Vec::new(),
        };
        for (i, kind) in index {
            match kind {
                Indexed::Commit {
                    uptime_us,
                    last_batch,
                } => r.commits.push_back((i, uptime_us, last_batch)),
                Indexed::Checkpoint { batch } => r.checkpoint = Some((i, batch)),
                // The record itself is not known here: copied forward once it is.
                Indexed::Sticky => r.sticky.push((i, None)),
            }
        }
        r
    }

    fn note(&mut self, index: u64, record: &LogRecord) {
        match record {
            LogRecord::Commit(c) => {
                let last = c.batches.last().map_or(0, |b| b.0);
                self.commits.push_back((index, c.uptime_us, last));
            }
            LogRecord::Checkpoint { batch, .. } => self.checkpoint = Some((index, *batch)),
            LogRecord::Reserve { .. } | LogRecord::Resume { .. } => {
                let same_kind = |r: &Option<LogRecord>| {
                    r.as_ref().is_some_and(|r| {
                        std::mem::discriminant(r) == std::mem::discriminant(record)
                    })
                };
                self.sticky.retain(|(_, r)| r.is_some() && !same_kind(r));
                self.sticky.push((index, Some(record.clone())));
            }
        }
    }

    /// The first index to keep: the last checkpoint record and every commit of a batch after
    /// its batch (for recovery: those were logged while the services wrote the checkpoint, so
    /// before its record), and the commits within `retention` of the newest (request ids).
    fn keep_from(&mut self, retention: Duration) -> Option<u64> {
        let (checkpoint, batch) = self.checkpoint?;
        let after = self.commits.iter().find(|c| c.2 > batch).map(|c| c.0);
        let newest = self.commits.back().map_or(0, |c| c.1);
        let horizon = newest.saturating_sub(retention.as_micros() as u64);
        let recent = self.commits.iter().find(|c| c.1 >= horizon).map(|c| c.0);
        let keep_from = [Some(checkpoint), after, recent]
            .into_iter()
            .flatten()
            .min()?;
        while self.commits.front().is_some_and(|c| c.0 < keep_from) {
            self.commits.pop_front();
        }
        Some(keep_from)
    }
}

/// The writer's state: the log, what truncation keeps, and the first failure (after which
/// nothing more is written and every continuation hears why).
struct LogWriter {
    wal: Wal,
    keep: Keep,
    retained: Retained,
    failed: Option<String>,
}

/// A continuation and what it is told.
type Told = (Then, Result<(), String>);

impl LogWriter {
    fn new(wal: Wal, keep: Keep, index: Vec<(u64, Indexed)>) -> LogWriter {
        LogWriter {
            wal,
            keep,
            retained: Retained::new(index),
            failed: None,
        }
    }

    /// Appends the records of `group`, syncs once, truncates behind a new checkpoint; returns
    /// the continuations, in order, with what each is told, and whether a `Stop` was queued.
    fn write(&mut self, group: Vec<Job>) -> (Vec<Told>, bool) {
        let mut thens = Vec::new();
        let mut stop = false;
        let mut new_checkpoint = false;
        for job in group {
            match job {
                Job::Stop => stop = true,
                Job::Append { record, then } => {
                    if let (Some(r), None) = (&record, &self.failed) {
                        match self.wal.append(r) {
                            Ok(index) => {
                                // Kept whole: nothing to track for truncation.
                                if !self.keep.all {
                                    self.retained.note(index, r);
                                }
                                new_checkpoint |= matches!(r, LogRecord::Checkpoint { .. });
                            }
                            Err(e) => self.failed = Some(e.to_string()),
                        }
                    }
                    thens.extend(then);
                }
            }
        }
        if self.failed.is_none()
            && let Err(e) = self.wal.sync()
        {
            self.failed = Some(e.to_string());
        }
        if self.failed.is_none() && new_checkpoint && !self.keep.all {
            truncate(&mut self.wal, &mut self.retained, &self.keep);
        }
        let told = thens
            .into_iter()
            .map(|then| {
                let result = match &self.failed {
                    None => Ok(()),
                    Some(e) => Err(e.clone()),
                };
                (then, result)
            })
            .collect();
        (told, stop)
    }
}

fn write_loop(mut writer: LogWriter, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter());
        let (told, stop) = writer.write(group);
        for (then, result) in told {
            then(result);
        }
        if stop {
            return;
        }
    }
}

/// The commit log under the simulator: appended records wait until the simulation syncs them
/// (`sync`), and their continuations until it runs them (`announce_next`), so that a crash can
/// fall before a sync, or after a sync and before the commit it made durable was announced.
pub(crate) struct SimLog {
    jobs: Receiver<Job>,
    writer: parking_lot::Mutex<LogWriter>,
    synced: parking_lot::Mutex<VecDeque<Told>>,
}

impl SimLog {
    /// Records or continuations wait to be written.
    pub fn unsynced(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// Continuations of durable records wait to run.
    pub fn unannounced(&self) -> bool {
        !self.synced.lock().is_empty()
    }

    /// Writes and syncs everything queued, as one group.
    pub fn sync(&self) {
        let group: Vec<Job> = self.jobs.try_iter().collect();
        if group.is_empty() {
            return;
        }
        let (told, _) = self.writer.lock().write(group);
        self.synced.lock().extend(told);
    }

    /// Runs the oldest waiting continuation; false if none waits.
    pub fn announce_next(&self) -> bool {
        let next = self.synced.lock().pop_front();
        match next {
            Some((then, result)) => {
                then(result);
                true
            }
            None => false,
        }
    }

    /// A crash: appended records not synced, and continuations not run, are gone (they hold
    /// the coordinator, which holds this log).
    pub fn lose_pending(&self) {
        while self.jobs.try_recv().is_ok() {}
        self.synced.lock().clear();
    }

    /// A crash during a write: the records appended and not synced are written, and of their
    /// bytes only a prefix (`keep` of their number) reaches the log, so that its last record may
    /// be torn, or whole but never acknowledged. Continuations not run are gone. Returns the
    /// records so written and (bytes kept, bytes they took).
    pub fn crash_mid_write(&self, keep: impl FnOnce(usize) -> usize) -> (usize, (usize, usize)) {
        let records: Vec<LogRecord> = (self.jobs.try_iter())
            .filter_map(|job| match job {
                Job::Append { record, .. } => record,
                Job::Stop => None,
            })
            .collect();
        self.synced.lock().clear();
        let mut writer = self.writer.lock();
        if writer.failed.is_some() || records.is_empty() {
            return (0, (0, 0));
        }
        for r in &records {
            if writer.wal.append(r).is_err() {
                return (0, (0, 0));
            }
        }
        match writer.wal.tear(keep) {
            Ok(bytes) => (records.len(), bytes),
            Err(e) => {
                tracing::warn!("simulated crash: {e}");
                (0, (0, 0))
            }
        }
    }
}

/// Drops the segments below what must be kept, copying the newest `Reserve` and `Resume`
/// forward (durably) first if they lie below it. Not fatal if it fails: the log only grows
/// until a later truncation succeeds.
fn truncate(wal: &mut Wal, retained: &mut Retained, keep: &Keep) {
    let Some(keep_from) = retained.keep_from(keep.retention) else {
        return;
    };
    let stale: Vec<_> = retained
        .sticky
        .iter()
        .filter(|(i, _)| *i < keep_from)
        .map(|(_, r)| r.clone())
        .collect();
    // A sticky record read at open is not known here: keep everything until it is rewritten.
    if stale.iter().any(Option::is_none) {
        return;
    }
    let copied = stale.into_iter().flatten().try_for_each(|r| {
        let index = wal.append(&r)?;
        retained.note(index, &r);
        Ok::<_, crate::storage::wal::WalError>(())
    });
    if let Err(e) = copied
        .and_then(|()| wal.sync())
        .and_then(|()| wal.truncate_before(keep_from))
    {
        tracing::warn!("commit log: truncation failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::log::tests::checkpoint;

    /// Truncation keeps the last checkpoint's commits and those within the retention, and
    /// works from what a restart read (not only what this writer appended).
    #[test]
    fn truncation_keeps_recovery_and_retention() {
        let commit = |uptime_s: u64, last_batch| Indexed::Commit {
            uptime_us: uptime_s * 1_000_000,
            last_batch,
        };
        let index = vec![
            (0, commit(0, 1)),
            (1, commit(1, 2)),
            (2, Indexed::Checkpoint { batch: 2 }),
            (3, commit(5, 3)),
            (4, commit(9, 4)),
        ];
        let mut r = Retained::new(index.clone());
        // Retention 10 s reaches back to the first commit: nothing may go.
        assert_eq!(r.keep_from(Duration::from_secs(10)), Some(0));
        // 5 s: the commits from 4 s on, and the checkpoint at 2.
        let mut r = Retained::new(index.clone());
        assert_eq!(r.keep_from(Duration::from_secs(5)), Some(2));
        // 1 s: only what recovery needs.
        r.note(5, &checkpoint(4, 40));
        assert_eq!(r.keep_from(Duration::from_secs(1)), Some(4));
        // No checkpoint yet: nothing to truncate to.
        let mut r = Retained::new(vec![(0, commit(0, 1))]);
        assert_eq!(r.keep_from(Duration::ZERO), None);
    }

    /// Services write a checkpoint while later batches commit: those commits are logged before
    /// the checkpoint record, and recovery re-executes them, so truncation keeps them.
    #[test]
    fn commits_logged_while_a_checkpoint_was_written_are_kept() {
        let commit = |last_batch| Indexed::Commit {
            uptime_us: last_batch * 1_000_000,
            last_batch,
        };
        let index = vec![
            (0, commit(1)),
            (1, commit(2)), // checkpointed at batch 2 ...
            (2, commit(3)), // ... while 3 and 4 committed
            (3, commit(4)),
            (4, Indexed::Checkpoint { batch: 2 }),
        ];
        let mut r = Retained::new(index);
        assert_eq!(r.keep_from(Duration::ZERO), Some(2));
    }
}
