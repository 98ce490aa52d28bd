//! A nine-process cluster (`vbench serve`) probed as an attacker and a clumsy operator would:
//! a forged node that knows everything but the cluster key is refused and stops nothing; the
//! front door answers 401 without a token and 403 to a client on operator routes; a cluster
//! file without a key is refused before anything starts; a second `vbench run --target` on a
//! cluster that already ran is refused with the reason instead of blaming the engine.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;
use vmodb::net::{Hello, HelloReply, Identity, Proof};
use vmodb::{Message, NodeId};

fn write_frame<T: serde::Serialize>(s: &mut TcpStream, value: &T) -> std::io::Result<()> {
    let body = postcard::to_allocvec(value).expect("encodes");
    s.write_all(&(body.len() as u32).to_le_bytes())?;
    s.write_all(&body)
}

fn read_frame<T: serde::de::DeserializeOwned>(s: &mut TcpStream) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body)?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A stranger claims to be the coordinator (and another service) at every service: each
/// challenges it, refuses "authentication failed", and keeps serving; a `Shutdown` frame sent
/// anyway reaches nobody.
#[test]
fn a_forged_node_is_refused_and_stops_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("forged-node");
    let mut cluster = Cluster::start(&dir);
    let claimed = Identity {
        app: 1,
        build: 2,
        cluster: 3,
    };
    for (i, addr) in cluster.services.clone().iter().enumerate() {
        for from in [NodeId::Coordinator, NodeId::Service(((i + 1) % 8) as u16)] {
            let mut s = TcpStream::connect(addr).expect("a service's node port");
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .expect("timeout");
            write_frame(&mut s, &Hello::new(from, claimed)).expect("hello");
            let challenge: HelloReply = read_frame(&mut s).expect("a challenge");
            assert!(
                matches!(challenge, HelloReply::Challenge { .. }),
                "{challenge:?}"
            );
            write_frame(&mut s, &Proof { proof: [0; 32] }).expect("proof");
            let verdict: HelloReply = read_frame(&mut s).expect("a verdict");
            assert_eq!(verdict, HelloReply::Refused("authentication failed".into()));
            // Pushed anyway: a frame of one `Shutdown`.
            let mut body = vec![0u8];
            body.extend(
                postcard::to_allocvec(&vec![Message::Control(vmodb::Control::Shutdown)])
                    .expect("encodes"),
            );
            let _ = s.write_all(&(body.len() as u32).to_le_bytes());
            let _ = s.write_all(&body);
        }
    }
    for role in SERVICES {
        assert!(
            matches!(cluster.node(role).try_wait(), Ok(None)),
            "`{role}` stopped: {}",
            cluster.log(role)
        );
    }
    let (code, status) = get(&cluster.http, "/status").expect("status");
    assert_eq!(code, 200, "{status}");
    assert!(status.contains("\"failure\":null"), "{status}");
    let log = cluster.log("cart");
    assert!(
        log.contains("did not prove it holds the cluster key"),
        "{log}"
    );
}

/// The front door of a real cluster: anonymous and client callers cannot read its state or
/// stop it; the operator can.
#[test]
fn the_front_door_lets_in_only_its_tokens() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("front-door-tokens");
    let mut cluster = Cluster::start(&dir);
    let http = cluster.http.clone();
    for (method, path) in [("POST", "/shutdown"), ("GET", "/state"), ("GET", "/status")] {
        let (code, _) = call(&http, None, method, path).expect("an answer");
        assert_eq!(code, 401, "{method} {path} without a token");
    }
    for (method, path) in [("POST", "/shutdown"), ("GET", "/state"), ("GET", "/config")] {
        let (code, _) = call(&http, Some(CLIENT_TOKEN), method, path).expect("an answer");
        assert_eq!(code, 403, "{method} {path} with a client token");
    }
    let (code, _) = call(&http, Some(CLIENT_TOKEN), "GET", "/status").expect("an answer");
    assert_eq!(code, 200);
    let (code, _) = call(&http, Some(OPERATOR_TOKEN), "GET", "/state").expect("an answer");
    assert_eq!(code, 200);
    // The coordinator may exit before the answer is read to its end: a 202 or a closed
    // connection, then every node gone.
    let answer = call(&http, Some(OPERATOR_TOKEN), "POST", "/shutdown");
    assert!(answer.as_ref().is_none_or(|(c, _)| *c == 202), "{answer:?}");
    assert!(
        all_exited(&mut cluster, &SERVICES, Duration::from_secs(30)),
        "the operator's shutdown did not stop the services"
    );
}

