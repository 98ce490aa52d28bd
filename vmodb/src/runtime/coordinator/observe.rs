//! What the coordinator tells about itself, for the front door, the harness and tests: how far
//! it has committed and announced, its counters, and waits on them.

use super::*;
use std::time::Instant;

/// How long a read after a restart waits for the re-execution of the log to reach every commit
/// clients heard of before it.
const RECOVERY_WAIT: Duration = Duration::from_secs(60);

impl Coordinator {
    /// Blocks until every transaction sequenced so far has committed and its `CommitBatch`
    /// messages have been handed to the transport, or `deadline` passes.
    pub fn wait_idle(&self, deadline: Instant) -> bool {
        let mut st = self.state.lock();
        while !st.records.is_empty() || st.batches.committing > 0 {
            if st.shut_down {
                return false; // what is in flight will never commit
            }
            if self.committed.wait_until(&mut st, deadline).timed_out() {
                return st.records.is_empty() && st.batches.committing == 0;
            }
        }
        true
    }

    /// Waits until every commit logged before a restart has been re-executed and announced
    /// again (at once without a restart): until then the services hold an older state than
    /// clients were told of, and a read would be stale. False if `deadline` came first.
    pub fn wait_recovered(&self, deadline: Instant) -> bool {
        let target = self
            .recovery_target
            .load(std::sync::atomic::Ordering::Acquire);
        if self.announced() >= target {
            return true; // the common case: no lock
        }
        let mut st = self.state.lock();
        while self.announced() < target {
            if st.shut_down {
                return false; // re-execution stopped
            }
            if self.committed.wait_until(&mut st, deadline).timed_out() {
                return self.announced() >= target;
            }
        }
        true
    }

    /// What every read does first, embedded or in a process: `wait_recovered` for at most
    /// `RECOVERY_WAIT`; the error says why the read cannot be served yet.
    pub fn recovered_for_read(&self) -> Result<(), String> {
        if self.wait_recovered(Instant::now() + RECOVERY_WAIT) {
            return Ok(());
        }
        match self.failure() {
            Some(why) => Err(format!("the coordinator stopped: {why}")),
            None if self.state.lock().shut_down => Err("the coordinator stopped".into()),
            None => {
                Err("still re-executing the commit log after a restart: try again shortly".into())
            }
        }
    }

    /// The max TID of the last commit announced: every client told of a commit has been told
    /// of one at or below it, and every service was sent it.
    pub fn announced(&self) -> Tid {
        self.announced.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn committed_inputs(&self) -> Vec<SequencedInput> {
        self.state.lock().committed_inputs.clone()
    }

    pub fn stats(&self) -> CoordinatorStats {
        let st = self.state.lock();
        CoordinatorStats {
            sequenced: st.durable.committed + st.records.len() as u64,
            in_flight: st.records.len(),
            last_committed_batch: st.batches.last_committed,
            sealed_pending: st.batches.sealed.len(),
            rollback: st.rollback.stats,
            recovered: st.durable.recovered,
            last_checkpoint: st.durable.last_checkpoint.0,
            lost_tids: st.durable.numbering.lost.clone(),
            committed_tid: self.announced(),
            last_tid: st.seq.next_tid - 1,
            settled: self.settled.load(std::sync::atomic::Ordering::Acquire),
        }
    }
}
