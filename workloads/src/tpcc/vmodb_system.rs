//! TPC-C on vMODB, embedded: one cluster with the three services.

use super::TpccState;
use super::driver::TpccSystem;
use super::generator::TpccOp;
use super::services::{self, DELIVERY, ItemCheck, NEW_ORDER, ORDER_STATUS, PAYMENT, STOCK_LEVEL};
use crate::marketplace::driver::Done;
use crate::marketplace::vmodb_system::commit_timing;
use std::collections::HashMap;
use std::time::Duration;
use vmodb::{
    BootstrapError, Client, Cluster, ClusterConfig, Completion, Loader, Outcome, ReplayCheck,
    SequencedInput, TxEnv, check_serial_replay,
};

/// Loads a population into the three services (also used by serial replay).
pub fn loader(s: &TpccState) -> impl FnOnce(&Loader) -> Result<(), BootstrapError> + '_ {
    move |l: &Loader| {
        l.insert("warehouse", s.items.iter().cloned())?;
        l.insert("warehouse", s.warehouses.iter().cloned())?;
        let taxes = s.warehouses.iter().map(|w| services::WarehouseTax {
            w_id: w.w_id,
            w_tax: w.w_tax,
        });
        l.insert("warehouse", taxes)?;
        l.insert("warehouse", s.districts.iter().cloned())?;
        l.insert("warehouse", s.customers.iter().cloned())?;
        l.insert("warehouse", s.history.iter().cloned())?;
        l.insert("inventory", s.items.iter().cloned())?;
        l.insert("inventory", s.stock.iter().cloned())?;
        l.insert("order", s.orders.iter().cloned())?;
        l.insert("order", s.new_orders.iter().cloned())?;
        l.insert("order", s.order_lines.iter().cloned())
    }
}

pub struct VmodbTpcc {
    cluster: Cluster,
    client: Client,
    /// TID → the driver's id.
    pending: HashMap<u64, u64>,
    items: ItemCheck,
}

impl VmodbTpcc {
    pub fn start(initial: &TpccState, config: ClusterConfig) -> Result<Self, String> {
        Self::start_with(initial, config, ItemCheck::default())
    }

    /// With New-Order's unused items found where `items` says.
    pub fn start_with(
        initial: &TpccState,
        config: ClusterConfig,
        items: ItemCheck,
    ) -> Result<Self, String> {
        let app = services::app_with(items).map_err(|e| e.to_string())?;
        let cluster = Cluster::start(app, config, loader(initial)).map_err(|e| e.to_string())?;
        let client = cluster.client();
        Ok(VmodbTpcc {
            cluster,
            client,
            pending: HashMap::new(),
            items,
        })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Does the state equal the serial replay of the committed inputs? (needs `record_inputs`)
    pub fn matches_serial_replay(&self, initial: &TpccState) -> Result<ReplayCheck, String> {
        let app = services::app_with(self.items).map_err(|e| e.to_string())?;
        let inputs = self.cluster.committed_inputs();
        check_serial_replay(&app, loader(initial), &inputs, &self.cluster.state())
            .map_err(|e| e.to_string())
    }

    fn done(&mut self, c: Completion) -> Option<Done> {
        let id = self.pending.remove(&c.tid)?;
        let commit = Some(commit_timing(&c));
        let result = match c.outcome {
            Outcome::Aborted { service, error } => Err(format!("{service}: {error}")),
            Outcome::Committed { .. } => Ok(()),
        };
        Some(Done {
            commit,
            ..Done::new(id, c.latency, result)
        })
    }
}

fn encode<T: serde::Serialize>(name: &str, v: &T) -> Result<(String, Vec<u8>), String> {
    postcard::to_allocvec(v)
        .map(|b| (name.to_string(), b))
        .map_err(|e| e.to_string())
}

/// An op as a client submits it: the transaction name and its encoded input.
pub fn encode_op(op: &TpccOp) -> Result<(String, Vec<u8>), String> {
    match op {
        TpccOp::NewOrder(i) => encode(NEW_ORDER, i),
        TpccOp::Payment(i) => encode(PAYMENT, i),
        TpccOp::OrderStatus(i) => encode(ORDER_STATUS, i),
        TpccOp::Delivery(i) => encode(DELIVERY, i),
        TpccOp::StockLevel(i) => encode(STOCK_LEVEL, i),
    }
}

/// `ops` as a coordinator would have sequenced them, without running one: TIDs from 1 in
/// order, `batch_size` to a batch, a clock 10 µs apart per TID. For timing serial replay alone.
pub fn sequence_ops(
    ops: &[TpccOp],
    batch_size: usize,
    seed: u64,
) -> Result<Vec<SequencedInput>, String> {
    let batch_size = batch_size.max(1);
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let (transaction, payload) = encode_op(op)?;
            let tid = i as u64 + 1;
            Ok(SequencedInput {
                env: TxEnv {
                    tid,
                    timestamp_us: 1_700_000_000_000_000 + tid * 10,
                    seed: seed ^ tid.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                },
                batch: (i / batch_size) as u64 + 1,
                transaction,
                payload,
            })
        })
        .collect()
}

impl crate::probes::Probes for VmodbTpcc {
    fn injected_delays(&self) -> Option<hdrhistogram::Histogram<u64>> {
        self.cluster().injected_delays()
    }
}

impl TpccSystem for VmodbTpcc {
    fn name(&self) -> &'static str {
        "vmodb"
    }

    fn submit(&mut self, id: u64, op: &TpccOp) -> Result<(), String> {
        let input = encode_op(op)?;
        let tids = self
            .client
            .submit_all(vec![input])
            .map_err(|e| e.to_string())?;
        let tid = *tids.first().ok_or("nothing submitted")?;
        self.pending.insert(tid, id);
        Ok(())
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        let mut out = Vec::new();
        if let Ok(c) = self.client.completions().recv_timeout(wait) {
            out.extend(self.done(c));
        }
        while let Ok(c) = self.client.completions().try_recv() {
            out.extend(self.done(c));
        }
        out
    }

    fn quiesce(&mut self, timeout: Duration) -> bool {
        self.cluster.wait_idle(timeout)
    }

    fn state(&self) -> Result<TpccState, String> {
        let c = &self.cluster;
        let e = |e: vmodb::QueryError| e.to_string();
        Ok(TpccState {
            warehouses: c.read_table("warehouse").map_err(e)?,
            districts: c.read_table("warehouse").map_err(e)?,
            customers: c.read_table("warehouse").map_err(e)?,
            history: c.read_table("warehouse").map_err(e)?,
            items: c.read_table("inventory").map_err(e)?,
            stock: c.read_table("inventory").map_err(e)?,
            orders: c.read_table("order").map_err(e)?,
            new_orders: c.read_table("order").map_err(e)?,
            order_lines: c.read_table("order").map_err(e)?,
        })
    }
}