/// Running twice against one cluster: the second run is refused, saying the cluster already
/// ran transactions, instead of reporting anomalies the engine did not cause.
#[test]
fn a_second_run_against_one_cluster_is_refused_with_the_reason() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("second-target-run");
    let cluster = Cluster::start(&dir);
    let run = || {
        let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
            .args(["run", "--target", &format!("http://{}", cluster.http)])
            .args(["--duration", "1", "--warmup", "0", "--results"])
            .arg(&dir)
            .env("VMODB_TOKEN", OPERATOR_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vbench run");
        let (out, took) = wait_output(child, Duration::from_secs(120));
        out.unwrap_or_else(|| panic!("vbench run did not finish in {took:?}"))
    };
    let first = run();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = run();
    let stderr = text(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert_ne!(
        second.status.code(),
        Some(3),
        "blamed on the engine: {stderr}"
    );
    assert!(stderr.contains("has already run"), "{stderr}");
    // Without the operator's token the run cannot even read the cluster's configuration.
    let child = Command::new(env!("CARGO_BIN_EXE_vbench"))
        .args(["run", "--target", &format!("http://{}", cluster.http)])
        .args(["--duration", "1", "--results"])
        .arg(&dir)
        .env_remove("VMODB_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vbench run");
    let (out, _) = wait_output(child, Duration::from_secs(60));
    let out = out.expect("finishes");
    let stderr = text(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("VMODB_TOKEN"),
        "{stderr}"
    );
}

/// A front door with `tls_cert`/`tls_key` serves HTTPS only; `vbench run --target https://`
/// drives it, trusting the certificate given with `--ca-file`, and refuses without one.
#[test]
fn an_https_front_door_is_driven_with_its_certificate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("https");
    let cluster = Cluster::start_tls(&dir);
    assert!(get(&cluster.http, "/status").is_none_or(|(code, _)| code != 200));
    let url = format!("https://{}", cluster.http);
    let run = |ca: Option<&std::path::Path>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vbench"));
        command
            .args(["run", "--target", &url, "--duration", "1", "--warmup", "0"])
            .arg("--results")
            .arg(&dir)
            .env("VMODB_TOKEN", OPERATOR_TOKEN)
            .env_remove("VMODB_CA_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ca) = ca {
            command.arg("--ca-file").arg(ca);
        }
        let (out, took) = wait_output(
            command.spawn().expect("vbench run"),
            Duration::from_secs(120),
        );
        out.unwrap_or_else(|| panic!("vbench run did not finish in {took:?}"))
    };
    let refused = run(None);
    let stderr = text(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("--ca-file"),
        "{stderr}"
    );
    let driven = run(Some(&dir.join("cert.pem")));
    let stderr = text(&driven.stderr);
    assert!(
        driven.status.success(),
        "{}\n{stderr}",
        text(&driven.stdout)
    );
}

/// A cluster file without a key: every node refuses to start, saying what to add.
#[test]
fn a_cluster_file_without_a_key_is_refused() {
    let dir = scratch("no-key");
    let file = dir.join("cluster.toml");
    let mut text_of = String::from(
        "[cluster]\ncoordinator = \"127.0.0.1:1\"\nhttp = \"127.0.0.1:2\"\n[cluster.services]\n",
    );
    for (i, s) in SERVICES.iter().enumerate() {
        text_of.push_str(&format!("{s} = \"127.0.0.1:{}\"\n", i + 3));
    }
    std::fs::write(&file, text_of).expect("cluster file");
    for role in ["coordinator", "cart"] {
        let out = Command::new(env!("CARGO_BIN_EXE_vbench"))
            .args(["serve", "--role", role, "--cluster"])
            .arg(&file)
            .output()
            .expect("vbench serve");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("key_file"), "{stderr}");
    }
}
