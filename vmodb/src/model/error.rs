//! Errors: what a handler sees (`TxError`), what stops a bad application at start
//! (`BootstrapError`), and what a client is told at submission (`SubmitError`).

use thiserror::Error;

/// Why a transaction's work at one service failed. Returned to handlers by repositories, and
/// reported to the client as the transaction's outcome.
#[derive(Debug, Clone, Error, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TxError {
    #[error("constraint violated: {table}.{column} must be {rule}, got {value}")]
    Constraint {
        table: String,
        column: String,
        rule: String,
        value: String,
    },
    #[error("foreign key {fk} on {table}: {detail}")]
    ForeignKey {
        table: String,
        fk: String,
        detail: String,
    },
    #[error("duplicate key {key} in {table}")]
    DuplicateKey { table: String, key: String },
    #[error("no row with key {key} in {table}")]
    NotFound { table: String, key: String },
    #[error("write to {table} in a read-only transaction")]
    ReadOnly { table: String },
    #[error("write to replica table {table} from a handler not declared to replicate it")]
    ReplicaWrite { table: String },
    #[error("unknown table {0}")]
    UnknownTable(String),
    #[error("unknown index {index} on table {table}")]
    UnknownIndex { table: String, index: String },
    #[error("payload of event {event} does not decode: {detail}")]
    Decode { event: String, detail: String },
    #[error("output event {event} does not encode: {detail}")]
    Encode { event: String, detail: String },
    #[error("handler panicked: {0}")]
    Panic(String),
    #[error("aborted: {0}")]
    Aborted(String),
    #[error("{0}")]
    App(String),
}

impl TxError {
    /// An explicit, application-level abort with a reason.
    pub fn abort(reason: impl Into<String>) -> Self {
        TxError::Aborted(reason.into())
    }

    /// An application error with a message.
    pub fn app(msg: impl Into<String>) -> Self {
        TxError::App(msg.into())
    }
}

/// The application definition is inconsistent; the message names the offending part.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("bootstrap check failed: {0}")]
pub struct BootstrapError(pub String);

/// A submission the coordinator refused; nothing was sequenced.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("unknown transaction type `{0}`")]
    UnknownTransaction(String),
    #[error("input for `{transaction}` does not encode: {detail}")]
    Encode { transaction: String, detail: String },
    /// A request id over `MAX_REQUEST_ID` bytes (ids are remembered and logged).
    #[error("a request id of {len} bytes, over the {max}-byte limit")]
    RequestIdTooLong { len: usize, max: usize },
    /// An input its transaction's validation refuses (`AppBuilder` declarations).
    #[error("input for `{transaction}` refused: {detail}")]
    Invalid { transaction: String, detail: String },
    #[error("the cluster is shut down")]
    ShutDown,
}

/// A read-only query could not be answered.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum QueryError {
    #[error("unknown service `{0}`")]
    UnknownService(String),
    #[error("service `{service}` has no query `{query}`")]
    UnknownQuery { service: String, query: String },
    #[error(transparent)]
    Failed(#[from] TxError),
    /// Asked of a service in another process, which could not answer.
    #[error("{0}")]
    Remote(String),
}
