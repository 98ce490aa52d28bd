//! The distributed deployment: the coordinator and every service in processes of their own,
//! talking over `net::TcpTransport`. A cluster file (`ClusterSpec`) names every node's address;
//! each process builds the same `App`, checks the file against it, and its links check at the
//! handshake that both ends run the same application and cluster file (the bootstrap checks,
//! across processes). A service process loads only its own share of the initial data.
//!
//! Beyond the transaction protocol, the coordinator process asks service processes for
//! queries, table reads, state dumps and traffic counts (`Control::Ask`, `ControlReply::Answer`), which is
//! how the front door serves them; and it tells them to stop (`Control::Shutdown`).
//!
//! Failure: a lost link is fatal. A peer is lost when its connection breaks, when it says
//! goodbye without the coordinator having stopped the cluster, or when it is silent (no
//! message, no heartbeat) for `NodeOptions::heartbeat_timeout`. A service process that loses
//! any peer exits with that error; the coordinator process that loses a service stops taking
//! work and reports the failure (front door: 503 with the reason) until it is stopped.

mod coordinator_process;
mod service_process;
mod spec;

pub use coordinator_process::CoordinatorProcess;
pub use service_process::ServiceProcess;
pub use spec::{ClusterSpec, Listeners, NodeOptions};
