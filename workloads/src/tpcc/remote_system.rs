//! TPC-C on a vMODB cluster in other processes, driven through the front door's generic route
//! (`POST /transactions`): the same inputs as embedded (`vmodb_system`), sent as JSON.
//! Latency is what the client sees, from sending the request to the answer at commit.

use super::TpccState;
use super::driver::TpccSystem;
use super::generator::TpccOp;
use super::services::{self, DELIVERY, ItemCheck, NEW_ORDER, ORDER_STATUS, PAYMENT, STOCK_LEVEL};
use super::vmodb_system::loader;
use crate::marketplace::driver::Done;
use crate::remote::{ClientAuth, FrontDoorClient, RemoteError, Retry};
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use vmodb::front_door::{TxOutcome, TxRequest, TxResult};
use vmodb::{App, NodeStats, ReplayCheck, check_serial_replay};

type Answer = (Instant, u64, Result<Vec<TxResult>, RemoteError>);

pub struct RemoteTpcc {
    client: FrontDoorClient,
    app: App,
    tx: Sender<Answer>,
    rx: Receiver<Answer>,
    /// Ops in flight: when each was submitted.
    started: HashMap<u64, Instant>,
    /// Ops submitted since the last poll: sent together, as one request (`flush`).
    group: Vec<(u64, TxRequest)>,
    fatal: Option<String>,
    /// Set by `retry_when_down`: ride out a cluster restart instead of failing.
    retry: Option<Retry<()>>,
    submitted_before: u64,
}

impl RemoteTpcc {
    /// A client of the TPC-C cluster whose front door is at `base`; `items` must be what the
    /// cluster was started with (the serial replay rebuilds the application with it).
    pub fn connect(
        base: &str,
        concurrency: usize,
        auth: &ClientAuth,
        items: ItemCheck,
    ) -> Result<Self, String> {
        let client = FrontDoorClient::new(base, concurrency, auth)?;
        let status = client
            .status()
            .map_err(|e| format!("no front door at {base}: {e}"))?;
        if let Some(f) = status.failure {
            return Err(format!("the cluster at {base} is down: {f}"));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok(RemoteTpcc {
            client,
            app: services::app_with(items).map_err(|e| e.to_string())?,
            tx,
            rx,
            started: HashMap::new(),
            group: Vec::new(),
            fatal: None,
            retry: None,
            submitted_before: status.submitted,
        })
    }

    /// Transactions the cluster had sequenced before this client connected.
    pub fn submitted_before(&self) -> u64 {
        self.submitted_before
    }

    /// From now on an op that meets a down cluster is resubmitted, with the same request id,
    /// once the front door answers again (`Retry`); `nonce` makes this client's ids unique.
    pub fn retry_when_down(&mut self, nonce: &str, late_every: u64) {
        let mut retry = Retry::new(nonce);
        retry.resubmit_late(late_every);
        self.retry = Some(retry);
    }

    /// With `retry_when_down`: every outcome the client was told, (TID, transaction), and
    /// how many ops were resubmitted.
    pub fn seen(&self) -> (Vec<(vmodb::Tid, String)>, u64) {
        self.retry.as_ref().map_or((Vec::new(), 0), Retry::seen)
    }

    /// With `retry_when_down`: how many ops were resubmitted late.
    pub fn resubmitted_late(&self) -> u64 {
        self.retry.as_ref().map_or(0, Retry::resubmitted_late)
    }

    pub fn client(&self) -> &FrontDoorClient {
        &self.client
    }

    /// Every node's counters (traffic, mode checker), summed.
    pub fn node_stats(&self) -> Result<NodeStats, String> {
        self.client.node_stats().map_err(|e| e.to_string())
    }

    /// Does the cluster's state equal the serial replay of its committed inputs from
    /// `initial`?
    pub fn matches_serial_replay(&self, initial: &TpccState) -> Result<ReplayCheck, String> {
        let inputs = self.client.committed_inputs().map_err(|e| e.to_string())?;
        let state = self.client.state().map_err(|e| e.to_string())?;
        check_serial_replay(&self.app, loader(initial), &inputs, &state).map_err(|e| e.to_string())
    }

    /// Sends the ops submitted since the last poll as one request (sequenced together): the
    /// driver submits in bursts, and one request per burst keeps the HTTP cost per
    /// transaction low. Each op's latency still starts at its own submission.
    fn flush(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let (ids, requests): (Vec<u64>, Vec<TxRequest>) =
            std::mem::take(&mut self.group).into_iter().unzip();
        let tx = self.tx.clone();
        self.client.spawn_submit(requests, move |result| {
            let at = Instant::now();
            let mut results = result.map(Vec::into_iter);
            for id in ids {
                let mine = match &mut results {
                    Ok(all) => all
                        .next()
                        .map(|r| vec![r])
                        .ok_or_else(|| RemoteError::Decode("fewer results than requests".into())),
                    Err(e) => Err(e.clone()),
                };
                let _ = tx.send((at, id, mine));
            }
        });
    }

    fn resubmit_if_up(&mut self) {
        let Some(r) = &mut self.retry else { return };
        for id in r.due(&self.client) {
            if let Some(((), requests)) = r.requests(id) {
                self.group.extend(requests.iter().map(|q| (id, q.clone())));
            }
        }
    }

    fn on_answer(&mut self, (at, id, result): Answer) -> Option<Done> {
        let down = result.as_ref().is_err_and(RemoteError::is_down);
        if let Some(r) = &mut self.retry {
            if down {
                r.hold(id);
                return None;
            }
            r.answered(id, result.as_deref().ok());
        }
        let latency = at.duration_since(self.started.remove(&id)?);
        let result = match result {
            Ok(results) => match results.last().map(|r| &r.outcome) {
                Some(TxOutcome::Committed { .. }) => Ok(()),
                Some(TxOutcome::Aborted { service, error, .. }) => {
                    Err(format!("{service}: {error}"))
                }
                Some(TxOutcome::Submitted) => Err("not waited for".into()),
                None => Err("no result".into()),
            },
            Err(e) => {
                if e.is_down() && self.fatal.is_none() {
                    self.fatal = Some(e.to_string());
                }
                Err(e.to_string())
            }
        };
        Some(Done::new(id, latency, result))
    }
}

fn request<T: serde::Serialize>(name: &str, input: &T) -> Result<TxRequest, String> {
    Ok(TxRequest {
        transaction: name.to_string(),
        input: serde_json::to_value(input).map_err(|e| e.to_string())?,
        id: None,
    })
}

impl crate::probes::Probes for RemoteTpcc {}

impl TpccSystem for RemoteTpcc {
    fn name(&self) -> &'static str {
        "vmodb"
    }

