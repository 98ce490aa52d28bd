pub mod marketplace;
pub mod tpcc;
