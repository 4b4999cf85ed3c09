//! Streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25) on one endpoint: POST for messages, GET for the
//! server-notification stream, DELETE to end a session.
//!
//! A POSTed request runs to its end even when its client leaves. One that may stream runs in its own task: if the
//! call produces notifications or server→client requests (and the client accepts `text/event-stream`), the
//! response becomes an SSE stream carrying them and then the response. Any other (plain JSON answers, batches)
//! runs in place under [`ToEnd`], which moves it to a task of its own only if the response is dropped first, so
//! the common answer needs no scheduler round trip. Requests without a session id are served statelessly (curl,
//! load balancers); an unknown session id is a 404 so the client re-initializes.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::McpHandle;
use super::dispatch::{self, Reply, RequestScope};
use super::jsonrpc::{INTERNAL_ERROR, INVALID_REQUEST, Incoming, ResponseMessage, RpcError, error_response, response};
use super::modern;
use super::peer::{StreamLink, log_notification};
use super::session::Session;
use super::sse;
use super::version::{ProtocolVersion, VersionHeader};
use crate::auth::Caller;
use crate::error::{ErrorCode, GatewayError};
use crate::tools::to_end::ToEnd;
use crate::tools::{Ask, ChannelFuture, ClientChannel, ClientLink, LogLevel, Progress};

pub const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// A JSON-RPC error as an HTTP response.
#[must_use]
pub fn rpc_error(status: StatusCode, id: &Value, error: &RpcError) -> Response {
    (status, axum::Json(error_response(id, error))).into_response()
}

/// `message` as an `application/json` response, serialized into a `Vec` sized for a typical answer (axum's `Json`
/// writes through a `BytesMut` writer that starts at 128 bytes, which costs more per byte).
#[must_use]
pub fn json_response(message: &impl Serialize) -> Response {
    let mut body = Vec::with_capacity(512);
    if let Err(e) = serde_json::to_writer(&mut body, message) {
        // Values and call results have string keys only, so this does not happen; if it did, no half-written
        // body goes out.
        tracing::error!(error = %e, "an answer could not be serialized");
        let error = RpcError::new(INTERNAL_ERROR, "internal error while writing the answer");
        return rpc_error(StatusCode::INTERNAL_SERVER_ERROR, &Value::Null, &error);
    }
    ([(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// Why a request that names a session has none.
enum NoSession {
    /// Unknown, ended, expired, or another key's: the client re-initializes.
    Unknown,
    /// The shared session store (Redis) cannot answer: the session may exist, so retry.
    Unavailable(GatewayError),
}

impl NoSession {
    fn response(self, request_id: &str) -> Response {
        match self {
            Self::Unknown => {
                let error = RpcError::new(-32001, "session not found or expired; send initialize to start a new one");
                rpc_error(StatusCode::NOT_FOUND, &Value::Null, &error)
            }
            Self::Unavailable(err) => {
                rpc_error(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &RpcError::from_gateway(&err, request_id))
            }
        }
    }
}

/// Find the session a request names: `Ok(None)` when it names none.
async fn session_of(
    state: &McpHandle,
    headers: &HeaderMap,
    caller: &Caller,
) -> Result<Option<Arc<Session>>, NoSession> {
    let Some(raw) = headers.get(SESSION_HEADER) else { return Ok(None) };
    let id = raw.to_str().unwrap_or("");
    match state.sessions.get(id, caller.id()).await {
        Ok(Some(session)) => Ok(Some(session)),
        Ok(None) => Err(NoSession::Unknown),
        Err(err) => Err(NoSession::Unavailable(err)),
    }
}

/// Does the client accept an SSE answer?
pub fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| matches!(item.split(';').next().map(str::trim), Some("text/event-stream")))
}

/// Everything one POST carries besides its body, owned so a request can move into its task.
#[derive(Clone)]
struct Exchange {
    state: McpHandle,
    session: Option<Arc<Session>>,
    version: ProtocolVersion,
    request_id: Arc<str>,
    caller: Caller,
    can_stream: bool,
}

/// POST /mcp with a JSON-RPC message or batch (already parsed), from an authenticated caller.
pub async fn post(
    state: McpHandle,
    headers: &HeaderMap,
    request_id: Arc<str>,
    caller: Caller,
    body: Value,
) -> Response {
    // The era is chosen per request: a version header outside the handshake era, or the version in `_meta`,
    // makes it a 2026-07-28 request (which ignores any session id).
    let modern_body = modern::claims_modern(&body);
    let requested = match VersionHeader::read(headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok())) {
        VersionHeader::Handshake(v) => Some(Some(v)),
        VersionHeader::Missing => Some(None),
        VersionHeader::Modern => None,
        // A version of neither era, from a client whose body does not claim 2026-07-28 either.
        VersionHeader::Unsupported(v) if !modern_body => {
            let message = format!(
                "unsupported MCP-Protocol-Version `{v}`; this server speaks {} and {}",
                ProtocolVersion::supported_list(),
                modern::VERSIONS.join(", ")
            );
            return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &RpcError::new(INVALID_REQUEST, message));
        }
        VersionHeader::Unsupported(_) => None,
    };
    let Some(requested) = requested.filter(|_| !modern_body) else {
        // Behind a pointer, as is everything rare here: inline, this future would be as large as the largest path
        // and copied whole on every move of the common one.
        return Box::pin(modern::post(state, headers, request_id, caller, body)).await;
    };
    let session = match session_of(&state, headers, &caller).await {
        Ok(session) => session,
        Err(missing) => return missing.response(&request_id),
    };
    // A supported header that differs from the session's version is tolerated (some clients send the
    // transport's version); the session's negotiated version governs.
    let version = match (&session, requested) {
        (Some(session), _) => session.version(),
        (None, Some(v)) => v,
        (None, None) => ProtocolVersion::HEADERLESS_DEFAULT,
    };
    let exchange = Exchange { state, session, version, request_id, caller, can_stream: accepts_event_stream(headers) };
    match body {
        // A batch runs to its end as well when the client hangs up.
        Value::Array(items) => match ToEnd::new(async move { batch(&exchange, items).await }).await {
            Ok(response) => response,
            Err(panicked) => json_response(&join_failure(&Value::Null, &panicked)),
        },
        message => single(exchange, message).await,
    }
}

