use super::spec::{self, expand_range};
use super::table;
use toml::Value;
use workloads::marketplace::generator::{KeyDistribution, Mix};

pub(crate) fn parse(text: &str) -> anyhow::Result<spec::Sweep> {
    spec::parse(text, "from-file-name")
}

/// The error message of a sweep file that must not parse.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(s) => panic!("parsed, with {} points", s.points.len()),
        Err(e) => format!("{e:#}"),
    }
}

fn ints(values: &[i64]) -> Vec<Value> {
    values.iter().map(|&v| Value::Integer(v)).collect()
}

const GRID: &str = r#"
name = "grid"
description = "two keys"
repetitions = 3

[fixed]
scale = 0.05
mix = "paper"
inject = "jitter=1"

[vary]
concurrency = { from = 8, to = 128, times = 4 }
system = ["vmodb", "both"]
inject.targeted_updates = [0, 50]
"#;

#[test]
fn a_sweep_file_gives_the_grid_of_its_varied_keys_in_file_order() {
    let s = parse(GRID).expect("parses");
    assert_eq!(
        (s.name.as_str(), s.description.as_str(), s.repetitions),
        ("grid", "two keys", 3)
    );
    // File order, not alphabetical: the first key is the plots' x-axis.
    let keys: Vec<&str> = s.varied.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["concurrency", "system", "inject.targeted_updates"]);
    assert_eq!(s.varied[0].values, ints(&[8, 32, 128]));
    assert_eq!(s.varied[0].line, 12);
    assert_eq!(s.points.len(), 3 * 2 * 2);
    // First key slowest, last fastest; ids from 1.
    let first: Vec<String> = s.points[..4].iter().map(|p| p.label()).collect();
    assert_eq!(
        first,
        [
            "concurrency=8 system=vmodb inject.targeted_updates=0",
            "concurrency=8 system=vmodb inject.targeted_updates=50",
            "concurrency=8 system=both inject.targeted_updates=0",
            "concurrency=8 system=both inject.targeted_updates=50",
        ]
    );
    assert_eq!(s.points[11].id, 12);
    let last = &s.points[11].config;
    assert_eq!(
        (last.concurrency, last.system.as_str(), last.scale),
        (128, "both", 0.05)
    );
    // The fixed flag spellings became settings; the varied key changed one field of `inject`
    // and kept the fixed jitter.
    assert_eq!(last.mix, Mix::paper());
    assert_eq!(last.inject.jitter_ms, 1.0);
    assert_eq!(last.inject.targeted_updates, 50);
    // Keys not mentioned keep the defaults.
    assert_eq!(last.batch_window_ms, 10);
}

#[test]
fn flag_spellings_and_config_spellings_both_vary() {
    let s = parse(
        r#"
[vary]
seller_distribution = ["uniform", "zipf:0.5", "Uniform", { Zipf = 1.2 }]
mix = ["benchmark", "10,0,0,0,0"]
"#,
    )
    .expect("parses");
    assert_eq!(s.name, "from-file-name");
    assert_eq!(s.points.len(), 8);
    let dists: Vec<KeyDistribution> = s
        .points
        .iter()
        .step_by(2)
        .map(|p| p.config.seller_distribution)
        .collect();
    use KeyDistribution::*;
    assert_eq!(dists, [Uniform, Zipf(0.5), Uniform, Zipf(1.2)]);
    assert_eq!(s.points[1].config.mix.checkout, 10);
    // Labels keep the values as written.
    assert_eq!(
        s.points[3].label(),
        "seller_distribution=zipf:0.5 mix=10,0,0,0,0"
    );
}

#[test]
fn flag_names_and_dashes_name_the_same_settings() {
    let s = parse(
        "[fixed]\nduration = 2\nwarmup = 0.5\nseller-dist = \"zipf:1.0\"\n[vary]\nbatch_size = [1, 10]\nbatch-window-ms = [5]\n",
    )
    .expect("parses");
    let c = &s.points[1].config;
    assert_eq!(
        (
            c.duration_s,
            c.warmup_s,
            c.batch_max_txns,
            c.batch_window_ms
        ),
        (2.0, 0.5, 10, 5)
    );
    assert_eq!(c.seller_distribution, KeyDistribution::Zipf(1.0));
    // Columns and labels use the configuration's names.
    assert_eq!(s.points[1].label(), "batch_max_txns=10 batch_window_ms=5");
    // A quoted dotted key in [fixed] is the nested setting.
    let s = parse("[fixed]\n\"inject.hot\" = 2\n").expect("parses");
    assert_eq!(s.points[0].config.inject.hot, 2.0);
    let e = format!("{:#}", spec::parse("", "bad name").expect_err("stem"));
    assert!(
        e.contains("no `name` given, and the file's name `bad name` cannot"),
        "{e}"
    );
}

