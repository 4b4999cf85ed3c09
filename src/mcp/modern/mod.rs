//! MCP 2026-07-28, the stateless era, on the same `/mcp` as the handshake era: chosen per request.
//!
//! A POST is a 2026 request when its `MCP-Protocol-Version` header names a version outside the handshake era, or
//! its `_meta` carries `io.modelcontextprotocol/protocolVersion` ([`claims_modern`]). There is no `initialize` and
//! no session: every request says who the client is and what it can do in `_meta`, and is checked on its own, in
//! the order the specification and its conformance suite expect (first failure wins):
//!
//! 1. one JSON-RPC request (no batch, no response); a notification is accepted with 202;
//! 2. `_meta` has `protocolVersion` and `clientCapabilities` (-32602, 400);
//! 3. the `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers mirror the body (-32020, 400);
//! 4. the version is one this era speaks (-32022, 400, listing them);
//! 5. the method exists in this era (-32601, **404**; `initialize`, `ping`, `logging/setLevel`,
//!    `resources/subscribe` are gone; the tasks extension adds its methods, [`tasks`]);
//! 6. the key's scope allows the method; the tasks extension is declared where needed (-32021, 400);
//! 7. a tool's `Mcp-Param-*` headers mirror its `x-mcp-header` arguments (-32020, 400);
//!
//! then the method runs through the same dispatcher as the handshake era. Errors a method raises are in-band
//! (HTTP 200). Every result carries `resultType`; lists, reads and discovery carry caching hints (`ttlMs`,
//! `cacheScope: private`, since what a caller sees depends on its key). `tools/call` may answer
//! `input_required` ([`round_trip`]) or a task: a media job ([`tasks`]) or a tool call run in the background
//! ([`tool_tasks`]); `subscriptions/listen` opens the notification stream ([`listen`]).

pub mod discover;
pub mod headers;
pub mod listen;
pub mod round_trip;
pub mod tasks;
pub mod tool_tasks;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::round_trip::RoundTripLink;
use super::McpHandle;
use super::call_result::call_result;
use super::dispatch::{self, Reply, RequestScope, error_result};
use super::jsonrpc::{
    INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Incoming, RESOURCE_NOT_FOUND, RpcError, response,
};
use super::request_state::{Binding, RoundState};
use super::sse;
use super::streamable::{json_response, rpc_error};
use super::version::{MODERN, ProtocolVersion};
use crate::auth::Caller;
use crate::error::{ErrorCode, GatewayError};
use crate::tools::to_end::ToEnd;
use crate::tools::{CallCtx, ClientLink, LogLevel};

/// A header does not mirror the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// The request lacks a client capability the method needs.
pub const MISSING_CAPABILITY: i64 = -32021;
/// The request's protocol version is not one this server speaks.
pub const UNSUPPORTED_VERSION: i64 = -32022;

pub const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The versions of this era the gateway speaks.
pub const VERSIONS: [&str; 1] = [MODERN];

/// How long clients may reuse a list, read or discovery result. Lists change only when the specs are reloaded,
/// and `subscriptions/listen` says when that happens.
const CACHE_TTL_MS: u64 = 60_000;

/// The methods of this era, beside the tasks extension's.
const METHODS: [&str; 10] = [
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "completion/complete",
    "subscriptions/listen",
];

/// Results that carry caching hints.
const CACHEABLE: [&str; 6] =
    ["server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"];

/// Does this body claim the 2026 era (a version outside the handshake era in `_meta`)? The transport also sends
/// a request here when its `MCP-Protocol-Version` header names such a version.
#[must_use]
pub fn claims_modern(body: &Value) -> bool {
    // Read in place: `Value::pointer` would allocate for each part of the path, on every POST.
    let claims = |message: &Value| {
        message
            .get("params")
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_VERSION))
            .and_then(Value::as_str)
            .is_some_and(|v| ProtocolVersion::parse(v).is_none())
    };
    match body {
        Value::Array(items) => items.iter().any(claims),
        message => claims(message),
    }
}

/// What one 2026 request says about its client.
#[derive(Debug, Clone)]
struct Envelope {
    version: String,
    capabilities: Value,
    log_level: Option<LogLevel>,
}

