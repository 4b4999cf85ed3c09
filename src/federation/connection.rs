//! One live session with an upstream MCP server over a [`Wire`]: the handshake of either era, requests paired
//! with their answers, and what the upstream sends meanwhile relayed to the call it belongs to.
//!
//! [`Connection::start`] opens the wire and learns the upstream's era: `server/discover` first (2026-07-28,
//! stateless: every request then carries the `_meta` keys of that era), and when that fails, the `initialize`
//! handshake. A router task reads the wire's inbox and hands each message to the request it belongs to: an
//! answer by its id, progress by its token, log lines and questions (sampling, elicitation, roots) by the answer
//! stream that carried them, or, on a transport with one shared stream, to the only request in flight.
//! `list_changed` notifications wake [`Connection::changed`]. A question is put to the gateway's own client
//! through the call's [`CallCtx`], and the client's answer (or why there is none) goes back to the upstream.
//!
//! Every request is bounded by its deadline; past it, or when the caller cancels, the upstream is sent
//! `notifications/cancelled` and the request answers a typed error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::wire::{Inbound, Wire, WireError};
use crate::error::{ErrorCode, GatewayError};
use crate::mcp::jsonrpc;
use crate::tools::{CallCtx, LogLevel, Question};

/// The 2026-07-28 version string.
pub const MODERN: &str = "2026-07-28";
/// The handshake-era version asked for in `initialize`.
pub const HANDSHAKE: &str = "2025-11-25";
/// How many messages may wait for one request before the upstream is thought to flood it.
const PER_REQUEST_QUEUE: usize = 256;
/// How long a cancellation notice may take.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest upstream error message kept.
const MESSAGE_CHARS: usize = 500;

/// Which era the upstream speaks, and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: stateless, `_meta` on each request.
    Modern,
    /// The `initialize` handshake, with the version agreed.
    Handshake(String),
}

impl Era {
    #[must_use]
    pub fn version(&self) -> &str {
        match self {
            Self::Modern => MODERN,
            Self::Handshake(version) => version,
        }
    }
}

/// Why a request did not get a result.
#[derive(Debug)]
pub enum Failure {
    /// The upstream forgot the session: start a new connection and try again.
    SessionExpired,
    /// The answer to give the caller.
    Error(GatewayError),
}

impl From<GatewayError> for Failure {
    fn from(err: GatewayError) -> Self {
        Self::Error(err)
    }
}

/// A session with one upstream.
#[derive(Debug)]
pub struct Connection {
    upstream: String,
    wire: Arc<dyn Wire>,
    era: Era,
    /// The upstream's `capabilities` (from `server/discover` or `initialize`).
    pub capabilities: Value,
    /// The upstream's name and version, as it gives them.
    pub server_info: Value,
    routes: Arc<Routes>,
    closed: CancellationToken,
}

