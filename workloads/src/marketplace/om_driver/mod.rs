//! A client that drives a vMODB cluster as the Online Marketplace benchmark's own driver does
//! (reference digest §4): only the benchmark's HTTP API, with the driver's bodies and casings.
//!
//! - It loads the data set through the ingestion routes (`POST /seller`, `/customer`,
//!   `/product`, `/stock`, snake_case rows), many in flight, into a cluster that holds nothing;
//!   or it checks that the cluster holds exactly that data set, as a reset leaves it
//!   (`prepare`).
//! - Each op of the input stream becomes the driver's requests: a session's items as `PATCH
//!   /cart/{c}/add` (PascalCase CartItem with the price and version the driver believes and a
//!   voucher amount), one after the other and not timed, then `POST /cart/{c}/checkout`
//!   (PascalCase CustomerCheckout with `instanceId`); a price update as `PATCH /product` with
//!   the new price itself (the believed price raised by the op's percent) and the believed
//!   version; a replacement as `PUT /product` with the whole product and a new version; a
//!   dashboard as `GET /seller/dashboard/{s}`; a delivery as `PATCH /shipment/{tid}`. Like the
//!   driver, it replaces its belief of a product after each update it sends, answered or not.
//! - Completions are counted as the driver counts them for vMODB: it follows the commit stream
//!   (`GET /status/committed`, one event per committed batch) and tags each submission with
//!   the number of events seen; an op counts as finished at the first event after its tag. The
//!   answers (at commit) give the checker its log. After the run it waits, as the driver does,
//!   until the last submitted TID equals the last committed one (`/status/submitted` and
//!   `/status/committed` as 8 little-endian bytes). Unlike the driver, which tags a
//!   transaction once its answer came (the Java vMODB answers at sequencing, see
//!   `http::AnswerAt`), it tags at sending: our routes answer at commit, with the outcome the
//!   checker needs.
//!
//! Reading the final state and the checks go through the generic routes (`RemoteMarketplace`),
//! with the operator's token.

mod requests;

use super::driver::{Done, MarketplaceSystem};
use super::generator::{Dataset, Op};
use super::model::*;
use super::remote_system::RemoteMarketplace;
use super::{MarketplaceState, RunLog};
use crate::remote::{FrontDoorClient, RemoteError};
use crossbeam_channel::{Receiver, Sender};
use requests::Call;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vmodb::front_door::{TxOutcome, TxResult};

/// What the commit-stream count found (the driver's way of knowing what finished).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamCount {
    /// Measured transactions (not dashboards) answered by the front door (committed or
    /// aborted).
    pub answered: u64,
    /// Of those, the ops the commit stream counted as finished (an event after their tag).
    pub counted: u64,
    /// TIDs the cluster handed out and committed while this client ran (the last submitted
    /// and committed TIDs the driver polls, less those when it connected).
    pub submitted_tids: u64,
    pub committed_tids: u64,
    /// Transactions this client sent (adds, checkouts, updates, deliveries, ingestion).
    pub sent: u64,
}

/// The dashboard op's kind (`Op::kind`).
const DASHBOARD: &str = "seller_dashboard";

/// What the answer of an op's measured request said.
enum Heard {
    Committed,
    Aborted(String),
    Failed(String),
}

struct Answer {
    id: u64,
    kind: &'static str,
    customer: CustomerId,
    /// When the measured request (a session's checkout) was sent.
    sent: Instant,
    result: Result<Vec<(u16, serde_json::Value)>, RemoteError>,
}

