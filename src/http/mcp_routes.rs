//! The HTTP side of the MCP endpoints: `/mcp` (POST, GET, DELETE), `/sse` and `/messages`.
//!
//! Bodies are read and checked here (type, size, depth, JSON) and answered in JSON-RPC form when they fail; a
//! POST whose body is an action envelope (seed 004: `{action, payload}`) goes to the action adapter, anything
//! else to the Streamable HTTP transport. `POST /mcp` answers authentication failures itself, in the format of
//! the body it received.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::action;
use super::auth::{Auth, Authed, Requirement, check};
use super::body::{BodyError, BodyLimits, content_type, read_json};
use super::errors::{ErrorFormat, Refusal, written};
use super::request_id::{self, RequestId};
use crate::error::{ErrorCode, GatewayError};
use crate::mcp::jsonrpc::{INVALID_REQUEST, PARSE_ERROR, RpcError};
use crate::mcp::streamable::rpc_error;
use crate::mcp::{legacy_sse, streamable};
use crate::state::AppState;

/// The body limits of this gateway.
#[must_use]
pub fn body_limits(state: &AppState) -> BodyLimits {
    BodyLimits { bytes: state.config.limits.max_body_bytes, depth: state.config.limits.max_json_depth }
}

/// Read a JSON-RPC body, answering failures as JSON-RPC errors.
async fn read_rpc_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Value, Response> {
    if let Some(t) = content_type(headers).filter(|t| t != "application/json") {
        let err = GatewayError::new(
            ErrorCode::UnsupportedMediaType,
            format!("Content-Type must be application/json, not `{t}`"),
        );
        let error = RpcError::new(INVALID_REQUEST, err.message.clone());
        return Err(written(rpc_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &Value::Null, &error), err));
    }
    read_json(headers, body, body_limits(state)).await.map_err(|e| {
        let (status, error) = match &e {
            BodyError::TooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, RpcError::new(INVALID_REQUEST, e.to_gateway().message))
            }
            BodyError::NotJson(why) => {
                (StatusCode::BAD_REQUEST, RpcError::new(PARSE_ERROR, format!("parse error: {why}")))
            }
        };
        written(rpc_error(status, &Value::Null, &error), e.to_gateway())
    })
}

/// `POST /mcp`: the whole request, taken apart here rather than by extractors (a `HeaderMap` extractor copies
/// every header).
pub async fn post_mcp(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let request_id: Arc<str> = request_id::of(&parts.extensions).into();
    let headers = parts.headers;
    let message = match read_rpc_body(&state, &headers, body).await {
        Ok(message) => message,
        Err(response) => return response,
    };
    let envelope = action::is_envelope(&message);
    let caller = match check(parts.extensions.get::<Auth>(), &Requirement::Authenticated) {
        Ok(caller) => caller,
        Err(err) if envelope => return action::refusal(err, &request_id, &message),
        Err(err) => return Refusal(ErrorFormat::JsonRpc, err).into_response(),
    };
    if envelope {
        return action::handle(&state, &request_id, caller, message).await;
    }
    streamable::post(state.mcp.clone(), &headers, request_id, caller, message).await
}

pub async fn get_mcp(State(state): State<AppState>, Authed(caller): Authed, headers: HeaderMap) -> Response {
    streamable::get(state.mcp.clone(), &headers, &caller).await
}

pub async fn delete_mcp(State(state): State<AppState>, Authed(caller): Authed, headers: HeaderMap) -> Response {
    streamable::delete(&state.mcp, &headers, &caller).await
}

pub async fn get_sse(State(state): State<AppState>, Authed(caller): Authed) -> Response {
    legacy_sse::open(&state.mcp, &caller).await
}

pub async fn post_messages(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Authed(caller): Authed,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match read_rpc_body(&state, &headers, body).await {
        Ok(message) => legacy_sse::post(&state.mcp, &query, request_id, caller, message).await,
        Err(response) => response,
    }
}
