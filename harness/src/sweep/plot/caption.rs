//! The caption line under every plot's title and `report.md`'s: the machine, the load model and
//! the durability setting, so a figure read on its own is not compared with one taken under
//! other conditions.
//!
//! Load and durability come from the table's parameter columns; the machine from
//! `machine.txt` next to it (read, never probed: a redraw may run on another host). Older
//! tables lack `rate_tps`, `arrivals` and `durability`, and still get a caption.

use crate::sweep::table::{RunRow, SweepTable};
use std::path::Path;

/// The description of the machine a sweep ran on, kept with its results.
pub const MACHINE_TXT: &str = "machine.txt";
/// The offered-rate column of an open-loop run (0 or absent: closed loop).
pub const RATE_COLUMN: &str = "rate_tps";

/// The machine part is cut to this many characters, so the caption fits one line.
const MACHINE_CHARS: usize = 100;

/// The whole caption line.
pub fn line(machine: &str, table: &SweepTable) -> String {
    format!(
        "{machine} · {} · durability: {}",
        load_model(table),
        durability(table)
    )
}

/// `machine: <dir/machine.txt>` (its lines joined), or `machine: not recorded`.
pub fn machine(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(MACHINE_TXT)).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let joined = lines.join(", ");
    // The file may already say `machine: …`; the caption adds the word itself.
    let described = joined.strip_prefix("machine:").unwrap_or(&joined).trim();
    if described.is_empty() {
        return "machine: not recorded".into();
    }
    let mut cut: String = described.chars().take(MACHINE_CHARS).collect();
    if cut.len() < described.len() {
        cut.push('…');
    }
    format!("machine: {cut}")
}

/// Open or closed loop, and at what load.
pub fn load_model(table: &SweepTable) -> String {
    let rate_column = column(table, RATE_COLUMN);
    let open = |row: &RunRow| rate_column.and_then(|c| rate(row, c)).is_some();
    let open_rows = table.rows.iter().filter(|r| open(r)).count();
    if open_rows == 0 {
        return closed_loop(table);
    }
    if open_rows < table.rows.len() {
        return "load model varies (open and closed loop)".into();
    }
    let arrivals = match distinct(table, "arrivals").as_deref() {
        Some([one]) if one.eq_ignore_ascii_case("poisson") => Some("Poisson arrivals".into()),
        Some([one]) => Some(format!("{one} arrivals")),
        Some([_, _, ..]) => Some("arrivals vary".to_string()),
        _ => None,
    };
    match distinct(table, RATE_COLUMN).as_deref() {
        Some([one]) => {
            let rate = one
                .trim()
                .parse::<f64>()
                .map_or(one.to_string(), super::draw::number);
            match arrivals {
                Some(arrivals) => format!("open loop, {arrivals} at {rate} tx/s"),
                None => format!("open loop at {rate} tx/s"),
            }
        }
        _ => match arrivals {
            Some(arrivals) => format!("open loop, offered rate varies, {arrivals}"),
            None => "open loop, offered rate varies".into(),
        },
    }
}

/// `closed loop, N clients` (terminals for TPC-C: what its driver calls them).
fn closed_loop(table: &SweepTable) -> String {
    let tpcc = distinct(table, "workload").as_deref() == Some(&["tpcc"][..]);
    let (one, many) = if tpcc {
        ("terminal", "terminals")
    } else {
        ("client", "clients")
    };
    match distinct(table, "concurrency").as_deref() {
        Some(["1"]) => format!("closed loop, 1 {one}"),
        Some([n]) => format!("closed loop, {n} {many}"),
        Some([_, _, ..]) => format!("closed loop, number of {many} varies"),
        _ => "closed loop".into(),
    }
}

/// `none`, `fsync`, `varies`, or `not recorded` (a table from before the setting existed).
pub fn durability(table: &SweepTable) -> String {
    match distinct(table, "durability").as_deref() {
        Some([one]) => one.to_string(),
        Some([_, _, ..]) => "varies".into(),
        _ => "not recorded".into(),
    }
}

/// A row's offered rate, when it is an open-loop run's (a positive number).
pub fn rate(row: &RunRow, column: usize) -> Option<f64> {
    let cell = row.params.get(column)?;
    cell.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && *r > 0.0)
}

/// The index of a parameter column.
pub fn column(table: &SweepTable, name: &str) -> Option<usize> {
    table.params.iter().position(|p| p == name)
}

/// A column's distinct non-empty cells in first-seen order; `None` when there is no such column.
fn distinct<'t>(table: &'t SweepTable, name: &str) -> Option<Vec<&'t str>> {
    let c = column(table, name)?;
    let mut seen: Vec<&str> = Vec::new();
    for row in &table.rows {
        let cell = row.params.get(c).map_or("", |s| s.trim());
        if !cell.is_empty() && !seen.contains(&cell) {
            seen.push(cell);
        }
    }
    Some(seen)
}