async fn single(ex: Exchange, message: Value) -> Response {
    let incoming = match Incoming::parse(message) {
        Ok(incoming) => incoming,
        Err(rejected) => return rpc_error(StatusCode::BAD_REQUEST, &rejected.0, &rejected.1),
    };
    match incoming {
        Incoming::Notification { method, params } => {
            dispatch::notification(ex.session.as_ref(), &method, &params).await;
            StatusCode::ACCEPTED.into_response()
        }
        Incoming::Response { id, outcome } => match &ex.session {
            Some(session) => {
                if !session.resolve(&id, outcome).await {
                    tracing::debug!(%id, "response for a request nobody here waits for");
                }
                StatusCode::ACCEPTED.into_response()
            }
            None => rpc_error(
                StatusCode::BAD_REQUEST,
                &id,
                &RpcError::new(INVALID_REQUEST, "responses to server requests need the Mcp-Session-Id header"),
            ),
        },
        Incoming::Request { id, method, params } if method == "initialize" => initialize(&ex, &id, &params).await,
        Incoming::Request { id, method, params } => {
            if let Err(refusal) = dispatch::authorize(&ex.caller, &method) {
                let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
                return rpc_error(status, &id, &refusal.into_rpc(&ex.request_id));
            }
            run_request(ex, id, method, params).await
        }
    }
}