impl Envelope {
    fn read(params: &Map<String, Value>) -> Result<Self, RpcError> {
        let meta = params.get("_meta").and_then(Value::as_object);
        let version = meta.and_then(|m| m.get(META_VERSION)).and_then(Value::as_str);
        let capabilities = meta.and_then(|m| m.get(META_CAPABILITIES)).filter(|c| c.is_object());
        let (Some(version), Some(capabilities)) = (version, capabilities) else {
            let missing: Vec<&str> = [(version.is_none(), META_VERSION), (capabilities.is_none(), META_CAPABILITIES)]
                .into_iter()
                .filter_map(|(missing, key)| missing.then_some(key))
                .collect();
            return Err(RpcError::invalid_params(format!(
                "Invalid params: missing _meta keys: {} (every 2026-07-28 request carries them)",
                missing.join(", ")
            )));
        };
        let log_level = match meta.and_then(|m| m.get(META_LOG_LEVEL)) {
            None | Some(Value::Null) => None,
            Some(level) => Some(level.as_str().and_then(LogLevel::parse).ok_or_else(|| {
                RpcError::invalid_params(format!("`_meta.{META_LOG_LEVEL}` is not a log level: {level}"))
            })?),
        };
        Ok(Self { version: version.to_owned(), capabilities: capabilities.clone(), log_level })
    }
}

/// One checked 2026 request.
struct Exchange {
    mcp: McpHandle,
    request_id: Arc<str>,
    caller: Caller,
    id: Value,
    method: String,
    params: Map<String, Value>,
    envelope: Envelope,
    can_stream: bool,
}

fn refuse(status: StatusCode, id: &Value, code: i64, message: impl Into<String>) -> Response {
    rpc_error(status, id, &RpcError::new(code, message))
}

/// POST /mcp with a 2026-07-28 message (already parsed), from an authenticated caller.
pub async fn post(mcp: McpHandle, headers: &HeaderMap, request_id: Arc<str>, caller: Caller, body: Value) -> Response {
    if body.is_array() {
        let message = "JSON-RPC batches are not part of protocol version 2026-07-28";
        return refuse(StatusCode::BAD_REQUEST, &Value::Null, INVALID_REQUEST, message);
    }
    let (id, method, params) = match Incoming::parse(body) {
        Err(rejected) => return rpc_error(StatusCode::BAD_REQUEST, &rejected.0, &rejected.1),
        // This era defines no client notifications over HTTP; one that arrives is accepted and ignored.
        Ok(Incoming::Notification { .. }) => return StatusCode::ACCEPTED.into_response(),
        Ok(Incoming::Response { id, .. }) => {
            let message = "clients send no JSON-RPC responses in protocol version 2026-07-28";
            return refuse(StatusCode::BAD_REQUEST, &id, INVALID_REQUEST, message);
        }
        Ok(Incoming::Request { id, method, params }) => (id, method, params),
    };
    let params = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let envelope = match Envelope::read(&params) {
        Ok(envelope) => envelope,
        Err(error) => return rpc_error(StatusCode::BAD_REQUEST, &id, &error),
    };
    let mirrored = headers::check_version(headers, &envelope.version)
        .and_then(|()| headers::check_method(headers, &method))
        .and_then(|()| headers::check_name(headers, &method, &params));
    if let Err(mismatch) = mirrored {
        return refuse(StatusCode::BAD_REQUEST, &id, HEADER_MISMATCH, format!("Header mismatch: {}", mismatch.0));
    }
    if !VERSIONS.contains(&envelope.version.as_str()) {
        let mut error = RpcError::new(
            UNSUPPORTED_VERSION,
            format!("Unsupported protocol version `{}`; this server speaks {}", envelope.version, VERSIONS.join(", ")),
        );
        error.data = Some(json!({"supported": VERSIONS, "requested": envelope.version}));
        return rpc_error(StatusCode::BAD_REQUEST, &id, &error);
    }
    if !METHODS.contains(&method.as_str()) && !tasks::METHODS.contains(&method.as_str()) {
        let message = format!("Method not found: `{method}` is not part of protocol version {MODERN}");
        return refuse(StatusCode::NOT_FOUND, &id, super::jsonrpc::METHOD_NOT_FOUND, message);
    }
    if let Err(refusal) = dispatch::authorize(&caller, &method) {
        let status = StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        return rpc_error(status, &id, &refusal.into_rpc(&request_id));
    }
    if let Err(error) = tasks::gate(&method, &envelope.capabilities) {
        return rpc_error(StatusCode::BAD_REQUEST, &id, &error);
    }
    if method == "tools/call" {
        if let Err(mismatch) = param_headers(&mcp, &caller, headers, &params) {
            return refuse(StatusCode::BAD_REQUEST, &id, HEADER_MISMATCH, format!("Header mismatch: {}", mismatch.0));
        }
    }
    let can_stream = super::streamable::accepts_event_stream(headers);
    let ex = Exchange { mcp, request_id, caller, id, method, params, envelope, can_stream };
    match ex.method.as_str() {
        "server/discover" => answer(&ex, Ok(discover::result(&ex.mcp))),
        "subscriptions/listen" => listen::open(&ex.mcp, ex.id.clone(), &ex.params, ex.caller.clone()),
        "tools/call" => call_tool(ex).await,
        "tasks/get" | "tasks/update" | "tasks/cancel" => {
            let outcome = tasks::request(&ex.mcp, &ex.caller, &ex.request_id, &ex.method, &ex.params).await;
            answer(&ex, outcome.map_err(|e| (StatusCode::OK, e)))
        }
        "prompts/get" => get_prompt(ex).await,
        _ => dispatched(&ex).await,
    }
}

