//! `vbench check` (also `vbench run --check`): the consistency gate CI runs. A run with the
//! serial-replay comparison and the mode checker on, then one PASS/FAIL line per guarantee of
//! vMODB: no anomaly of any class (TPC-C: no violated condition), final state equal to the serial
//! replay of the committed inputs, no execution-mode declaration contradicted by the rows tasks
//! touched. The baseline's anomalies are printed as INFO: they are what is being measured.

use crate::config::RunConfig;
use crate::system::{RunOutcome, SystemRun};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Measured, not gated (the baseline).
    Info,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub line: String,
}

/// The configuration a check runs: the given one with both of vMODB's own checks on.
pub fn with_checks(config: RunConfig) -> RunConfig {
    RunConfig {
        replay_check: true,
        check_modes: true,
        ..config
    }
}

/// One verdict per gated guarantee of each vMODB run, and the baseline's anomalies as INFO.
pub fn verdicts(config: &RunConfig, outcome: &RunOutcome) -> Vec<Verdict> {
    let mut out = Vec::new();
    for run in &outcome.runs {
        if run.system == "vmodb" {
            out.push(consistency(config, run));
            out.push(match run.replay_equal {
                Some(true) => pass("vmodb serial replay: the final state equals it"),
                Some(false) => fail("vmodb serial replay: the final state differs from it"),
                None => Verdict {
                    status: Status::Info,
                    line: "vmodb serial replay: not compared (replay_check is off)".into(),
                },
            });
            out.push(if run.mode_violations == 0 {
                pass("vmodb execution modes: no conflicting concurrent row accesses")
            } else {
                fail(&format!(
                    "vmodb execution modes: {} conflicting concurrent row accesses",
                    run.mode_violations
                ))
            });
        } else {
            let mut v = consistency(config, run);
            v.status = Status::Info;
            v.line.push_str("; measured, not gated");
            out.push(v);
        }
    }
    out
}

/// Anomalies (marketplace) or violated conditions (TPC-C) of one run, with the classes that
/// have any.
fn consistency(config: &RunConfig, run: &SystemRun) -> Verdict {
    let (what, unit, of) = if config.workload == "tpcc" {
        ("TPC-C consistency conditions", "violations", "conditions")
    } else {
        ("consistency", "anomalies", "classes")
    };
    let classes = run.anomalies.counts.len();
    let total = run.anomalies.total();
    if total == 0 {
        return pass(&format!(
            "{} {what}: 0 {unit} in {classes} {of}",
            run.system
        ));
    }
    let found: Vec<String> = run
        .anomalies
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    fail(&format!(
        "{} {what}: {total} {unit}: {}",
        run.system,
        found.join(", ")
    ))
}

fn pass(line: &str) -> Verdict {
    Verdict {
        status: Status::Pass,
        line: line.to_string(),
    }
}

fn fail(line: &str) -> Verdict {
    Verdict {
        status: Status::Fail,
        line: line.to_string(),
    }
}

/// Prints the verdicts and a closing line; true when nothing failed.
pub fn print(verdicts: &[Verdict]) -> bool {
    println!();
    for v in verdicts {
        let tag = match v.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Info => "INFO",
        };
        println!("{tag} {}", v.line);
    }
    let passed = verdicts.iter().all(|v| v.status != Status::Fail);
    println!("check: {}", if passed { "PASS" } else { "FAIL" });
    passed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use workloads::marketplace::checker::AnomalyReport;
    use workloads::marketplace::driver::DriveResult;

    fn run(system: &'static str, anomalies: u64, replay: Option<bool>, modes: u64) -> SystemRun {
        let mut report = AnomalyReport::default();
        report.counts.insert("stale_replica", anomalies);
        SystemRun {
            system,
            drive: {
                let mut d = DriveResult::new(&[], Duration::from_secs(1));
                d.committed = 10;
                d
            },
            anomalies: report,
            replay_equal: replay,
            replay_tps: None,
            mode_violations: modes,
            load_s: 0.0,
        }
    }

    fn statuses(runs: Vec<SystemRun>) -> (Vec<Status>, bool) {
        let outcome = RunOutcome { runs };
        let v = verdicts(&RunConfig::default(), &outcome);
        (v.iter().map(|v| v.status).collect(), outcome.vmodb_clean())
    }

    #[test]
    fn a_clean_vmodb_passes_whatever_the_baseline_found() {
        let (s, clean) = statuses(vec![
            run("vmodb", 0, Some(true), 0),
            run("baseline", 92, None, 0),
        ]);
        use Status::*;
        assert_eq!(s, vec![Pass, Pass, Pass, Info]);
        assert!(clean);
    }

    #[test]
    fn each_vmodb_guarantee_fails_on_its_own_and_agrees_with_the_exit_code() {
        use Status::*;
        for (r, expected) in [
            (run("vmodb", 3, Some(true), 0), vec![Fail, Pass, Pass]),
            (run("vmodb", 0, Some(false), 0), vec![Pass, Fail, Pass]),
            (run("vmodb", 0, Some(true), 2), vec![Pass, Pass, Fail]),
        ] {
            let (s, clean) = statuses(vec![r]);
            assert_eq!(s, expected);
            assert!(!clean, "the exit code must agree with a FAIL line");
        }
        let v = verdicts(
            &RunConfig::default(),
            &RunOutcome {
                runs: vec![run("vmodb", 3, Some(true), 0)],
            },
        );
        assert!(v[0].line.contains("stale_replica 3"), "{}", v[0].line);
    }

    #[test]
    fn checks_turn_on_replay_and_modes() {
        let c = with_checks(RunConfig::default());
        assert!(c.replay_check && c.check_modes);
    }
}