async fn initialize(ex: &Exchange, id: &Value, params: &Value) -> Response {
    let version = ProtocolVersion::negotiate(params.get("protocolVersion").and_then(Value::as_str));
    let capabilities = params.get("capabilities").cloned().unwrap_or_else(|| json!({}));
    let session = match ex.state.sessions.create(version, capabilities, ex.caller.id()).await {
        Ok(session) => session,
        Err(err) => {
            return rpc_error(StatusCode::SERVICE_UNAVAILABLE, id, &RpcError::from_gateway(&err, &ex.request_id));
        }
    };
    tracing::info!(session = %session.id, version = version.as_str(), caller = ex.caller.id(), "MCP session initialized");
    let mut response = axum::Json(response(id, dispatch::initialize_result(&ex.state, version))).into_response();
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

async fn run_request(ex: Exchange, id: Value, method: String, params: Value) -> Response {
    let (cancel, guard) = match &ex.session {
        Some(s) => {
            let (token, guard) = s.track(&id);
            (token, Some(guard))
        }
        None => (CancellationToken::new(), None),
    };
    // A dropped connection is not a cancellation (MCP: disconnection SHOULD NOT be read as cancelling): the call
    // runs to its end or its deadline, so a write is never abandoned half-done by a network blip. Clients cancel
    // with notifications/cancelled; deleting the session cancels its calls.
    // Without a session only progress can reach the client, and only with a progress token: other stateless
    // requests (the common curl and load-balancer case) get no channel and always answer plain JSON.
    let may_notify = ex.can_stream && (ex.session.is_some() || progress_token(&params).is_some());
    let (link, rx): (Option<ClientLink>, _) = if may_notify {
        let (tx, rx) = mpsc::channel(64);
        let peer = ex.session.as_ref().map(|s| s.peer.clone());
        let link = StreamLink::new(tx, peer, progress_token(&params), cancel.clone());
        (Some(Arc::new(link)), Some(rx))
    } else {
        // A session's call that cannot stream still sends its log lines to the session's GET streams.
        (ex.session.clone().map(|s| Arc::new(SessionLog(s)) as ClientLink), None)
    };
    let task_ex = ex.clone();
    let call = async move {
        let _guard = guard;
        let scope = RequestScope {
            state: &task_ex.state,
            session: task_ex.session.as_ref(),
            caller: &task_ex.caller,
            request_id: &task_ex.request_id,
            link,
            cancel,
        };
        dispatch::request(&scope, &method, params).await
    }
    .instrument(tracing::Span::current());
    let Some(mut rx) = rx else { return finish_json(ToEnd::new(call).await, &id) };
    let mut task = tokio::spawn(call);
    // Notifications before the response turn this response into a stream; otherwise it stays plain JSON.
    let first = tokio::select! {
        biased;
        first = rx.recv() => first,
        done = &mut task => return finish_json(done, &id),
    };
    let Some(first) = first else { return finish_json(task.await, &id) };
    let (events, response) = match sse::open(&ex.state) {
        Ok(stream) => stream,
        Err(err) => {
            // No stream to carry the notifications: the call still finishes, answered as plain JSON.
            tracing::warn!(error = %err.message, "no SSE stream available; answering as JSON");
            drop(rx);
            return finish_json(task.await, &id);
        }
    };
    let version = ex.version;
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
                next = tokio::select! {
                    next = rx.recv() => next,
                    () = events.client_gone() => return,
                };
            }
            let final_message =
                task.await.map_or_else(|e| join_failure(&id, &e), |outcome| dispatch::outcome_message(&id, outcome));
            events.message(&final_message).await;
        }
        .instrument(tracing::Span::current()),
    );
    response
}

/// The client link of a session's call whose POST cannot stream: its log lines go to the session's GET streams
/// (on whichever replica holds them); progress belongs to the request's own stream, so there is none, and a
/// question cannot be asked.
#[derive(Debug)]
struct SessionLog(Arc<Session>);

impl ClientChannel for SessionLog {
    fn progress<'a>(&'a self, _update: Progress<'a>) -> ChannelFuture<'a, ()> {
        Box::pin(async {})
    }

    fn log<'a>(&'a self, level: LogLevel, logger: &'a str, data: Value) -> ChannelFuture<'a, ()> {
        Box::pin(async move {
            if self.0.peer.log_enabled(level) {
                self.0.notify(log_notification(level, logger, data)).await;
            }
        })
    }

    fn ask(&self, questions: Vec<Ask>) -> ChannelFuture<'_, Result<Vec<Value>, GatewayError>> {
        Box::pin(async move {
            if questions.iter().all(|a| a.optional) {
                return Ok(vec![Value::Null; questions.len()]);
            }
            let kinds: Vec<&str> = questions.iter().map(|a| a.question.kind()).collect();
            Err(GatewayError::new(
                ErrorCode::Unsupported,
                format!("asking the client ({}) needs a stream: send Accept: text/event-stream", kinds.join(", ")),
            ))
        })
    }
}

/// The request's `_meta.progressToken`, when it asks for progress.
fn progress_token(params: &Value) -> Option<Value> {
    params.get("_meta").and_then(|m| m.get("progressToken")).filter(|t| !t.is_null()).cloned()
}

/// The plain JSON answer of a finished request, a result written straight from the reply.
fn finish_json(done: Result<Result<Reply, RpcError>, impl std::fmt::Display>, id: &Value) -> Response {
    match done {
        Ok(Ok(reply)) => json_response(&ResponseMessage { id, result: &reply }),
        Ok(Err(error)) => json_response(&error_response(id, &error)),
        Err(e) => json_response(&join_failure(id, &e)),
    }
}

