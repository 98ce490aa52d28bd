//! Serial replay: the committed inputs, run one at a time in TID order on one thread, with no
//! coordinator, scheduler or transport. Because handlers take time and randomness only from the
//! transaction environment, this reproduces the state a concurrent run must reach; tests and the
//! harness compare the two.

use crate::app::App;
use crate::app::load::{Loader, build_stores};
use crate::deploy::cluster::ClusterState;
use crate::model::error::{BootstrapError, TxError};
use crate::model::schema::Tid;
use crate::runtime::coordinator::SequencedInput;
use std::collections::VecDeque;

/// Replays `inputs` (any order; sorted by TID here) on freshly loaded stores and returns the state.
pub fn serial_replay(
    app: &App,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    inputs: &[SequencedInput],
) -> Result<ClusterState, BootstrapError> {
    serial_replay_outcomes(app, load, inputs).map(|(state, _)| state)
}

/// How a transaction ended in serial replay: `None` committed, or the service and error of the
/// failure at the lowest DAG node (what a client of the concurrent run is told).
pub type ReplayOutcome = (Tid, Option<(String, TxError)>);

/// Like `serial_replay`, and also returns each transaction's outcome in TID order. A transaction
/// that fails at any step is undone at every service it wrote, as the engine's aborts are.
pub fn serial_replay_outcomes(
    app: &App,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    inputs: &[SequencedInput],
) -> Result<(ClusterState, Vec<ReplayOutcome>), BootstrapError> {
    let mut replay = SerialReplay::load(app, load)?;
    let outcomes = replay.run(inputs)?;
    Ok((replay.state(), outcomes))
}

/// A serial replay in steps: load, run, read the state. Timing `run` alone measures the store
/// and handler path without loading or dumping (what `replay_tps` reports).
pub struct SerialReplay<'a> {
    app: &'a App,
    stores: Vec<std::sync::Arc<crate::storage::store::Store>>,
    /// The last TID run and its batch, for garbage collection at batch boundaries.
    last: Option<(Tid, crate::runtime::message::BatchId)>,
}

impl<'a> SerialReplay<'a> {
    /// Fresh stores of `app`, loaded by `load`.
    pub fn load(
        app: &'a App,
        load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    ) -> Result<Self, BootstrapError> {
        Ok(SerialReplay {
            app,
            stores: build_stores(app, load)?,
            last: None,
        })
    }

    /// Runs `inputs` (sorted by TID here; every TID above those run before) one at a time and
    /// returns each one's outcome, in TID order.
    pub fn run(&mut self, inputs: &[SequencedInput]) -> Result<Vec<ReplayOutcome>, BootstrapError> {
        let mut order: Vec<&SequencedInput> = inputs.iter().collect();
        order.sort_by_key(|i| i.env.tid);
        if let (Some((last, _)), Some(first)) = (self.last, order.first())
            && first.env.tid <= last
        {
            return Err(BootstrapError(format!(
                "replay: TID {} after TID {last}",
                first.env.tid
            )));
        }
        let mut outcomes = Vec::with_capacity(order.len());
        for input in order {
            outcomes.push(self.step(input)?);
        }
        Ok(outcomes)
    }

    fn step(&mut self, input: &SequencedInput) -> Result<ReplayOutcome, BootstrapError> {
        let (app, stores) = (self.app, &self.stores);
        // Collect garbage at batch boundaries, as a batch commit would.
        if let Some((last_tid, batch)) = self.last
            && batch != input.batch
        {
            for s in stores {
                s.commit_batch(last_tid);
            }
        }
        self.last = Some((input.env.tid, input.batch));
        let dag = app
            .dag_by_name
            .get(&input.transaction)
            .map(|&d| &app.dags[d])
            .ok_or_else(|| {
                BootstrapError(format!(
                    "replay: unknown transaction `{}`",
                    input.transaction
                ))
            })?;
        // Breadth-first along the DAG: each node gets its parent's output or nothing.
        let mut written = Vec::new();
        let mut failure: Option<(usize, String, TxError)> = None;
        let mut queue = VecDeque::from([(0usize, Some(input.payload.clone()))]);
        while let Some((n, payload)) = queue.pop_front() {
            let node = &dag.nodes[n];
            let service = &app.services[node.service];
            let def = &service.handlers[node.handler];
            let result = payload.map(|bytes| {
                let (decoded, _) = def.prepare(&bytes)?;
                // Serial: no earlier task runs, so every foreign-key check is settled.
                let ran = def.execute(&stores[node.service], input.env, decoded, None, None);
                let (result, writes) = ran.unwrap_or_else(|| {
                    let e = TxError::app("replay: a foreign-key check was left unsettled");
                    (Err(e), Default::default())
                });
                written.push((node.service, writes));
                result
            });
            let output = match result {
                None | Some(Ok(None)) => None,
                Some(Ok(Some(out))) => Some(out),
                Some(Err(e)) => {
                    if failure.as_ref().is_none_or(|(f, ..)| n < *f) {
                        failure = Some((n, service.name.clone(), e));
                    }
                    None
                }
            };
            for &child in &node.children {
                queue.push_back((child, output.clone()));
            }
        }
        if failure.is_some() {
            for (s, writes) in &written {
                writes.undo(&stores[*s], input.env.tid);
            }
        }
        Ok((input.env.tid, failure.map(|(_, s, e)| (s, e))))
    }

    /// Every service's state after what ran.
    pub fn state(&self) -> ClusterState {
        self.app
            .services
            .iter()
            .zip(&self.stores)
            .map(|(s, store)| (s.name.clone(), store.dump(Tid::MAX)))
            .collect()
    }
}

/// What `check_serial_replay` found: whether the replayed state equals the run's, and how fast
/// the replay ran (its run alone: no loading, no dump).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayCheck {
    pub equal: bool,
    pub transactions: usize,
    pub run_secs: f64,
}

impl ReplayCheck {
    /// Transactions per second of the replay's run on one thread.
    pub fn tps(&self) -> f64 {
        self.transactions as f64 / self.run_secs.max(1e-9)
    }
}

/// Replays `inputs` serially on freshly loaded stores and compares the result with `state` (a
/// concurrent run's), timing the replay's run.
pub fn check_serial_replay(
    app: &App,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    inputs: &[SequencedInput],
    state: &ClusterState,
) -> Result<ReplayCheck, BootstrapError> {
    let mut replay = SerialReplay::load(app, load)?;
    let start = std::time::Instant::now();
    replay.run(inputs)?;
    let run_secs = start.elapsed().as_secs_f64();
    Ok(ReplayCheck {
        equal: replay.state() == *state,
        transactions: inputs.len(),
        run_secs,
    })
}
