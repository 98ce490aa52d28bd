//! The distributed deployment on loopback, inside the test process: one `ServiceProcess` per
//! shop service and a `CoordinatorProcess`, talking over TCP. The run must equal the serial
//! replay of its committed inputs; the bootstrap checks must stop mismatched or incomplete
//! clusters with errors that name the culprit; a lost service must be reported, not hang.
//!
//! Every test runs under a watchdog, and every node listens on a port the OS chose
//! (`ClusterSpec::bind_loopback`), so tests never collide with each other or anything else.

mod support;

use rand::{RngExt, SeedableRng};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use support::nodes::{FakeService, Running, coordinator_error, service_error, start_service};
use support::shop::{self, Audit, Item, PlaceOrder, Receipt, Restock, Summary};
use support::shop_checks::{impostor_app, summary_from_state};
use support::util::{column, int};
use support::watch::{watchdog, within};
use vmodb::processes::{ClusterSpec, CoordinatorProcess, Listeners, NodeOptions, ServiceProcess};
use vmodb::{App, CoordinatorConfig, Outcome};

const ITEMS: u32 = 12;
const STOCK: i64 = 25;
const CUSTOMERS: u32 = 30;
const SERVICES: [&str; 3] = ["orders", "inventory", "billing"];

fn app() -> App {
    shop::app().expect("the shop app builds")
}

fn coordinator_config() -> CoordinatorConfig {
    CoordinatorConfig {
        record_inputs: true,
        batch_window: Duration::from_millis(3),
        ..CoordinatorConfig::default()
    }
}

fn options(connect_timeout: Duration) -> NodeOptions {
    NodeOptions {
        connect_timeout,
        ..NodeOptions::default()
    }
}

/// Every node's address, on ports bound already.
fn bind() -> (ClusterSpec, Listeners) {
    ClusterSpec::bind_loopback(&app()).expect("free loopback ports")
}

fn start_services(
    spec: &ClusterSpec,
    listeners: &mut Listeners,
    names: &[&str],
    options: &NodeOptions,
) -> Vec<Running> {
    names
        .iter()
        .map(|n| {
            let listener = listeners
                .services
                .remove(*n)
                .expect("a listener per service");
            let load = shop::load(ITEMS, STOCK, CUSTOMERS);
            start_service(listener, app(), spec, n, options, load)
        })
        .collect()
}

