//! Serial replay: the committed inputs, run one at a time in TID order on one thread, with no
//! coordinator, scheduler or transport. Because handlers take time and randomness only from the
//! transaction environment, this reproduces the state a concurrent run must reach; tests and the
//! harness compare the two.

use crate::app::App;
use crate::cluster::{ClusterState, Loader, build_stores};
use crate::coordinator::SequencedInput;
use crate::error::BootstrapError;
use std::collections::VecDeque;

/// Replays `inputs` (any order; sorted by TID here) on freshly loaded stores and returns the state.
pub fn serial_replay(
    app: &App,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError>,
    inputs: &[SequencedInput],
) -> Result<ClusterState, BootstrapError> {
    let stores = build_stores(app, load)?;
    let mut order: Vec<&SequencedInput> = inputs.iter().collect();
    order.sort_by_key(|i| i.env.tid);
    let mut last_tid = 0;
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
        let mut queue = VecDeque::from([(0usize, Some(input.payload.clone()))]);
        while let Some((n, payload)) = queue.pop_front() {
            let node = &dag.nodes[n];
            let output = payload.and_then(|bytes| {
                let def = &app.services[node.service].handlers[node.handler];
                let decoded = (def.decode)(&bytes).ok()?;
                def.execute(&stores[node.service], input.env, decoded, None)
                    .ok()
                    .flatten()
            });
            for &child in &node.children {
                queue.push_back((child, output.clone()));
            }
        }
    }
    Ok(app
        .services
        .iter()
        .zip(&stores)
        .map(|(s, store)| (s.name.clone(), store.dump(crate::schema::Tid::MAX)))
        .collect())
}
