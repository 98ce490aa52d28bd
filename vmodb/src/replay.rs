//! Serial replay: the committed inputs, run one at a time in TID order on one thread, with no
//! coordinator, scheduler or transport. Because handlers take time and randomness only from the
//! transaction environment, this reproduces the state a concurrent run must reach; tests and the
//! harness compare the two.

use crate::app::App;
use crate::cluster::{ClusterState, Loader, build_stores};
use crate::coordinator::SequencedInput;
use crate::error::{BootstrapError, TxError};
use crate::schema::Tid;
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
    let stores = build_stores(app, load)?;
    let mut order: Vec<&SequencedInput> = inputs.iter().collect();
    order.sort_by_key(|i| i.env.tid);
    let mut last_tid = 0;
    let mut outcomes = Vec::with_capacity(order.len());
    for (i, input) in order.iter().enumerate() {
        // Collect garbage at batch boundaries, as a batch commit would.
        if i > 0 && order[i - 1].batch != input.batch {
            for s in &stores {
                s.commit_batch(last_tid);
            }
        }
        last_tid = input.env.tid;
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
        outcomes.push((input.env.tid, failure.map(|(_, s, e)| (s, e))));
    }
    let state = app
        .services
        .iter()
        .zip(&stores)
        .map(|(s, store)| (s.name.clone(), store.dump(crate::schema::Tid::MAX)))
        .collect();
    Ok((state, outcomes))
}
