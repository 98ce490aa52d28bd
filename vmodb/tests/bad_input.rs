//! Bad input of every kind gets a clear error, never a panic, and leaves other transactions alone:
//! unknown transactions, undecodable payloads, malformed or misrouted messages, bad queries, and
//! inconsistent application definitions caught by the bootstrap checks.

mod support;

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::kv::{self, Hooks, fwd, set};
use support::util::{collect, config_ms, input};
use vmodb::{
    App, AppBuilder, BootstrapError, Check, Cluster, Entity, Envelope, Handler, HandlerDef,
    Message, NodeId, Outcome, QueryError, Service, SubmitError, TableDef, TaskReport,
    TransactionDef, TxEnv, TxError,
};

const TIMEOUT: Duration = Duration::from_secs(5);

fn start() -> (Cluster, Arc<Hooks>) {
    let hooks = Hooks::new();
    let cluster =
        Cluster::start(kv::app(hooks.clone()), config_ms(1, 10_000), kv::load).expect("start");
    (cluster, hooks)
}

/// The cluster still commits work at both services.
fn still_works(cluster: &Cluster, value: i64) {
    let client = cluster.client();
    let c = client
        .submit_and_wait("pipe", &fwd(9, value), TIMEOUT)
        .expect("submit");
    assert!(
        matches!(c.outcome, Outcome::Committed { output: Some(_) }),
        "{:?}",
        c.outcome
    );
    assert!(cluster.wait_idle(TIMEOUT));
    assert_eq!(
        cluster.query::<_, Option<i64>>("b", "get", &9u32).unwrap(),
        Some(value)
    );
    assert_eq!(cluster.stats().waiting, 0, "nothing stuck in a chain");
}

// ---------------------------------------------------------------------------------------------
// Submissions
// ---------------------------------------------------------------------------------------------

#[test]
fn an_unknown_transaction_is_refused_at_submission() {
    let (cluster, _) = start();
    let client = cluster.client();
    assert_eq!(
        client.submit("nope", &set(1, 1)),
        Err(SubmitError::UnknownTransaction("nope".into()))
    );
    assert_eq!(
        client.submit_raw("", vec![1, 2, 3]),
        Err(SubmitError::UnknownTransaction("".into()))
    );
    assert!(matches!(
        client.submit_and_wait("Set", &set(1, 1), TIMEOUT),
        Err(SubmitError::UnknownTransaction(name)) if name == "Set"
    ));
    // One unknown name in a group: the whole group is refused, nothing is sequenced.
    let inputs = vec![
        input("set", &set(1, 1)),
        input("missing", &set(2, 2)),
        input("set", &set(3, 3)),
    ];
    let err = client.submit_all(inputs).unwrap_err();
    assert_eq!(err, SubmitError::UnknownTransaction("missing".into()));
    assert!(err.to_string().contains("missing"));
    assert_eq!(cluster.stats().coordinator.sequenced, 0);
    assert!(client.completions().try_recv().is_err());
    still_works(&cluster, 1);
    assert_eq!(cluster.stats().coordinator.sequenced, 1);
}

