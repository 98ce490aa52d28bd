//! The model layer: values, rows and their codecs, table schemas, errors, and the mode checker's
//! rules. Imports nothing else of the engine.

pub(crate) mod error;
pub(crate) mod json_codec;
pub(crate) mod mode_check;
pub(crate) mod row_codec;
pub(crate) mod schema;
pub(crate) mod value;
