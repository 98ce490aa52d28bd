//! The marketplace on a vMODB cluster in other processes, driven through its HTTP front door.
//! Same inputs as the embedded system (`vmodb_system`), sent as JSON; latency is what the
//! client sees, from sending the request to the answer at commit.

mod tracking;

pub use tracking::TrackingReport;

use super::driver::{Done, MarketplaceSystem};
use super::generator::{Dataset, Op};
use super::model::*;
use super::services::{self, ADD_ITEMS, CHECKOUT, PRICE_UPDATE, PRODUCT_UPDATE, UPDATE_DELIVERY};
use super::vmodb_system::loader;
use super::{MarketplaceState, RunLog};
use crate::remote::{FrontDoorClient, RemoteError, Retry};
use crossbeam_channel::{Receiver, Sender};
use std::time::{Duration, Instant};
use vmodb::front_door::{TxOutcome, TxRequest, TxResult};
use vmodb::{App, NodeStats, ReplayCheck, check_serial_replay};

enum Answer {
    Op {
        id: u64,
        kind: &'static str,
        customer: CustomerId,
        result: Result<Vec<TxResult>, RemoteError>,
    },
    Dashboard {
        id: u64,
        result: Result<Dashboard, RemoteError>,
    },
    /// The `submitted` answer of an op sent with `?wait=false` (`track_by_tid`).
    Detached {
        id: u64,
        result: Result<Vec<TxResult>, RemoteError>,
    },
}

pub struct RemoteMarketplace {
    client: FrontDoorClient,
    app: App,
    tx: Sender<(Instant, Answer)>,
    rx: Receiver<(Instant, Answer)>,
    started: std::collections::HashMap<u64, Instant>,
    /// Ops submitted since the last poll: sent together, as one request (see `flush`).
    group: Vec<(Grouped, Vec<TxRequest>)>,
    log: RunLog,
    fatal: Option<String>,
    /// Set by `retry_when_down`: ride out a cluster restart instead of failing.
    retry: Option<Retry<Grouped>>,
    /// With `retry`: dashboards in flight, by op id (a query, resent as one).
    dashboards: std::collections::HashMap<u64, SellerId>,
    /// Set by `track_by_tid`: some ops are followed by TID instead of waited for.
    tracking: Option<tracking::Tracking>,
    /// Transactions the cluster had sequenced when this client connected (0: fresh).
    submitted_before: u64,
    /// The cluster started with no data (loaded through the ingestion routes).
    empty_start: bool,
}

/// An op waiting in the group: what its answer needs.
#[derive(Clone, Copy)]
pub(crate) struct Grouped {
    id: u64,
    kind: &'static str,
    customer: CustomerId,
}