#[test]
fn ranges_are_inclusive_and_free_of_binary_noise() {
    let range = |text: &str| {
        let t: toml::Table = toml::from_str(&format!("r = {text}")).expect("toml");
        let Some(Value::Table(r)) = t.get("r") else {
            panic!("not a table")
        };
        expand_range(r)
    };
    assert_eq!(
        range("{ from = 1, to = 9, step = 4 }"),
        Ok(ints(&[1, 5, 9]))
    );
    assert_eq!(
        range("{ from = 0, to = 0.3, step = 0.1 }"),
        Ok(vec![0.0, 0.1, 0.2, 0.3]
            .into_iter()
            .map(Value::Float)
            .collect())
    );
    assert_eq!(
        range("{ from = 1, to = 10000, times = 10 }"),
        Ok(ints(&[1, 10, 100, 1000, 10000]))
    );
    // Integer bounds round a fractional factor and drop repeats.
    assert_eq!(
        range("{ from = 1, to = 4, times = 1.2 }"),
        Ok(ints(&[1, 2, 3, 4]))
    );
    assert_eq!(range("{ from = 5, to = 5, step = 1 }"), Ok(ints(&[5])));
    for (bad, says) in [
        ("{ from = 1, to = 8, stepp = 1 }", "unknown key `stepp`"),
        ("{ from = 1, to = 8 }", "exactly one of `step`"),
        (
            "{ from = 1, to = 8, step = 1, times = 2 }",
            "exactly one of `step`",
        ),
        ("{ from = 8, to = 1, step = 1 }", "below `from`"),
        ("{ from = 1, to = 8, step = 0 }", "must be positive"),
        ("{ from = 0, to = 8, times = 2 }", "`from` > 0"),
        ("{ from = 1, to = 8, times = 1 }", "`times` > 1"),
        ("{ from = 1, to = 100000, step = 1 }", "more than 1000"),
        // Counts that overflow or never end are refused too, not run as 0 points.
        ("{ from = 1, to = 2, step = 5e-324 }", "more than 1000"),
        ("{ from = -1e308, to = 1e308, step = 1 }", "more than 1000"),
        (
            "{ from = 1, to = 1e308, times = 1.0000000001 }",
            "more than 1000",
        ),
        (
            "{ from = 1, to = 100, times = 1.0000000001 }",
            "more than 1000",
        ),
        ("{ from = 5e-324, to = 1e308, times = 2 }", "more than 1000"),
        ("{ from = \"a\", to = 8, step = 1 }", "must be a number"),
        ("{ to = 8, step = 1 }", "both `from` and `to`"),
    ] {
        let e = range(bad).expect_err(bad);
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn bad_files_name_the_key_and_its_line() {
    for (text, says) in [
        // Unknown top-level key: toml's own message, with line and column.
        (
            "name = \"x\"\nrepetition = 2\n",
            &["line 2", "unknown field `repetition`"][..],
        ),
        ("[vary\nconcurrency = [1]\n", &["line 1"]),
        (
            "repetitions = 0\n",
            &["`repetitions` (line 1)", "at least 1"],
        ),
        (
            "name = \"../up\"\n",
            &["`name` (line 1)", "cannot name a results directory"],
        ),
        (
            "[fixed]\n\"inject.hotspot\" = 1\n",
            &["`fixed.inject.hotspot` (line 2)", "unknown field `hotspot`"],
        ),
        // A misspelled setting.
        (
            "\n[fixed]\nscale = 0.1\nconcurency = 4\n",
            &["`fixed.concurency` (line 4)", "unknown field `concurency`"],
        ),
        (
            "[fixed]\ninject = { jitter = 2 }\n",
            &["`fixed.inject` (line 2)", "unknown field `jitter`"],
        ),
        (
            "[fixed]\nmix = \"cheap\"\n",
            &["`fixed.mix` (line 2)", "unknown mix `cheap`"],
        ),
        (
            "[vary]\nbatchsize = [1, 2]\n",
            &["`vary.batchsize` (line 2)", "unknown field `batchsize`"],
        ),
        // A value of the wrong type, in a list or a range.
        (
            "[vary]\n\nbatch_window_ms = [10, \"x\"]\n",
            &["`vary.batch_window_ms` (line 3), value x", "expected u64"],
        ),
        (
            "[vary]\nconcurrency = { from = 0.5, to = 2, step = 0.5 }\n",
            &["`vary.concurrency` (line 2), value 0.5", "expected usize"],
        ),
        (
            "[vary]\ninject.jitter_ms = [0, true]\n",
            &["`vary.inject.jitter_ms` (line 2), value true"],
        ),
        (
            "[vary]\nworkload.kind = [1]\n",
            &["`vary.workload.kind` (line 2)", "`workload` is not a table"],
        ),
        // Shapes of [vary].
        (
            "[vary]\nconcurrency = 4\n",
            &["`vary.concurrency` (line 2)", "a list of values or a range"],
        ),
        (
            "[vary]\nconcurrency = []\n",
            &["`vary.concurrency` (line 2)", "empty"],
        ),
        (
            "[vary]\nconcurrency = { from = 1, to = 2, stride = 1 }\n",
            &["`vary.concurrency` (line 2)", "unknown key `stride`"],
        ),
        (
            "[vary]\ninject = [\"all\"]\n\"inject.hot\" = [1]\n",
            &[
                "`vary.inject.hot` (line 3)",
                "overlaps `vary.inject` (line 2)",
            ],
        ),
        (
            "[fixed]\nconcurrency = 4\n[vary]\nconcurrency = [1, 2]\n",
            &[
                "`vary.concurrency` (line 4)",
                "`fixed.concurrency` sets it too (line 2)",
            ],
        ),
        (
            "[fixed]\nduration = 3\nduration_s = 4\n",
            &[
                "`fixed.duration_s` (line 3)",
                "sets `duration_s` as `fixed.duration` does",
            ],
        ),
        (
            "[fixed]\nbatch_size = 3\n[vary]\nbatch-max-txns = [1, 2]\n",
            &[
                "`vary.batch_max_txns` (line 4)",
                "`fixed.batch_size` sets it too (line 2)",
            ],
        ),
        // A value every key accepts alone but the run refuses: named by point.
        (
            "[vary]\nconcurrency = [4, 0]\n",
            &[
                "point 2 of 2 (concurrency=0",
                "`vary.concurrency` line 2",
                "concurrency must be at least 1",
            ],
        ),
        (
            "[fixed]\nworkload = \"tpcc\"\ninject = \"hot\"\n",
            &["the fixed settings", "TPC-C takes only the jitter"],
        ),
    ] {
        let e = error(text);
        for s in says {
            assert!(e.contains(s), "for {text:?}: `{s}` not in `{e}`");
        }
    }
}

#[test]
fn a_huge_grid_is_refused_before_anything_runs() {
    let e = error(
        "[vary]\nseed = { from = 1, to = 1000, step = 1 }\nconcurrency = { from = 1, to = 100, step = 1 }\n",
    );
    assert!(e.contains("more than 10000 points"), "{e}");
}

#[test]
fn parameters_put_varied_keys_first_and_leave_their_parts_to_them() {
    let s = parse(GRID).expect("parses");
    let params = table::parameters(&s.points[0]).expect("flattens");
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    // `system` is the row's own column, not a parameter.
    assert_eq!(names[..2], ["concurrency", "inject.targeted_updates"]);
    assert!(!names.contains(&"system"));
    assert!(names.contains(&"inject.jitter_ms") && names.contains(&"mix.checkout"));
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "inject.targeted_updates")
            .count(),
        1
    );
    let s = parse("[vary]\ninject = [\"none\", \"all\"]\n").expect("parses");
    let params = table::parameters(&s.points[1]).expect("flattens");
    assert_eq!(params[0], ("inject".to_string(), "all".to_string()));
    assert!(params.iter().all(|(k, _)| !k.starts_with("inject.")));
}