/// Where the router sends what arrives.
#[derive(Debug, Default)]
struct Routes {
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, mpsc::Sender<Value>>>,
    changed: Notify,
    closed_reason: Mutex<Option<String>>,
}

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, mpsc::Sender<Value>>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Connection {
    /// Open `wire` and learn the upstream's era; `timeout` bounds each handshake request.
    pub async fn start(upstream: &str, wire: Arc<dyn Wire>, timeout: Duration) -> Result<Self, GatewayError> {
        let (inbox, inbound) = mpsc::channel(PER_REQUEST_QUEUE);
        wire.open(inbox).await?;
        let routes = Arc::new(Routes::default());
        let closed = CancellationToken::new();
        tokio::spawn(route(upstream.to_owned(), inbound, routes.clone(), wire.clone(), closed.clone()));
        let mut connection = Self {
            upstream: upstream.to_owned(),
            wire,
            era: Era::Modern,
            capabilities: Value::Null,
            server_info: Value::Null,
            routes,
            closed,
        };
        connection.wire.negotiated(Some(MODERN));
        let deadline = Instant::now() + timeout;
        match connection.request("server/discover", json!({}), None, deadline).await {
            Ok(found) if found["supportedVersions"].as_array().is_some_and(|v| v.iter().any(|v| v == MODERN)) => {
                connection.capabilities = found["capabilities"].clone();
                connection.server_info = found
                    .pointer("/_meta/io.modelcontextprotocol~1serverInfo")
                    .cloned()
                    .or_else(|| found.get("serverInfo").cloned())
                    .unwrap_or(Value::Null);
                return Ok(connection);
            }
            Err(Failure::Error(err)) if err.code == ErrorCode::UpstreamUnavailable && connection.is_closed() => {
                return Err(err);
            }
            _ => {}
        }
        connection.wire.negotiated(None);
        connection.era = Era::Handshake(HANDSHAKE.to_owned());
        let deadline = Instant::now() + timeout;
        let params = json!({
            "protocolVersion": HANDSHAKE,
            "capabilities": client_capabilities(),
            "clientInfo": client_info(),
        });
        let answer = match connection.request("initialize", params, None, deadline).await {
            Ok(answer) => answer,
            Err(Failure::Error(err)) => return Err(err),
            Err(Failure::SessionExpired) => {
                return Err(unavailable(upstream, "the upstream refused the new session (404 on initialize)"));
            }
        };
        let Some(version) = answer["protocolVersion"].as_str() else {
            return Err(garbage(upstream, "its `initialize` result has no protocolVersion"));
        };
        connection.era = Era::Handshake(version.to_owned());
        connection.capabilities = answer["capabilities"].clone();
        connection.server_info = answer["serverInfo"].clone();
        connection.wire.negotiated(Some(version));
        connection.notify("notifications/initialized", json!({}), Instant::now() + timeout).await.map_err(
            |f| match f {
                Failure::Error(e) => e,
                Failure::SessionExpired => unavailable(upstream, "the upstream forgot the session at once"),
            },
        )?;
        Ok(connection)
    }

    #[must_use]
    pub fn era(&self) -> &Era {
        &self.era
    }

    /// The wire stopped delivering: every request fails until a new connection starts.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves when the wire stops delivering.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    /// Why the wire stopped, once it has.
    #[must_use]
    pub fn closed_reason(&self) -> Option<String> {
        self.routes.closed_reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Resolves when the upstream says a list changed.
    pub async fn changed(&self) {
        self.routes.changed.notified().await;
    }

    /// Send a notification.
    pub async fn notify(&self, method: &str, params: Value, deadline: Instant) -> Result<(), Failure> {
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.wire.send(message, deadline).await.map(|_| ()).map_err(from_wire)
    }

    /// Send one request and wait for its result before `deadline`. With `ctx`, progress and log lines go to the
    /// call's client, its questions are put to that client, and its cancellation cancels the request upstream.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        ctx: Option<&CallCtx>,
        deadline: Instant,
    ) -> Result<Value, Failure> {
        if self.is_closed() {
            return Err(self.gone().into());
        }
        let id = self.routes.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut params = match params {
            Value::Object(params) => params,
            _ => Map::new(),
        };
        let mut meta = match params.remove("_meta") {
            Some(Value::Object(meta)) => meta,
            _ => Map::new(),
        };
        if ctx.is_some() {
            meta.insert("progressToken".into(), json!(id));
        }
        if self.era == Era::Modern {
            // Every log line of a call with a client comes back; the client's own level filters them (CallCtx::log).
            if ctx.is_some_and(|c| c.client.is_some()) {
                meta.insert("io.modelcontextprotocol/logLevel".into(), json!("debug"));
            }
            meta.insert("io.modelcontextprotocol/protocolVersion".into(), json!(MODERN));
            meta.insert("io.modelcontextprotocol/clientInfo".into(), client_info());
            meta.insert("io.modelcontextprotocol/clientCapabilities".into(), client_capabilities());
        }
        params.insert("_meta".into(), Value::Object(meta));
        let (events, mut arriving) = mpsc::channel(PER_REQUEST_QUEUE);
        self.routes.lock().insert(id, events);
        let mut route = Forget { routes: &self.routes, id, wire: &self.wire, answered: false, era: &self.era };
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        match self.wire.send(message, deadline).await {
            Err(err) => {
                route.answered = true;
                return Err(from_wire(err));
            }
            Ok(Some(answer)) => {
                route.answered = true;
                return answer_of(&self.upstream, method, answer).map_err(Failure::Error);
            }
            Ok(None) => {}
        }
        let cancel = ctx.map(|c| c.cancel.clone()).unwrap_or_default();
        let mut questions = 0u32;
        loop {
            let event = tokio::select! {
                event = arriving.recv() => event,
                () = tokio::time::sleep_until(deadline.into()) => {
                    return Err(GatewayError::new(
                        ErrorCode::Timeout,
                        format!("upstream `{}` did not answer `{method}` in time", self.upstream),
                    ).retryable(true).into());
                }
                () = cancel.cancelled() => {
                    return Err(GatewayError::new(ErrorCode::Cancelled, "the call was cancelled").into());
                }
            };
            let Some(event) = event else {
                route.answered = true;
                return Err(self.gone().into());
            };
            match event.get("method").and_then(Value::as_str) {
                None => {
                    route.answered = true;
                    return answer_of(&self.upstream, method, event).map_err(Failure::Error);
                }
                Some(notification) if event.get("id").is_none() => {
                    if let Some(ctx) = ctx {
                        relay_notification(ctx, notification, &event["params"]).await;
                    }
                }
                Some(asked) => {
                    questions += 1;
                    let reply = self.answer_question(ctx, asked, &event, questions).await;
                    self.wire.send(reply, deadline).await.map_err(from_wire)?;
                }
            }
        }
    }

    /// Put an upstream's question to the call's client; the JSON-RPC response to send back.
    async fn answer_question(&self, ctx: Option<&CallCtx>, method: &str, request: &Value, n: u32) -> Value {
        let id = &request["id"];
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let question = match method {
            "ping" => return jsonrpc::response(id, json!({})),
            "sampling/createMessage" => Question::Sampling(params),
            "elicitation/create" => Question::Elicitation(params),
            "roots/list" => Question::Roots,
            other => {
                let error = jsonrpc::RpcError::method_not_found(other);
                return jsonrpc::error_response(id, &error);
            }
        };
        let Some(ctx) = ctx else {
            let error = jsonrpc::RpcError::new(jsonrpc::INVALID_REQUEST, "no client call is waiting on this request");
            return jsonrpc::error_response(id, &error);
        };
        // The key is stable across rounds of a 2026 client's retried request: the n-th question of this call.
        match ctx.ask_client(&format!("{}:{n}", self.upstream), question).await {
            Ok(answer) => jsonrpc::response(id, answer),
            Err(err) => {
                let error = jsonrpc::RpcError::new(jsonrpc::INTERNAL_ERROR, err.message.clone());
                jsonrpc::error_response(id, &error)
            }
        }
    }

    fn gone(&self) -> GatewayError {
        let reason = self.closed_reason().unwrap_or_else(|| "the connection closed".into());
        unavailable(&self.upstream, &reason)
    }

    /// End the session (the wire's streams and process).
    pub async fn close(&self) {
        self.closed.cancel();
        self.wire.close().await;
    }
}

