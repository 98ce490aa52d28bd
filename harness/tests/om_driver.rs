//! The Online Marketplace benchmark's driver, as `vbench run --client om-driver` plays it,
//! against nine `vbench serve` processes started empty (`[run] data = "ingest"`) whose front
//! door lets the driver in without a token: the first run ingests the data set through the
//! API and passes every check; its post-run reset leaves the data as ingested, so a second run
//! passes them again; the token-less driver cannot reset or read the state itself.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn om_driver_run(cluster: &Cluster, results: &std::path::Path) -> (bool, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(["run", "--target", &format!("http://{}", cluster.http)])
        .args(["--client", "om-driver", "--check"])
        .args(["--duration", "2", "--warmup", "0", "--concurrency", "16"])
        .env("VMODB_TOKEN", OPERATOR_TOKEN)
        .arg("--results")
        .arg(results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench run");
    let (out, _) = wait_output(child, Duration::from_secs(300));
    let out = out.expect("vbench run ends");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out.status.success(), all)
}

#[test]
fn the_driver_ingests_runs_resets_and_runs_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("om-driver");
    let cluster = Cluster::start_anonymous(
        &dir,
        "data = \"ingest\"\nreplay_check = true\ncheck_modes = true",
    );
    let results = dir.join("results");
    let (ok, out) = om_driver_run(&cluster, &results);
    assert!(ok, "{out}");
    assert!(out.contains("ingested"), "{out}");
    for line in ["serial replay equal    yes", "PATCH /reset"] {
        assert!(out.contains(line), "no `{line}`: {out}");
    }
    assert!(out.contains("PASS") && !out.contains("FAIL"), "{out}");

    let (ok, out) = om_driver_run(&cluster, &results);
    assert!(ok, "{out}");
    assert!(out.contains("holds the data set as ingested"), "{out}");
    assert!(out.contains("PASS") && !out.contains("FAIL"), "{out}");

    // A seller the data set does not have (ingested by anyone: ingestion is a client's): the
    // next run is refused, and says how to go on.
    let seller = r#"{"id": 99999, "name": "late seller"}"#;
    assert_eq!(post_json(&cluster.http, "/seller", seller), Some(200));
    let (ok, out) = om_driver_run(&cluster, &results);
    assert!(!ok, "{out}");
    assert!(out.contains("PATCH /cleanup"), "{out}");
    let cleanup = call(&cluster.http, Some(OPERATOR_TOKEN), "PATCH", "/cleanup");
    assert_eq!(cleanup.map(|r| r.0), Some(200));
    let (ok, out) = om_driver_run(&cluster, &results);
    assert!(ok, "{out}");
    assert!(
        out.contains("ingested"),
        "after a cleanup, ingested again: {out}"
    );
    assert!(out.contains("PASS") && !out.contains("FAIL"), "{out}");
    assert!(out.contains("serial replay equal    yes"), "{out}");

    // Without a token the driver is a client: the benchmark's routes and the status, not the
    // operator's.
    assert_eq!(
        call(&cluster.http, None, "GET", "/status").map(|r| r.0),
        Some(200)
    );
    assert_eq!(
        call(&cluster.http, None, "PATCH", "/reset").map(|r| r.0),
        Some(403)
    );
    assert_eq!(
        call(&cluster.http, None, "GET", "/state").map(|r| r.0),
        Some(403)
    );
    assert_eq!(
        call(&cluster.http, Some("not-a-token"), "GET", "/status").map(|r| r.0),
        Some(401),
        "a wrong token is still refused"
    );
}

/// A token-less `POST` of a JSON body: the status.
fn post_json(addr: &str, path: &str, body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// A cluster that loaded the data set itself (`data = "generate"`, the default) holds it as
/// ingested: the driver runs on it at once, and the serial replay starts from that data.
#[test]
fn the_driver_runs_on_a_cluster_that_loaded_the_data_itself() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("om-driver-generate");
    let cluster = Cluster::start_anonymous(&dir, "replay_check = true\ncheck_modes = true");
    let (ok, out) = om_driver_run(&cluster, &dir.join("results"));
    assert!(ok, "{out}");
    assert!(out.contains("holds the data set as ingested"), "{out}");
    assert!(out.contains("serial replay equal    yes"), "{out}");
}
