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