    fn submit(&mut self, id: u64, op: &TpccOp) -> Result<(), String> {
        let mut requests = [match op {
            TpccOp::NewOrder(i) => request(NEW_ORDER, i)?,
            TpccOp::Payment(i) => request(PAYMENT, i)?,
            TpccOp::OrderStatus(i) => request(ORDER_STATUS, i)?,
            TpccOp::Delivery(i) => request(DELIVERY, i)?,
            TpccOp::StockLevel(i) => request(STOCK_LEVEL, i)?,
        }];
        if let Some(r) = &mut self.retry {
            r.sending(id, (), &mut requests);
        }
        self.started.insert(id, Instant::now());
        let [request] = requests;
        self.group.push((id, request));
        Ok(())
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        self.resubmit_if_up();
        self.flush();
        let mut done = Vec::new();
        if let Ok(a) = self.rx.recv_timeout(wait) {
            done.extend(self.on_answer(a));
        }
        while let Ok(a) = self.rx.try_recv() {
            done.extend(self.on_answer(a));
        }
        done
    }

    fn quiesce(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.started.is_empty() && Instant::now() < deadline && self.fatal.is_none() {
            let _ = TpccSystem::poll(self, Duration::from_millis(10));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.started.is_empty() && self.client.wait_idle(left).unwrap_or(false)
    }

    fn state(&self) -> Result<TpccState, String> {
        let (c, app) = (&self.client, &self.app);
        let e = |e: RemoteError| e.to_string();
        Ok(TpccState {
            warehouses: c.read_table(app, "warehouse").map_err(e)?,
            districts: c.read_table(app, "warehouse").map_err(e)?,
            customers: c.read_table(app, "warehouse").map_err(e)?,
            history: c.read_table(app, "warehouse").map_err(e)?,
            items: c.read_table(app, "inventory").map_err(e)?,
            stock: c.read_table(app, "inventory").map_err(e)?,
            orders: c.read_table(app, "order").map_err(e)?,
            new_orders: c.read_table(app, "order").map_err(e)?,
            order_lines: c.read_table(app, "order").map_err(e)?,
        })
    }

    fn fatal(&self) -> Option<String> {
        self.fatal.clone()
    }
}
