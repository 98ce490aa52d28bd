//! The import graph of a crate's modules, read from its sources (`crate::<module>` paths outside
//! `#[cfg(test)]` code), and its cycles. Used by `tests/layers.rs` for the engine (modules two
//! levels deep: `layer::module`) and by `harness/tests/layers.rs` for the harness (top-level).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module's imports of other modules, where a module is a file or folder `depth` levels
/// under `src` (or a shallower one with no modules under it, like a layer's own `mod.rs`),
/// named by its path (`runtime::node`).
pub fn imports(src: &Path, depth: usize) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(src);
    let module_of = |path: &Path| -> String {
        let rel = path.strip_prefix(src).expect("under src");
        let parts: Vec<String> = rel
            .components()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .filter(|p| p != "mod")
            .take(depth)
            .collect();
        parts.join("::")
    };
    let modules: BTreeSet<String> = files.iter().map(|p| module_of(p)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let module = module_of(path);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("readable");
        let code = without_test_modules(&text);
        let used = edges.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            // The longest known module the path names: `crate::runtime::node::X` → `runtime::node`.
            let segments: Vec<&str> = code[i + 7..]
                .split("::")
                .map(|s| {
                    let end = s
                        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                        .unwrap_or(s.len());
                    &s[..end]
                })
                .take(depth)
                .collect();
            let named = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(name) = named
                && name != module
            {
                used.insert(name);
            }
        }
    }
    edges
}

/// Every `.rs` file under `dir`.
pub fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// `text` without its `#[cfg(test)] mod name { ... }` blocks (test code may use anything);
/// everything else, also after such a block, is kept.
pub fn without_test_modules(text: &str) -> String {
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

/// Every module that imports itself through others (a depth-first search from each).
pub fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = todo.pop() {
            if m == start {
                found.push(format!("`{start}` imports itself through others"));
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(edges.get(m).into_iter().flatten());
            }
        }
    }
    found
}
