//! JSON ↔ wire (postcard) conversion of typed payloads, captured where handlers and queries are
//! declared (the only place their types are known), so the HTTP front door takes and gives JSON
//! for any application without knowing its types.

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Clone, Copy)]
pub(crate) struct JsonCodec {
    pub to_wire: fn(serde_json::Value) -> Result<Vec<u8>, String>,
    pub to_json: fn(&[u8]) -> Result<serde_json::Value, String>,
}

impl JsonCodec {
    pub fn of<T: Serialize + DeserializeOwned>() -> Self {
        JsonCodec {
            to_wire: to_wire::<T>,
            to_json: to_json::<T>,
        }
    }
}

fn to_wire<T: Serialize + DeserializeOwned>(json: serde_json::Value) -> Result<Vec<u8>, String> {
    let value: T = serde_json::from_value(json).map_err(|e| e.to_string())?;
    postcard::to_allocvec(&value).map_err(|e| e.to_string())
}

fn to_json<T: Serialize + DeserializeOwned>(wire: &[u8]) -> Result<serde_json::Value, String> {
    let value: T = postcard::from_bytes(wire).map_err(|e| e.to_string())?;
    serde_json::to_value(&value).map_err(|e| e.to_string())
}
