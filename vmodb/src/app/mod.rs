//! An application: services plus the transactions (DAGs of services) clients may submit. `App::build`
//! runs the bootstrap checks and compiles the DAGs into routing tables; a failing check names the
//! offending service, handler, event or transaction.

pub(crate) mod load;
pub(crate) mod service;

use crate::app::service::{Service, TxKind};
use crate::model::error::BootstrapError;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A multi-service transaction: the entry service and its input event, then the services the
/// events flow through, each named with the event it consumes there.
#[derive(Clone)]
pub struct TransactionDef {
    pub(crate) name: String,
    pub(crate) nodes: Vec<(String, String)>,
    pub(crate) validate: Option<Validator>,
    pub(crate) operator_only: bool,
}

impl std::fmt::Debug for TransactionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionDef")
            .field("name", &self.name)
            .field("nodes", &self.nodes)
            .field("validated", &self.validate.is_some())
            .field("operator_only", &self.operator_only)
            .finish()
    }
}

/// Decodes an encoded input and checks it.
type InputCheck = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// An input check run at submission: the input's type, and the check on its encoding.
#[derive(Clone)]
pub(crate) struct Validator {
    pub input: (std::any::TypeId, &'static str),
    pub check: InputCheck,
}

impl TransactionDef {
    /// A transaction whose input event `event` enters at `service`.
    pub fn new(name: &str, service: &str, event: &str) -> Self {
        TransactionDef {
            name: name.to_string(),
            nodes: vec![(service.to_string(), event.to_string())],
            validate: None,
            operator_only: false,
        }
    }

    /// Only the front door's operator may submit this transaction (it changes what every
    /// client sees wholesale, e.g. a reset of all data): a client's request for it through
    /// `POST /transactions` is a 403. Routes an application mounts decide for themselves.
    pub fn operator_only(mut self) -> Self {
        self.operator_only = true;
        self
    }

    /// Checks every input at submission with `check` (given the input as the entry handler's
    /// type `I`): an input it refuses is never sequenced (`SubmitError::Invalid`; a 422 at the
    /// front door), so out-of-range values never reach a handler or the stored data. Checked
    /// at bootstrap: `I` must be the entry handler's input type.
    pub fn validate<I>(mut self, check: fn(&I) -> Result<(), String>) -> Self
    where
        I: serde::de::DeserializeOwned + 'static,
    {
        let decode_and_check = move |bytes: &[u8]| {
            let input: I = postcard::from_bytes(bytes).map_err(|e| format!("malformed: {e}"))?;
            check(&input)
        };
        self.validate = Some(Validator {
            input: (std::any::TypeId::of::<I>(), std::any::type_name::<I>()),
            check: Arc::new(decode_and_check),
        });
        self
    }

