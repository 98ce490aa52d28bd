//! The sweep file: fixed settings, varied settings (their grid), repetitions and an output name.
//!
//! ```toml
//! name = "batch-size"         # results go to results/<name>/ (default: the file's stem)
//! description = "..."         # optional, shown in report.md
//! repetitions = 3             # runs per grid point (default 1); every repetition uses the same
//!                             # seed, so they differ only in timing (vary `seed` for other inputs)
//!
//! [fixed]                     # any key of a run's config.toml (or its `vbench run` flag name:
//! workload = "marketplace"    # duration, warmup, batch_size, seller_dist, product_dist); keys
//!                             # not set keep the defaults
//! scale = 0.1
//! inject = "jitter=1"         # mix, inject and the two distributions also take the spelling
//!                             # of their `vbench run` flags ("paper", "all", "zipf:1.0")
//!
//! [vary]                      # each key: a list or a range; points are their product (a grid)
//! batch_max_txns = [1, 10, 100]
//! batch_window_ms = { from = 10, to = 50, step = 10 }   # 10, 20, 30, 40, 50
//! concurrency = { from = 8, to = 512, times = 4 }       # 8, 32, 128, 512 (geometric)
//! inject.jitter_ms = [0, 1]                             # nested keys with dots
//! ```
//!
//! A point is the defaults, overlaid with `[fixed]`, overlaid with one value of every varied key,
//! read as a `RunConfig`: so every field of it (today's and any added later) can be fixed or
//! varied, and a misspelled key is refused. The first varied key is the plots' x-axis. Ranges are
//! inclusive; with integer bounds a geometric range rounds to integers. Errors name the key and
//! its line in the file.

use crate::config::{RunConfig, parse_distribution, parse_injection, parse_mix};
use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::{Table, Value};
use workloads::marketplace::generator::KeyDistribution;

/// At most this many values per range and points per grid: a typo in a range should not start
/// a sweep of a million runs.
const MAX_RANGE_VALUES: usize = 1000;
const MAX_POINTS: usize = 10_000;

/// A parsed and checked sweep: every point's configuration is valid.
#[derive(Debug)]
pub struct Sweep {
    pub name: String,
    pub description: String,
    pub repetitions: u32,
    /// The varied keys in file order, with their values as written.
    pub varied: Vec<Varied>,
    /// The grid, first varied key slowest.
    pub points: Vec<Point>,
    /// The file's text, kept with the results.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Varied {
    /// Dotted path, e.g. `inject.jitter_ms`.
    pub key: String,
    pub line: usize,
    pub values: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// 1-based.
    pub id: usize,
    /// One value per varied key, in the order of `Sweep::varied`, as written in the file.
    pub settings: Vec<(String, Value)>,
    pub config: RunConfig,
}

impl Point {
    /// `batch_max_txns=10 inject=all`, or `fixed settings` when nothing varies.
    pub fn label(&self) -> String {
        if self.settings.is_empty() {
            return "fixed settings".into();
        }
        let parts: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect();
        parts.join(" ")
    }
}

/// A value as a CSV cell or label: strings bare, everything else in TOML syntax.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    repetitions: u32,
    #[serde(default)]
    fixed: Table,
    #[serde(default)]
    vary: Table,
}

fn one() -> u32 {
    1
}

/// Reads and checks a sweep file.
pub fn load(path: &Path) -> anyhow::Result<Sweep> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("sweep");
    parse(&text, stem).with_context(|| format!("invalid sweep file {}", path.display()))
}

