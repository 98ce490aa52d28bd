//! What the front door needs of a cluster: the embedded `Cluster` and the distributed
//! `CoordinatorProcess` both provide it.

use crate::app::App;
use crate::deploy::client::Client;
use crate::deploy::cluster::{Cluster, ClusterState};
use crate::deploy::processes::CoordinatorProcess;
use crate::model::error::QueryError;
use crate::model::schema::Tid;
use crate::runtime::coordinator::{CoordinatorStats, SequencedInput};
use crate::runtime::message::BatchId;
use crate::runtime::message::NodeStats;
use crossbeam_channel::Sender;

pub trait Backend: Send + Sync + 'static {
    fn app(&self) -> &App;
    fn client(&self) -> Client;
    fn query_raw(&self, service: &str, query: &str, input: Vec<u8>) -> Result<Vec<u8>, QueryError>;
    fn table_raw(&self, service: &str, table: &str) -> Result<Vec<Vec<u8>>, QueryError>;
    fn state(&self) -> Result<ClusterState, String>;
    fn committed_inputs(&self) -> Vec<SequencedInput>;
    fn stats(&self) -> CoordinatorStats;
    /// Every node's counters: network traffic (zero when embedded), mode checker, refusals.
    fn node_stats(&self) -> Result<NodeStats, String>;
    /// Why the cluster stopped working, if it did.
    fn failure(&self) -> Option<String>;
    fn watch_commits(&self, watch: Sender<(BatchId, Tid)>);
    /// Stops the cluster's other processes (nothing to do when embedded).
    fn shutdown(&self);
}

impl Backend for Cluster {
    fn app(&self) -> &App {
        Cluster::app(self)
    }
    fn client(&self) -> Client {
        Cluster::client(self)
    }
    fn query_raw(&self, service: &str, query: &str, input: Vec<u8>) -> Result<Vec<u8>, QueryError> {
        Cluster::query_raw(self, service, query, input)
    }
    fn table_raw(&self, service: &str, table: &str) -> Result<Vec<Vec<u8>>, QueryError> {
        Cluster::table_raw(self, service, table)
    }
    fn state(&self) -> Result<ClusterState, String> {
        Ok(Cluster::state(self))
    }
    fn committed_inputs(&self) -> Vec<SequencedInput> {
        Cluster::committed_inputs(self)
    }
    fn stats(&self) -> CoordinatorStats {
        Cluster::stats(self).coordinator
    }
    fn node_stats(&self) -> Result<NodeStats, String> {
        let (mode_violations, mode_examples) = self.mode_violations();
        Ok(NodeStats {
            traffic: Default::default(),
            mode_violations,
            mode_examples,
            refused: self.stats().refused,
        })
    }
    fn failure(&self) -> Option<String> {
        self.coordinator_failure()
    }
    fn watch_commits(&self, watch: Sender<(BatchId, Tid)>) {
        Cluster::watch_commits(self, watch)
    }
    fn shutdown(&self) {}
}

impl Backend for CoordinatorProcess {
    fn app(&self) -> &App {
        CoordinatorProcess::app(self)
    }
    fn client(&self) -> Client {
        CoordinatorProcess::client(self)
    }
    fn query_raw(&self, service: &str, query: &str, input: Vec<u8>) -> Result<Vec<u8>, QueryError> {
        CoordinatorProcess::query_raw(self, service, query, input)
    }
    fn table_raw(&self, service: &str, table: &str) -> Result<Vec<Vec<u8>>, QueryError> {
        CoordinatorProcess::table_raw(self, service, table)
    }
    fn state(&self) -> Result<ClusterState, String> {
        CoordinatorProcess::state(self)
    }
    fn committed_inputs(&self) -> Vec<SequencedInput> {
        CoordinatorProcess::committed_inputs(self)
    }
    fn stats(&self) -> CoordinatorStats {
        CoordinatorProcess::stats(self)
    }
    fn node_stats(&self) -> Result<NodeStats, String> {
        CoordinatorProcess::node_stats(self)
    }
    fn failure(&self) -> Option<String> {
        CoordinatorProcess::failure(self)
    }
    fn watch_commits(&self, watch: Sender<(BatchId, Tid)>) {
        CoordinatorProcess::watch_commits(self, watch)
    }
    fn shutdown(&self) {
        CoordinatorProcess::shutdown(self)
    }
}
