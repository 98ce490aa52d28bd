//! The engine's modules form layers whose imports point only down (ARCHITECTURE.md, "Code
//! map"): a module may use modules of its own layer or below, never above, and no two modules
//! use each other, directly or through others. Read from the sources (`crate::<module>` paths
//! outside `#[cfg(test)]` code), so a new upward import fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
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

/// Every top-level module's imports of other top-level modules.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let first = rel.components().next().expect("a component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let code = without_test_modules(&text);
            let used = edges.entry(module.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    used.insert(name);
                }
            }
        }
    }
    edges
}

/// `text` without its `#[cfg(test)] mod name { ... }` blocks (test code may use anything);
/// everything else, also after such a block, is kept.
fn without_test_modules(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        let Some(open) = item.find(['{', ';']) else {
            break;
        };
        if !item.starts_with("mod ") || item.as_bytes()[open] == b';' {
            // `mod tests;` (its file is read on its own) or a test-only item: skip the line.
            rest = &item[item.find('\n').unwrap_or(item.len())..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item.char_indices().skip(open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

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
    // Within a layer: no cycle (a depth-first search from every module).
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = todo.pop() {
            if m == start {
                wrong.push(format!("`{start}` imports itself through others"));
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(edges.get(m).into_iter().flatten());
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
