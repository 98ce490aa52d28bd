//! Helpers for distributed deployments on loopback: started service processes waited for on
//! threads of their own, bootstrap errors as text, the wire handshake (length-prefixed postcard
//! frames), and a fake service that speaks the handshake over plain sockets.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use vmodb::net::handshake::{self, Credentials};
use vmodb::net::{HelloReply, Identity};
use vmodb::processes::{ClusterSpec, CoordinatorProcess, NodeOptions, ServiceProcess};
use vmodb::{App, BootstrapError, Loader, NodeId};

/// A started service process, waited for on a thread of its own: `exit` yields what `wait`
/// returned.
pub struct Running {
    pub name: String,
    pub exit: mpsc::Receiver<Result<(), String>>,
}

impl Running {
    /// What `wait` returned, if it returned within `limit`.
    pub fn exit_within(&self, limit: Duration) -> Option<Result<(), String>> {
        self.exit.recv_timeout(limit).ok()
    }
}

/// Starts service `name` of `app` on `listener` (panicking if it does not start) and waits
/// for it on a thread of its own.
pub fn start_service(
    listener: TcpListener,
    app: App,
    spec: &ClusterSpec,
    name: &str,
    options: &NodeOptions,
    load: impl FnOnce(&Loader) -> Result<(), BootstrapError> + Send + 'static,
) -> Running {
    let process = ServiceProcess::start_on(listener, app, spec, name, options, Box::new(load))
        .unwrap_or_else(|e| panic!("service `{name}` does not start: {e}"));
    assert_eq!(process.service(), name);
    let (tx, exit) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(process.wait());
    });
    Running {
        name: name.to_string(),
        exit,
    }
}

/// The error of a service start that must fail.
pub fn service_error(r: Result<ServiceProcess, BootstrapError>) -> String {
    match r {
        Ok(p) => panic!("service `{}` started but must not", p.service()),
        Err(e) => e.to_string(),
    }
}

/// The error of a coordinator start that must fail.
pub fn coordinator_error(r: Result<CoordinatorProcess, BootstrapError>) -> String {
    match r {
        Ok(_) => panic!("the coordinator started but must not"),
        Err(e) => e.to_string(),
    }
}

/// Writes one handshake frame: a little-endian `u32` length, then postcard.
pub fn write_frame<T: serde::Serialize>(stream: &mut TcpStream, value: &T) -> std::io::Result<()> {
    let body = postcard::to_allocvec(value).expect("encodes");
    stream.write_all(&(body.len() as u32).to_le_bytes())?;
    stream.write_all(&body)
}

/// Writes one frame of messages after the handshake: the length, the `BATCH` kind (0), then
/// the postcard messages.
pub fn write_batch(stream: &mut TcpStream, batch: &[vmodb::Message]) -> std::io::Result<()> {
    let mut body = vec![0u8];
    body.extend(postcard::to_allocvec(batch).expect("encodes"));
    stream.write_all(&(body.len() as u32).to_le_bytes())?;
    stream.write_all(&body)
}

/// The identity a genuine node of `app` in `spec` shows at the handshake.
pub fn identity(app: &App, spec: &ClusterSpec) -> Identity {
    Identity {
        app: app.fingerprint(),
        build: app.build_id(),
        cluster: spec.digest(),
    }
}

/// Reads one frame and decodes it.
pub fn read_frame<T: serde::de::DeserializeOwned>(stream: &mut TcpStream) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A plain socket standing in for one service: it completes valid handshakes with every peer
/// (welcoming their links and opening its own), then can die by closing every socket.
pub struct FakeService {
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accepting: Option<JoinHandle<()>>,
    credentials: Credentials,
    index: u16,
    spec: ClusterSpec,
    app: App,
}

impl FakeService {
    /// A fake of service `name`, accepting on `listener` (bound to its address in `spec`).
    pub fn start(listener: TcpListener, app: &App, spec: &ClusterSpec, name: &str) -> FakeService {
        let index = app
            .service_names()
            .position(|s| s == name)
            .expect("a service of the app");
        let credentials = Credentials {
            me: NodeId::Service(index as vmodb::ServiceId),
            identity: identity(app, spec),
            key: spec.key.clone().expect("the cluster's key"),
        };
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (s, st, me) = (Arc::clone(&stop), Arc::clone(&streams), credentials.clone());
        let accepting = thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        let deadline = Instant::now() + Duration::from_secs(5);
                        let hello = handshake::authenticate(&mut stream, &me, deadline)
                            .expect("a peer that proves the key");
                        assert!(matches!(
                            hello.from,
                            NodeId::Coordinator | NodeId::Service(_)
                        ));
                        handshake::answer(&mut stream, &HelloReply::Welcome).expect("welcome");
                        st.lock().unwrap().push(stream);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("the fake cannot accept: {e}"),
                }
            }
        });
        FakeService {
            stop,
            streams,
            accepting: Some(accepting),
            credentials,
            index: index as u16,
            spec: spec.clone(),
            app: app.clone(),
        }
    }

    /// Opens this node's link to `addr` (retrying while it is not listening yet) and checks
    /// that the peer welcomes it.
    pub fn connect(&self, addr: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => panic!("the fake cannot reach {addr}: {e}"),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        let to_coordinator = addr == self.spec.coordinator;
        let peer = if to_coordinator {
            NodeId::Coordinator
        } else {
            let i = self
                .app
                .service_names()
                .position(|s| self.spec.services[s] == addr)
                .expect("a node's address");
            NodeId::Service(i as vmodb::ServiceId)
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        handshake::connect(&mut stream, &self.credentials, peer, deadline)
            .unwrap_or_else(|e| panic!("{addr} refused the fake: {e}"));
        if to_coordinator {
            // As if it had loaded its data at once (the coordinator's `Restore`).
            let restored = vec![vmodb::Message::ControlReply(
                vmodb::ControlReply::Restored {
                    service: self.index,
                    error: None,
                },
            )];
            write_batch(&mut stream, &restored).expect("restored");
        }
        self.streams.lock().unwrap().push(stream);
    }

    /// Dies: stops accepting and closes every socket.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.accepting.take() {
            t.join().expect("the fake's accept thread");
        }
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}
