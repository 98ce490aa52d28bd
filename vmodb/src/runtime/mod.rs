//! The runtime layer: the protocol's state machines. A service node (`node`) admits tasks in
//! TID order (`scheduler`) and executes them; the coordinator (`coordinator`) sequences inputs,
//! seals and commits batches, and resolves failures in rollback rounds (`rollback`); they talk
//! only through `message`'s typed messages over a `Transport` they are given. Imports the model,
//! storage, the application and durability; nothing here knows how it is deployed.

pub(crate) mod clock;
pub(crate) mod coordinator;
pub(crate) mod message;
pub(crate) mod node;
pub(crate) mod rollback;
pub(crate) mod scheduler;
