//! The engine's modules form layers whose imports point only down (ARCHITECTURE.md, "Code
//! map"): a module may use modules of its own layer or below, never above, and no two modules
//! use each other, directly or through others. Read from the sources (`crate::<module>` paths
//! outside `#[cfg(test)]` code), so a new upward import fails here, naming it.

#[path = "support/imports.rs"]
mod imports;

use imports::{cycles, imports};
use std::collections::BTreeMap;
use std::path::Path;

/// Bottom to top.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &["error", "value", "row_codec", "json_codec", "wal"],
    ),
    ("model", &["schema", "mode_check"]),
    ("storage", &["store", "tx"]),
    ("application", &["service", "app", "load"]),
    (
        "runtime",
        &[
            "scheduler",
            "message",
            "rollback",
            "durability",
            "node",
            "coordinator",
        ],
    ),
    (
        "deployment",
        &[
            "delay_line",
            "net",
            "client",
            "cluster",
            "replay",
            "deploy",
            "front_door",
            "sim",
        ],
    ),
];

#[test]
fn engine_imports_point_only_down_and_never_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = imports(&src);
    let layer: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, mods))| mods.iter().map(move |m| (*m, i)))
        .collect();
    let mut wrong = Vec::new();
    for (module, used) in &edges {
        let Some(&at) = layer.get(module.as_str()) else {
            wrong.push(format!(
                "module `{module}` is in no layer (add it to LAYERS)"
            ));
            continue;
        };
        for u in used {
            match layer.get(u.as_str()) {
                Some(&to) if to > at => wrong.push(format!(
                    "`{module}` ({}) imports `{u}` ({}), a layer above",
                    LAYERS[at].0, LAYERS[to].0
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
