pub mod allocator;
pub mod marketplace;
pub mod measure;
pub mod open_loop;
pub mod probes;
pub mod remote;
pub mod tpcc;
pub mod visibility;
