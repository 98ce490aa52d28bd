pub mod door;
pub mod http;
pub mod kv;
pub mod nodes;
pub mod shop;
pub mod shop_checks;
pub mod util;
pub mod watch;
