//! Streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25) on one endpoint: POST for messages, GET for the
//! server-notification stream, DELETE to end a session.
//!
//! A POSTed request runs in its own task. If the call produces notifications or server→client requests (and
//! the client accepts `text/event-stream`), the response becomes an SSE stream carrying them and then the
//! response; otherwise it is plain JSON. Requests without a session id are served statelessly (curl, load
//! balancers); an unknown session id is a 404 so the client re-initializes.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::dispatch::{self, RequestScope};
use super::jsonrpc::{INTERNAL_ERROR, INVALID_REQUEST, Incoming, RpcError, error_response, response};
use super::modern;
use super::session::Session;
use super::sse;
use super::version::{ProtocolVersion, VersionHeader};
use crate::state::AppState;
use crate::tools::ClientLink;

pub const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// A JSON-RPC error as an HTTP response.
#[must_use]
pub fn rpc_error(status: StatusCode, id: &Value, error: &RpcError) -> Response {
    (status, axum::Json(error_response(id, error))).into_response()
}

/// The request names a session this replica does not know.
struct UnknownSession;

impl UnknownSession {
    fn response() -> Response {
        let error = RpcError::new(-32001, "session not found or expired; send initialize to start a new one");
        rpc_error(StatusCode::NOT_FOUND, &Value::Null, &error)
    }
}

/// Find the session a request names: `Ok(None)` when it names none.
fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Arc<Session>>, UnknownSession> {
    let Some(raw) = headers.get(SESSION_HEADER) else { return Ok(None) };
    let id = raw.to_str().unwrap_or("");
    state.sessions.get(id).map(Some).ok_or(UnknownSession)
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| matches!(item.split(';').next().map(str::trim), Some("text/event-stream")))
}

/// POST /mcp with a JSON-RPC message or batch (already parsed).
pub async fn post(state: AppState, headers: &HeaderMap, request_id: Arc<str>, body: Value) -> Response {
    let session = match session_of(&state, headers) {
        Ok(session) => session,
        Err(UnknownSession) => return UnknownSession::response(),
    };
    let header = VersionHeader::read(headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()));
    // A supported header that differs from the session's version is tolerated (some clients send the
    // transport's version); the session's negotiated version governs.
    let version = match header {
        VersionHeader::Modern => return modern::fallback(&body),
        VersionHeader::Unsupported(v) => {
            let message = format!(
                "unsupported MCP-Protocol-Version `{v}`; this server speaks {}",
                ProtocolVersion::supported_list()
            );
            return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &RpcError::new(INVALID_REQUEST, message));
        }
        VersionHeader::Handshake(v) => session.as_ref().map_or(v, |s| s.version()),
        VersionHeader::Missing => session.as_ref().map_or(ProtocolVersion::HEADERLESS_DEFAULT, |s| s.version()),
    };
    let can_stream = accepts_event_stream(headers);
    match body {
        Value::Array(items) => batch(&state, session.as_ref(), version, &request_id, items).await,
        message => single(state, session, version, request_id, &message, can_stream).await,
    }
}

async fn single(
    state: AppState,
    session: Option<Arc<Session>>,
    version: ProtocolVersion,
    request_id: Arc<str>,
    message: &Value,
    can_stream: bool,
) -> Response {
    let incoming = match Incoming::parse(message) {
        Ok(incoming) => incoming,
        Err(rejected) => return rpc_error(StatusCode::BAD_REQUEST, &rejected.0, &rejected.1),
    };
    match incoming {
        Incoming::Notification { method, params } => {
            dispatch::notification(session.as_ref(), &method, &params);
            StatusCode::ACCEPTED.into_response()
        }
        Incoming::Response { id, outcome } => match session {
            Some(session) => {
                if !session.peer.resolve(&id, outcome) {
                    tracing::debug!(%id, "response for a request nobody waits for");
                }
                StatusCode::ACCEPTED.into_response()
            }
            None => rpc_error(
                StatusCode::BAD_REQUEST,
                &id,
                &RpcError::new(INVALID_REQUEST, "responses to server requests need the Mcp-Session-Id header"),
            ),
        },
        Incoming::Request { id, method, params } if method == "initialize" => initialize(&state, &id, &params),
        Incoming::Request { id, method, params } => {
            run_request(state, session, version, request_id, id, method, params, can_stream).await
        }
    }
}

