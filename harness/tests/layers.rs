//! The harness's modules never import each other in a cycle (ARCHITECTURE.md, "Code map"):
//! read from the sources, so a new cycle fails here, naming the modules in it.

#[path = "../../vmodb/tests/support/imports.rs"]
mod imports;

use std::path::Path;

#[test]
fn harness_modules_never_import_each_other_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = imports::imports(&src, 1);
    assert!(
        edges.len() > 5,
        "the harness's modules were not found in {src:?}"
    );
    let cycles = imports::cycles(&edges);
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}