/// Parses a sweep file's text; `default_name` names it when it has no `name`.
pub fn parse(text: &str, default_name: &str) -> anyhow::Result<Sweep> {
    // The typed pass reports syntax errors and unknown top-level keys with line and column.
    let file: SweepFile = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let lines = KeyLines::new(text)?;
    let name = match file.name {
        Some(name) => {
            check_name(&name).map_err(|e| anyhow!("`name` ({}): {e}", lines.at("name")))?;
            name
        }
        None => {
            let name = default_name.to_string();
            check_name(&name)
                .map_err(|e| anyhow!("no `name` given, and the file's name {e}; set `name`"))?;
            name
        }
    };
    if file.repetitions == 0 {
        bail!(
            "`repetitions` ({}): must be at least 1",
            lines.at("repetitions")
        );
    }
    let fixed = fixed_table(&file.fixed, &lines)?;
    let varied = varied_keys(&file.vary, &lines)?;
    check_overlaps(&file.fixed, &varied, &lines)?;
    let points = grid(&fixed, &varied, &lines)?;
    Ok(Sweep {
        name,
        description: file.description.trim().to_string(),
        repetitions: file.repetitions,
        varied: varied.into_iter().map(|v| v.written).collect(),
        points,
        source: text.to_string(),
    })
}

/// The output directory's name: plain characters only, so it cannot climb out of `results/`.
fn check_name(name: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > 100 || name.starts_with('.') || !name.chars().all(plain) {
        return Err(format!(
            "`{name}` cannot name a results directory (use 1-100 letters, digits, `-`, `_`, `.`, not starting with `.`)"
        ));
    }
    Ok(())
}

/// Line numbers of every key of the file, by dotted path (`vary.inject.jitter_ms`), and their
/// position for file order.
struct KeyLines {
    keys: HashMap<String, (usize, usize)>,
}

impl KeyLines {
    fn new(text: &str) -> anyhow::Result<Self> {
        let doc = DeTable::parse(text).map_err(|e| anyhow!("{e}"))?;
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut keys = HashMap::new();
        let mut walk = vec![(String::new(), doc.get_ref())];
        while let Some((prefix, table)) = walk.pop() {
            for (key, value) in table.iter() {
                let path = if prefix.is_empty() {
                    key.get_ref().to_string()
                } else {
                    format!("{prefix}.{}", key.get_ref())
                };
                let offset = key.span().start;
                let line = line_starts.partition_point(|&s| s <= offset);
                keys.insert(path.clone(), (line, offset));
                if let DeValue::Table(inner) = value.get_ref() {
                    walk.push((path, inner));
                }
            }
        }
        Ok(KeyLines { keys })
    }

    fn line(&self, path: &str) -> usize {
        self.keys.get(path).map_or(0, |p| p.0)
    }

    fn offset(&self, path: &str) -> usize {
        self.keys.get(path).map_or(usize::MAX, |p| p.1)
    }

    /// `line N` of a key (for messages).
    fn at(&self, path: &str) -> String {
        format!("line {}", self.line(path))
    }
}

/// The defaults overlaid with `[fixed]`, each fixed key checked on its own so an error names it.
fn fixed_table(fixed: &Table, lines: &KeyLines) -> anyhow::Result<Table> {
    let defaults = Table::try_from(RunConfig::default())
        .map_err(|e| anyhow!("cannot represent the default configuration: {e}"))?;
    let mut merged = defaults.clone();
    let mut seen: Vec<(String, &str)> = Vec::new();
    for (key, value) in fixed {
        let at = || format!("`fixed.{key}` ({})", lines.at(&format!("fixed.{key}")));
        let name = canonical(key);
        if let Some((_, other)) = seen.iter().find(|(n, _)| *n == name) {
            bail!("{}: sets `{name}` as `fixed.{other}` does", at());
        }
        let value = flag_spelling(&name, value).map_err(|e| anyhow!("{}: {e}", at()))?;
        // A quoted dotted key ("inject.hot" = 1) means the nested setting, as in [vary].
        let mut setting = Table::new();
        set_path(&mut setting, &name, value).map_err(|e| anyhow!("{}: {e}", at()))?;
        let mut alone = defaults.clone();
        overlay(&mut alone, &setting);
        read_config(alone).map_err(|e| anyhow!("{}: {e}", at()))?;
        overlay(&mut merged, &setting);
        seen.push((name, key));
    }
    Ok(merged)
}

