//! JSON at the front door: a transaction's JSON input to its wire form, and an output back to
//! JSON, through the codecs captured where the application declared its handlers
//! (`json_codec`).

use super::ApiError;
use crate::app::App;
use crate::runtime::coordinator::Output;
use axum::http::StatusCode;

/// The wire form of a JSON input for transaction `transaction` (the entry handler's event).
pub(super) fn input_to_wire(
    app: &App,
    transaction: &str,
    input: serde_json::Value,
) -> Result<Vec<u8>, ApiError> {
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
pub(super) fn output_to_json(
    app: &App,
    transaction: &str,
    output: &Output,
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
