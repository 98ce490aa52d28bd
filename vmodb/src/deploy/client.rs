//! `Client`: submits transactions to a coordinator (embedded or in a coordinator process) and
//! receives their completions.

use crate::model::error::SubmitError;
use crate::model::schema::Tid;
use crate::runtime::coordinator::{Completion, Coordinator, Notifier};
use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Submits transactions and receives their completions.
#[derive(Clone)]
pub struct Client {
    coordinator: Arc<Coordinator>,
    tx: Sender<Completion>,
    rx: Receiver<Completion>,
}

impl Client {
    pub(crate) fn new(coordinator: Arc<Coordinator>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Client {
            coordinator,
            tx,
            rx,
        }
    }

    /// Submits inputs that may carry request ids (`Request`): an id the coordinator has
    /// sequenced already is not run again, and its (first) outcome arrives on `completions`.
    pub fn submit_requests(
        &self,
        inputs: Vec<crate::runtime::coordinator::Request>,
    ) -> Result<Vec<Tid>, SubmitError> {
        self.coordinator
            .submit_requests(inputs, Some(Notifier::channel(self.tx.clone())))
    }

    /// `submit_requests` with completions going to `notify` instead of this client's stream.
    pub fn submit_requests_to(
        &self,
        inputs: Vec<crate::runtime::coordinator::Request>,
        notify: Notifier,
    ) -> Result<Vec<Tid>, SubmitError> {
        self.coordinator.submit_requests(inputs, Some(notify))
    }

    /// `submit_requests` without completions.
    pub fn submit_requests_detached(
        &self,
        inputs: Vec<crate::runtime::coordinator::Request>,
    ) -> Result<Vec<Tid>, SubmitError> {
        self.coordinator.submit_requests(inputs, None)
    }

    pub fn submit<T: Serialize>(&self, transaction: &str, input: &T) -> Result<Tid, SubmitError> {
        let payload = postcard::to_allocvec(input).map_err(|e| SubmitError::Encode {
            transaction: transaction.to_string(),
            detail: e.to_string(),
        })?;
        self.submit_raw(transaction, payload)
    }

    /// Submits an already encoded input.
    pub fn submit_raw(&self, transaction: &str, payload: Vec<u8>) -> Result<Tid, SubmitError> {
        let tids = self.coordinator.submit(
            vec![(transaction.to_string(), payload)],
            Some(self.tx.clone()),
        )?;
        Ok(tids[0])
    }

    /// Submits many encoded inputs at once (one frame per entry service).
    pub fn submit_all(&self, inputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Tid>, SubmitError> {
        self.coordinator.submit(inputs, Some(self.tx.clone()))
    }

    /// Submits encoded inputs whose outcomes nobody waits for.
    pub fn submit_detached(&self, inputs: Vec<(String, Vec<u8>)>) -> Result<Vec<Tid>, SubmitError> {
        self.coordinator.submit(inputs, None)
    }

    /// Completions of this client's transactions, in commit order.
    pub fn completions(&self) -> &Receiver<Completion> {
        &self.rx
    }

    /// Submits and waits for this transaction's completion (others arriving meanwhile are kept).
    pub fn submit_and_wait<T: Serialize>(
        &self,
        transaction: &str,
        input: &T,
        timeout: Duration,
    ) -> Result<Completion, SubmitError> {
        let payload = postcard::to_allocvec(input).map_err(|e| SubmitError::Encode {
            transaction: transaction.to_string(),
            detail: e.to_string(),
        })?;
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.coordinator
            .submit(vec![(transaction.to_string(), payload)], Some(tx))?;
        rx.recv_timeout(timeout).map_err(|_| SubmitError::ShutDown)
    }
}
