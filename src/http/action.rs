//! The action envelope of seed 004 (MCP Narrations) on `POST /mcp`:
//! `{action, payload?, request_id?, trace?}` → `{status, action, request_id, data, error, received_at,
//! completed_at}`. Actions are tool names (`ping` and `list_tools` are shipped tools); every call goes
//! through the one pipeline. `trace.project` reaches media tools as their `project_name` argument. Errors carry `{code, message, details?, retryable, request_id}` and the HTTP
//! status of their code.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::{add_refusal_headers, written};
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::state::AppState;
use crate::timestamp::now_rfc3339;
use crate::tools::CallCtx;

/// An object with `action` and no `jsonrpc` is an envelope.
#[must_use]
pub fn is_envelope(message: &Value) -> bool {
    message.get("action").is_some() && message.get("jsonrpc").is_none()
}

/// Run the envelope's action as `caller`.
pub async fn handle(state: &AppState, request_id: &Arc<str>, caller: Caller, envelope: Value) -> Response {
    let received_at = now_rfc3339();
    let outcome = run(state, request_id, caller, &envelope).await;
    respond(&envelope, request_id, &received_at, outcome)
}

/// A refusal before running (authentication), as an envelope.
#[must_use]
pub fn refusal(err: GatewayError, request_id: &Arc<str>, envelope: &Value) -> Response {
    respond(envelope, request_id, &now_rfc3339(), Err(err))
}

/// The envelope; an error also gets the headers its code calls for and goes to the access log.
fn respond(
    envelope: &Value,
    request_id: &Arc<str>,
    received_at: &str,
    outcome: Result<Value, GatewayError>,
) -> Response {
    // The caller's own request_id is echoed when given; the gateway's id still travels in X-Request-ID.
    let echoed_id =
        envelope.get("request_id").and_then(Value::as_str).map_or_else(|| request_id.to_string(), str::to_owned);
    let action = envelope.get("action").and_then(Value::as_str).unwrap_or_default();
    let (status, data, error) = match &outcome {
        Ok(data) => (StatusCode::OK, data.clone(), Value::Null),
        Err(err) => (
            StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Value::Null,
            err.to_json(&echoed_id),
        ),
    };
    let body = json!({
        "status": if error.is_null() { "ok" } else { "error" },
        "action": action,
        "request_id": echoed_id,
        "data": data,
        "error": error,
        "received_at": received_at,
        "completed_at": now_rfc3339(),
    });
    let mut response = (status, axum::Json(body)).into_response();
    match outcome {
        Ok(_) => response,
        Err(err) => {
            add_refusal_headers(&err, response.headers_mut());
            written(response, err)
        }
    }
}

/// Seed 004 takes the media project from `payload.project_name`, else `trace.project`: the latter becomes the
/// former for tools that declare a `project_name` argument.
fn project_from_trace(state: &AppState, caller: &Caller, action: &str, envelope: &Value, payload: &mut Value) {
    let Some(project) = envelope.pointer("/trace/project").and_then(Value::as_str) else { return };
    let declared = state
        .engine
        .registry()
        .snapshot()
        .visible_to(caller)
        .callable(action)
        .is_some_and(|t| t.spec.input_schema.pointer("/properties/project_name").is_some());
    if declared && payload.get("project_name").is_none() {
        payload["project_name"] = json!(project);
    }
}

async fn run(state: &AppState, request_id: &Arc<str>, caller: Caller, envelope: &Value) -> Result<Value, GatewayError> {
    let action = envelope.get("action").and_then(Value::as_str).unwrap_or_default();
    if action.is_empty() {
        return Err(GatewayError::invalid_request("`action` must be a non-empty string naming a tool"));
    }
    let mut payload = match envelope.get("payload") {
        None | Some(Value::Null) => json!({}),
        Some(payload @ Value::Object(_)) => payload.clone(),
        Some(_) => return Err(GatewayError::invalid_params("`payload` must be an object")),
    };
    project_from_trace(state, &caller, action, envelope, &mut payload);
    let ctx = CallCtx::detached(request_id.clone(), caller);
    state.engine.call_to_end(ctx, action.to_owned(), payload).await?.into_rest()
}
