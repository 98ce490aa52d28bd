//! The coordinator's thread in a deployment, and the system clock it runs on: it takes the
//! coordinator's inputs (reports, votes, wake-ups) one at a time and fires the batch timer. The
//! simulator does the same by steps, on virtual time.

use crate::model::error::BootstrapError;
use crate::runtime::clock::Clock;
use crate::runtime::coordinator::{Coordinator, Input};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// The system's clocks.
pub(crate) struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn wall_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }

    fn mono_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

/// Starts the thread that runs `coordinator` on what arrives in `inbox`, until a `Shutdown`
/// or until every sender is gone.
pub(crate) fn spawn(
    coordinator: &Arc<Coordinator>,
    inbox: Receiver<Input>,
) -> Result<JoinHandle<()>, BootstrapError> {
    let runner = Arc::clone(coordinator);
    std::thread::Builder::new()
        .name("vmodb-coordinator".into())
        .spawn(move || run(&runner, &inbox))
        .map_err(|e| BootstrapError(format!("cannot start coordinator: {e}")))
}

fn run(coordinator: &Arc<Coordinator>, inbox: &Receiver<Input>) {
    loop {
        let input = match coordinator.seal_due_in() {
            Some(left) => match inbox.recv_timeout(left) {
                Ok(i) => Some(i),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match inbox.recv() {
                Ok(i) => Some(i),
                Err(_) => return,
            },
        };
        match input {
            None => coordinator.seal_if_due(),
            Some(Input::Shutdown) => return,
            Some(i) => coordinator.step(i),
        }
    }
}