pub struct OmDriver {
    remote: RemoteMarketplace,
    /// The driver's in-memory products: price and version it believes.
    beliefs: HashMap<(SellerId, ProductId), (f64, u64)>,
    /// The data set's products and customers, for the bodies that carry whole rows.
    products: HashMap<(SellerId, ProductId), Product>,
    customers: HashMap<CustomerId, Customer>,
    tx: Sender<(Instant, Answer)>,
    rx: Receiver<(Instant, Answer)>,
    /// Ops in flight: their commit-stream tag (the events seen when they were sent).
    tags: HashMap<u64, u64>,
    /// Tags of ops answered before the stream counted them: counted at the next event.
    uncounted: Vec<u64>,
    /// Commit-stream events seen.
    events: Arc<AtomicU64>,
    log: RunLog,
    fatal: Option<String>,
    count: StreamCount,
    /// The last submitted and committed TIDs when this client connected.
    tids_before: (u64, u64),
}

impl OmDriver {
    /// A driver of the cluster at `base` over the benchmark's API, for `data`. `auth` must be
    /// the operator's: the checks read the cluster's state. `started_empty`: the cluster's
    /// services started with no data (`data = "ingest"`), so its serial replay starts empty
    /// too; else they loaded `data` at start.
    pub fn connect(
        base: &str,
        concurrency: usize,
        auth: &crate::remote::ClientAuth,
        data: &Dataset,
        started_empty: bool,
    ) -> Result<Self, String> {
        let mut remote = RemoteMarketplace::connect(base, concurrency, auth)?;
        if started_empty {
            remote.started_empty();
        }
        let tids_before = match remote.client().submitted_and_committed() {
            (Some(s), Some(c)) => (s, c),
            _ => return Err(format!("{base}: no last submitted and committed TIDs")),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let events = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&events);
        remote.client().follow_commits(move |_| {
            seen.fetch_add(1, Ordering::AcqRel);
            // Ends with the client (the callback holds the only other reference).
            Arc::strong_count(&seen) > 1
        });
        let beliefs = data
            .products
            .iter()
            .map(|p| ((p.seller_id, p.product_id), (p.price, p.version)))
            .collect();
        let products = data
            .products
            .iter()
            .map(|p| ((p.seller_id, p.product_id), p.clone()))
            .collect();
        let customers = data.customers.iter().map(|c| (c.id, c.clone())).collect();
        Ok(OmDriver {
            remote,
            beliefs,
            products,
            customers,
            tx,
            rx,
            tags: HashMap::new(),
            uncounted: Vec::new(),
            events,
            log: RunLog::default(),
            fatal: None,
            count: StreamCount::default(),
            tids_before,
        })
    }

    /// The generic client under this driver (state, checks, serial replay).
    pub fn remote(&self) -> &RemoteMarketplace {
        &self.remote
    }

    fn client(&self) -> &FrontDoorClient {
        self.remote.client()
    }

    /// Gets the cluster ready for a run on `data`: one that holds nothing gets `data` through
    /// the ingestion routes (returns the rows sent); one that holds exactly `data` and nothing a
    /// run leaves behind (as `PATCH /reset` leaves it) runs as it is (returns 0); any other is
    /// refused, or the checks would blame the engine for the difference.
    pub fn prepare(&mut self, data: &Dataset, in_flight: usize) -> Result<u64, String> {
        let state = self.remote.state()?;
        if state == MarketplaceState::default() {
            return self.ingest(data, in_flight);
        }
        requests::holds_exactly(&state, data).map_err(|e| {
            format!(
                "the cluster holds data, but not the data set as ingested: {e}. PATCH /reset it \
                 (back to what was ingested) or PATCH /cleanup it (empty), and run again"
            )
        })?;
        Ok(0)
    }

    /// Loads `data` through the ingestion routes, up to `in_flight` rows at a time: sellers and
    /// customers, then products (with the cart's replica) and stock. Returns the rows sent.
    fn ingest(&mut self, data: &Dataset, in_flight: usize) -> Result<u64, String> {
        let calls = requests::ingestion(data);
        let rows = calls.len() as u64;
        requests::send_all(self.client(), calls, in_flight.max(1))?;
        self.count.sent += rows;
        Ok(rows)
    }

    /// `PATCH /reset` (the benchmark's post-run task): back to the data as ingested.
    pub fn reset(&self) -> Result<(), String> {
        match self.client().call(reqwest::Method::PATCH, "/reset", None) {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => Err(format!("PATCH /reset: {status} {body}")),
            Err(e) => Err(format!("PATCH /reset: {e}")),
        }
    }