/// The called tool's `Mcp-Param-*` headers mirror its annotated arguments (an unknown tool is the call's to
/// refuse).
fn param_headers(
    mcp: &McpHandle,
    caller: &Caller,
    headers: &HeaderMap,
    params: &Map<String, Value>,
) -> Result<(), headers::Mismatch> {
    let Some(name) = params.get("name").and_then(Value::as_str) else { return Ok(()) };
    let registry = mcp.engine.registry().snapshot();
    let Some(tool) = registry.visible_to(caller).tool(name) else { return Ok(()) };
    headers::check_params(headers, &tool.spec.input_schema, params.get("arguments").unwrap_or(&Value::Null))
}

/// A method's outcome as the response: a result made complete (with caching hints where they belong), or the
/// error with its status.
fn answer(ex: &Exchange, outcome: Result<Value, (StatusCode, RpcError)>) -> Response {
    answered(&ex.id, &ex.method, outcome)
}

/// [`answer`] by the request's id and method.
fn answered(id: &Value, method: &str, outcome: Result<Value, (StatusCode, RpcError)>) -> Response {
    match outcome {
        Ok(result) => json_response(&response(id, finish(method, result))),
        Err((status, error)) => rpc_error(status, id, &modern_error(error)),
    }
}

/// The handshake era's "resource not found" (-32002) is invalid params with the URI in this era.
fn modern_error(mut error: RpcError) -> RpcError {
    if error.code == RESOURCE_NOT_FOUND {
        error.code = INVALID_PARAMS;
    }
    error
}

/// Add `resultType` (when the method did not set one), the caching hints and the server's identity.
fn finish(method: &str, result: Value) -> Value {
    let mut result = match result {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    result.entry("resultType").or_insert_with(|| "complete".into());
    if CACHEABLE.contains(&method) && result.get("resultType").and_then(Value::as_str) == Some("complete") {
        result.insert("ttlMs".into(), CACHE_TTL_MS.into());
        result.insert("cacheScope".into(), "private".into());
    }
    let meta = result.entry("_meta").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(META_SERVER_INFO.into(), discover::server_info());
    }
    Value::Object(result)
}

