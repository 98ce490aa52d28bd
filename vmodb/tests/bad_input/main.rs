//! Bad input of every kind gets a clear error, never a panic, and leaves other transactions alone:
//! unknown transactions, undecodable payloads, malformed or misrouted messages, bad queries, and
//! inconsistent application definitions caught by the bootstrap checks.

#[path = "../support/mod.rs"]
mod support;

mod bootstrap;
mod messages;
mod replicas;
mod submissions;

use std::sync::Arc;
use std::time::Duration;
use support::kv::{self, Hooks, fwd};
use support::util::config_ms;
use vmodb::{Cluster, Outcome};

const TIMEOUT: Duration = Duration::from_secs(5);

fn start() -> (Cluster, Arc<Hooks>) {
    let hooks = Hooks::new();
    let cluster =
        Cluster::start(kv::app(hooks.clone()), config_ms(1, 10_000), kv::load).expect("start");
    (cluster, hooks)
}

/// The cluster still commits work at both services.
fn still_works(cluster: &Cluster, value: i64) {
    let client = cluster.client();
    let c = client
        .submit_and_wait("pipe", &fwd(9, value), TIMEOUT)
        .expect("submit");
    assert!(
        matches!(c.outcome, Outcome::Committed { output: Some(_) }),
        "{:?}",
        c.outcome
    );
    assert!(cluster.wait_idle(TIMEOUT));
    assert_eq!(
        cluster.query::<_, Option<i64>>("b", "get", &9u32).unwrap(),
        Some(value)
    );
    assert_eq!(cluster.stats().waiting, 0, "nothing stuck in a chain");
}
