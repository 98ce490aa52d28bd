//! Cross-service aborts: a transaction that fails anywhere leaves no trace in any service.
//!
//! A failed task undoes its own writes at once (`HandlerDef::execute`), and later conflicting
//! tasks of that service never saw them (chain rule). What remains are the transaction's writes
//! at *other* services (its upstream steps, sibling branches), and every later task that read
//! them. A failure at a DAG node with no writing step outside its own subtree (`DagNode::cascades`
//! false, e.g. any failure at the entry service) therefore needs nothing more: the batch commits
//! around it. Any other failure is resolved by **rollback rounds** before its batch commits:
//!
//! 1. The coordinator pauses dispatch (new inputs are sequenced but held) and waits until every
//!    dispatched transaction has executed everywhere.
//! 2. Each service lists the footprints of its uncommitted tasks (`retained.rs` keeps them, with
//!    their write sets, until commit).
//! 3. `plan_round` walks the uncommitted TIDs in order. A failure no earlier change can have
//!    influenced is final: it aborts. A task whose footprint conflicts with an earlier aborted
//!    or re-executed writer at the same service may have read what changes: its transaction is
//!    re-executed (all of it, at its original TID and environment).
//! 4. Services drop the versions of aborted and re-executed transactions; the coordinator re-sends
//!    the re-executed inputs, linked in TID order per service, and they run like any transaction.
//! 5. Failures among the re-executed, or a re-executed task whose footprint grew, seed the next
//!    round. The lowest seed of a round is always settled, so rounds end.
//!
//! The result equals running the transactions serially in TID order with the aborted ones left
//! out, and each aborted one fails at its position in that run (the property test in
//! `vmodb/tests/aborts/` checks both against `serial_replay_outcomes`).

mod pass;
mod retained;

pub(crate) use pass::{Seeds, plan_round, within};
pub(crate) use retained::Retained;