    /// What the commit-stream count found (after `quiesce`).
    pub fn stream_count(&self) -> StreamCount {
        self.count.clone()
    }

    fn on_answer(&mut self, at: Instant, a: Answer) -> Option<Done> {
        let tag = self.tags.remove(&a.id)?;
        let latency = at.duration_since(a.sent);
        let heard = match a.result {
            Err(e) => {
                if e.is_down() && self.fatal.is_none() {
                    self.fatal = Some(e.to_string());
                }
                Heard::Failed(e.to_string())
            }
            Ok(answers) => {
                let (status, body) = answers.last().cloned().unwrap_or_default();
                self.record(a.kind, a.customer, status, body)
            }
        };
        // Dashboards are answered synchronously (the driver times their answer); transactions
        // finish with the commit stream.
        if a.kind != DASHBOARD && !matches!(heard, Heard::Failed(_)) {
            self.count.answered += 1;
            self.uncounted.push(tag);
            self.count_finished();
        }
        let result = match heard {
            Heard::Committed => Ok(()),
            Heard::Aborted(why) | Heard::Failed(why) => Err(why),
        };
        Some(Done::new(a.id, latency, result))
    }

    /// Logs what committed, from the answer of the op's measured request.
    fn record(
        &mut self,
        kind: &str,
        customer: CustomerId,
        status: u16,
        body: serde_json::Value,
    ) -> Heard {
        if kind == DASHBOARD {
            return match (status, serde_json::from_value::<Dashboard>(body)) {
                (200, Ok(d)) => {
                    self.log.dashboards.push(d);
                    Heard::Committed
                }
                (status, Ok(_)) => Heard::Failed(format!("dashboard answered {status}")),
                (status, Err(e)) => Heard::Failed(format!("dashboard answered {status}: {e}")),
            };
        }
        let result = match status {
            200 => serde_json::from_value::<TxResult>(body),
            409 => serde_json::from_value::<TxResult>(body["result"].clone()),
            _ => return Heard::Failed(format!("{kind} answered {status}: {body}")),
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => return Heard::Failed(format!("{kind}: an answer that does not decode: {e}")),
        };
        let output = match result.outcome {
            TxOutcome::Committed { output, .. } => output,
            TxOutcome::Aborted { service, error, .. } => {
                return Heard::Aborted(format!("aborted at {service}: {error}"));
            }
            TxOutcome::Submitted => return Heard::Failed(format!("{kind}: not waited for")),
        };
        let (tid, log) = (result.tid, &mut self.log);
        match kind {
            "customer_checkout" => log.checkouts.push((tid, customer, decode(output))),
            "price_update" => log.price_updates.extend(decode(output).map(|u| (tid, u))),
            "update_product" => log.replacements.extend(decode(output).map(|u| (tid, u))),
            "update_delivery" => log.deliveries.extend(decode(output).map(|d| (tid, d))),
            _ => {}
        }
        Heard::Committed
    }

    /// The driver's rule: an op is finished at the first commit event after its tag.
    fn count_finished(&mut self) {
        let events = self.events.load(Ordering::Acquire);
        let before = self.uncounted.len();
        self.uncounted.retain(|tag| *tag >= events);
        self.count.counted += (before - self.uncounted.len()) as u64;
    }