#[test]
fn an_undecodable_payload_fails_only_its_transaction() {
    let (cluster, hooks) = start();
    let client = cluster.client();
    // Good and bad inputs interleaved in one group, plus a concurrent good client.
    let good_client = cluster.client();
    let good = std::thread::spawn(move || {
        for i in 0..100u32 {
            good_client.submit("pipe", &fwd(i % 50, 1)).expect("submit");
        }
        collect(&good_client, 100)
    });
    let mut inputs = Vec::new();
    for i in 0..60u32 {
        match i % 3 {
            0 => inputs.push(("set".to_string(), Vec::new())), // truncated
            1 => inputs.push(("pipe".to_string(), vec![0xff; 6])), // broken varint
            _ => inputs.push(input("set", &set(i, 5))),
        }
    }
    let tids = client.submit_all(inputs).expect("submit");
    let single = client.submit_raw("pipe", vec![0x80]).expect("submit");
    let done = collect(&client, tids.len() + 1);
    for (i, c) in done.iter().enumerate() {
        // Which event should have failed to decode, if any.
        let broken = if c.tid == single || i % 3 == 1 {
            Some("step")
        } else if i % 3 == 0 {
            Some("set")
        } else {
            None
        };
        match (broken, &c.outcome) {
            (None, Outcome::Committed { output: None }) => {}
            (Some(name), Outcome::Failed { service, error }) => {
                assert_eq!(service, "a", "tid {}", c.tid);
                assert!(
                    matches!(error, TxError::Decode { event, .. } if event == name),
                    "tid {}: the error must name event {name}: {error:?}",
                    c.tid
                );
                assert!(error.to_string().contains(name), "{error}");
            }
            (_, other) => panic!("tid {} (input #{i}): unexpected {other:?}", c.tid),
        }
    }
    let good = good.join().expect("good client");
    assert!(
        good.iter()
            .all(|c| matches!(c.outcome, Outcome::Committed { output: Some(_) })),
        "a good transaction was affected"
    );
    // Undecodable inputs never reached a handler; b got "nothing for you" for broken pipes.
    assert_eq!(hooks.set_runs.load(Ordering::SeqCst), 20);
    assert_eq!(hooks.fwd_runs.load(Ordering::SeqCst), 100);
    assert_eq!(
        cluster.stats().refused,
        0,
        "a bad payload is a failed task, not a refused one"
    );
    still_works(&cluster, 2);
}

// ---------------------------------------------------------------------------------------------
// Messages from a broken peer
// ---------------------------------------------------------------------------------------------

/// An envelope for DAG `dag`, node `node`, with `nodes` predecessor entries.
fn envelope(tid: u64, dag: u16, node: u16, nodes: usize, payload: Vec<u8>) -> Envelope {
    Envelope {
        env: TxEnv {
            tid,
            timestamp_us: 0,
            seed: 0,
        },
        batch: 1,
        dag,
        node,
        prevs: Arc::from(vec![0; nodes]),
        payload: Some(payload),
    }
}

fn bytes<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap()
}

// DAG indexes follow declaration order in `kv::app`: set, pipe, churn, poke. Services: a = 0, b = 1.
const DAG_SET: u16 = 0;
const DAG_PIPE: u16 = 1;

