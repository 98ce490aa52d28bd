//! Routes completions to the HTTP requests waiting for them, and commits to the SSE stream.
//!
//! One client submits for every request; a dispatcher thread takes its completions and hands
//! each to the request that waits for that TID. A completion can beat the request's
//! registration (the request registers after sequencing returns), so it is parked until the
//! request claims it; only waiting requests submit through this client, so every parked
//! completion is claimed. When the cluster fails, every waiting request is released with the
//! failure (its receiver closes) and the SSE stream gets an `error` event.

use super::{Backend, CommitNote};
use crate::cluster::Client;
use crate::coordinator::{Completion, Request};
use crate::error::SubmitError;
use crate::schema::Tid;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

#[derive(Default)]
struct Map {
    waiting: HashMap<Tid, oneshot::Sender<Completion>>,
    early: HashMap<Tid, Completion>,
    failed: bool,
}

pub(crate) struct Waiters {
    client: Client,
    map: Mutex<Map>,
    stopped: AtomicBool,
}

pub(crate) type Pending = Vec<(Tid, oneshot::Receiver<Completion>)>;

impl Waiters {
    pub fn start(backend: &Arc<dyn Backend>, commits: broadcast::Sender<CommitNote>) -> Arc<Self> {
        let waiters = Arc::new(Waiters {
            client: backend.client(),
            map: Mutex::new(Map::default()),
            stopped: AtomicBool::new(false),
        });
        let (watch, committed) = crossbeam_channel::unbounded();
        backend.watch_commits(watch);
        let (w, b) = (Arc::clone(&waiters), Arc::clone(backend));
        let spawned = std::thread::Builder::new()
            .name("vmodb-front-door".into())
            .spawn(move || w.dispatch(&*b, committed, commits));
        if let Err(e) = spawned {
            crate::node::log_warning(&format!("front door: no dispatcher thread: {e}"));
        }
        waiters
    }

    fn dispatch(
        &self,
        backend: &dyn Backend,
        committed: crossbeam_channel::Receiver<(u64, Tid)>,
        commits: broadcast::Sender<CommitNote>,
    ) {
        let completions = self.client.completions().clone();
        while !self.stopped.load(Ordering::Acquire) {
            crossbeam_channel::select! {
                recv(completions) -> c => if let Ok(c) = c { self.route(c) },
                recv(committed) -> b => if let Ok((batch, max_tid)) = b {
                    let _ = commits.send(CommitNote::Batch { batch, max_tid });
                },
                default(Duration::from_millis(100)) => {}
            }
            if let Some(why) = backend.failure()
                && self.close()
            {
                let _ = commits.send(CommitNote::Failed(why));
            }
        }
    }

    fn route(&self, c: Completion) {
        let mut map = self.map.lock();
        match map.waiting.remove(&c.tid) {
            Some(tx) => {
                let _ = tx.send(c);
            }
            None if !map.failed => {
                map.early.insert(c.tid, c);
            }
            None => {}
        }
    }

    /// Sequences `inputs` and registers for their outcomes.
    pub fn submit(&self, inputs: Vec<Request>) -> Result<Pending, SubmitError> {
        let tids = self.client.submit_requests(inputs)?;
        let mut map = self.map.lock();
        let pending = tids.into_iter().map(|tid| {
            let (tx, rx) = oneshot::channel();
            if let Some(c) = map.early.remove(&tid) {
                let _ = tx.send(c);
            } else if !map.failed {
                map.waiting.insert(tid, tx);
            } // else: dropped, so the request learns the cluster is down
            (tid, rx)
        });
        Ok(pending.collect())
    }

    /// Sequences `inputs`; nobody waits for their outcomes.
    pub fn submit_detached(&self, inputs: Vec<Request>) -> Result<Vec<Tid>, SubmitError> {
        self.client.submit_requests_detached(inputs)
    }

    /// Releases every waiting request (its receiver closes) and every later one; false if
    /// already closed.
    pub fn close(&self) -> bool {
        let mut map = self.map.lock();
        if map.failed {
            return false;
        }
        map.failed = true;
        map.waiting.clear();
        map.early.clear();
        true
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}
