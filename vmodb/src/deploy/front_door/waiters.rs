//! Routes completions to the HTTP requests waiting for them, and commits to the SSE stream.
//!
//! Each waiting request submits with a notifier of its own (a call that hands the completion to
//! the request's channel), so it hears exactly of its own transactions, once per TID, however
//! its request ids repeat or race with other requests. When the cluster fails or the front door
//! stops, `down` tells every waiting request to give up (503), and the SSE stream gets an
//! `error` event; a dispatcher thread watches for both and forwards commits to the stream.

use super::{Backend, CommitNote};
use crate::deploy::client::Client;
use crate::model::error::SubmitError;
use crate::model::schema::Tid;
use crate::runtime::coordinator::{Completion, Notifier, Request};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

pub(crate) struct Waiters {
    client: Client,
    /// True once the cluster failed or the front door stopped: waiting requests give up.
    down: watch::Sender<bool>,
    stopped: AtomicBool,
}

/// The TIDs of a submission, in input order, and where their completions arrive.
pub(crate) type Pending = (Vec<Tid>, mpsc::UnboundedReceiver<Completion>);

impl Waiters {
    pub fn start(backend: &Arc<dyn Backend>, commits: broadcast::Sender<CommitNote>) -> Arc<Self> {
        let waiters = Arc::new(Waiters {
            client: backend.client(),
            down: watch::Sender::new(false),
            stopped: AtomicBool::new(false),
        });
        let (watch, committed) = crossbeam_channel::unbounded();
        backend.watch_commits(watch);
        let (w, b) = (Arc::clone(&waiters), Arc::clone(backend));
        let spawned = std::thread::Builder::new()
            .name("vmodb-front-door".into())
            .spawn(move || w.dispatch(&*b, committed, commits));
        if let Err(e) = spawned {
            tracing::warn!("front door: no dispatcher thread: {e}");
        }
        waiters
    }

    fn dispatch(
        &self,
        backend: &dyn Backend,
        committed: crossbeam_channel::Receiver<(u64, Tid)>,
        commits: broadcast::Sender<CommitNote>,
    ) {
        while !self.stopped.load(Ordering::Acquire) {
            if let Ok((batch, max_tid)) = committed.recv_timeout(Duration::from_millis(100)) {
                let _ = commits.send(CommitNote::Batch { batch, max_tid });
            }
            if let Some(why) = backend.failure()
                && self.close()
            {
                let _ = commits.send(CommitNote::Failed(why));
            }
        }
    }

    /// Sequences `inputs`; their completions arrive on the returned channel, one per distinct
    /// TID. The channel closes if the cluster will never complete them.
    pub fn submit(&self, inputs: Vec<Request>) -> Result<Pending, SubmitError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let notify = Notifier::call(move |c| drop(tx.send(c)));
        let tids = self.client.submit_requests_to(inputs, notify)?;
        Ok((tids, rx))
    }

    /// Sequences `inputs`; nobody waits for their outcomes.
    pub fn submit_detached(&self, inputs: Vec<Request>) -> Result<Vec<Tid>, SubmitError> {
        self.client.submit_requests_detached(inputs)
    }

    /// Tells every waiting request, and every later one, that no answer will come; false if
    /// already told.
    pub fn close(&self) -> bool {
        !self.down.send_replace(true)
    }

    pub fn down(&self) -> watch::Receiver<bool> {
        self.down.subscribe()
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}
