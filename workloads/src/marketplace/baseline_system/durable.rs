//! Durability for the baseline (`vbench run --durability fsync`), the counterpart of vMODB's
//! write-ahead log: each client operation that writes logs its input to an [`AppendLog`] when it
//! starts, and the driver hears of its completion only once that record is synced, the rule
//! vMODB keeps (no client hears of a commit before it is durable). The actor design has no
//! batches; the records of concurrent operations group at the log's writer thread instead.
//! Dashboards are read-only and not logged, as vMODB's dashboard queries are not.

use super::super::generator::Op;
use super::super::model::*;
use baseline::AppendLog;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// One logged operation: the driver's id and the input, as the entry grain receives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedOp<'a> {
    pub id: u64,
    pub input: LoggedInput<'a>,
}

/// A writing operation's input (borrowed when logging, owned when read back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LoggedInput<'a> {
    Session {
        items: Cow<'a, [AddItem]>,
        checkout: Cow<'a, Checkout>,
    },
    PriceUpdate(Cow<'a, PriceUpdate>),
    ProductUpdate(Cow<'a, ReplaceProduct>),
    /// The shipment partition is part of the input: it decides which packages are delivered.
    Delivery {
        request: Cow<'a, UpdateDelivery>,
        partition: u32,
    },
}

/// The log record of operation `id`, or `None` for a read-only one.
pub(super) fn record(id: u64, op: &Op, partition: u32) -> Result<Option<Vec<u8>>, String> {
    let input = match op {
        Op::Session { items, checkout } => LoggedInput::Session {
            items: Cow::Borrowed(items),
            checkout: Cow::Borrowed(checkout),
        },
        Op::PriceUpdate(u) => LoggedInput::PriceUpdate(Cow::Borrowed(u)),
        Op::ProductUpdate(u) => LoggedInput::ProductUpdate(Cow::Borrowed(u)),
        Op::Delivery(u) => LoggedInput::Delivery {
            request: Cow::Borrowed(u),
            partition,
        },
        Op::Dashboard(_) => return Ok(None),
    };
    let op = LoggedOp { id, input };
    postcard::to_allocvec(&op)
        .map(Some)
        .map_err(|e| format!("cannot encode the log record: {e}"))
}

/// Decodes a record written by the baseline's log (see [`baseline::append_log::read_all`]).
pub fn decode(bytes: &[u8]) -> Result<LoggedOp<'static>, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("not a baseline log record: {e}"))
}

