//! The engine's folders are its layers, and their imports point only down (ARCHITECTURE.md,
//! "Code map"): a module may use modules of its own layer or below, never above, and no two
//! modules use each other, directly or through others. Read from the sources
//! (`crate::<layer>::<module>` paths outside `#[cfg(test)]` code), so a new upward import fails
//! here, naming it.

#[path = "support/imports.rs"]
mod imports;

use imports::{cycles, imports};
use std::path::Path;

/// The layers (folders of `src`), bottom to top.
const LAYERS: &[&str] = &["model", "storage", "app", "durability", "runtime", "deploy"];

#[test]
fn engine_imports_point_only_down_and_never_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = imports(&src, 2);
    let layer = |module: &str| {
        let folder = module.split("::").next().unwrap_or(module);
        LAYERS.iter().position(|l| *l == folder)
    };
    let mut wrong = Vec::new();
    for (module, used) in &edges {
        let Some(at) = layer(module) else {
            wrong.push(format!(
                "`{module}` is in no layer: put it in one of the folders {LAYERS:?}"
            ));
            continue;
        };
        for u in used {
            match layer(u) {
                Some(to) if to > at => wrong.push(format!(
                    "`{module}` ({}) imports `{u}` ({}), a layer above",
                    LAYERS[at], LAYERS[to]
                )),
                Some(_) => {}
                None => wrong.push(format!("`{module}` imports `{u}`, which is in no layer")),
            }
        }
    }
    // Within a layer: no cycle.
    wrong.extend(cycles(&edges));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The scan sees what it must: the runtime's node uses the store, and nothing imports the
/// deployment layer from below (were the scan blind, the test above could not fail).
#[test]
fn the_scan_finds_the_engines_imports() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = imports(&src, 2);
    assert!(
        edges["runtime::node"].contains("storage::store"),
        "{edges:?}"
    );
    assert!(edges["deploy::cluster"].contains("runtime::coordinator"));
    assert!(edges.len() > 20, "{} modules", edges.len());
}

/// The runtime is state machines the deployments and the simulator drive alike: it starts no
/// thread, opens no socket and reads no clock (time comes from the `Clock` it is given, work
/// runs on the `Executor` it is given). Only `observe.rs`'s waits, which block a client
/// thread until a deadline, use the system's time, and a checkpoint's log line says how long
/// writing it took (nothing depends on it).
#[test]
fn the_runtime_starts_no_thread_opens_no_socket_and_reads_no_clock() {
    const FORBIDDEN: &[&str] = &[
        "thread::spawn",
        "thread::Builder",
        "std::net",
        "tokio",
        "rayon",
        "Instant::now",
        "SystemTime",
    ];
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime");
    let mut found = Vec::new();
    for path in imports::rust_files(&runtime) {
        let rel = path.strip_prefix(&runtime).expect("under runtime");
        let text = std::fs::read_to_string(&path).expect("readable");
        let code: String = imports::without_test_modules(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for word in FORBIDDEN {
            let allowed = *word == "Instant::now"
                && (rel.ends_with("coordinator/observe.rs") || rel.ends_with("node/checkpoint.rs"));
            if code.contains(word) && !allowed {
                found.push(format!("runtime/{} uses `{word}`", rel.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