/// `tools/call`: run the tool with a [`RoundTripLink`]; answer its result, or `input_required` with the
/// questions it asked and a sealed state for the retry.
async fn call_tool(mut ex: Exchange) -> Response {
    let args = ex.params.remove("arguments").unwrap_or(Value::Null);
    let Some(name) = ex.params.get("name").and_then(Value::as_str).map(str::to_owned) else {
        return answer(&ex, Err((StatusCode::OK, RpcError::invalid_params("`name` is required and must be a string"))));
    };
    if tasks::runs_as_task(&ex.mcp, &ex.caller, &name, &ex.envelope.capabilities) {
        let outcome = tasks::create(&ex.mcp, &ex.caller, &ex.request_id, &name, args).await;
        return answer(&ex, outcome.map_err(|e| (StatusCode::OK, e)));
    }
    if let Some(support) = tool_tasks::support(&ex.mcp, &ex.caller, &name) {
        if tasks::opted_in(&ex.envelope.capabilities) {
            let (id, method) = (ex.id.clone(), ex.method.clone());
            let outcome = tool_tasks::call(ex, name, args).await;
            return answered(&id, &method, outcome);
        }
        if support == crate::tools::spec::TaskSupport::Required {
            return answer(&ex, Err((StatusCode::BAD_REQUEST, tool_tasks::required(&name))));
        }
    }
    let binding = Binding::of(ex.caller.id(), &ex.method, &name, &args);
    let (carried, responses) = match round_inputs(&ex, &binding) {
        Ok(inputs) => inputs,
        Err(error) => return answer(&ex, Err((StatusCode::OK, error))),
    };
    let progress_token = ex.params.get("_meta").and_then(|m| m.get("progressToken")).filter(|t| !t.is_null()).cloned();
    let streams = ex.can_stream && (progress_token.is_some() || ex.envelope.log_level.is_some());
    let (tx, rx) = if streams {
        let (tx, rx) = mpsc::channel(64);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let link = Arc::new(RoundTripLink::new(
        carried,
        responses,
        ex.envelope.capabilities.clone(),
        tx,
        progress_token,
        ex.envelope.log_level,
    ));
    let cancel = CancellationToken::new();
    let ctx = CallCtx {
        request_id: ex.request_id.clone(),
        caller: ex.caller.clone(),
        cancel: cancel.clone(),
        client: Some(link.clone() as ClientLink),
        depth: 0,
    };
    let ex = Arc::new(ex);
    let task_ex = ex.clone();
    let call = async move {
        let registry = task_ex.mcp.engine.registry().snapshot();
        let has_output_schema =
            registry.visible_to(&task_ex.caller).callable(&name).is_some_and(|t| t.spec.output_schema.is_some());
        let outcome = task_ex.mcp.engine.call(&ctx, &name, args).await;
        call_outcome(&task_ex, outcome, has_output_schema, &link, binding)
    }
    .instrument(tracing::Span::current());
    let Some(mut rx) = rx else {
        return match ToEnd::new(call).await {
            Ok(outcome) => answer(&ex, outcome),
            Err(panicked) => answer(&ex, Err((StatusCode::OK, internal(&panicked)))),
        };
    };
    let mut task = tokio::spawn(call);
    // A client that closes the request before its stream has an event cancels it as well: the server drops this
    // handler then, and the guard cancels the call.
    let closed_early = cancel.clone().drop_guard();
    let first = tokio::select! {
        biased;
        first = rx.recv() => first,
        done = &mut task => return answer(&ex, done.unwrap_or_else(|e| Err((StatusCode::OK, internal(&e))))),
    };
    closed_early.disarm();
    let Some(first) = first else {
        return answer(&ex, task.await.unwrap_or_else(|e| Err((StatusCode::OK, internal(&e)))));
    };
    let (events, stream) = match sse::open(&ex.mcp) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::warn!(error = %err.message, "no SSE stream available; answering as JSON");
            drop(rx);
            return answer(&ex, task.await.unwrap_or_else(|e| Err((StatusCode::OK, internal(&e)))));
        }
    };
    tokio::spawn(
        async move {
            let mut next = Some(first);
            while let Some(message) = next {
                if !events.data(&message).await {
                    cancel.cancel();
                    return;
                }
                next = tokio::select! {
                    next = rx.recv() => next,
                    () = events.client_gone() => {
                        // Closing a request's stream cancels the request in this era.
                        cancel.cancel();
                        return;
                    }
                };
            }
            let outcome = task.await.unwrap_or_else(|e| Err((StatusCode::OK, internal(&e))));
            let message = match outcome {
                Ok(result) => response(&ex.id, finish(&ex.method, result)),
                Err((_, error)) => super::jsonrpc::error_response(&ex.id, &modern_error(error)),
            };
            events.data(&message).await;
        }
        .instrument(tracing::Span::current()),
    );
    stream
}

fn internal(err: &dyn std::fmt::Display) -> RpcError {
    tracing::error!(error = %err, "request task failed");
    RpcError::new(INTERNAL_ERROR, "internal error while handling the request")
}

/// The answers and step results earlier rounds sealed, and the request's `inputResponses`.
type RoundInputs = (Map<String, Value>, Map<String, Value>);

/// What a retried request brings: the answers and step results earlier rounds sealed into `requestState`
/// (which must open for this very request), and its `inputResponses`.
fn round_inputs(ex: &Exchange, binding: &Binding) -> Result<RoundInputs, RpcError> {
    let carried = match ex.params.get("requestState") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::String(sealed)) => match ex.mcp.request_state.open(sealed, binding, now_ms()) {
            Ok(state) => state.answers,
            Err(refused) => {
                tracing::warn!(caller = ex.caller.id(), reason = %refused, "requestState refused");
                return Err(RpcError::invalid_params(refused.to_string()));
            }
        },
        Some(_) => return Err(RpcError::invalid_params("`requestState` must be a string")),
    };
    let responses = match ex.params.get("inputResponses") {
        None => Map::new(),
        Some(Value::Object(responses)) => responses.clone(),
        Some(_) => return Err(RpcError::invalid_params("`inputResponses` must be an object of answers by key")),
    };
    Ok((carried, responses))
}