    /// The transaction continues at `service`, which consumes `event` (emitted by an earlier node).
    pub fn then(mut self, service: &str, event: &str) -> Self {
        self.nodes.push((service.to_string(), event.to_string()));
        self
    }
}

/// A DAG node compiled for routing.
#[derive(Clone, Debug)]
pub(crate) struct DagNode {
    pub service: usize,
    pub handler: usize,
    /// Nodes that consume this node's output event.
    pub children: Vec<usize>,
    /// A failure here can leave writes of this transaction at other services: some node that
    /// is not this one nor downstream of it (those only get "nothing for you") writes. Such a
    /// failure needs a rollback round (`rollback/`); any other is settled by the local undo.
    pub cascades: bool,
}

#[derive(Clone)]
pub(crate) struct Dag {
    pub name: Arc<str>,
    pub nodes: Vec<DagNode>,
    /// The entry input's check (`TransactionDef::validate`).
    pub validate: Option<Validator>,
    /// `TransactionDef::operator_only`.
    pub operator_only: bool,
}

impl Dag {
    pub fn participants(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.iter().map(|n| n.service)
    }
}

/// A checked application, ready to run embedded, distributed, or in serial replay.
#[derive(Clone)]
pub struct App {
    pub(crate) services: Vec<Service>,
    pub(crate) dags: Vec<Dag>,
    pub(crate) dag_by_name: HashMap<String, usize>,
    /// What the application says its behaviour is (`AppBuilder::version`); "" if it says nothing.
    version: String,
    build: Option<u64>,
}

/// Collects services and transactions, then checks them.
#[derive(Default)]
pub struct AppBuilder {
    services: Vec<Service>,
    transactions: Vec<TransactionDef>,
    version: String,
    build: Option<u64>,
}

impl App {
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|s| s.name.as_str())
    }

    /// Whether only the front door's operator may submit `transaction`
    /// (`TransactionDef::operator_only`; false for an unknown name).
    pub fn is_operator_only(&self, transaction: &str) -> bool {
        let dag = self.dag_by_name.get(transaction).map(|&i| &self.dags[i]);
        dag.is_some_and(|d| d.operator_only)
    }

    pub fn transaction_names(&self) -> impl Iterator<Item = &str> {
        self.dags.iter().map(|d| &*d.name)
    }

    pub(crate) fn service_index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// The names of service `service`'s tables, if there is such a service.
    pub fn table_names(&self, service: &str) -> Option<Vec<&str>> {
        let i = self.service_index(service)?;
        Some(
            self.services[i]
                .tables
                .iter()
                .map(|(n, _)| n.as_str())
                .collect(),
        )
    }

    /// The name of service `service`'s table of `E` (to read it from another process).
    pub fn table_name_of<E: crate::model::schema::Entity>(
        &self,
        service: &str,
    ) -> Result<String, crate::model::error::QueryError> {
        use crate::model::error::{QueryError, TxError};
        let i = self
            .service_index(service)
            .ok_or_else(|| QueryError::UnknownService(service.to_string()))?;
        let wanted = std::any::TypeId::of::<E>();
        self.services[i]
            .tables
            .iter()
            .find(|(_, factory)| factory().0 == wanted)
            .map(|(name, _)| name.clone())
            .ok_or_else(|| {
                let table = std::any::type_name::<E>().to_string();
                QueryError::Failed(TxError::UnknownTable(table))
            })
    }

    /// A digest of everything processes must agree on to run this application together:
    /// services, table columns, handlers (events and their types, kinds, modes, replicas),
    /// queries and transactions. The distributed bootstrap check compares it across
    /// processes, and a data directory keeps it (another fingerprint's directory is refused).
    /// What the code does is `build_id`'s.
    pub fn fingerprint(&self) -> u64 {
        use std::fmt::Write;
        let mut d = String::new();
        for s in &self.services {
            let _ = write!(d, "service {}|", s.name);
            if let Ok(store) = s.build_store() {
                for t in store.tables() {
                    let _ = write!(d, "table {} {:?}|", t.name(), t.columns());
                }
            }
            for h in &s.handlers {
                let out = h.outbound.as_ref().map(|o| (&*o.0, o.2));
                let _ = write!(
                    d,
                    "handler {} {} {out:?} {:?} {:?} {:?}|",
                    h.inbound, h.inbound_type.1, h.kind, h.mode, h.replicates
                );
            }
            for q in &s.queries {
                let _ = write!(d, "query {}|", q.name);
            }
        }
        for dag in &self.dags {
            let nodes: Vec<_> = dag.nodes.iter().map(|n| (n.service, n.handler)).collect();
            let _ = write!(d, "transaction {} {nodes:?}|", dag.name);
        }
        fnv1a(d.as_bytes())
    }
}

impl App {
    /// The identity of the application's *code*, which declarations cannot capture: handlers
    /// with other logic behave differently, so nodes of one cluster must agree on it and a log
    /// written by another build must not be re-executed unnoticed. It is the digest of the
    /// declared version (`AppBuilder::version`) when there is one (the developer promises that
    /// builds of one version behave alike), else of this program's executable file; or what
    /// `AppBuilder::build_id` set.
    pub fn build_id(&self) -> u64 {
        if let Some(b) = self.build {
            return b;
        }
        if !self.version.is_empty() {
            return fnv1a(format!("version {}", self.version).as_bytes());
        }
        executable_digest()
    }

    /// The version the application declared ("" if none).
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// A digest of the running executable (its length and CRC-32), computed once per process; 0
/// if it cannot be read.
fn executable_digest() -> u64 {
    static DIGEST: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DIGEST.get_or_init(|| {
        let read = std::env::current_exe()
            .and_then(std::fs::File::open)
            .and_then(|mut f| {
                use std::io::Read;
                let mut crc = crc32fast::Hasher::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut len = 0u64;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        return Ok((len << 32) ^ u64::from(crc.finalize()));
                    }
                    crc.update(&buf[..n]);
                    len += n as u64;
                }
            });
        read.unwrap_or(0)
    })
}

