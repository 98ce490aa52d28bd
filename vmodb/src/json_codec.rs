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

/// The wire form of a JSON input for transaction `transaction` (the entry handler's event).
pub(crate) fn input_to_wire(
    app: &crate::app::App,
    transaction: &str,
    input: serde_json::Value,
) -> Result<Vec<u8>, crate::front_door::ApiError> {
    use crate::front_door::ApiError;
    use axum::http::StatusCode;
    let dag = app.dag_by_name.get(transaction).map(|d| &app.dags[*d]);
    let Some(dag) = dag else {
        let known: Vec<&str> = app.transaction_names().collect();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "unknown transaction type `{transaction}` (known: {})",
                known.join(", ")
            ),
        ));
    };
    let entry = &dag.nodes[0];
    let handler = &app.services[entry.service].handlers[entry.handler];
    (handler.inbound_json.to_wire)(input).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "input of `{transaction}` does not match event `{}`: {e}",
                handler.inbound
            ),
        )
    })
}

/// The JSON form of `output`, emitted by some handler of transaction `transaction`.
pub(crate) fn output_to_json(
    app: &crate::app::App,
    transaction: &str,
    output: &crate::coordinator::Output,
) -> Option<serde_json::Value> {
    let dag = &app.dags[*app.dag_by_name.get(transaction)?];
    dag.nodes.iter().find_map(|n| {
        let h = &app.services[n.service].handlers[n.handler];
        let codec = h
            .outbound_json
            .filter(|_| h.outbound() == Some(&*output.event))?;
        (codec.to_json)(&output.payload).ok()
    })
}
