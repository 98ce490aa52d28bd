//! The deployment layer: how the runtime's nodes are put together and reached. Embedded in one
//! process (`cluster`, `client`, with an optional `delay_line`), as processes over TCP (`net`,
//! `processes`), in the seeded simulator (`sim`), behind HTTP (`front_door`), and checked by
//! serial replay (`replay`). The top of the engine: nothing below imports it.

pub(crate) mod client;
pub(crate) mod cluster;
pub(crate) mod delay_line;
pub mod front_door;
pub mod net;
pub mod processes;
pub(crate) mod replay;
pub mod sim;
pub(crate) mod threads;
