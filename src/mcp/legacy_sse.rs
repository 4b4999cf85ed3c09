//! The legacy HTTP+SSE transport (2024-11-05): `GET /sse` opens a stream whose first event names the POST
//! endpoint (`/messages?sessionId=...`); POSTs answer 202 and every response travels on the stream.
//!
//! The session lives as long as its stream: when the client disconnects, the session ends. Messages are
//! handled by the same dispatcher as Streamable HTTP. With Redis, a POST may reach another replica than the one
//! holding the stream: that replica runs the message and forwards what it sends to the stream's replica, and the
//! stream's replica keeps the shared record alive while the stream is open.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::McpHandle;
use super::dispatch::{self, RequestScope};
use super::jsonrpc::{INVALID_REQUEST, Incoming, RpcError, error_response, response};
use super::peer::StreamLink;
use super::session::Session;
use super::sse;
use super::streamable::rpc_error;
use super::version::ProtocolVersion;
use crate::auth::Caller;
use crate::tools::ClientLink;

/// GET /sse: open a legacy session (owned by `caller`) and its stream.
pub async fn open(state: &McpHandle, caller: &Caller) -> Response {
    let (events, response) = match sse::open(state) {
        Ok(stream) => stream,
        Err(err) => return rpc_error(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &RpcError::from_gateway(&err, "")),
    };
    let (tx, mut rx) = mpsc::channel::<Value>(64);
    let session = match state.sessions.create_legacy(tx, caller.id()).await {
        Ok(session) => session,
        Err(err) => return rpc_error(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &RpcError::from_gateway(&err, "")),
    };
    let mut tools_changed = state.engine.registry().subscribe();
    let state = state.clone();
    tokio::spawn(async move {
        let endpoint = format!("/messages?sessionId={}", session.id);
        // The session lives while its stream does, however long no message comes.
        let mut renew = tokio::time::interval(state.config.limits.session_idle / 2);
        if events.named("endpoint", &endpoint).await {
            loop {
                let message = tokio::select! {
                    () = events.closed() => break,
                    () = session.ended.cancelled() => break,
                    _ = renew.tick() => {
                        state.sessions.keep_alive(&session.id).await;
                        continue;
                    }
                    changed = tools_changed.changed() => match changed {
                        Ok(()) => json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                        Err(_) => break,
                    },
                    message = rx.recv() => match message {
                        Some(message) => message,
                        None => break,
                    },
                };
                if !events.message(&message).await {
                    break;
                }
            }
        }
        if let Err(err) = state.sessions.remove(&session.id).await {
            tracing::warn!(session = %session.id, error = %err.message, "cannot end the shared session record");
        }
        tracing::info!(session = %session.id, "legacy SSE stream closed; session ended");
    });
    response
}

/// POST /messages?sessionId=...: accept a message for the caller's legacy session (202), answer on its stream.
pub async fn post(
    state: &McpHandle,
    query: &HashMap<String, String>,
    request_id: Arc<str>,
    caller: Caller,
    body: Value,
) -> Response {
    let Some(id) = query.get("sessionId") else {
        let error = RpcError::new(INVALID_REQUEST, "the sessionId query parameter is required");
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &error);
    };
    let found = match state.sessions.get(id, caller.id()).await {
        Ok(found) => found,
        Err(err) => {
            let error = RpcError::from_gateway(&err, &request_id);
            return rpc_error(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &error);
        }
    };
    let Some(session) = found.filter(|s| s.legacy_stream.is_some()) else {
        let error = RpcError::new(-32001, "unknown sessionId; open a new stream with GET /sse");
        return rpc_error(StatusCode::NOT_FOUND, &Value::Null, &error);
    };
    // A missing scope is answered on the POST itself, where the client sees the status; an unknown method is
    // answered on the stream like any other JSON-RPC error.
    if let Some(method) = body.get("method").and_then(Value::as_str).filter(|_| body.get("id").is_some()) {
        if let Err(refusal @ dispatch::Refusal::Denied(_)) = dispatch::authorize(&caller, method) {
            let id = body.get("id").cloned().unwrap_or(Value::Null);
            let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
            return rpc_error(status, &id, &refusal.into_rpc(&request_id));
        }
    }
    let state = state.clone();
    tokio::spawn(
        async move {
            let answer = match body {
                Value::Array(items) if items.is_empty() => {
                    Some(error_response(&Value::Null, &RpcError::new(INVALID_REQUEST, "empty batch")))
                }
                Value::Array(items) => {
                    let mut answers = Vec::new();
                    for item in items {
                        answers.extend(handle(&state, &session, &request_id, &caller, item).await);
                    }
                    (!answers.is_empty()).then_some(Value::Array(answers))
                }
                message => handle(&state, &session, &request_id, &caller, message).await,
            };
            if let (Some(answer), Some(stream)) = (answer, &session.legacy_stream) {
                // The stream closing means the client left; there is nobody to tell.
                let _ = stream.send(answer).await;
            }
        }
        .instrument(tracing::Span::current()),
    );
    StatusCode::ACCEPTED.into_response()
}

async fn handle(
    state: &McpHandle,
    session: &Arc<Session>,
    request_id: &Arc<str>,
    caller: &Caller,
    message: Value,
) -> Option<Value> {
    match Incoming::parse(message) {
        Err(rejected) => Some(error_response(&rejected.0, &rejected.1)),
        Ok(Incoming::Notification { method, params }) => {
            dispatch::notification(Some(session), &method, &params).await;
            None
        }
        Ok(Incoming::Response { id, outcome }) => {
            session.resolve(&id, outcome).await;
            None
        }
        Ok(Incoming::Request { id, method, params }) if method == "initialize" => {
            let version = ProtocolVersion::negotiate(params.get("protocolVersion").and_then(Value::as_str));
            let capabilities = params.get("capabilities").cloned().unwrap_or_else(|| json!({}));
            if let Err(err) = session.initialize(version, capabilities).await {
                return Some(error_response(&id, &RpcError::from_gateway(&err, request_id)));
            }
            Some(response(&id, dispatch::initialize_result(state, version)))
        }
        Ok(Incoming::Request { id, method, params }) => {
            let (cancel, _guard): (CancellationToken, _) = session.track(&id);
            let token = params.get("_meta").and_then(|m| m.get("progressToken")).filter(|t| !t.is_null()).cloned();
            let link = session.legacy_stream.clone().map(|tx| {
                Arc::new(StreamLink::new(tx, Some(session.peer.clone()), token, cancel.clone())) as ClientLink
            });
            if let Err(refusal) = dispatch::authorize(caller, &method) {
                return Some(error_response(&id, &refusal.into_rpc(request_id)));
            }
            let scope = RequestScope { state, session: Some(session), caller, request_id, link, cancel };
            Some(dispatch::outcome_message(&id, dispatch::request(&scope, &method, params).await))
        }
    }
}
