//! Following an operation's effects through every message it causes, to measure when all of
//! them were applied (its *visibility latency*). The client of an eventually consistent
//! system hears "done" before the one-way messages it started are handled; this says when
//! they were.
//!
//! An [`Effects`] token rides on every request and one-way message sent while a traced
//! operation (or a handler of one of its messages) runs; each handler runs with the token of
//! the message it handles. When the last copy is dropped, nothing of the operation is left
//! in flight, and the token reports the time since the operation started.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An operation in flight, with all the messages it caused; cheap to clone.
#[derive(Clone)]
pub struct Effects {
    /// Held, never read: the last copy's drop is the measurement.
    _trace: Arc<Trace>,
}

struct Trace {
    started: Instant,
    on_applied: Arc<dyn Fn(Duration) + Send + Sync>,
}

impl Drop for Trace {
    fn drop(&mut self) {
        (self.on_applied)(self.started.elapsed());
    }
}

impl Effects {
    /// An operation that started at `started`; `on_applied` hears the time from then until
    /// the last of its messages was handled.
    pub fn new(started: Instant, on_applied: Arc<dyn Fn(Duration) + Send + Sync>) -> Self {
        Effects {
            _trace: Arc::new(Trace {
                started,
                on_applied,
            }),
        }
    }
}

tokio::task_local! {
    static CURRENT: Option<Effects>;
}

/// Runs `f` as (part of) the traced operation `effects`: what it sends carries the token.
pub async fn traced<F: Future>(effects: Option<Effects>, f: F) -> F::Output {
    CURRENT.scope(effects, f).await
}

/// The operation the running task works for, if it is traced.
pub(crate) fn current() -> Option<Effects> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}