/// Opens the log of a run, naming the file in the error.
pub(super) fn open(path: &std::path::Path) -> Result<AppendLog, String> {
    AppendLog::open(path).map_err(|e| format!("cannot open the log {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::{BaselineConfig, BaselineMarketplace};
    use super::*;
    use crate::marketplace::driver::{Done, DriveConfig, MarketplaceSystem, drive};
    use crate::marketplace::generator::{InputConfig, InputGenerator, Mix, Scale, generate};
    use crate::marketplace::{MarketplaceState, RunLog};
    use std::collections::HashSet;
    use std::path::PathBuf;
    use std::time::Duration;

    fn scale() -> Scale {
        Scale {
            customers: 200,
            sellers: 10,
            products_per_seller: 10,
            stock_per_product: 100_000,
        }
    }

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("baseline-log-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn start(
        log: Option<PathBuf>,
    ) -> (BaselineMarketplace, crate::marketplace::generator::Dataset) {
        let data = generate(&scale(), 3);
        let mut config = BaselineConfig {
            shipment_partitions: 10,
            log,
            ..BaselineConfig::default()
        };
        config.silo.workers = 2;
        let system = BaselineMarketplace::start(&data, config).expect("start");
        (system, data)
    }

    /// The baseline, watched: every completion of a logged op must find its record synced.
    struct Watched {
        inner: BaselineMarketplace,
        logged: HashSet<u64>,
        completed_logged: u64,
        submitted_logged: u64,
    }

    impl crate::probes::Probes for Watched {}

    impl MarketplaceSystem for Watched {
        fn name(&self) -> &'static str {
            self.inner.name()
        }
        fn submit(&mut self, id: u64, op: &Op) -> Result<(), String> {
            if !matches!(op, Op::Dashboard(_)) {
                self.logged.insert(id);
                self.submitted_logged += 1;
            }
            self.inner.submit(id, op)
        }
        fn poll(&mut self, wait: Duration) -> Vec<Done> {
            let done = self.inner.poll(wait);
            for d in &done {
                if self.logged.contains(&d.id) {
                    self.completed_logged += 1;
                }
            }
            let synced = self.inner.log_stats().expect("logging").records;
            assert!(
                synced >= self.completed_logged,
                "{} ops completed, only {synced} records synced",
                self.completed_logged
            );
            done
        }
        fn quiesce(&mut self, timeout: Duration) -> bool {
            self.inner.quiesce(timeout)
        }
        fn state(&self) -> Result<MarketplaceState, String> {
            self.inner.state()
        }
        fn log(&self) -> &RunLog {
            self.inner.log()
        }
        fn fatal(&self) -> Option<String> {
            self.inner.fatal()
        }
    }

    fn drive_briefly(
        system: &mut dyn MarketplaceSystem,
    ) -> crate::marketplace::driver::DriveResult {
        let inputs = InputConfig {
            mix: Mix::benchmark(),
            ..InputConfig::default()
        };
        let mut generator = InputGenerator::new(&scale(), inputs, 3);
        let config = DriveConfig {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(600),
            concurrency: 32,
        };
        drive(system, &mut generator, &config, &mut |_, _| {})
    }

    #[test]
    fn baseline_logs_every_writing_op_before_reporting_it() {
        let dir = scratch("every-op");
        let path = dir.join("baseline.log");
        let (inner, data) = start(Some(path.clone()));
        let mut system = Watched {
            inner,
            logged: HashSet::new(),
            completed_logged: 0,
            submitted_logged: 0,
        };
        let result = drive_briefly(&mut system);
        assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
        assert!(result.committed > 50, "only {} committed", result.committed);
        assert!(result.failures.is_empty(), "{:?}", result.failures);
        let stats = system.inner.log_stats().expect("logging");
        assert_eq!(stats.records, system.submitted_logged);
        assert!(stats.syncs <= stats.records, "{stats:?}");
        // Every record intact, decodable, one per logged op.
        let records = baseline::append_log::read_all(&path).expect("read back");
        let ids: HashSet<u64> = records
            .iter()
            .map(|r| decode(r).expect("decodes").id)
            .collect();
        assert_eq!(ids, system.logged);
        // Logging changes nothing a grain does: none of the guaranteed classes appears.
        let state = system.state().expect("state");
        let report = crate::marketplace::checker::check(&data, &state, system.log());
        for class in [
            "negative_stock",
            "stock_reservation",
            "payment",
            "duplicate",
        ] {
            assert_eq!(report.count(class), 0, "{class}: {:?}", report.examples);
        }
        drop(system);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn baseline_without_a_log_logs_nothing() {
        let (mut system, _) = start(None);
        assert!(system.log_stats().is_none());
        let result = drive_briefly(&mut system);
        assert!(result.committed > 0);
        assert!(system.fatal().is_none());
    }

    #[test]
    fn baseline_log_failure_fails_the_ops_and_stops_the_run() {
        // /dev/full refuses every write, as a full disk would.
        if !std::path::Path::new("/dev/full").exists() {
            return;
        }
        let (mut system, _) = start(Some(PathBuf::from("/dev/full")));
        let result = drive_briefly(&mut system);
        let why = system.fatal().expect("fatal");
        assert!(why.contains("append log"), "{why}");
        // Only the unlogged dashboards can have succeeded.
        let dashboards = result.per_type.get("seller_dashboard");
        assert_eq!(result.committed, dashboards.map_or(0, |s| s.committed));
        assert!(system.quiesce(Duration::from_secs(30)), "quiesce");
    }

    #[test]
    fn baseline_log_records_round_trip() {
        let op = Op::Delivery(UpdateDelivery {
            max_sellers: 10,
            partition: Some(3),
        });
        let bytes = record(7, &op, 3).expect("encodes").expect("logged");
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.id, 7);
        assert_eq!(
            back.input,
            LoggedInput::Delivery {
                request: Cow::Owned(UpdateDelivery {
                    max_sellers: 10,
                    partition: Some(3),
                }),
                partition: 3
            }
        );
        assert!(record(8, &Op::Dashboard(1), 0).expect("encodes").is_none());
        assert!(decode(&[0xff, 0xff]).is_err());
    }
}
