use super::*;

#[test]
fn distributions_parse_or_explain() {
    assert_eq!(parse_distribution("uniform"), Ok(KeyDistribution::Uniform));
    assert_eq!(
        parse_distribution("zipf:0.8"),
        Ok(KeyDistribution::Zipf(0.8))
    );
    assert!(
        parse_distribution("zipf:x")
            .unwrap_err()
            .contains("not a number")
    );
    assert!(
        parse_distribution("normal")
            .unwrap_err()
            .contains("unknown distribution")
    );
}

#[test]
fn injections_parse_or_explain() {
    let i = parse_injection("jitter=5ms, hot, burst=4").expect("parses");
    assert_eq!(
        i,
        Injection {
            jitter_ms: 5.0,
            hot: 1.0,
            targeted_updates: 0,
            burst: 4,
            reorder: false,
        }
    );
    assert_eq!(parse_injection("all").expect("all").targeted_updates, 50);
    assert!(parse_injection("").expect("empty").is_off());
    assert!(
        parse_injection("lag=3")
            .unwrap_err()
            .contains("unknown injection `lag`")
    );
    assert!(
        parse_injection("jitter=x")
            .unwrap_err()
            .contains("not a number")
    );
    let bad = RunConfig {
        inject: Injection {
            targeted_updates: 150,
            ..Injection::default()
        },
        ..RunConfig::default()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("percent"));
}

#[test]
fn open_loads_are_validated_and_labelled() {
    let open = |rate: f64, arrivals: &str| RunConfig {
        rate_tps: rate,
        arrivals: arrivals.into(),
        ..RunConfig::default()
    };
    assert!(open(5000.0, "poisson").validate().is_ok());
    assert_eq!(
        open(5000.0, "constant").load_label(),
        "open loop, constant arrivals at 5000 tx/s"
    );
    assert_eq!(RunConfig::default().load_label(), "closed loop, 64 clients");
    assert!(RunConfig::default().open_load().is_none());
    for (bad, says) in [
        (open(-1.0, "poisson"), "rate must be"),
        (open(f64::NAN, "poisson"), "rate must be"),
        (open(0.01, "poisson"), "offers no operation"),
        (open(100.0, "bursty"), "arrivals must be"),
    ] {
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    let reorder = RunConfig {
        inject: parse_injection("reorder").expect("parses"),
        ..RunConfig::default()
    };
    assert!(
        reorder
            .validate()
            .unwrap_err()
            .to_string()
            .contains("needs jitter")
    );
    assert!(parse_injection("jitter=2,reorder").expect("parses").reorder);
}

#[test]
fn mixes_parse_presets_and_weights() {
    assert_eq!(parse_mix("paper"), Ok(Mix::paper()));
    assert_eq!(parse_mix("1,2,3,4,5").map(|m| m.delivery), Ok(5));
    assert!(parse_mix("1,2").is_err());
}

#[test]
fn fsync_is_accepted_for_both_workloads_on_both_systems() {
    let fsync = |system: &str, workload: &str, deploy: &str| RunConfig {
        durability: "fsync".into(),
        system: system.into(),
        workload: workload.into(),
        deploy: deploy.into(),
        ..RunConfig::default()
    };
    for system in ["vmodb", "baseline", "both"] {
        let c = fsync(system, "marketplace", "embedded");
        assert!(c.validate().is_ok(), "{system}: {:?}", c.validate());
        let c = fsync(system, "tpcc", "embedded");
        assert!(c.validate().is_ok(), "{system}: {:?}", c.validate());
    }
    for system in ["vmodb", "baseline", "both"] {
        for workload in ["marketplace", "tpcc"] {
            let c = fsync(system, workload, "processes");
            assert!(c.validate().is_ok(), "{system}: {:?}", c.validate());
        }
    }
    // The benchmark driver's API and its ingestion are the marketplace's.
    let mut om = fsync("vmodb", "tpcc", "processes");
    om.client = "om-driver".into();
    assert!(
        om.validate()
            .unwrap_err()
            .to_string()
            .contains("Marketplace")
    );
    let mut ingest = fsync("vmodb", "tpcc", "processes");
    ingest.data = "ingest".into();
    assert!(
        ingest
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ingest")
    );
    let bad = RunConfig {
        durability: "always".into(),
        ..RunConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("none` or `fsync")
    );
}

#[test]
fn config_round_trips_through_toml_and_rejects_bad_values() {
    let c = RunConfig::default();
    let text = toml::to_string(&c).expect("toml");
    assert_eq!(toml::from_str::<RunConfig>(&text).expect("parse"), c);
    assert!(toml::from_str::<RunConfig>("bogus = 1").is_err());
    let bad = RunConfig {
        concurrency: 0,
        ..RunConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = RunConfig {
        system: "dapr".into(),
        ..RunConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("unknown system")
    );
}

/// A file (or `[run]` table) that leaves a setting out must get the very default the flag
/// gets (`RunConfig::default()`, which the CLI starts from): checked for every field, nested
/// ones included, by removing each from a complete file in turn.
#[test]
fn every_setting_a_file_leaves_out_gets_the_flags_default() {
    let default = RunConfig::default();
    let full: toml::Table = toml::from_str(&toml::to_string(&default).expect("encodes"))
        .expect("a complete file parses");
    let mut paths: Vec<Vec<String>> = Vec::new();
    for (key, value) in &full {
        paths.push(vec![key.clone()]);
        if let toml::Value::Table(inner) = value {
            paths.extend(inner.keys().map(|k| vec![key.clone(), k.clone()]));
        }
    }
    assert!(paths.len() > 30, "every field is walked: {}", paths.len());
    for path in paths {
        let mut file = full.clone();
        let parent = path[..path.len() - 1]
            .iter()
            .fold(&mut file, |t, k| match t.get_mut(k) {
                Some(toml::Value::Table(inner)) => inner,
                _ => panic!("{path:?}: not a table"),
            });
        parent.remove(&path[path.len() - 1]);
        let text = toml::to_string(&file).expect("encodes");
        let read = toml::from_str::<RunConfig>(&text);
        if path.len() == 2 && path[0] == "mix" {
            // A mix is all five weights (as `--mix` takes them); a partial one is refused.
            let e = read.expect_err("a partial mix").to_string();
            assert!(e.contains("missing field"), "{path:?}: {e}");
            continue;
        }
        let read = read.unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(
            read, default,
            "leaving out {path:?} changes the configuration"
        );
    }
    let empty: RunConfig = toml::from_str("").expect("an empty file parses");
    assert_eq!(empty, default);
}

/// Only what decides the data binds a data directory: driving and operating settings do not.
#[test]
fn data_directories_are_bound_by_the_data_settings_only() {
    let base = RunConfig::default();
    let harmless = RunConfig {
        concurrency: 512,
        checkpoint_interval_ms: 100,
        batch_window_ms: 50,
        batch_idle_ms: 0,
        request_retention_s: 5.0,
        log_segment_mib: 1,
        duration_s: 3.0,
        ..base.clone()
    };
    assert_eq!(harmless.state_settings(), base.state_settings());
    for other in [
        RunConfig {
            scale: 0.5,
            ..base.clone()
        },
        RunConfig {
            seed: 7,
            ..base.clone()
        },
        RunConfig {
            all_or_nothing_checkout: true,
            ..base.clone()
        },
    ] {
        assert_ne!(other.state_settings(), base.state_settings());
    }
}