#[test]
fn misrouted_or_malformed_envelopes_are_refused() {
    let (cluster, hooks) = start();
    still_works(&cluster, 1);
    let base = cluster.stats().refused;
    let refused = |n: u64, what: &str| {
        let deadline = std::time::Instant::now() + TIMEOUT;
        while cluster.stats().refused < base + n {
            assert!(std::time::Instant::now() < deadline, "{what}: not refused");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(cluster.stats().refused, base + n, "{what}");
    };
    // Unknown transaction type (DAG index out of range).
    cluster.inject(
        NodeId::Service(0),
        Message::Events(vec![envelope(1_000, 99, 0, 1, bytes(&set(1, 1)))]),
    );
    refused(1, "unknown DAG");
    still_works(&cluster, 2);
    // A step of another service: node 0 of `pipe` is a's, sent to b.
    cluster.inject(
        NodeId::Service(1),
        Message::Events(vec![envelope(1_001, DAG_PIPE, 0, 2, bytes(&fwd(1, 1)))]),
    );
    refused(2, "step of another service");
    // A DAG of which this service is no part (`set` only visits a).
    cluster.inject(
        NodeId::Service(1),
        Message::Events(vec![envelope(1_002, DAG_SET, 0, 1, bytes(&set(1, 1)))]),
    );
    refused(3, "transaction not visiting this service");
    // A step index out of range.
    cluster.inject(
        NodeId::Service(0),
        Message::Events(vec![envelope(1_003, DAG_PIPE, 7, 2, bytes(&fwd(1, 1)))]),
    );
    refused(4, "step out of range");
    // A precedence map of the wrong length, and a predecessor not before the TID.
    let mut bad_prev = envelope(1_004, DAG_SET, 0, 1, bytes(&set(1, 1)));
    bad_prev.prevs = Arc::from(vec![1_004]);
    cluster.inject(
        NodeId::Service(0),
        Message::Events(vec![
            envelope(1_005, DAG_SET, 0, 3, bytes(&set(1, 1))),
            bad_prev,
        ]),
    );
    refused(6, "malformed precedence maps");
    still_works(&cluster, 3);
    assert_eq!(
        hooks.set_runs.load(Ordering::SeqCst),
        0,
        "no refused envelope ran a handler"
    );
    assert_eq!(cluster.stats().coordinator.in_flight, 0);
}

#[test]
fn messages_to_unknown_or_wrong_nodes_are_dropped() {
    let (cluster, _) = start();
    let env = envelope(5, DAG_SET, 0, 1, bytes(&set(1, 1)));
    // No such service.
    cluster.inject(NodeId::Service(42), Message::Events(vec![env.clone()]));
    cluster.inject(
        NodeId::Service(u16::MAX),
        Message::CommitBatch {
            batch: 1,
            max_tid: 5,
        },
    );
    cluster.inject(
        NodeId::Service(2),
        Message::CloseBatch {
            batch: 1,
            expected: 1,
        },
    );
    // Coordinator-bound messages sent to a service.
    cluster.inject(
        NodeId::Service(0),
        Message::Reports {
            service: 0,
            reports: vec![],
        },
    );
    cluster.inject(
        NodeId::Service(1),
        Message::BatchDone {
            batch: 1,
            service: 1,
        },
    );
    // Service-bound messages sent to the coordinator, and reports about TIDs not in flight.
    cluster.inject(NodeId::Coordinator, Message::Events(vec![env]));
    cluster.inject(
        NodeId::Coordinator,
        Message::CloseBatch {
            batch: 1,
            expected: 1,
        },
    );
    cluster.inject(
        NodeId::Coordinator,
        Message::Reports {
            service: 0,
            reports: vec![TaskReport::Failed {
                tid: 777,
                service: "a".into(),
                error: TxError::app("not mine"),
            }],
        },
    );
    cluster.inject(
        NodeId::Coordinator,
        Message::BatchDone {
            batch: 999,
            service: 7,
        },
    );
    still_works(&cluster, 4);
    let c = cluster
        .client()
        .submit_and_wait("set", &set(1, 8), TIMEOUT)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    assert_eq!(
        cluster.query::<_, Option<i64>>("a", "get", &1u32).unwrap(),
        Some(8)
    );
}

#[test]
fn bad_queries_get_clear_errors() {
    let (cluster, _) = start();
    assert_eq!(
        cluster.query::<_, Option<i64>>("nowhere", "get", &1u32),
        Err(QueryError::UnknownService("nowhere".into()))
    );
    let err = cluster
        .query::<_, Option<i64>>("a", "nothing", &1u32)
        .unwrap_err();
    assert_eq!(
        err,
        QueryError::UnknownQuery {
            service: "a".into(),
            query: "nothing".into()
        }
    );
    assert!(err.to_string().contains("nothing") && err.to_string().contains('a'));
    // An input that does not decode as the query's input type.
    match cluster.query::<_, Option<i64>>("a", "get", &()) {
        Err(QueryError::Failed(TxError::Decode { event, .. })) => assert_eq!(event, "get"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(
        cluster.query::<_, Option<i64>>("a", "get", &1u32),
        Ok(Some(0))
    );
}

// ---------------------------------------------------------------------------------------------
// Bootstrap checks
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct A {
    x: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct B {
    y: String,
}

fn consumer(event: &str) -> HandlerDef {
    Handler::on::<A>(event).run(|_, _| Ok(()))
}

fn relay(event: &str, out: &str) -> HandlerDef {
    Handler::on::<A>(event).emits::<A>(out).run(|_, e| Ok(e))
}

/// x: x_in → x_out; y: x_out → y_out; z: y_out. Transaction `t` = x → y → z.
fn chain_services() -> Vec<Service> {
    vec![
        Service::new("x").handler(relay("x_in", "x_out")),
        Service::new("y").handler(relay("x_out", "y_out")),
        Service::new("z").handler(consumer("y_out")),
    ]
}

fn chain_app(extra: Vec<Service>, transactions: Vec<TransactionDef>) -> AppBuilder {
    let mut b = App::builder();
    for s in chain_services().into_iter().chain(extra) {
        b = b.service(s);
    }
    b = b.transaction(
        TransactionDef::new("t", "x", "x_in")
            .then("y", "x_out")
            .then("z", "y_out"),
    );
    for t in transactions {
        b = b.transaction(t);
    }
    b
}

#[track_caller]
fn refused(builder: AppBuilder, needles: &[&str]) -> BootstrapError {
    let err = match builder.build() {
        Ok(_) => panic!("the application must be refused (expected a message naming {needles:?})"),
        Err(e) => e,
    };
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "message {msg:?} does not name {n:?}");
    }
    err
}

#[test]
fn a_consistent_application_builds() {
    let app = chain_app(vec![], vec![]).build().expect("valid app");
    assert_eq!(app.transaction_names().collect::<Vec<_>>(), vec!["t"]);
    replica_app(replica_front(), catalog())
        .build()
        .expect("valid replica app");
}

#[test]
fn bootstrap_refuses_transactions_naming_unknown_parts() {
    refused(
        chain_app(vec![], vec![TransactionDef::new("t2", "ghost", "x_in")]),
        &["t2", "ghost"],
    );
    refused(
        chain_app(
            vec![],
            vec![TransactionDef::new("t2", "x", "x_in").then("phantom", "x_out")],
        ),
        &["t2", "phantom"],
    );
    refused(
        chain_app(vec![], vec![TransactionDef::new("t2", "x", "nope")]),
        &["t2", "x", "nope"],
    );
    refused(
        chain_app(
            vec![],
            vec![TransactionDef::new("t2", "x", "x_in").then("y", "y_out")],
        ),
        &["t2", "y", "y_out"],
    );
}

#[test]
fn bootstrap_refuses_a_service_twice_in_a_transaction() {
    let x_again = TransactionDef::new("t2", "x", "x_in")
        .then("y", "x_out")
        .then("x", "x_in");
    refused(chain_app(vec![], vec![x_again]), &["t2", "`x`", "twice"]);
}

#[test]
fn bootstrap_refuses_events_no_earlier_service_emits() {
    // y_out is emitted by y, which is not part of t2.
    refused(
        chain_app(
            vec![],
            vec![TransactionDef::new("t2", "x", "x_in").then("z", "y_out")],
        ),
        &["t2", "y_out", "z"],
    );
    // y is part of t2, but comes after z.
    refused(
        chain_app(
            vec![],
            vec![
                TransactionDef::new("t2", "x", "x_in")
                    .then("z", "y_out")
                    .then("y", "x_out"),
            ],
        ),
        &["t2", "y_out"],
    );
}

#[test]
fn bootstrap_refuses_two_producers_of_one_event() {
    let w = Service::new("w").handler(relay("w_in", "x_out"));
    refused(chain_app(vec![w], vec![]), &["x_out", "`x`", "`w`"]);
}

#[test]
fn bootstrap_refuses_producer_consumer_type_mismatch() {
    let v = Service::new("v").handler(Handler::on::<B>("y_out").run(|_, _| Ok(())));
    refused(chain_app(vec![v], vec![]), &["y_out", "`y`", "`v`"]);
}

#[test]
fn bootstrap_refuses_handler_declaration_mistakes() {
    let twice = Service::new("w")
        .handler(consumer("w_in"))
        .handler(consumer("w_in"));
    refused(chain_app(vec![twice], vec![]), &["`w`", "w_in"]);
    let own = Service::new("w").handler(relay("w_in", "w_in"));
    refused(chain_app(vec![own], vec![]), &["`w`", "w_in"]);
    let twin = Service::new("x").handler(consumer("other"));
    refused(chain_app(vec![twin], vec![]), &["`x`", "twice"]);
    let nameless = Service::new("").handler(consumer("w_in"));
    refused(chain_app(vec![nameless], vec![]), &["empty name"]);
    refused(
        chain_app(vec![], vec![TransactionDef::new("t", "x", "x_in")]),
        &["`t`", "twice"],
    );
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Item {
    id: u32,
    price: i64,
    stock: i64,
}
impl Entity for Item {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Price {
    id: u32,
    price: i64,
}
impl Entity for Price {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tinted {
    id: u32,
    colour: String,
}
impl Entity for Tinted {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Note {
    id: u32,
    text: String,
}
impl Entity for Note {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Reprice {
    id: u32,
    price: i64,
}

#[test]
fn bootstrap_refuses_unknown_columns() {
    let with = |t: TableDef<Item>| chain_app(vec![Service::new("w").table(t)], vec![]);
    refused(
        with(TableDef::new("items", &["id"]).index("by_price", &["prise"])),
        &["`w`", "items", "by_price", "prise"],
    );
    refused(
        with(TableDef::new("items", &["id"]).check("stok", Check::NonNegative)),
        &["`w`", "items", "stok"],
    );
    refused(
        with(TableDef::new("items", &["ident"])),
        &["`w`", "items", "ident"],
    );
    refused(
        with(TableDef::new("items", &["id"]).partial_index("cheap", "pryce", 1i64, &[])),
        &["`w`", "items", "cheap", "pryce"],
    );
    refused(
        with(TableDef::new("items", &["id"]).index("by_both", &["price", "stck"])),
        &["`w`", "items", "stck"],
    );
    // A foreign key to a table the service does not have.
    let fk = Service::new("w").table(TableDef::<Item>::new("items", &["id"]).foreign_key::<Note>(
        "noted",
        "notes",
        |i: &Item| Some(i.id),
    ));
    refused(chain_app(vec![fk], vec![]), &["`w`", "noted", "notes"]);
}

/// catalog: items; `set_price` updates an item and emits `price_changed`.
fn catalog() -> Service {
    Service::new("catalog")
        .table(TableDef::<Item>::new("items", &["id"]))
        .handler(
            Handler::on::<Reprice>("set_price")
                .emits::<Reprice>("price_changed")
                .run(|ctx, e| {
                    let items = ctx.table::<Item>()?;
                    let mut item = items.get(&e.id).ok_or_else(|| TxError::app("no item"))?;
                    item.price = e.price;
                    items.update(item)?;
                    Ok(e)
                }),
        )
}

fn replicate() -> HandlerDef {
    Handler::on::<Reprice>("price_changed")
        .replicates("prices")
        .run(|ctx, e| {
            ctx.table::<Price>()?.upsert(Price {
                id: e.id,
                price: e.price,
            })
        })
}

fn rogue() -> HandlerDef {
    Handler::on::<Reprice>("rogue").run(|ctx, e| {
        ctx.table::<Price>()?.upsert(Price {
            id: e.id,
            price: e.price,
        })
    })
}

/// front: a replica of catalog.items (id, price), a local table, the replicating handler, and a
/// handler that writes the replica without declaring it.
fn replica_front() -> Service {
    Service::new("front")
        .table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"))
        .table(TableDef::<Note>::new("notes", &["id"]))
        .handler(replicate())
        .handler(rogue())
}

fn replica_app(front: Service, catalog: Service) -> AppBuilder {
    App::builder()
        .service(catalog)
        .service(front)
        .transaction(
            TransactionDef::new("reprice", "catalog", "set_price").then("front", "price_changed"),
        )
        .transaction(TransactionDef::new("rogue", "front", "rogue"))
}

#[test]
fn bootstrap_refuses_inconsistent_replicas() {
    let front =
        |replica: TableDef<Price>| Service::new("front").table(replica).handler(replicate());
    refused(
        replica_app(
            front(TableDef::new("prices", &["id"]).replica_of("warehouse", "items")),
            catalog(),
        ),
        &["front", "prices", "warehouse"],
    );
    refused(
        replica_app(
            front(TableDef::new("prices", &["id"]).replica_of("catalog", "goods")),
            catalog(),
        ),
        &["front", "prices", "catalog", "goods"],
    );
    // A column the source table lacks.
    let tinted = Service::new("front")
        .table(TableDef::<Tinted>::new("prices", &["id"]).replica_of("catalog", "items"))
        .handler(
            Handler::on::<Reprice>("price_changed")
                .replicates("prices")
                .run(|_, _| Ok(())),
        );
    refused(
        replica_app(tinted, catalog()),
        &["front", "prices", "colour"],
    );
    // Nobody declared to maintain the replica.
    let unfed = Service::new("front")
        .table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"))
        .handler(Handler::on::<Reprice>("price_changed").run(|_, _| Ok(())));
    refused(
        replica_app(unfed, catalog()),
        &["front", "prices", "catalog"],
    );
    // The replicating handler consumes an event the source service does not emit.
    let elsewhere = Service::new("front")
        .table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"))
        .handler(Handler::on::<Reprice>("price_changed").run(|_, _| Ok(())))
        .handler(
            Handler::on::<Reprice>("rumour")
                .replicates("prices")
                .run(|_, _| Ok(())),
        );
    refused(
        replica_app(elsewhere, catalog()),
        &["front", "prices", "catalog"],
    );
    // A replica of the service's own table.
    let own =
        catalog().table(TableDef::<Price>::new("prices", &["id"]).replica_of("catalog", "items"));
    let plain_front =
        Service::new("front").handler(Handler::on::<Reprice>("price_changed").run(|_, _| Ok(())));
    refused(
        App::builder().service(own).service(plain_front),
        &["catalog", "prices"],
    );
}

#[test]
fn bootstrap_refuses_replicating_a_table_that_is_not_a_replica() {
    let front = replica_front().handler(
        Handler::on::<Reprice>("jot")
            .replicates("notes")
            .run(|_, _| Ok(())),
    );
    refused(
        replica_app(front, catalog()),
        &["front", "jot", "notes", "not a replica"],
    );
    let front = replica_front().handler(
        Handler::on::<Reprice>("jot")
            .replicates("ghost_table")
            .run(|_, _| Ok(())),
    );
    refused(
        replica_app(front, catalog()),
        &["front", "jot", "ghost_table"],
    );
}

#[test]
fn writing_a_replica_without_declaring_it_fails_at_run_time() {
    let app = replica_app(replica_front(), catalog())
        .build()
        .expect("app");
    let cluster = Cluster::start(app, config_ms(1, 10_000), |l| {
        l.insert(
            "catalog",
            (0..3).map(|id| Item {
                id,
                price: 10,
                stock: 5,
            }),
        )?;
        l.insert("front", (0..3).map(|id| Price { id, price: 10 }))
    })
    .expect("start");
    let client = cluster.client();
    let c = client
        .submit_and_wait("rogue", &Reprice { id: 1, price: 99 }, TIMEOUT)
        .expect("submit");
    assert_eq!(
        c.outcome,
        Outcome::Failed {
            service: "front".into(),
            error: TxError::ReplicaWrite {
                table: "prices".into()
            }
        }
    );
    // The declared replication path works, and the rogue write left nothing.
    let c = client
        .submit_and_wait("reprice", &Reprice { id: 2, price: 42 }, TIMEOUT)
        .expect("submit");
    assert_eq!(c.outcome, Outcome::Committed { output: None });
    assert!(cluster.wait_idle(TIMEOUT));
    let state = cluster.state();
    let prices = support::util::pairs(&state, "front", "prices", "price");
    assert_eq!(prices, vec![(0, 10), (1, 10), (2, 42)]);
    let items = support::util::pairs(&state, "catalog", "items", "price");
    assert_eq!(items, vec![(0, 10), (1, 10), (2, 42)]);
}
