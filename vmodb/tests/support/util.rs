//! Helpers shared by the engine's integration tests: cluster configs, completion collection,
//! encoding inputs, and reading cluster state.
#![allow(dead_code)]

use serde::Serialize;
use std::time::Duration;
use vmodb::{Client, ClusterConfig, ClusterState, Completion, CoordinatorConfig, Value};

/// Two workers, the given batch window and size cap, inputs recorded for serial replay.
pub fn config(window: Duration, max_batch: u32) -> ClusterConfig {
    ClusterConfig {
        coordinator: CoordinatorConfig {
            batch_window: window,
            batch_max_txns: max_batch,
            record_inputs: true,
            ..CoordinatorConfig::default()
        },
        workers: 2,
        check_modes: true,
        link_delay: None,
        data_dir: None,
    }
}

/// `config` with a window in milliseconds.
pub fn config_ms(window_ms: u64, max_batch: u32) -> ClusterConfig {
    config(Duration::from_millis(window_ms), max_batch)
}

/// Receives `n` completions from `client`, in arrival order; panics if one takes over 10 s.
pub fn collect(client: &Client, n: usize) -> Vec<Completion> {
    (0..n)
        .map(|i| {
            client
                .completions()
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("completion {i} of {n} did not arrive: {e}"))
        })
        .collect()
}

/// An encoded input for `Client::submit_all`.
pub fn input<T: Serialize>(transaction: &str, payload: &T) -> (String, Vec<u8>) {
    (
        transaction.to_string(),
        postcard::to_allocvec(payload).expect("input encodes"),
    )
}

/// The values of column `col` of `service.table`, in primary-key order.
pub fn column(state: &ClusterState, service: &str, table: &str, col: &str) -> Vec<Value> {
    let t = &state[service][table];
    let i = t
        .columns
        .iter()
        .position(|c| c == col)
        .unwrap_or_else(|| panic!("no column {col} in {service}.{table}: {:?}", t.columns));
    t.rows.iter().map(|r| r[i].clone()).collect()
}

/// A numeric value as an integer.
pub fn int(v: &Value) -> i64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v:?}")) as i64
}

/// Rows of `service.table` as (first column, `col`) integer pairs.
pub fn pairs(state: &ClusterState, service: &str, table: &str, col: &str) -> Vec<(i64, i64)> {
    let t = &state[service][table];
    let first = column(state, service, table, &t.columns[0]);
    let other = column(state, service, table, col);
    first.iter().map(int).zip(other.iter().map(int)).collect()
}

/// Silences the default panic output for deliberate panics (other panics print as usual).
pub fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.starts_with("deliberate") {
                default(info);
            }
        }));
    });
}
