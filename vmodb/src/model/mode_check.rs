//! The mode checker (opt-in, for tests and checked runs): records which rows each running task of
//! a service reads and writes, and reports every pair of concurrently running tasks in which the
//! earlier task writes a row the later task touches. That is exactly what a wrong `parallel` or
//! `partition_by` declaration allows (the schedule is then not equivalent to TID order); the
//! scheduler alone trusts the declarations, as the paper's proof does.
//!
//! Granularity is the row (table, key). Index and full scans record the rows they return, so a
//! phantom (a row inserted by a concurrent earlier task that a scan would have returned) is not
//! seen.

use crate::model::schema::Tid;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Violations kept verbatim; the count goes on.
const KEEP: usize = 100;

struct Running {
    tid: Tid,
    handler: String,
    /// (table, key hash, is write)
    accesses: Vec<(usize, u64, bool)>,
}

#[derive(Default)]
pub(crate) struct ModeChecker {
    running: Mutex<Vec<Running>>,
    violations: Mutex<Vec<String>>,
    count: AtomicU64,
}

impl ModeChecker {
    pub fn begin(&self, tid: Tid, handler: &str) {
        self.running.lock().push(Running {
            tid,
            handler: handler.to_string(),
            accesses: Vec::new(),
        });
    }

    pub fn end(&self, tid: Tid) {
        self.running.lock().retain(|r| r.tid != tid);
    }

    /// Task `tid` touches row (`table`, `key`); `write` if it writes it.
    pub fn access(
        &self,
        service: &str,
        tid: Tid,
        table: &str,
        table_index: usize,
        key: u64,
        write: bool,
    ) {
        let mut running = self.running.lock();
        let mut found = Vec::new();
        for r in running.iter().filter(|r| r.tid != tid) {
            let touched = |writes_only: bool| {
                r.accesses
                    .iter()
                    .any(|&(t, k, w)| t == table_index && k == key && (w || !writes_only))
            };
            // An earlier running task wrote the row this later task now touches, or this earlier
            // task writes a row a later running task already touched.
            let earlier_wrote = r.tid < tid && touched(true);
            let later_touched = r.tid > tid && write && touched(false);
            if earlier_wrote || later_touched {
                found.push(format!(
                    "service {service}: tid {tid} and tid {} ({}) ran concurrently and both touched a row of {table} \
                     that the earlier one writes: the handlers' modes allow a conflict",
                    r.tid, r.handler
                ));
            }
        }
        if let Some(me) = running.iter_mut().find(|r| r.tid == tid)
            && !me.accesses.contains(&(table_index, key, write))
        {
            me.accesses.push((table_index, key, write));
        }
        drop(running);
        if !found.is_empty() {
            self.count.fetch_add(found.len() as u64, Ordering::Relaxed);
            let mut kept = self.violations.lock();
            let room = KEEP.saturating_sub(kept.len());
            kept.extend(found.into_iter().take(room));
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().clone()
    }
}
