//! `vbench sweep FILE.toml`: runs every point of a sweep file (`spec.rs`) `repetitions` times,
//! in this process, on the run path of `vbench run`; writes `results/<name>/` (`sweep.csv`,
//! `latency.csv`, `runs/<point>/r<rep>/<system>/` with each run's own CSVs, the plots and
//! `report.md`). A run that fails or panics becomes a row with its error, and the sweep goes on.

pub mod plot;
pub mod spec;
pub mod table;
#[cfg(test)]
pub(crate) mod tests;

use crate::report::{self, RunSummary};
use crate::run::{self, WorkloadData};
use crate::system::{DataKey, Progress, SystemRun};
use anyhow::{Context, anyhow};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use spec::{Point, Sweep};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;
use table::{Metrics, RunRow, SweepWriter};

/// What a sweep did.
pub struct SweepOutcome {
    pub dir: PathBuf,
    pub runs: usize,
    pub failed: usize,
}

/// The name of the directory of one point's runs (`p007`), wide enough for every point.
fn point_dir(point: usize, points: usize) -> String {
    let width = points.to_string().len().max(3);
    format!("p{point:0width$}")
}

/// Runs the sweep in `path`; results go to `results/<name>/`, replacing an earlier run of it.
/// This machine in one line: CPU model, cores, memory (from /proc where it exists).
pub fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(String::new(), |kb| {
            format!(", {:.0} GiB", kb / 1024.0 / 1024.0)
        });
    format!("{cpu}, {cores} cores{mem_gib}, {}\n", std::env::consts::OS)
}

pub fn run(path: &Path, results: &Path) -> anyhow::Result<SweepOutcome> {
    let started = Instant::now();
    let sweep = spec::load(path)?;
    let dir = results.join(&sweep.name);
    clear_outputs(&dir)?;
    std::fs::write(dir.join("sweep.toml"), &sweep.source)
        .with_context(|| format!("cannot write {}", dir.join("sweep.toml").display()))?;
    // The plots' captions name the machine the sweep ran on (a redraw elsewhere keeps it).
    std::fs::write(dir.join("machine.txt"), machine())
        .with_context(|| format!("cannot write {}", dir.join("machine.txt").display()))?;
    let mut writer = SweepWriter::create(
        &dir,
        table::parameter_columns(&sweep)?,
        table::anomaly_classes(&sweep),
    )?;
    let total: usize = sweep
        .points
        .iter()
        .map(|p| run::systems(&p.config).len() * sweep.repetitions as usize)
        .sum();
    println!(
        "sweep {}: {} points x {} repetitions = {total} runs, writing to {}",
        sweep.name,
        sweep.points.len(),
        sweep.repetitions,
        dir.display()
    );
    if !sweep.description.is_empty() {
        println!("{}", sweep.description);
    }
    for v in &sweep.varied {
        let values: Vec<String> = v.values.iter().map(spec::cell).collect();
        println!("varying {}: {}", v.key, values.join(", "));
    }
    let multi = MultiProgress::new();
    let overall = multi.add(ProgressBar::new(total as u64));
    overall.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} runs  {msg}")
            .map_err(|e| anyhow!("progress template: {e}"))?,
    );
    let mut sweeper = Sweeper {
        sweep: &sweep,
        dir: &dir,
        writer: &mut writer,
        multi: &multi,
        progress: Progress::within(&multi),
        overall: &overall,
        data: None,
        failed: 0,
    };
    // With one data set for every point, repetitions go round the points (1, 2, .., 1, 2, ..):
    // a drift of the shared machine then hits every point alike, so ratios between points stay
    // fair. Otherwise each point's repetitions run together, generating its data once.
    let one_data_set = sweep
        .points
        .windows(2)
        .all(|w| DataKey::of(&w[0].config) == DataKey::of(&w[1].config));
    if one_data_set {
        for repetition in 1..=sweep.repetitions {
            for point in &sweep.points {
                sweeper.run_point(point, repetition)?;
            }
        }
    } else {
        for point in &sweep.points {
            for repetition in 1..=sweep.repetitions {
                sweeper.run_point(point, repetition)?;
            }
        }
    }
    let failed = sweeper.failed;
    overall.finish_and_clear();
    let written = plot::redraw(&dir)?;
    let elapsed = started.elapsed().as_secs();
    println!(
        "sweep {} done in {}:{:02}: {total} runs, {failed} failed",
        sweep.name,
        elapsed / 60,
        elapsed % 60
    );
    let mut files = vec![table::SWEEP_CSV.to_string(), table::LATENCY_CSV.to_string()];
    files.extend(
        written
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
    );
    println!("results in {}: {}", dir.display(), files.join(", "));
    Ok(SweepOutcome {
        dir,
        runs: total,
        failed,
    })
}