fn join_failure(id: &Value, err: &dyn std::fmt::Display) -> Value {
    tracing::error!(error = %err, "request task failed");
    error_response(id, &RpcError::new(INTERNAL_ERROR, "internal error while handling the request"))
}

async fn batch(ex: &Exchange, items: Vec<Value>) -> Response {
    if !ex.version.allows_batches() {
        let message = format!("JSON-RPC batches are not part of protocol version {}", ex.version.as_str());
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &RpcError::new(INVALID_REQUEST, message));
    }
    if items.is_empty() {
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &RpcError::new(INVALID_REQUEST, "empty batch"));
    }
    let session = ex.session.as_ref();
    let mut responses = Vec::new();
    for item in items {
        match Incoming::parse(item) {
            Err(rejected) => responses.push(error_response(&rejected.0, &rejected.1)),
            Ok(Incoming::Notification { method, params }) => dispatch::notification(session, &method, &params).await,
            Ok(Incoming::Response { id, outcome }) => {
                if let Some(s) = session {
                    s.resolve(&id, outcome).await;
                }
            }
            Ok(Incoming::Request { id, method, .. }) if method == "initialize" => responses
                .push(error_response(&id, &RpcError::new(INVALID_REQUEST, "initialize cannot be part of a batch"))),
            Ok(Incoming::Request { id, method, params }) => {
                let outcome = match dispatch::authorize(&ex.caller, &method) {
                    Err(refusal) => Err(refusal.into_rpc(&ex.request_id)),
                    Ok(()) => {
                        let scope = RequestScope {
                            state: &ex.state,
                            session,
                            caller: &ex.caller,
                            request_id: &ex.request_id,
                            link: None,
                            cancel: CancellationToken::new(),
                        };
                        dispatch::request(&scope, &method, params).await
                    }
                };
                responses.push(dispatch::outcome_message(&id, outcome));
            }
        }
    }
    if responses.is_empty() {
        StatusCode::ACCEPTED.into_response()
    } else {
        axum::Json(Value::Array(responses)).into_response()
    }
}

/// 2026-07-28 has no GET stream and no session to delete: 405, POST only.
fn modern_has_no(headers: &HeaderMap) -> Option<Response> {
    let version = VersionHeader::read(headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok()));
    (version == VersionHeader::Modern).then(|| {
        (StatusCode::METHOD_NOT_ALLOWED, [(axum::http::header::ALLOW, HeaderValue::from_static("POST"))])
            .into_response()
    })
}

/// GET /mcp: the session's stream of server notifications (tool list changes, broadcasts).
pub async fn get(state: McpHandle, headers: &HeaderMap, caller: &Caller) -> Response {
    if let Some(refused) = modern_has_no(headers) {
        return refused;
    }
    if !accepts_event_stream(headers) {
        let error = RpcError::new(INVALID_REQUEST, "GET /mcp opens an event stream: send Accept: text/event-stream");
        return rpc_error(StatusCode::NOT_ACCEPTABLE, &Value::Null, &error);
    }
    let session = match session_of(&state, headers, caller).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            let error = RpcError::new(INVALID_REQUEST, "GET /mcp needs the Mcp-Session-Id header from initialize");
            return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &error);
        }
        Err(missing) => return missing.response(""),
    };
    let (events, response) = match sse::open(&state) {
        Ok(stream) => stream,
        Err(err) => return rpc_error(StatusCode::SERVICE_UNAVAILABLE, &Value::Null, &RpcError::from_gateway(&err, "")),
    };
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

/// DELETE /mcp: end the caller's session (on every replica).
pub async fn delete(state: &McpHandle, headers: &HeaderMap, caller: &Caller) -> Response {
    if let Some(refused) = modern_has_no(headers) {
        return refused;
    }
    let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
        let error = RpcError::new(INVALID_REQUEST, "DELETE /mcp needs the Mcp-Session-Id header");
        return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, &error);
    };
    match state.sessions.end(id, caller.id()).await {
        Ok(true) => {
            tracing::info!(session = id, "MCP session ended by the client");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => NoSession::Unknown.response(""),
        Err(err) => NoSession::Unavailable(err).response(""),
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
