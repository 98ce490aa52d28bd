//! The test application's rows and events (`app.rs` has its services and transactions).

use serde::{Deserialize, Serialize};
use vmodb::Entity;

// ---------------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------------

macro_rules! entity {
    ($name:ident, $key:ty, $field:ident) => {
        impl Entity for $name {
            type Key = $key;
            fn key(&self) -> $key {
                self.$field
            }
        }
    };
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub id: u32,
    pub value: i64,
}
entity!(Counter, u32, id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: u32,
    pub balance: i64,
}
entity!(Account, u32, id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub id: u64,
    pub account: u32,
    pub amount: i64,
}
entity!(Hold, u64, id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub id: u32,
    pub level: i64,
}
entity!(Slot, u32, id);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reg {
    pub id: u32,
    pub uid: u64,
}
entity!(Reg, u32, id);

/// Stored by `stock.credit` and emitted as `transfer`'s output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub uid: u64,
    pub slot: u32,
    pub level: i64,
}
entity!(Receipt, u64, uid);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub id: u32,
    pub sum: i64,
    pub n: i64,
}
entity!(Total, u32, id);

/// Stored by `stats`; emitted as the output of `peek` and `audit`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub uid: u64,
    pub k: u32,
    pub v: i64,
}
entity!(Event, u64, uid);

/// A row only failure injection writes (at every service): `n` must be positive.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub id: u64,
    pub n: i64,
}
entity!(Marker, u64, id);

/// References a marker (at every service).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub marker: u64,
}
entity!(Note, u64, id);

// ---------------------------------------------------------------------------------------------
// Inputs and events
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// `TxError::abort`.
    #[default]
    Abort,
    /// A panic.
    Panic,
    /// The handler inserts its marker twice.
    Duplicate,
    /// The handler inserts a marker with `n = -1` (check `Positive`).
    Check,
    /// The handler inserts a note referencing `MISSING`.
    ForeignKey,
}

/// Where (an index into `SERVICES`) and how the transaction is made to fail; `at: None` never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fail {
    pub at: Option<u8>,
    pub kind: Kind,
    /// The failing handler first sleeps this long (so focused tests can let later
    /// transactions read its transaction's writes elsewhere before it fails).
    pub delay_ms: u16,
}

impl Fail {
    pub const NONE: Fail = Fail {
        at: None,
        kind: Kind::Abort,
        delay_ms: 0,
    };

    pub fn at(service: u8, kind: Kind) -> Fail {
        Fail {
            at: Some(service),
            kind,
            delay_ms: 0,
        }
    }

    pub fn late(self, delay_ms: u16) -> Fail {
        Fail { delay_ms, ..self }
    }
}

/// Every transaction's input (entry event).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Unique per input: keys the rows the transaction inserts.
    pub uid: u64,
    pub k: u32,
    pub amount: i64,
    /// `debit`/`withdraw`: abort explicitly instead of overdrawing (else the check fails).
    pub guard: bool,
    pub fail: Fail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Debit {
    pub uid: u64,
    pub k: u32,
    pub amount: i64,
    pub guard: bool,
    pub fail: Fail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credit {
    pub uid: u64,
    pub slot: u32,
    pub amount: i64,
    pub fail: Fail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Split {
    pub uid: u64,
    pub k: u32,
    pub amount: i64,
    pub guard: bool,
    pub total: i64,
    pub fail: Fail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Seen {
    pub uid: u64,
    pub k: u32,
    pub value: i64,
    pub fail: Fail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Audited {
    pub uid: u64,
    pub total: i64,
    pub fail: Fail,
}

/// `look`'s output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub slot: u32,
    pub level: Option<i64>,
}
