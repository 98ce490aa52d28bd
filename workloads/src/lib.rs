pub mod marketplace;
pub mod open_loop;
pub mod remote;
pub mod tpcc;
pub mod visibility;