/// FNV-1a, 64 bit: stable across processes and builds (unlike `DefaultHasher`).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl AppBuilder {
    pub fn service(mut self, service: Service) -> Self {
        self.services.push(service);
        self
    }

    pub fn transaction(mut self, def: TransactionDef) -> Self {
        self.transactions.push(def);
        self
    }

    /// Declares the version of the application's behaviour: builds of one version promise to
    /// behave alike, so a rebuilt binary of the same version joins a cluster and recovers its
    /// log. Bump it whenever handler logic changes: nodes of another version are refused at
    /// the handshake, and a log with work to re-execute written by another version is refused
    /// (unless a new build is allowed). Without it, the executable itself identifies the build
    /// (`App::build_id`).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_string();
        self
    }

    /// Sets the build identity directly (see `App::build_id`), for tests and for deployments
    /// that identify builds their own way.
    pub fn build_id(mut self, build: u64) -> Self {
        self.build = Some(build);
        self
    }

    /// Runs every bootstrap check and compiles the DAGs.
    pub fn build(self) -> Result<App, BootstrapError> {
        let fail = |m: String| Err(BootstrapError(m));
        let services = self.services;
        let mut by_name = HashMap::new();
        for (i, s) in services.iter().enumerate() {
            if s.name.is_empty() {
                return fail("a service has an empty name".into());
            }
            if by_name.insert(s.name.clone(), i).is_some() {
                return fail(format!("service `{}` is declared twice", s.name));
            }
            check_service(s)?;
        }
        check_events(&services)?;
        check_replicas(&services, &by_name)?;
        let mut dags = Vec::new();
        let mut dag_by_name = HashMap::new();
        for def in &self.transactions {
            if dag_by_name.insert(def.name.clone(), dags.len()).is_some() {
                return fail(format!("transaction `{}` is declared twice", def.name));
            }
            dags.push(compile_dag(def, &services, &by_name)?);
        }
        Ok(App {
            services,
            dags,
            dag_by_name,
            version: self.version,
            build: self.build,
        })
    }
}

