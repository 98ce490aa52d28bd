//! The coordinator: batching (size cap and time window), dense TIDs, commit order of
//! completions, snapshot queries, `wait_idle`, bounded memory, outputs and failures, and runs
//! under injected link delay.

#[path = "../support/mod.rs"]
mod support;

mod batching;
mod link_delay;
mod ordering;
mod outcomes;
mod state;

use support::kv::{self, Hooks};
use vmodb::{Cluster, ClusterConfig, Completion, Outcome};

fn start(cfg: ClusterConfig) -> (Cluster, std::sync::Arc<Hooks>) {
    let hooks = Hooks::new();
    let cluster = Cluster::start(kv::app(hooks.clone()), cfg, kv::load).expect("start");
    (cluster, hooks)
}

fn committed(c: &Completion) -> bool {
    matches!(c.outcome, Outcome::Committed { .. })
}

fn get(cluster: &Cluster, service: &str, id: u32) -> Option<i64> {
    cluster.query(service, "get", &id).expect("query")
}