    /// Waits (at most `timeout`) until the last submitted TID equals the last committed one,
    /// as the driver does after a run; records both. A cluster whose TIDs went below what they
    /// were when this client connected restarted without its log: that is fatal.
    fn wait_all_committed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let (submitted, committed) = self.client().submitted_and_committed();
            if let (Some(s), Some(c)) = (submitted, committed) {
                let (s0, c0) = self.tids_before;
                let (Some(ds), Some(dc)) = (s.checked_sub(s0), c.checked_sub(c0)) else {
                    self.fatal = Some(format!(
                        "the cluster's TIDs went back (submitted {s0} → {s}, committed {c0} → \
                         {c}): it restarted without its log"
                    ));
                    return false;
                };
                (self.count.submitted_tids, self.count.committed_tids) = (ds, dc);
                if s == c {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl crate::probes::Probes for OmDriver {}

impl MarketplaceSystem for OmDriver {
    fn name(&self) -> &'static str {
        "vmodb"
    }

    fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
        let calls: Vec<Call> = match op {
            Op::Session { items, checkout } => {
                let mut calls: Vec<Call> = items
                    .iter()
                    .map(|i| {
                        let key = (i.seller_id, i.product_id);
                        let name = self.products.get(&key).map_or("", |p| p.name.as_str());
                        requests::add_item(i, self.beliefs.get(&key), name)
                    })
                    .collect();
                let customer = self.customers.get(&checkout.customer_id);
                calls.push(requests::checkout(checkout, customer, id));
                calls
            }
            Op::PriceUpdate(u) => {
                let key = (u.seller_id, u.product_id);
                let (price, version) = self.beliefs.get(&key).copied().unwrap_or((0.0, 0));
                let new = match u.change {
                    PriceChange::RaiseBy(p) => {
                        super::logic::cents(price * (1.0 + f64::from(p) / 100.0))
                    }
                    PriceChange::SetTo(p) => p,
                };
                self.beliefs.insert(key, (new, version));
                vec![requests::price_update(u, new, version, id)]
            }
            Op::ProductUpdate(u) => {
                let key = (u.seller_id, u.product_id);
                let (price, _) = self.beliefs.get(&key).copied().unwrap_or((0.0, 0));
                let mut product = self.products.get(&key).cloned().unwrap_or_default();
                (product.seller_id, product.product_id, product.price) = (key.0, key.1, price);
                // The driver believes the version it sent (its TID); the cluster sets its own
                // (the transaction's TID), which the cart takes from its replica anyway.
                self.beliefs.insert(key, (price, id));
                vec![requests::replace_product(&product, id)]
            }
            Op::Dashboard(seller) => vec![requests::dashboard(*seller)],
            Op::Delivery(_) => vec![requests::delivery(id)],
        };
        let customer = match op {
            Op::Session { checkout, .. } => checkout.customer_id,
            _ => 0,
        };
        self.count.sent += calls.iter().filter(|c| c.0 != reqwest::Method::GET).count() as u64;
        self.tags.insert(id, self.events.load(Ordering::Acquire));
        let (tx, kind) = (self.tx.clone(), op.kind());
        self.client().spawn_calls(calls, move |result, sent| {
            let answer = Answer {
                id,
                kind,
                customer,
                sent,
                result,
            };
            let _ = tx.send((Instant::now(), answer));
        });
        Ok(())
    }

    fn poll(&mut self, wait: Duration) -> Vec<Done> {
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
        while !self.tags.is_empty() && Instant::now() < deadline && self.fatal.is_none() {
            let _ = self.poll(Duration::from_millis(10));
        }
        let all = self.wait_all_committed(deadline.saturating_duration_since(Instant::now()));
        // Ops answered before an event followed their tag: the stream's next events count them.
        while !self.uncounted.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            self.count_finished();
        }
        // Answers arrive in any order; the checker reads the log in commit (TID) order.
        self.log.sort_by_commit();
        all && self.tags.is_empty()
    }

    fn state(&self) -> Result<MarketplaceState, String> {
        self.remote.state()
    }

    fn log(&self) -> &RunLog {
        &self.log
    }

    fn customer_orders(&self) -> Result<Option<Vec<CustomerOrder>>, String> {
        self.remote.customer_orders()
    }

    fn fatal(&self) -> Option<String> {
        self.fatal.clone()
    }
}

fn decode<T: serde::de::DeserializeOwned>(output: Option<serde_json::Value>) -> Option<T> {
    output.and_then(|v| serde_json::from_value(v).ok())
}