fn check_service(s: &Service) -> Result<(), BootstrapError> {
    let fail = |m: String| Err(BootstrapError(format!("service `{}`: {m}", s.name)));
    if let Some(p) = s.problems.first() {
        return fail(p.clone());
    }
    let store = s.build_store().map_err(BootstrapError)?;
    let mut inbound = BTreeSet::new();
    for h in &s.handlers {
        if !inbound.insert(h.inbound.as_str()) {
            return fail(format!("two handlers consume event `{}`", h.inbound));
        }
        if h.outbound() == Some(h.inbound.as_str()) {
            return fail(format!(
                "handler for `{}` emits its own input event",
                h.inbound
            ));
        }
        if h.outbound() == Some("") {
            return fail(format!(
                "handler for `{}` emits an event with an empty name",
                h.inbound
            ));
        }
        for t in &h.replicates {
            match store.table_by_name(t) {
                None => {
                    return fail(format!(
                        "handler for `{}` replicates unknown table `{t}`",
                        h.inbound
                    ));
                }
                Some(table) if table.replica_of().is_none() => {
                    return fail(format!(
                        "handler for `{}` declares replicating `{t}`, which is not a replica table",
                        h.inbound
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let mut queries = BTreeSet::new();
    for q in &s.queries {
        if !queries.insert(q.name.as_str()) {
            return fail(format!("query `{}` declared twice", q.name));
        }
    }
    Ok(())
}

/// Each event has one producer, and producer and consumers agree on its type.
fn check_events(services: &[Service]) -> Result<(), BootstrapError> {
    let mut producers: HashMap<&str, (&str, std::any::TypeId, &str)> = HashMap::new();
    for s in services {
        for h in &s.handlers {
            if let Some((ev, ty, tyname)) = &h.outbound
                && let Some((other, _, _)) = producers.insert(ev, (&s.name, *ty, tyname))
            {
                return Err(BootstrapError(format!(
                    "event `{ev}` has two producers: service `{other}` and service `{}`",
                    s.name
                )));
            }
        }
    }
    for s in services {
        for h in &s.handlers {
            if let Some((producer, ty, tyname)) = producers.get(h.inbound.as_str())
                && *ty != h.inbound_type.0
            {
                return Err(BootstrapError(format!(
                    "event `{}`: service `{producer}` emits {tyname} but service `{}` expects {}",
                    h.inbound, s.name, h.inbound_type.1
                )));
            }
        }
    }
    Ok(())
}

/// A replica names an existing source table of another service, copies only its columns, and is
/// maintained by a handler that consumes an event produced by the source service.
fn check_replicas(
    services: &[Service],
    by_name: &HashMap<String, usize>,
) -> Result<(), BootstrapError> {
    for s in services {
        let store = s.build_store().map_err(BootstrapError)?;
        for table in store.tables() {
            let Some((src_service, src_table)) = table.replica_of() else {
                continue;
            };
            let fail = |m: String| {
                Err(BootstrapError(format!(
                    "service `{}`: replica table `{}`: {m}",
                    s.name,
                    table.name()
                )))
            };
            let Some(&src) = by_name.get(src_service) else {
                return fail(format!("source service `{src_service}` does not exist"));
            };
            if src_service == &s.name {
                return fail("a replica must copy another service's table".into());
            }
            let src_store = services[src].build_store().map_err(BootstrapError)?;
            let Some(source) = src_store.table_by_name(src_table) else {
                return fail(format!(
                    "service `{src_service}` has no table `{src_table}`"
                ));
            };
            let source_columns = source.columns();
            if let Some(c) = table.columns().iter().find(|c| !source_columns.contains(c)) {
                return fail(format!(
                    "column `{c}` is not a column of `{src_service}.{src_table}`"
                ));
            }
            let fed = s.handlers.iter().any(|h| {
                h.replicates.iter().any(|t| t == table.name())
                    && services[src]
                        .handlers
                        .iter()
                        .any(|p| p.outbound() == Some(h.inbound.as_str()))
            });
            if !fed {
                return fail(format!(
                    "no handler declared to replicate it consumes an event of service `{src_service}`"
                ));
            }
        }
    }
    Ok(())
}

fn compile_dag(
    def: &TransactionDef,
    services: &[Service],
    by_name: &HashMap<String, usize>,
) -> Result<Dag, BootstrapError> {
    let fail = |m: String| Err(BootstrapError(format!("transaction `{}`: {m}", def.name)));
    let mut nodes: Vec<DagNode> = Vec::new();
    let mut seen = vec![false; services.len()];
    for (i, (service, event)) in def.nodes.iter().enumerate() {
        let Some(&s) = by_name.get(service) else {
            return fail(format!("names unknown service `{service}`"));
        };
        if seen[s] {
            return fail(format!("service `{service}` appears twice"));
        }
        let Some(h) = services[s].handler_for(event) else {
            return fail(format!(
                "service `{service}` has no handler for event `{event}`"
            ));
        };
        if i > 0 {
            let parents: Vec<usize> = (0..i)
                .filter(|&p| {
                    let n: &DagNode = &nodes[p];
                    services[n.service].handlers[n.handler].outbound() == Some(event.as_str())
                })
                .collect();
            match parents.as_slice() {
                [p] => nodes[*p].children.push(i),
                [] => {
                    return fail(format!(
                        "event `{event}` consumed by service `{service}` is not emitted by an earlier service of the transaction"
                    ));
                }
                _ => {
                    return fail(format!(
                        "event `{event}` has several producers in the transaction"
                    ));
                }
            }
        }
        seen[s] = true;
        nodes.push(DagNode {
            service: s,
            handler: h,
            children: Vec::new(),
            cascades: false,
        });
    }
    if nodes.is_empty() {
        return fail("has no services".into());
    }
    for n in 0..nodes.len() {
        let mut downstream = vec![false; nodes.len()];
        downstream[n] = true;
        // Parents precede children, so one forward pass marks every descendant.
        for m in n..nodes.len() {
            if downstream[m] {
                for &c in &nodes[m].children {
                    downstream[c] = true;
                }
            }
        }
        nodes[n].cascades = (0..nodes.len()).any(|m| {
            let other = &nodes[m];
            !downstream[m] && services[other.service].handlers[other.handler].kind != TxKind::R
        });
    }
    if let Some(v) = &def.validate {
        let entry = &services[nodes[0].service].handlers[nodes[0].handler];
        if entry.inbound_type.0 != v.input.0 {
            return fail(format!(
                "validates inputs of type `{}`, but its entry handler takes `{}`",
                v.input.1, entry.inbound_type.1
            ));
        }
    }
    Ok(Dag {
        name: Arc::from(def.name.as_str()),
        nodes,
        validate: def.validate.clone(),
        operator_only: def.operator_only,
    })
}