fn initialize(state: &AppState, id: &Value, params: &Value) -> Response {
    let version = ProtocolVersion::negotiate(params.get("protocolVersion").and_then(Value::as_str));
    let capabilities = params.get("capabilities").cloned().unwrap_or_else(|| json!({}));
    let Ok(session) = state.sessions.create(version, capabilities) else {
        let error = RpcError::new(INTERNAL_ERROR, "the gateway is at its session limit; retry later");
        return rpc_error(StatusCode::SERVICE_UNAVAILABLE, id, &error);
    };
    tracing::info!(session = %session.id, version = version.as_str(), "MCP session initialized");
    let mut response = axum::Json(response(id, dispatch::initialize_result(state, version))).into_response();
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

#[expect(clippy::too_many_arguments, reason = "one request's owned parts, moved into its task")]
async fn run_request(
    state: AppState,
    session: Option<Arc<Session>>,
    version: ProtocolVersion,
    request_id: Arc<str>,
    id: Value,
    method: String,
    params: Value,
    can_stream: bool,
) -> Response {
    let (cancel, guard) = match &session {
        Some(s) => {
            let (token, guard) = s.track(&id);
            (token, Some(guard))
        }
        None => (CancellationToken::new(), None),
    };
    let (tx, mut rx) = mpsc::channel(64);
    let link = can_stream.then(|| ClientLink::new(tx, session.as_ref().map(|s| s.peer.clone())));
    let task_state = state.clone();
    let task_session = session.clone();
    let task_id = id.clone();
    let mut task = tokio::spawn(
        async move {
            let _guard = guard;
            let scope = RequestScope {
                state: &task_state,
                session: task_session.as_ref(),
                request_id: &request_id,
                link,
                cancel,
            };
            dispatch::outcome_message(&task_id, dispatch::request(&scope, &method, params).await)
        }
        .instrument(tracing::Span::current()),
    );
    if !can_stream {
        return finish_json(task.await, &id);
    }
    // Notifications before the response turn this response into a stream; otherwise it stays plain JSON.
    let first = tokio::select! {
        biased;
        first = rx.recv() => first,
        done = &mut task => return finish_json(done, &id),
    };
    let Some(first) = first else { return finish_json(task.await, &id) };
    let (events, response) = sse::open(&state.metrics, state.config.sse_keepalive);
    tokio::spawn(
        async move {
            if version >= ProtocolVersion::V2025_11_25 && !events.prime().await {
                return;
            }
            let mut next = Some(first);
            while let Some(message) = next {
                if !events.message(&message).await {
                    return;
                }
                next = rx.recv().await;
            }
            let final_message = task.await.unwrap_or_else(|e| join_failure(&id, &e));
            events.message(&final_message).await;
        }
        .instrument(tracing::Span::current()),
    );
    response
}

fn finish_json(done: Result<Value, tokio::task::JoinError>, id: &Value) -> Response {
    let message = done.unwrap_or_else(|e| join_failure(id, &e));
    axum::Json(message).into_response()
}

fn join_failure(id: &Value, err: &tokio::task::JoinError) -> Value {
    tracing::error!(error = %err, "request task failed");
    error_response(id, &RpcError::new(INTERNAL_ERROR, "internal error while handling the request"))
}

async fn batch(
    state: &AppState,
    session: Option<&Arc<Session>>,
    version: ProtocolVersion,
    request_id: &Arc<str>,
    items: Vec<Value>,
) -> Response {
    if !version.allows_batches() {
        let message = format!("JSON-RPC batches are not part of protocol version {}", version.as_str());
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &RpcError::new(INVALID_REQUEST, message));
    }
    if items.is_empty() {
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &RpcError::new(INVALID_REQUEST, "empty batch"));
    }
    let mut responses = Vec::new();
    for item in &items {
        match Incoming::parse(item) {
            Err(rejected) => responses.push(error_response(&rejected.0, &rejected.1)),
            Ok(Incoming::Notification { method, params }) => dispatch::notification(session, &method, &params),
            Ok(Incoming::Response { id, outcome }) => {
                if let Some(s) = session {
                    s.peer.resolve(&id, outcome);
                }
            }
            Ok(Incoming::Request { id, method, .. }) if method == "initialize" => responses
                .push(error_response(&id, &RpcError::new(INVALID_REQUEST, "initialize cannot be part of a batch"))),
            Ok(Incoming::Request { id, method, params }) => {
                let scope = RequestScope { state, session, request_id, link: None, cancel: CancellationToken::new() };
                responses.push(dispatch::outcome_message(&id, dispatch::request(&scope, &method, params).await));
            }
        }
    }
    if responses.is_empty() {
        StatusCode::ACCEPTED.into_response()
    } else {
        axum::Json(Value::Array(responses)).into_response()
    }
}

/// GET /mcp: the session's stream of server notifications (tool list changes, broadcasts).
pub async fn get(state: AppState, headers: &HeaderMap) -> Response {
    if !accepts_event_stream(headers) {
        let error = RpcError::new(INVALID_REQUEST, "GET /mcp opens an event stream: send Accept: text/event-stream");
        return rpc_error(StatusCode::NOT_ACCEPTABLE, &Value::Null, &error);
    }
    let session = match session_of(&state, headers) {
        Ok(Some(session)) => session,
        Ok(None) => {
            let error = RpcError::new(INVALID_REQUEST, "GET /mcp needs the Mcp-Session-Id header from initialize");
            return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &error);
        }
        Err(UnknownSession) => return UnknownSession::response(),
    };
    let (events, response) = sse::open(&state.metrics, state.config.sse_keepalive);
    let mut broadcasts = session.subscribe();
    let mut tools_changed = state.engine.registry().subscribe();
    tokio::spawn(async move {
        if session.version() >= ProtocolVersion::V2025_11_25 && !events.prime().await {
            return;
        }
        loop {
            let message = tokio::select! {
                () = session.ended.cancelled() => return,
                () = events.closed() => return,
                changed = tools_changed.changed() => match changed {
                    Ok(()) => json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                    Err(_) => return,
                },
                received = broadcasts.recv() => match received {
                    Ok(message) => message,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(session = %session.id, skipped = n, "slow GET stream skipped notifications");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            if !events.message(&message).await {
                return;
            }
        }
    });
    response
}

/// DELETE /mcp: end the session.
pub fn delete(state: &AppState, headers: &HeaderMap) -> Response {
    let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        let error = RpcError::new(INVALID_REQUEST, "DELETE /mcp needs the Mcp-Session-Id header");
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &error);
    };
    if state.sessions.remove(id) {
        tracing::info!(session = id, "MCP session ended by the client");
        StatusCode::NO_CONTENT.into_response()
    } else {
        UnknownSession::response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_are_parsed_in_any_order() {
        let mut headers = HeaderMap::new();
        headers.insert("accept", HeaderValue::from_static("text/event-stream, application/json"));
        assert!(accepts_event_stream(&headers));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        assert!(!accepts_event_stream(&headers));
        headers.insert("accept", HeaderValue::from_static("application/json;q=1, text/event-stream;q=0.5"));
        assert!(accepts_event_stream(&headers));
    }
}
