pub mod marketplace;
pub mod remote;
pub mod tpcc;