/// `vbench run` flag names that differ from the configuration's keys; a sweep file may use
/// either (and dashes for underscores: `batch-window-ms`).
const FLAG_NAMES: [(&str, &str); 5] = [
    ("duration", "duration_s"),
    ("warmup", "warmup_s"),
    ("batch_size", "batch_max_txns"),
    ("seller_dist", "seller_distribution"),
    ("product_dist", "product_distribution"),
];

/// The configuration's name for a dotted key whose first part may be spelled as a flag.
fn canonical(path: &str) -> String {
    let (first, rest) = match path.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (path, None),
    };
    let first = first.replace('-', "_");
    let first = FLAG_NAMES
        .iter()
        .find(|(flag, _)| *flag == first)
        .map_or(first.clone(), |(_, key)| key.to_string());
    match rest {
        Some(rest) => format!("{first}.{rest}"),
        None => first,
    }
}

/// Writes `top` over `base`, table into table (so `[fixed.inject] hot = 1` keeps the other
/// injection defaults); anything else replaces.
fn overlay(base: &mut Table, top: &Table) {
    for (key, value) in top {
        match (base.get_mut(key), value) {
            (Some(Value::Table(below)), Value::Table(above)) => overlay(below, above),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Sets a dotted path, creating tables on the way; refuses to go through a non-table.
fn set_path(table: &mut Table, path: &str, value: Value) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut at = table;
    let mut walked = String::new();
    for part in parts {
        walked = if walked.is_empty() {
            part.to_string()
        } else {
            format!("{walked}.{part}")
        };
        let entry = at
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        at = match entry {
            Value::Table(t) => t,
            _ => return Err(format!("`{walked}` is not a table of settings")),
        };
    }
    at.insert(last.to_string(), value);
    Ok(())
}

fn read_config(table: Table) -> Result<RunConfig, String> {
    table
        .try_into::<RunConfig>()
        .map_err(|e| e.to_string().trim().replace('\n', " "))
}

/// Accepts the flag spelling of mix, inject and the distributions (`"paper"`, `"jitter=2,hot"`,
/// `"zipf:1.0"`) by turning it into the config.toml form.
fn flag_spelling(key: &str, value: &Value) -> Result<Value, String> {
    let Value::String(text) = value else {
        return Ok(value.clone());
    };
    let as_value = |r: Result<Value, toml::ser::Error>| r.map_err(|e| e.to_string());
    match key {
        "mix" => as_value(Value::try_from(parse_mix(text)?)),
        "inject" => as_value(Value::try_from(parse_injection(text)?)),
        "seller_distribution" | "product_distribution" => match parse_distribution(text) {
            Ok(d) => as_value(Value::try_from(d)),
            // config.toml's own spelling of the enum ("Uniform") is a string too.
            Err(e) => match value.clone().try_into::<KeyDistribution>() {
                Ok(_) => Ok(value.clone()),
                Err(_) => Err(e),
            },
        },
        _ => Ok(value.clone()),
    }
}

/// A varied key: its values as written (for labels and CSV cells) and as read.
struct VariedKey {
    written: Varied,
    read: Vec<Value>,
}

/// The `[vary]` leaves in file order: arrays and ranges; any other table is a level of keys.
fn varied_keys(vary: &Table, lines: &KeyLines) -> anyhow::Result<Vec<VariedKey>> {
    let mut leaves = Vec::new();
    collect_leaves(vary, "", &mut leaves);
    leaves.sort_by_key(|(key, _)| lines.offset(&format!("vary.{key}")));
    let mut out: Vec<VariedKey> = Vec::new();
    for (key, value) in leaves {
        let line = lines.line(&format!("vary.{key}"));
        let at = format!("`vary.{key}` (line {line})");
        let values = match value {
            Value::Array(values) if values.is_empty() => bail!("{at}: the list is empty"),
            Value::Array(values) => values.clone(),
            Value::Table(range) => expand_range(range).map_err(|e| anyhow!("{at}: {e}"))?,
            _ => bail!(
                "{at}: a varied key takes a list of values or a range {{ from, to, step or times }} (a single value goes under [fixed])"
            ),
        };
        let name = canonical(&key);
        if let Some(earlier) = out
            .iter()
            .find(|o| nested(&o.written.key, &name) || nested(&name, &o.written.key))
        {
            bail!(
                "{at}: overlaps `vary.{}` (line {}); vary a setting or its parts, not both",
                earlier.written.key,
                earlier.written.line
            );
        }
        let read = values
            .iter()
            .map(|v| flag_spelling(&name, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("{at}: {e}"))?;
        out.push(VariedKey {
            written: Varied {
                key: name,
                line,
                values,
            },
            read,
        });
    }
    Ok(out)
}

/// `inner` is `outer` or lies inside it (`inject.hot` inside `inject`).
fn nested(outer: &str, inner: &str) -> bool {
    inner == outer || inner.starts_with(&format!("{outer}."))
}

fn collect_leaves<'t>(table: &'t Table, prefix: &str, out: &mut Vec<(String, &'t Value)>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Table(t) if !t.contains_key("from") => collect_leaves(t, &path, out),
            _ => out.push((path, value)),
        }
    }
}

/// A key both fixed and varied is a mistake whichever was meant (the varied value would win).
fn check_overlaps(fixed: &Table, varied: &[VariedKey], lines: &KeyLines) -> anyhow::Result<()> {
    let mut fixed_leaves = Vec::new();
    collect_leaves(fixed, "", &mut fixed_leaves);
    for v in varied {
        for (f, _) in &fixed_leaves {
            if nested(&v.written.key, &canonical(f)) {
                bail!(
                    "`vary.{}` (line {}): `fixed.{f}` sets it too (line {}); remove one",
                    v.written.key,
                    v.written.line,
                    lines.line(&format!("fixed.{f}"))
                );
            }
        }
    }
    Ok(())
}

/// The values of a range table: `{ from, to, step }` (arithmetic) or `{ from, to, times }`
/// (geometric), both inclusive.
pub fn expand_range(range: &Table) -> Result<Vec<Value>, String> {
    for key in range.keys() {
        if !matches!(key.as_str(), "from" | "to" | "step" | "times") {
            return Err(format!(
                "unknown key `{key}` in a range (expected from, to, and step or times)"
            ));
        }
    }
    let number = |key: &str| -> Result<Option<(f64, bool)>, String> {
        match range.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some((*i as f64, true))),
            Some(Value::Float(f)) if f.is_finite() => Ok(Some((*f, false))),
            Some(other) => Err(format!("range `{key}` must be a number, got {other}")),
        }
    };
    let (Some((from, from_int)), Some((to, to_int))) = (number("from")?, number("to")?) else {
        return Err("a range needs both `from` and `to`".into());
    };
    if to < from {
        return Err(format!("range `to` ({to}) is below `from` ({from})"));
    }
    let integers = from_int && to_int;
    let mut values = Vec::new();
    let too_many = || format!("the range has more than {MAX_RANGE_VALUES} values");
    match (number("step")?, number("times")?) {
        (Some((step, step_int)), None) => {
            if step <= 0.0 {
                return Err(format!("range `step` must be positive, got {step}"));
            }
            // In floating point first: a tiny step or a huge span gives an infinite or
            // enormous count, which must be refused, not wrapped into a small one.
            let steps = ((to - from) / step + 1e-9).floor();
            if !steps.is_finite() || steps >= MAX_RANGE_VALUES as f64 {
                return Err(too_many());
            }
            let n = steps as usize + 1;
            for i in 0..n {
                let x = from + i as f64 * step;
                values.push(if integers && step_int {
                    Value::Integer(x.round() as i64)
                } else {
                    Value::Float(tidy(x))
                });
            }
        }
        (None, Some((times, _))) => {
            if times <= 1.0 || from <= 0.0 {
                return Err(format!(
                    "a geometric range needs `from` > 0 and `times` > 1, got from = {from}, times = {times}"
                ));
            }
            // Counted before walking it: a factor barely above 1 (or a huge span) would take
            // forever to walk, even though rounding merges its values.
            let steps = (to / from).ln() / times.ln();
            if !steps.is_finite() || steps >= MAX_RANGE_VALUES as f64 {
                return Err(too_many());
            }
            let mut x = from;
            while x <= to * (1.0 + 1e-9) {
                let v = if integers {
                    Value::Integer(x.round() as i64)
                } else {
                    Value::Float(tidy(x))
                };
                if values.last() != Some(&v) {
                    values.push(v);
                }
                if values.len() > MAX_RANGE_VALUES {
                    return Err(too_many());
                }
                x *= times;
            }
        }
        _ => {
            return Err(
                "a range needs exactly one of `step` (arithmetic) or `times` (geometric)".into(),
            );
        }
    }
    Ok(values)
}