/// Drops a request's route however the request ends, and cancels it upstream when it ends unanswered (its
/// deadline passed, the caller cancelled, or the pipeline dropped the call): its answer stream is closed, and a
/// handshake-era upstream is sent `notifications/cancelled`.
struct Forget<'a> {
    routes: &'a Routes,
    id: u64,
    wire: &'a Arc<dyn Wire>,
    answered: bool,
    era: &'a Era,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.routes.lock().remove(&self.id);
        if self.answered {
            return;
        }
        self.wire.abandon(self.id);
        // A 2026 request is cancelled by closing its stream (just done); the handshake era is told.
        if *self.era == Era::Modern {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let wire = self.wire.clone();
        let notice = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                            "params": {"requestId": self.id, "reason": "the gateway's caller no longer waits for it"}});
        runtime.spawn(async move {
            if let Err(WireError::Failed(err)) = wire.send(notice, Instant::now() + NOTICE_TIMEOUT).await {
                tracing::debug!(error = %err.message, "could not tell the upstream a request was cancelled");
            }
        });
    }
}

/// The router: every inbound message to the request it belongs to.
async fn route(
    upstream: String,
    mut inbound: mpsc::Receiver<Inbound>,
    routes: Arc<Routes>,
    wire: Arc<dyn Wire>,
    closed: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            next = inbound.recv() => next,
            () = closed.cancelled() => None,
        };
        let (message, on_request) = match next {
            Some(Inbound::Message { message, on_request }) => (message, on_request),
            Some(Inbound::Closed(reason)) => {
                *routes.closed_reason.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
                break;
            }
            None => break,
        };
        let method = message.get("method").and_then(Value::as_str);
        let target = match method {
            None => message.get("id").and_then(Value::as_u64),
            Some("notifications/progress") => message.pointer("/params/progressToken").and_then(Value::as_u64),
            Some(m) if m.ends_with("/list_changed") => {
                routes.changed.notify_waiters();
                routes.changed.notify_one();
                continue;
            }
            Some("notifications/cancelled") => continue,
            Some(_) => on_request.or_else(|| {
                let pending = routes.lock();
                (pending.len() == 1).then(|| pending.keys().next().copied()).flatten()
            }),
        };
        let sender = target.and_then(|id| routes.lock().get(&id).cloned());
        match (sender, method) {
            (Some(sender), _) => {
                if sender.try_send(message).is_err() {
                    tracing::warn!(%upstream, "a message from the upstream was dropped: its call is not reading");
                }
            }
            (None, Some("notifications/message")) => {
                tracing::info!(%upstream, data = %message["params"]["data"], "log line from the upstream");
            }
            (None, Some(asked)) if message.get("id").is_some() => {
                let reply = if asked == "ping" {
                    jsonrpc::response(&message["id"], json!({}))
                } else {
                    let error =
                        jsonrpc::RpcError::new(jsonrpc::INVALID_REQUEST, "no client call is waiting on this request");
                    jsonrpc::error_response(&message["id"], &error)
                };
                let wire = wire.clone();
                tokio::spawn(async move {
                    let _ = wire.send(reply, Instant::now() + NOTICE_TIMEOUT).await;
                });
            }
            _ => tracing::debug!(%upstream, "an upstream message for no request in flight was dropped"),
        }
    }
    closed.cancel();
    routes.lock().clear();
}

