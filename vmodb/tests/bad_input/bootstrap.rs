//! Bootstrap checks on the shape of an application: transactions, events, handlers, columns.

use crate::replicas::{Item, Note, catalog, replica_app, replica_front};
use serde::{Deserialize, Serialize};
use vmodb::{
    App, AppBuilder, BootstrapError, Check, Handler, HandlerDef, Service, TableDef, TransactionDef,
};

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
pub(crate) fn refused(builder: AppBuilder, needles: &[&str]) -> BootstrapError {
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