/// Several clients run a random shop workload against a loopback cluster; the state must be
/// the serial replay of the committed inputs, and queries, table reads, traffic counters and
/// shutdown must work across processes.
#[test]
fn loopback_cluster_run_equals_serial_replay() {
    watchdog(Duration::from_secs(40), || {
        let (spec, mut listeners) = bind();
        let services = start_services(
            &spec,
            &mut listeners,
            &SERVICES,
            &options(Duration::from_secs(5)),
        );
        let process = CoordinatorProcess::start_on(
            listeners.coordinator,
            app(),
            &spec,
            coordinator_config(),
            &options(Duration::from_secs(5)),
        )
        .expect("the coordinator starts");
        assert_eq!(process.failure(), None);

        const CLIENTS: u64 = 3;
        const PER_CLIENT: u64 = 120;
        let completions: Vec<vmodb::Completion> = thread::scope(|scope| {
            let threads: Vec<_> = (0..CLIENTS)
                .map(|t| {
                    let client = process.client();
                    scope.spawn(move || {
                        let mut rng = rand::rngs::StdRng::seed_from_u64(t + 41);
                        for i in 0..PER_CLIENT {
                            let r = rng.random_range(0..100);
                            let submitted = if r < 80 {
                                let e = PlaceOrder {
                                    order_id: t * 1_000_000 + i,
                                    customer: rng.random_range(0..CUSTOMERS),
                                    item: rng.random_range(0..ITEMS),
                                    qty: rng.random_range(1..4),
                                };
                                client.submit("checkout", &e)
                            } else if r < 90 {
                                let e = Restock {
                                    item: rng.random_range(0..ITEMS),
                                    add: rng.random_range(1..5),
                                };
                                client.submit("restock", &e)
                            } else {
                                let e = Audit {
                                    customer: rng.random_range(0..CUSTOMERS),
                                };
                                client.submit("audit", &e)
                            };
                            submitted.expect("submit");
                        }
                        (0..PER_CLIENT)
                            .map(|i| {
                                client
                                    .completions()
                                    .recv_timeout(Duration::from_secs(10))
                                    .unwrap_or_else(|e| {
                                        panic!("client {t}: completion {i} did not arrive: {e}")
                                    })
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().expect("client thread"))
                .collect()
        });
        let total = (CLIENTS * PER_CLIENT) as usize;
        assert_eq!(completions.len(), total);
        let mut tids: Vec<u64> = completions.iter().map(|c| c.tid).collect();
        tids.sort_unstable();
        tids.dedup();
        assert_eq!(tids.len(), total, "every completion is for a distinct TID");
        for c in &completions {
            match (&*c.transaction, &c.outcome) {
                ("checkout", Outcome::Committed { output: Some(o) }) => {
                    let r: Receipt = o.decode().expect("a receipt");
                    assert!(r.ok || r.charged == 0, "{r:?}");
                }
                ("audit", Outcome::Committed { output: Some(o) }) => {
                    let _: Summary = o.decode().expect("a summary");
                }
                ("restock", Outcome::Committed { output: None }) => {}
                other => panic!("unexpected completion {other:?}"),
            }
        }
        assert!(process.wait_idle(Duration::from_secs(10)), "not idle");
        assert_eq!(process.failure(), None);

        // The state across processes is the serial replay of what committed.
        let state = process.state().expect("state from every service");
        assert_eq!(
            state.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["billing", "inventory", "orders"]
        );
        let inputs = process.committed_inputs();
        assert_eq!(inputs.len(), total, "every input is recorded");
        let replayed = vmodb::serial_replay(&app(), shop::load(ITEMS, STOCK, CUSTOMERS), &inputs)
            .expect("replay");
        assert_eq!(
            state, replayed,
            "distributed state differs from serial replay"
        );
        let orders = column(&state, "orders", "orders", "id").len();
        assert!(orders > 0, "some checkouts committed");
        assert_eq!(
            column(&state, "billing", "payments", "order_id").len(),
            orders,
            "one payment per order"
        );

        // A query at billing answers from its committed snapshot.
        let payers = column(&state, "billing", "payments", "customer");
        let busiest = (0..CUSTOMERS)
            .max_by_key(|c| payers.iter().filter(|p| int(p) == i64::from(*c)).count())
            .expect("customers");
        let s: Summary = process
            .query("billing", "summary", &busiest)
            .expect("summary query");
        assert!(s.payments > 0, "{s:?}");
        assert_eq!(s, summary_from_state(&state, busiest));
        assert!(
            process
                .query::<u32, Summary>("billing", "nope", &0)
                .is_err()
        );
        assert!(
            process
                .query::<u32, Summary>("nowhere", "summary", &0)
                .is_err()
        );

        // A table read from another process decodes into the entities.
        let items: Vec<Item> = process.read_table("inventory").expect("read items");
        assert_eq!(
            items.iter().map(|i| i.id).collect::<Vec<_>>(),
            (0..ITEMS).collect::<Vec<_>>()
        );
        let stock: Vec<i64> = column(&state, "inventory", "items", "stock")
            .iter()
            .map(int)
            .collect();
        assert_eq!(items.iter().map(|i| i.stock).collect::<Vec<_>>(), stock);
        assert!(items.iter().map(|i| i.sold).sum::<i64>() > 0);

        // Traffic: at least one message per submission went from the coordinator.
        let stats = process.node_stats().expect("node stats");
        assert!(stats.traffic.bytes > 0, "{stats:?}");
        assert!(stats.traffic.messages >= total as u64, "{stats:?}");
        assert!(
            stats.traffic.frames > 0 && stats.traffic.frames <= stats.traffic.messages,
            "{stats:?}"
        );
        assert!(stats.traffic.bytes >= stats.traffic.frames * 4, "{stats:?}");
        assert_eq!(stats.refused, 0);

        // Shutdown stops every service process cleanly.
        for s in &services {
            assert!(s.exit.try_recv().is_err(), "`{}` exited early", s.name);
        }
        process.shutdown();
        for s in &services {
            match s.exit_within(Duration::from_secs(5)) {
                Some(Ok(())) => {}
                Some(Err(e)) => panic!("service `{}` exited with an error: {e}", s.name),
                None => panic!("service `{}` did not stop within 5 s", s.name),
            }
        }
        assert!(
            process
                .client()
                .submit("restock", &Restock { item: 0, add: 1 })
                .is_err(),
            "a stopped coordinator takes no work"
        );
        assert_eq!(
            process.failure(),
            None,
            "a requested shutdown is no failure"
        );
        assert!(within(Duration::from_secs(5), move || drop(process)).is_some());
    });
}

/// A service process running another application is refused at the handshake, in both
/// directions, and the coordinator does not start; bad cluster files and role names fail
/// before anything listens.
#[test]
fn bootstrap_checks_across_processes() {
    watchdog(Duration::from_secs(30), || {
        let impostor = impostor_app();
        assert_ne!(impostor.fingerprint(), app().fingerprint());
        assert_eq!(
            app().fingerprint(),
            app().fingerprint(),
            "stable fingerprint"
        );

        let (spec, mut listeners) = bind();
        let quick = options(Duration::from_secs(3));
        let genuine = start_services(&spec, &mut listeners, &["orders", "inventory"], &quick);
        let billing_port = listeners
            .services
            .remove("billing")
            .expect("billing's port");
        let billing =
            ServiceProcess::start_on(billing_port, impostor, &spec, "billing", &quick, |_| Ok(()))
                .expect("the impostor starts on its own");
        let (tx, impostor_exit) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(billing.wait());
            // Like a process that has not exited yet: a node connecting now still hears why
            // it stopped (its port refuses with the reason) rather than "connection refused".
            thread::sleep(Duration::from_secs(10));
            drop(billing);
        });

        let e = coordinator_error(CoordinatorProcess::start_on(
            listeners.coordinator,
            app(),
            &spec,
            coordinator_config(),
            &quick,
        ));
        assert!(e.contains("different application"), "{e}");
        assert!(e.contains("`billing`"), "{e}");

        // The impostor is refused by its peers. The genuine services exit too: refused by the
        // impostor, or left by the coordinator that gave up (whichever they notice first).
        let exit = impostor_exit
            .recv_timeout(Duration::from_secs(5))
            .expect("the impostor's `wait` returns");
        let why = exit.expect_err("the impostor cannot join");
        // Refused by a genuine peer, or (when they gave up first) unable to reach one.
        assert!(
            why.contains("different application")
                || why.contains("`orders`")
                || why.contains("`inventory`"),
            "{why}"
        );
        for s in &genuine {
            let why = s
                .exit_within(Duration::from_secs(5))
                .unwrap_or_else(|| panic!("`{}` keeps waiting for the impostor", s.name))
                .expect_err("a genuine service cannot run with the impostor");
            assert!(
                why.contains("`billing`") || why.contains("lost the coordinator"),
                "{}: {why}",
                s.name
            );
        }

        // A cluster file without an address for `billing` (nothing listens: it is refused
        // before that).
        let (mut partial, _) = bind();
        partial.services.remove("billing");
        let quick = options(Duration::from_millis(500));
        let load = || shop::load(ITEMS, STOCK, CUSTOMERS);
        for service in SERVICES {
            let e = service_error(ServiceProcess::start(
                app(),
                &partial,
                service,
                &quick,
                load(),
            ));
            assert!(e.contains("`billing`"), "{service}: {e}");
            assert!(e.contains("no address"), "{service}: {e}");
        }
        let e = coordinator_error(CoordinatorProcess::start(
            app(),
            &partial,
            coordinator_config(),
            &quick,
        ));
        assert!(e.contains("`billing`") && e.contains("no address"), "{e}");

        // A role the application does not have.
        let (spec, mut listeners) = bind();
        let e = service_error(ServiceProcess::start(
            app(),
            &spec,
            "shipping",
            &quick,
            load(),
        ));
        assert!(e.contains("unknown service `shipping`"), "{e}");
        // A cluster file naming a service the application does not have.
        let mut extra = spec.clone();
        // (Refused before anything listens: the address is never used.)
        extra
            .services
            .insert("shipping".into(), "127.0.0.1:1".into());
        let e = service_error(ServiceProcess::start(
            app(),
            &extra,
            "orders",
            &quick,
            load(),
        ));
        assert!(e.contains("unknown service `shipping`"), "{e}");
        let e = coordinator_error(CoordinatorProcess::start(
            app(),
            &extra,
            coordinator_config(),
            &quick,
        ));
        assert!(e.contains("unknown service `shipping`"), "{e}");
        // None of these used its port: a correct start on the same file still works.
        let orders = listeners.services.remove("orders").expect("orders' port");
        let ok = ServiceProcess::start_on(orders, app(), &spec, "orders", &quick, load());
        assert!(ok.is_ok(), "{:?}", ok.err());
    });
}

/// A service that never starts: the coordinator gives up after its connect timeout with an
/// error naming that service, and only it.
#[test]
fn coordinator_start_names_a_missing_service() {
    watchdog(Duration::from_secs(30), || {
        let (spec, mut listeners) = bind();
        let _up = start_services(
            &spec,
            &mut listeners,
            &["orders", "inventory"],
            &options(Duration::from_secs(5)),
        );
        let started = Instant::now();
        let coordinator = listeners.coordinator;
        let result = within(Duration::from_secs(20), move || {
            CoordinatorProcess::start_on(
                coordinator,
                app(),
                &spec,
                coordinator_config(),
                &options(Duration::from_secs(2)),
            )
            .err()
            .map(|e| e.to_string())
        })
        .expect("`CoordinatorProcess::start` returns");
        let elapsed = started.elapsed();
        let e = result.expect("the coordinator must not start without `billing`");
        assert!(
            elapsed >= Duration::from_secs(2),
            "gave up before its connect timeout: {elapsed:?}"
        );
        assert!(e.contains("`billing`"), "{e}");
        assert!(!e.contains("`orders`") && !e.contains("`inventory`"), "{e}");
    });
}

/// A service that dies after the cluster came up: the coordinator reports it by name, takes no
/// more work, asks fail fast, an in-flight transaction never reports a commit, nobody hangs,
/// and the other service processes exit with an error naming it.
#[test]
fn a_lost_service_is_reported_and_nothing_hangs() {
    watchdog(Duration::from_secs(30), || {
        let app = app();
        let (spec, mut listeners) = bind();
        let services = start_services(
            &spec,
            &mut listeners,
            &["orders", "inventory"],
            &options(Duration::from_secs(5)),
        );
        let billing = listeners
            .services
            .remove("billing")
            .expect("billing's port");
        let mut fake = FakeService::start(billing, &app, &spec, "billing");
        let started = thread::scope(|scope| {
            let fake = &fake;
            let peers: Vec<String> = std::iter::once(spec.coordinator.clone())
                .chain(["orders", "inventory"].map(|s| spec.services[s].clone()))
                .collect();
            let linking = scope.spawn(move || peers.iter().for_each(|p| fake.connect(p)));
            let process = CoordinatorProcess::start_on(
                listeners.coordinator,
                app.clone(),
                &spec,
                coordinator_config(),
                &options(Duration::from_secs(5)),
            );
            linking.join().expect("the fake links to every peer");
            process
        });
        let process = started.expect("the coordinator starts with the fake billing");
        assert_eq!(process.failure(), None);

        // A checkout in flight: billing will never run its part.
        let client = process.client();
        let order = PlaceOrder {
            order_id: 1,
            customer: 1,
            item: 1,
            qty: 1,
        };
        client
            .submit("checkout", &order)
            .expect("submit before the loss");
        thread::sleep(Duration::from_millis(50));
        assert_eq!(process.failure(), None);

        fake.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        let failure = loop {
            if let Some(f) = process.failure() {
                break f;
            }
            assert!(
                Instant::now() < deadline,
                "the loss of billing went unnoticed"
            );
            thread::sleep(Duration::from_millis(20));
        };
        assert!(failure.contains("`billing`"), "{failure}");

        // The in-flight checkout never commits.
        if let Ok(c) = client
            .completions()
            .recv_timeout(Duration::from_millis(300))
        {
            assert!(
                !matches!(c.outcome, Outcome::Committed { .. }),
                "a checkout committed without billing: {c:?}"
            );
        }
        // New work is refused or times out; it never hangs.
        let again = PlaceOrder {
            order_id: 2,
            ..order
        };
        let r = client.submit_and_wait("checkout", &again, Duration::from_secs(2));
        assert!(r.is_err(), "a checkout completed without billing: {r:?}");

        // Asks fail at once, with the reason.
        let q = process.query::<u32, Summary>("billing", "summary", &0);
        let e = q.expect_err("no query without billing").to_string();
        assert!(e.contains("`billing`"), "{e}");
        let e = process.state().expect_err("no state without billing");
        assert!(e.contains("`billing`"), "{e}");
        let e = process.node_stats().expect_err("no stats without billing");
        assert!(e.contains("`billing`"), "{e}");
        // (They fail with the reason at once: waiting for their 60 s timeout would trip the
        // 30 s watchdog.)

        // The other service processes exit, naming the lost one.
        for s in &services {
            let why = s
                .exit_within(Duration::from_secs(5))
                .unwrap_or_else(|| panic!("`{}` did not notice the loss of billing", s.name))
                .expect_err("a service that lost a peer exits with an error");
            assert!(why.contains("`billing`"), "{}: {why}", s.name);
        }
        assert!(within(Duration::from_secs(5), move || drop(process)).is_some());
    });
}