/// A progress or log notification, to the call's client.
async fn relay_notification(ctx: &CallCtx, method: &str, params: &Value) {
    match method {
        "notifications/progress" => {
            let Some(progress) = params["progress"].as_f64() else { return };
            ctx.progress(progress, params["total"].as_f64(), params["message"].as_str()).await;
        }
        "notifications/message" => {
            let level = params["level"].as_str().and_then(LogLevel::parse).unwrap_or(LogLevel::Info);
            let logger = params["logger"].as_str().unwrap_or("upstream");
            ctx.log(level, logger, params["data"].clone()).await;
        }
        _ => {}
    }
}

/// A response's result, or its error as the caller should see it.
fn answer_of(upstream: &str, method: &str, mut response: Value) -> Result<Value, GatewayError> {
    if let Some(result) = response.get_mut("result") {
        return Ok(result.take());
    }
    let Some(error) = response.get("error") else {
        return Err(garbage(upstream, &format!("its answer to `{method}` has neither result nor error")));
    };
    let message: String = error["message"].as_str().unwrap_or("no message").chars().take(MESSAGE_CHARS).collect();
    if error.pointer("/data/gateway").and_then(Value::as_str) == Some(super::http_wire::STREAM_ENDED) {
        return Err(unavailable(upstream, &message));
    }
    let code = error["code"].as_i64().unwrap_or(0);
    let mapped = match code {
        jsonrpc::INVALID_PARAMS => ErrorCode::InvalidParams,
        jsonrpc::METHOD_NOT_FOUND => ErrorCode::Unsupported,
        _ => ErrorCode::UpstreamError,
    };
    Err(GatewayError::new(mapped, format!("upstream `{upstream}` answered `{method}` with an error: {message}"))
        .with_details(json!({"upstream": upstream, "code": code})))
}

fn from_wire(err: WireError) -> Failure {
    match err {
        WireError::SessionExpired => Failure::SessionExpired,
        WireError::Failed(e) => Failure::Error(e),
    }
}

/// What the gateway tells upstreams it is.
fn client_info() -> Value {
    json!({"name": "mcp-gateway", "version": env!("CARGO_PKG_VERSION")})
}

/// What the gateway can relay to its own clients.
fn client_capabilities() -> Value {
    json!({"sampling": {}, "elicitation": {"form": {}}, "roots": {"listChanged": false}})
}

/// The upstream is down or gone: retryable.
#[must_use]
pub fn unavailable(upstream: &str, why: &str) -> GatewayError {
    GatewayError::new(ErrorCode::UpstreamUnavailable, format!("upstream `{upstream}` is unavailable: {why}"))
        .retryable(true)
        .with_details(json!({"upstream": upstream}))
}

/// The upstream said something that is not MCP.
#[must_use]
pub fn garbage(upstream: &str, what: &str) -> GatewayError {
    GatewayError::new(ErrorCode::UpstreamError, format!("upstream `{upstream}` sent an answer that is not MCP: {what}"))
        .with_details(json!({"upstream": upstream}))
}