/// The answer of a request whose work stopped for the client: `input_required` with the questions and a new
/// sealed state, or -32021 for a capability the client lacks. `None` for any other error.
fn interrupted(
    ex: &Exchange,
    err: &GatewayError,
    link: &RoundTripLink,
    binding: Binding,
) -> Option<Result<Value, (StatusCode, RpcError)>> {
    if err.code == ErrorCode::InputRequired {
        let carried = link.carried()?;
        let ttl = u64::try_from(ex.mcp.config.limits.request_state_ttl.as_millis()).unwrap_or(u64::MAX);
        let state = RoundState { binding, expires_ms: now_ms().saturating_add(ttl), answers: carried.state };
        return Some(match ex.mcp.request_state.seal(&state) {
            Ok(sealed) => Ok(json!({
                "resultType": "input_required",
                "inputRequests": carried.asked,
                "requestState": sealed,
            })),
            Err(too_big) => {
                let err = GatewayError::new(ErrorCode::PayloadTooLarge, too_big.to_string());
                Ok(error_result(&err, &ex.request_id))
            }
        });
    }
    capability_refusal(err).map(|error| Err((StatusCode::BAD_REQUEST, error)))
}

/// The -32021 error of a call that needed a client capability the request did not declare.
fn capability_refusal(err: &GatewayError) -> Option<RpcError> {
    let required = err.details.get("requiredCapabilities").filter(|_| err.code == ErrorCode::Unsupported)?;
    let mut error = RpcError::new(MISSING_CAPABILITY, format!("Missing required client capability: {}", err.message));
    error.data = Some(json!({"requiredCapabilities": required}));
    Some(error)
}

/// `prompts/get` of a prompt that asks the client first (others go through the shared dispatcher).
async fn get_prompt(ex: Exchange) -> Response {
    let name = ex.params.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let registry = ex.mcp.engine.registry().snapshot();
    let Some(prompt) = registry.visible_to(&ex.caller).prompt(&name).filter(|p| p.asks()) else {
        return dispatched(&ex).await;
    };
    let args = match dispatch::prompt_arguments(&ex.params) {
        Ok(args) => args,
        Err(error) => return answer(&ex, Err((StatusCode::OK, error))),
    };
    let binding = Binding::of(ex.caller.id(), &ex.method, &name, &Value::Object(args.clone()));
    let (carried, responses) = match round_inputs(&ex, &binding) {
        Ok(inputs) => inputs,
        Err(error) => return answer(&ex, Err((StatusCode::OK, error))),
    };
    let link = Arc::new(RoundTripLink::new(carried, responses, ex.envelope.capabilities.clone(), None, None, None));
    let mut ctx = CallCtx::detached(ex.request_id.clone(), ex.caller.clone());
    ctx.client = Some(link.clone() as ClientLink);
    let outcome = match prompt.ask_and_render(&args, &ctx).await {
        Ok(result) => Ok(result),
        Err(err) => interrupted(&ex, &err, &link, binding)
            .unwrap_or_else(|| Err((StatusCode::OK, RpcError::from_gateway(&err, &ex.request_id)))),
    };
    answer(&ex, outcome)
}

/// A method the shared dispatcher answers, as this era answers it.
async fn dispatched(ex: &Exchange) -> Response {
    let scope = RequestScope {
        state: &ex.mcp,
        session: None,
        caller: &ex.caller,
        request_id: &ex.request_id,
        link: None,
        cancel: CancellationToken::new(),
    };
    let mut outcome =
        dispatch::request(&scope, &ex.method, Value::Object(ex.params.clone())).await.map(Reply::into_value);
    if let (Ok(list), "tools/list") = (&mut outcome, ex.method.as_str()) {
        tool_tasks::list_support(&ex.mcp, &ex.caller, list);
    }
    answer(ex, outcome.map_err(|e| (StatusCode::OK, e)))
}

/// A finished call as this era answers it.
fn call_outcome(
    ex: &Exchange,
    outcome: Result<crate::tools::ToolOutput, GatewayError>,
    has_output_schema: bool,
    link: &RoundTripLink,
    binding: Binding,
) -> Result<Value, (StatusCode, RpcError)> {
    match outcome {
        Ok(output) => Ok(call_result(output, has_output_schema)),
        Err(err) => match interrupted(ex, &err, link, binding) {
            Some(answer) => answer,
            None if err.code == ErrorCode::UnknownTool => {
                Err((StatusCode::OK, RpcError::from_gateway(&err, &ex.request_id)))
            }
            None => Ok(error_result(&err, &ex.request_id)),
        },
    }
}

fn now_ms() -> u64 {
    u64::try_from(crate::audit::now_ms()).unwrap_or(0)
}