/// Rounds away binary noise (0.1 + 0.2) to 12 significant digits.
fn tidy(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// Every combination of the varied values over the fixed table, checked: first each value on
/// its own (an error names its key and line), then each point's whole configuration.
fn grid(fixed: &Table, varied: &[VariedKey], lines: &KeyLines) -> anyhow::Result<Vec<Point>> {
    for v in varied {
        for (written, read) in v.written.values.iter().zip(&v.read) {
            let mut alone = fixed.clone();
            let at = || {
                format!(
                    "`vary.{}` (line {}), value {}",
                    v.written.key,
                    v.written.line,
                    cell(written)
                )
            };
            set_path(&mut alone, &v.written.key, read.clone())
                .map_err(|e| anyhow!("{}: {e}", at()))?;
            read_config(alone).map_err(|e| anyhow!("{}: {e}", at()))?;
        }
    }
    let total = varied
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.read.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| anyhow!("the grid has more than {MAX_POINTS} points; vary fewer values"))?;
    let mut points = Vec::with_capacity(total);
    for index in 0..total {
        // Mixed radix, last key fastest: index → one value per varied key.
        let mut rest = index;
        let mut picks = vec![0; varied.len()];
        for (slot, v) in picks.iter_mut().zip(varied).rev() {
            *slot = rest % v.read.len();
            rest /= v.read.len();
        }
        let mut table = fixed.clone();
        let mut settings = Vec::with_capacity(varied.len());
        for (&pick, v) in picks.iter().zip(varied) {
            set_path(&mut table, &v.written.key, v.read[pick].clone()).map_err(|e| anyhow!(e))?;
            settings.push((v.written.key.clone(), v.written.values[pick].clone()));
        }
        let id = index + 1;
        let mut point = Point {
            id,
            settings,
            config: RunConfig::default(),
        };
        let where_ = || {
            let keys: Vec<String> = varied
                .iter()
                .map(|v| format!("`vary.{}` line {}", v.written.key, v.written.line))
                .collect();
            if keys.is_empty() {
                format!("the fixed settings ({})", lines.at("fixed"))
            } else {
                format!(
                    "point {id} of {total} ({}; {})",
                    point_label(varied, &picks),
                    keys.join(", ")
                )
            }
        };
        point.config = read_config(table).map_err(|e| anyhow!("{}: {e}", where_()))?;
        point
            .config
            .validate()
            .map_err(|e| anyhow!("{}: {e}", where_()))?;
        points.push(point);
    }
    Ok(points)
}

fn point_label(varied: &[VariedKey], picks: &[usize]) -> String {
    let parts: Vec<String> = varied
        .iter()
        .zip(picks)
        .map(|(v, &i)| format!("{}={}", v.written.key, cell(&v.written.values[i])))
        .collect();
    parts.join(" ")
}