/// Seconds of warm-up and measurement a sweep asks for (loading and checking come on top).
fn measured_seconds(s: &spec::Sweep) -> f64 {
    let per_repetition: f64 = s
        .points
        .iter()
        .map(|p| {
            let systems = crate::run::systems(&p.config).len() as f64;
            systems * (p.config.warmup_s + p.config.duration_s)
        })
        .sum();
    per_repetition * f64::from(s.repetitions)
}

#[test]
fn the_committed_experiments_parse_and_fit_their_time_budgets() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("experiments/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let sweep = spec::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        assert_eq!(
            sweep.name,
            stem,
            "{}: name the results after the file",
            path.display()
        );
        assert!(
            !sweep.description.is_empty(),
            "{}: describe it",
            path.display()
        );
        // The example finishes in about a minute; each figure within minutes on 2 cores.
        let budget = if stem == "example" { 60.0 } else { 300.0 };
        let seconds = measured_seconds(&sweep);
        assert!(
            seconds <= budget,
            "{}: {seconds} s measured",
            path.display()
        );
        seen.push(stem.to_string());
    }
    // The paper's figures and the example are there (other experiments may join them).
    for required in [
        "batch-size",
        "batch-window",
        "example",
        "headline",
        "skew",
        "tpcc-warehouses",
    ] {
        assert!(
            seen.iter().any(|s| s == required),
            "experiments/{required}.toml"
        );
    }
}

#[test]
fn a_failing_or_panicking_run_becomes_a_message_and_the_sweep_goes_on() {
    assert_eq!(super::guarded(|| Ok(7)), Ok(7));
    assert_eq!(
        super::guarded::<()>(|| Err(anyhow::anyhow!("did not quiesce"))),
        Err("did not quiesce".to_string())
    );
    let panicked = super::guarded::<()>(|| panic!("index {} out of range", 3));
    assert_eq!(panicked, Err("panicked: index 3 out of range".to_string()));
    assert_eq!(
        super::guarded::<()>(|| Err(anyhow::anyhow!(""))),
        Err("failed (no message)".to_string())
    );
}

#[test]
fn the_readme_example_sweep_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Experiments")
        .nth(1)
        .expect("an Experiments section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml example");
    let s = parse(example).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(s.points.len(), 5 * 5 * 3 * 2);
    assert_eq!(s.points[0].config.inject.jitter_ms, 0.0);
}
