pub mod kv;
pub mod shop;
pub mod util;