impl RemoteMarketplace {
    /// A client of the marketplace cluster whose front door is at `base` (with `auth`).
    pub fn connect(
        base: &str,
        concurrency: usize,
        auth: &crate::remote::ClientAuth,
    ) -> Result<Self, String> {
        let client = FrontDoorClient::new(base, concurrency, auth)?;
        let status = client
            .status()
            .map_err(|e| format!("no front door at {base}: {e}"))?;
        if let Some(f) = status.failure {
            return Err(format!("the cluster at {base} is down: {f}"));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok(RemoteMarketplace {
            client,
            app: services::app().map_err(|e| e.to_string())?,
            tx,
            rx,
            started: Default::default(),
            group: Vec::new(),
            log: RunLog::default(),
            fatal: None,
            retry: None,
            dashboards: Default::default(),
            tracking: None,
            submitted_before: status.submitted,
            empty_start: false,
        })
    }

    /// Transactions the cluster had sequenced before this client connected: a checker that
    /// compares the final state with the initial data needs 0.
    pub fn submitted_before(&self) -> u64 {
        self.submitted_before
    }

    /// From now on, an op that fails because the cluster is down is resubmitted (same request
    /// ids) once the front door answers again, instead of stopping the run. `nonce` makes this
    /// client's ids unique.
    pub fn retry_when_down(&mut self, nonce: &str) {
        self.retry = Some(Retry::new(nonce));
    }

    /// With `retry_when_down`: every `every`-th op that met a down cluster is resubmitted
    /// only once the checkpoint that follows the restart has completed (the checkpoint that
    /// used to make a restarted cluster forget request ids); the others promptly, so that
    /// their traffic brings that checkpoint about.
    pub fn resubmit_late(&mut self, every: u64) {
        if let Some(r) = &mut self.retry {
            r.resubmit_late(every);
        }
    }

    /// With `retry_when_down`: every `every`-th op is sent with `?wait=false` and followed by
    /// TID against the commit stream, then its outcomes fetched by request id and checked
    /// against what the TIDs said (`tracking`).
    pub fn track_by_tid(&mut self, every: u64) {
        if self.retry.is_none() {
            return; // fetching by request id needs the ids
        }
        let t = tracking::Tracking::new(every);
        let committed = std::sync::Arc::clone(&t.committed);
        self.client.follow_commits(move |tid| {
            committed.fetch_max(tid, std::sync::atomic::Ordering::AcqRel);
            true
        });
        self.tracking = Some(t);
    }

    /// What following TIDs found (with `track_by_tid`).
    pub fn tracking(&self) -> Option<TrackingReport> {
        self.tracking.as_ref().map(|t| t.report.clone())
    }

    /// With `retry_when_down`: every outcome the client was told, (TID, transaction), and
    /// how many ops were resubmitted.
    pub fn seen(&self) -> (Vec<(vmodb::Tid, String)>, u64) {
        self.retry.as_ref().map_or((Vec::new(), 0), Retry::seen)
    }

    /// With `resubmit_late`: how many ops were resubmitted late.
    pub fn resubmitted_late(&self) -> u64 {
        self.retry.as_ref().map_or(0, Retry::resubmitted_late)
    }

    /// With `retry_when_down`: resubmits the ops that met a down cluster once it is up again.
    fn resubmit_if_up(&mut self) {
        let Some(r) = &mut self.retry else { return };
        for id in r.due(&self.client) {
            if let Some((op, requests)) = r.requests(id) {
                self.group.push((*op, requests.clone()));
            } else if let Some(seller) = self.dashboards.get(&id) {
                let tx = self.tx.clone();
                self.client
                    .spawn_query("seller", "dashboard", seller, move |result| {
                        let _ = tx.send((Instant::now(), Answer::Dashboard { id, result }));
                    });
            }
        }
    }

    /// With `retry_when_down`, an answer saying the cluster is down puts op `id` back to wait;
    /// true if it did.
    fn held_for_retry(&mut self, id: u64, down: bool) -> bool {
        match &mut self.retry {
            Some(r) if down => {
                r.hold(id);
                true
            }
            _ => false,
        }
    }

    pub fn client(&self) -> &FrontDoorClient {
        &self.client
    }

    /// Every node's counters (traffic, mode checker), summed.
    pub fn node_stats(&self) -> Result<NodeStats, String> {
        self.client.node_stats().map_err(|e| e.to_string())
    }

    /// The cluster started with no data: its data came through the ingestion routes, which
    /// the serial replay re-executes from empty tables.
    pub fn started_empty(&mut self) {
        self.empty_start = true;
    }

    /// Does the cluster's state equal the serial replay of its committed inputs?
    pub fn matches_serial_replay(&self, data: &Dataset) -> Result<ReplayCheck, String> {
        let inputs = self.client.committed_inputs().map_err(|e| e.to_string())?;
        let state = self.client.state().map_err(|e| e.to_string())?;
        let check = if self.empty_start {
            check_serial_replay(&self.app, |_: &vmodb::Loader| Ok(()), &inputs, &state)
        } else {
            check_serial_replay(&self.app, loader(data), &inputs, &state)
        };
        check.map_err(|e| e.to_string())
    }

    /// Sends the ops submitted since the last poll as one request (a JSON array, sequenced
    /// together): the driver submits in bursts (a batch's completions free many slots at
    /// once), and one request per burst instead of per op keeps the HTTP cost per transaction
    /// low. Outcomes come at batch commit anyway, so ops sent together would mostly be
    /// answered together on their own; each op's latency still starts at its own submission.
    fn flush(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let group = std::mem::take(&mut self.group);
        let mut ops = Vec::with_capacity(group.len());
        let mut requests = Vec::new();
        for (op, reqs) in group {
            ops.push((op, reqs.len()));
            requests.extend(reqs);
        }
        let tx = self.tx.clone();
        self.client.spawn_submit(requests, move |result| {
            let at = Instant::now();
            let mut results = result.map(|r| r.into_iter());
            for (op, n) in ops {
                let result = match &mut results {
                    Ok(all) => {
                        let mine: Vec<TxResult> = all.by_ref().take(n).collect();
                        if mine.len() == n {
                            Ok(mine)
                        } else {
                            Err(RemoteError::Decode("fewer results than requests".into()))
                        }
                    }
                    Err(e) => Err(e.clone()),
                };
                let Grouped { id, kind, customer } = op;
                let answer = Answer::Op {
                    id,
                    kind,
                    customer,
                    result,
                };
                let _ = tx.send((at, answer));
            }
        });
    }

    fn request<T: serde::Serialize>(name: &str, input: &T) -> Result<TxRequest, String> {
        Ok(TxRequest {
            transaction: name.to_string(),
            input: serde_json::to_value(input).map_err(|e| e.to_string())?,
            id: None,
        })
    }

    fn on_answer(&mut self, at: Instant, answer: Answer) -> Option<Done> {
        let down = match &answer {
            Answer::Op { result, .. } | Answer::Detached { result, .. } => {
                result.as_ref().is_err_and(|e| e.is_down())
            }
            Answer::Dashboard { result, .. } => result.as_ref().is_err_and(|e| e.is_down()),
        };
        let id = match &answer {
            Answer::Op { id, .. } | Answer::Dashboard { id, .. } | Answer::Detached { id, .. } => {
                *id
            }
        };
        if self.held_for_retry(id, down) {
            if let Some(t) = &mut self.tracking {
                t.drop_op(id); // resubmitted like any other op, and waited for
            }
            return None;
        }
        let answer = match answer {
            Answer::Detached {
                id,
                result: Ok(results),
            } => {
                if let Some(t) = &mut self.tracking {
                    t.submitted(id, &results);
                }
                return None; // followed by TID until its outcome is fetched
            }
            Answer::Detached { id, result: Err(e) } => {
                if let Some(t) = &mut self.tracking {
                    t.drop_op(id);
                }
                Answer::Op {
                    id,
                    kind: "",
                    customer: 0,
                    result: Err(e),
                }
            }
            Answer::Op {
                id,
                kind,
                customer,
                result,
            } => {
                if let (Some(t), Ok(results)) = (&mut self.tracking, &result) {
                    t.fetched(id, results);
                }
                Answer::Op {
                    id,
                    kind,
                    customer,
                    result,
                }
            }
            other => other,
        };
        if let Some(r) = &mut self.retry {
            self.dashboards.remove(&id);
            let results = match &answer {
                Answer::Op {
                    result: Ok(results),
                    ..
                } => Some(results.as_slice()),
                _ => None,
            };
            r.answered(id, results);
        }
        let (id, result) = match answer {
            Answer::Op {
                id,
                kind,
                customer,
                result,
            } => (
                id,
                result.and_then(|r| self.record(kind, customer, r).and_then(|r| r)),
            ),
            Answer::Dashboard { id, result } => (id, result.map(|d| self.log.dashboards.push(d))),
            Answer::Detached { id, .. } => (id, Err(RemoteError::Decode("detached".into()))),
        };
        let latency = at.duration_since(self.started.remove(&id)?);
        let result = result.map_err(|e| {
            if e.is_down() && self.fatal.is_none() {
                self.fatal = Some(e.to_string());
            }
            e.to_string()
        });
        Some(Done::new(id, latency, result))
    }

    /// Logs what committed; the op's outcome is its last transaction's.
    fn record(
        &mut self,
        kind: &str,
        customer: CustomerId,
        results: Vec<TxResult>,
    ) -> Result<Result<(), RemoteError>, RemoteError> {
        let last = results
            .last()
            .ok_or_else(|| RemoteError::Decode("no result".into()))?;
        let output = match &last.outcome {
            TxOutcome::Committed { output, .. } => output.clone(),
            TxOutcome::Aborted { service, error, .. } => {
                return Ok(Err(RemoteError::Rejected {
                    status: 200,
                    message: format!("{service}: {error}"),
                }));
            }
            TxOutcome::Submitted => return Err(RemoteError::Decode("not waited for".into())),
        };
        let (tid, log) = (last.tid, &mut self.log);
        match kind {
            "customer_checkout" => log.checkouts.push((tid, customer, decode(output))),
            "price_update" => log.price_updates.extend(decode(output).map(|u| (tid, u))),
            "update_product" => log.replacements.extend(decode(output).map(|u| (tid, u))),
            "update_delivery" => log.deliveries.extend(decode(output).map(|d| (tid, d))),
            _ => {}
        }
        Ok(Ok(()))
    }
}

fn decode<T: serde::de::DeserializeOwned>(output: Option<serde_json::Value>) -> Option<T> {
    output.and_then(|v| serde_json::from_value(v).ok())
}

impl crate::probes::Probes for RemoteMarketplace {}

impl MarketplaceSystem for RemoteMarketplace {
    fn name(&self) -> &'static str {
        "vmodb"
    }

    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
        let requests = match op {
            Op::Session { items, checkout } => {
                let adds = AddItems {
                    customer_id: checkout.customer_id,
                    items: items.clone(),
                };
                vec![
                    Self::request(ADD_ITEMS, &adds)?,
                    Self::request(CHECKOUT, checkout)?,
                ]
            }
            Op::PriceUpdate(u) => vec![Self::request(PRICE_UPDATE, u)?],
            Op::ProductUpdate(u) => vec![Self::request(PRODUCT_UPDATE, u)?],
            Op::Delivery(u) => vec![Self::request(UPDATE_DELIVERY, u)?],
            Op::Dashboard(seller) => {
                self.started.insert(id, Instant::now());
                if self.retry.is_some() {
                    self.dashboards.insert(id, *seller);
                }
                let tx = self.tx.clone();
                self.client
                    .spawn_query("seller", "dashboard", seller, move |result| {
                        let _ = tx.send((Instant::now(), Answer::Dashboard { id, result }));
                    });
                return Ok(());
            }
        };
        let customer = match op {
            Op::Session { checkout, .. } => checkout.customer_id,
            _ => 0,
        };
        self.started.insert(id, Instant::now());
        let kind = op.kind();
        let mut requests = requests;
        let grouped = Grouped { id, kind, customer };
        if let Some(r) = &mut self.retry {
            r.sending(id, grouped, &mut requests);
        }
        if let Some(t) = self
            .tracking
            .as_mut()
            .filter(|t| id.is_multiple_of(t.every))
        {
            t.sent(grouped, requests.clone());
            let tx = self.tx.clone();
            self.client.spawn_submit_detached(requests, move |result| {
                let _ = tx.send((Instant::now(), Answer::Detached { id, result }));
            });
            return Ok(());
        }
        self.group.push((grouped, requests));
        Ok(())
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        self.resubmit_if_up();
        if let Some(t) = &mut self.tracking {
            // Ops the stream has passed: fetch their outcomes by request id, waiting.
            let client = &self.client;
            let status = || client.status().ok().map(|s| (s.committed_tid, s.lost_tids));
            let decided = t.decided(status);
            self.group.extend(decided);
        }
        self.flush();
        let mut done = Vec::new();
        if let Ok((at, a)) = self.rx.recv_timeout(wait) {
            done.extend(self.on_answer(at, a));
        }
        while let Ok((at, a)) = self.rx.try_recv() {
            done.extend(self.on_answer(at, a));
        }
        done
    }

    fn quiesce(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.started.is_empty() && Instant::now() < deadline && self.fatal.is_none() {
            let _ = self.poll(Duration::from_millis(10));
        }
        // Answers arrive in any order; the checker reads the log in commit (TID) order.
        self.log.sort_by_commit();
        let left = deadline.saturating_duration_since(Instant::now());
        self.started.is_empty() && self.client.wait_idle(left).unwrap_or(false)
    }

    fn state(&self) -> Result<MarketplaceState, String> {
        let (c, app) = (&self.client, &self.app);
        let e = |e: RemoteError| e.to_string();
        Ok(MarketplaceState {
            sellers: c.read_table(app, "seller").map_err(e)?,
            customers: c.read_table(app, "customer").map_err(e)?,
            products: c.read_table(app, "product").map_err(e)?,
            stock_items: c.read_table(app, "stock").map_err(e)?,
            cart_items: c.read_table(app, "cart").map_err(e)?,
            replica_products: c.read_table(app, "cart").map_err(e)?,
            orders: c.read_table(app, "order").map_err(e)?,
            order_items: c.read_table(app, "order").map_err(e)?,
            order_history: c.read_table(app, "order").map_err(e)?,
            order_payments: c.read_table(app, "payment").map_err(e)?,
            shipments: c.read_table(app, "shipment").map_err(e)?,
            packages: c.read_table(app, "shipment").map_err(e)?,
            order_entries: c.read_table(app, "seller").map_err(e)?,
            cart_history: c.read_table(app, "cart").map_err(e)?,
        })
    }

    fn log(&self) -> &RunLog {
        &self.log
    }

    fn customer_orders(&self) -> Result<Option<Vec<CustomerOrder>>, String> {
        let rows = self.client.read_table(&self.app, "order");
        rows.map(Some).map_err(|e| e.to_string())
    }

    fn fatal(&self) -> Option<String> {
        self.fatal.clone()
    }
}