/// Makes `dir` and removes what an earlier run of the same sweep wrote there (only those files:
/// anything else in the directory stays).
fn clear_outputs(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runs = dir.join("runs");
    if runs.is_dir() {
        std::fs::remove_dir_all(&runs)
            .with_context(|| format!("cannot remove the earlier {}", runs.display()))?;
    }
    let ours = [table::SWEEP_CSV, table::LATENCY_CSV, "sweep.toml"];
    for name in ours.iter().chain(plot::OUTPUT_FILES.iter()) {
        let file = dir.join(name);
        if file.is_file() {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot remove the earlier {}", file.display()))?;
        }
    }
    Ok(())
}

/// The state of a sweep in progress.
struct Sweeper<'a> {
    sweep: &'a Sweep,
    dir: &'a Path,
    writer: &'a mut SweepWriter,
    multi: &'a MultiProgress,
    progress: Progress,
    overall: &'a ProgressBar,
    /// The last data set generated: consecutive points that differ only in how they run (batch
    /// size, concurrency, system) reuse it.
    data: Option<(DataKey, WorkloadData)>,
    failed: usize,
}

impl Sweeper<'_> {
    /// Runs one repetition of a point on each of its systems and writes their rows.
    fn run_point(&mut self, point: &Point, repetition: u32) -> anyhow::Result<()> {
        let systems = run::systems(&point.config);
        self.overall.set_message(format!(
            "point {}/{} rep {repetition}: {}",
            point.id,
            self.sweep.points.len(),
            point.label()
        ));
        let params = self.writer.cells(point)?;
        let key = DataKey::of(&point.config);
        if self.data.as_ref().is_none_or(|(k, _)| *k != key) {
            self.data = None;
            let prepared = guarded(|| run::prepare(&point.config, &self.progress));
            match prepared {
                Ok(data) => self.data = Some((key, data)),
                Err(error) => {
                    for &system in systems {
                        self.record(point, repetition, system, &params, Err(error.clone()))?;
                    }
                    return Ok(());
                }
            }
        }
        // Taken out for the loop (the rows need `self` mutably) and put back after it.
        let Some((key, data)) = self.data.take() else {
            return Ok(());
        };
        for &system in systems {
            let outcome =
                guarded(|| run::run_on(system, &point.config, &data, None, &self.progress));
            let row = match outcome {
                Ok(run) => {
                    self.write_run_files(point, repetition, &run)?;
                    self.writer
                        .write_latency(point.id, repetition, system, &run.drive)?;
                    Ok(Metrics::of(&run, &point.config, &self.writer.classes)?)
                }
                Err(error) => Err(error),
            };
            self.record(point, repetition, system, &params, row)?;
        }
        self.data = Some((key, data));
        Ok(())
    }

    /// Writes a row, counts a failure, and prints one line about the run.
    fn record(
        &mut self,
        point: &Point,
        repetition: u32,
        system: &str,
        params: &[String],
        outcome: Result<Metrics, String>,
    ) -> anyhow::Result<()> {
        let line = match &outcome {
            Ok(m) => format!(
                "{:.0} tx/s, p50 {:.2} ms, p99 {:.2} ms, {} anomalies",
                m.throughput_tps, m.latency.p50, m.latency.p99, m.anomalies_total
            ),
            Err(e) => {
                self.failed += 1;
                format!("FAILED: {e}")
            }
        };
        let row = RunRow {
            point: point.id,
            repetition,
            system: system.to_string(),
            params: params.to_vec(),
            outcome,
        };
        self.writer.write(&row)?;
        self.overall.inc(1);
        let name = point_dir(point.id, self.sweep.points.len());
        // Printed with the bars suspended (and on stdout), so it also shows without a terminal.
        self.multi
            .suspend(|| println!("{name} r{repetition} {system:<8} {}: {line}", point.label()));
        Ok(())
    }

    /// `runs/<point>/r<rep>/<system>/`: the run's config.toml, summary, latency and anomalies,
    /// as `vbench run` writes them.
    fn write_run_files(
        &self,
        point: &Point,
        repetition: u32,
        run: &SystemRun,
    ) -> anyhow::Result<()> {
        let name = point_dir(point.id, self.sweep.points.len());
        let out = self
            .dir
            .join("runs")
            .join(&name)
            .join(format!("r{repetition}"))
            .join(run.system);
        let run_id = format!("{}/{name}/r{repetition}/{}", self.sweep.name, run.system);
        report::write(
            &out,
            &RunSummary {
                run_id: &run_id,
                system: run.system,
                config: &point.config,
                drive: &run.drive,
                anomalies: &run.anomalies,
                replay_equal: run.replay_equal,
                replay_tps: run.replay_tps,
                load_s: run.load_s,
            },
        )
    }
}

/// Runs `f`, turning an error or a panic into the message a failed row carries.
fn guarded<T>(f: impl FnOnce() -> anyhow::Result<T>) -> Result<T, String> {
    let message = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(e)) => format!("{e:#}"),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            format!("panicked: {what}")
        }
    };
    Err(if message.trim().is_empty() {
        "failed (no message)".into()
    } else {
        message
    })
}
