//! Method dispatch for the handshake-era protocol versions: one function per MCP method, shared by every
//! transport (Streamable HTTP and legacy HTTP+SSE). Transports decide how messages travel; this module decides
//! what they say.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as CURSOR;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::McpHandle;
use super::call_result::CallResult;
use super::jsonrpc::{INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError, error_response, response};
use super::session::Session;
use super::version::ProtocolVersion;
use crate::auth::{Caller, Scope};
use crate::error::{ErrorCode, GatewayError};
use crate::tools::upstream_binding::UpstreamItem;
use crate::tools::{CallCtx, ClientLink, LogLevel};

/// Who is asking, and how to reach them, for one request.
pub struct RequestScope<'a> {
    pub state: &'a McpHandle,
    pub session: Option<&'a Arc<Session>>,
    pub caller: &'a Caller,
    /// The HTTP request id (`X-Request-ID`), for logs, errors and upstream calls.
    pub request_id: &'a Arc<str>,
    /// Where notifications and server→client requests for this request go, when the transport can carry them.
    pub link: Option<ClientLink>,
    pub cancel: CancellationToken,
}

impl RequestScope<'_> {
    /// The context of a call this request makes: its id, caller, cancellation and client link.
    #[must_use]
    pub fn call_ctx(&self) -> CallCtx {
        CallCtx {
            request_id: self.request_id.clone(),
            caller: self.caller.clone(),
            cancel: self.cancel.clone(),
            client: self.link.clone(),
            depth: 0,
        }
    }
}

/// The `initialize` result for a negotiated version.
#[must_use]
pub fn initialize_result(state: &McpHandle, version: ProtocolVersion) -> Value {
    let mut result = json!({
        "protocolVersion": version.as_str(),
        "capabilities": {
            "tools": {"listChanged": true},
            "resources": {"subscribe": true, "listChanged": false},
            "prompts": {"listChanged": false},
            "logging": {},
            "completions": {},
        },
        "serverInfo": {"name": "mcp-gateway", "title": "MCP Gateway", "version": env!("CARGO_PKG_VERSION")},
    });
    if let Some(instructions) = &state.config.instructions {
        result["instructions"] = json!(instructions);
    }
    if version.as_str() == "2025-11-25" {
        result["capabilities"]["tasks"] = super::tasks::capability();
    }
    result
}

/// What a method asks of its caller before dispatch; per-tool checks come later, in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any authenticated caller.
    Nothing,
    /// `tools:list`: listings, reads, prompts, completion.
    List,
    /// Some call scope: tool calls and the tasks they start.
    Call,
}

/// Every request method either era answers, with what it needs (each era's transport answers only its own
/// methods). A method missing here is refused as unknown before anything runs, so a method added to
/// [`request`] without a line here is denied, not allowed.
fn need_of(method: &str) -> Option<Need> {
    Some(match method {
        "initialize" | "ping" | "logging/setLevel" | "server/discover" => Need::Nothing,
        "tools/call" | "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/update" => Need::Call,
        "subscriptions/listen" => Need::List,
        "tools/list"
        | "resources/list"
        | "resources/templates/list"
        | "resources/read"
        | "resources/subscribe"
        | "resources/unsubscribe"
        | "prompts/list"
        | "prompts/get"
        | "completion/complete" => Need::List,
        _ => return None,
    })
}

/// Why [`authorize`] refused a request.
#[derive(Debug)]
pub enum Refusal {
    /// The method is not one the gateway answers (JSON-RPC -32601, HTTP 200 like any JSON-RPC error).
    UnknownMethod(RpcError),
    /// The caller lacks the scope (403, in the caller's format).
    Denied(GatewayError),
}

impl Refusal {
    /// The HTTP status a transport answers the refusal with, when it answers on the request itself.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnknownMethod(_) => 200,
            Self::Denied(err) => err.code.http_status(),
        }
    }

    /// The JSON-RPC error of the refusal.
    #[must_use]
    pub fn into_rpc(self, request_id: &str) -> RpcError {
        match self {
            Self::UnknownMethod(error) => error,
            Self::Denied(err) => RpcError::from_gateway(&err, request_id),
        }
    }
}

/// May `caller` use `method` at all? Transports answer a refusal before dispatching.
pub fn authorize(caller: &Caller, method: &str) -> Result<(), Refusal> {
    let (allowed, scope) = match need_of(method) {
        None => return Err(Refusal::UnknownMethod(RpcError::method_not_found(method))),
        Some(Need::Nothing) => (true, ""),
        Some(Need::Call) => (caller.may_call_some_tool(), "tools:call"),
        Some(Need::List) => (caller.has(&Scope::ToolsList), "tools:list"),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Denied(
            GatewayError::new(
                ErrorCode::Forbidden,
                format!("this key lacks the `{scope}` scope needed for `{method}`"),
            )
            .with_details(json!({"required_scope": scope})),
        ))
    }
}

/// What a request answers with: a value, or a tool call's result kept as the tool's output until it is written
/// (see [`CallResult`]).
#[derive(Debug)]
pub enum Reply {
    Value(Value),
    Call(CallResult),
}

impl Reply {
    /// The answer as a value, for transports that keep messages as values.
    #[must_use]
    pub fn into_value(self) -> Value {
        match self {
            Self::Value(value) => value,
            Self::Call(result) => result.into_value(),
        }
    }
}

/// The JSON of [`Reply::into_value`], written without building it.
impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(value) => value.serialize(serializer),
            Self::Call(result) => result.serialize(serializer),
        }
    }
}

/// Handle one request (anything but `initialize`, which transports handle because it creates sessions).
pub async fn request(scope: &RequestScope<'_>, method: &str, params: Value) -> Result<Reply, RpcError> {
    let params = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if method == "tools/call" {
        return tools_call(scope, params).await;
    }
    other_request(scope, method, params).await.map(Reply::Value)
}

/// Every method but `tools/call`.
async fn other_request(scope: &RequestScope<'_>, method: &str, params: Map<String, Value>) -> Result<Value, RpcError> {
    match method {
        "ping" => Ok(json!({})),
        "tools/list" => tools_list(scope, &params),
        // The rare paths run behind a pointer, so this future stays the size of a plain call (see `Binding::run`).
        "tasks/get" | "tasks/result" | "tasks/cancel" => Box::pin(super::tasks::request(scope, method, &params)).await,
        "resources/list" => {
            let registry = scope.state.engine.registry().snapshot();
            let visible = registry.visible_to(scope.caller);
            let upstream = visible.upstream_resources().map(|r| r.listed.clone());
            let items = visible.resources().map(|r| r.describe()).chain(upstream).collect();
            page(scope, &params, items, "resources")
        }
        "resources/templates/list" => {
            let registry = scope.state.engine.registry().snapshot();
            let visible = registry.visible_to(scope.caller);
            let upstream = visible.upstream_templates().map(|t| t.listed.clone());
            let items = visible.templates().map(|t| t.describe()).chain(upstream).collect();
            page(scope, &params, items, "resourceTemplates")
        }
        "resources/read" => {
            let uri = required_str(&params, "uri")?;
            let registry = scope.state.engine.registry().snapshot();
            let visible = registry.visible_to(scope.caller);
            let declared = visible.read_resource(uri);
            if let (None, Some(upstream)) = (&declared, visible.upstream_resource(uri)) {
                let item = upstream.clone();
                return Box::pin(forward(scope, &item, "resources/read", params)).await;
            }
            let contents = declared.ok_or_else(|| {
                let mut err = RpcError::new(RESOURCE_NOT_FOUND, format!("resource `{uri}` not found"));
                err.data = Some(json!({"uri": uri}));
                err
            })?;
            Ok(json!({"contents": contents}))
        }
        "resources/subscribe" | "resources/unsubscribe" => {
            // Declared resources are fixed until a reload, so a subscription never fires an update; accepting
            // it keeps clients that subscribe eagerly working.
            required_str(&params, "uri")?;
            Ok(json!({}))
        }
        "prompts/list" => {
            let registry = scope.state.engine.registry().snapshot();
            let visible = registry.visible_to(scope.caller);
            let upstream = visible.upstream_prompts().map(|p| p.listed.clone());
            let items = visible.prompts().map(|p| p.describe()).chain(upstream).collect();
            page(scope, &params, items, "prompts")
        }
        "prompts/get" => {
            let name = required_str(&params, "name")?;
            let registry = scope.state.engine.registry().snapshot();
            let visible = registry.visible_to(scope.caller);
            if visible.prompt(name).is_none() {
                if let Some(upstream) = visible.upstream_prompts().find(|p| p.key == name) {
                    let item = upstream.clone();
                    let mut params = params;
                    params.insert("name".into(), json!(item.remote));
                    return Box::pin(forward(scope, &item, "prompts/get", params)).await;
                }
            }
            let prompt =
                visible.prompt(name).ok_or_else(|| RpcError::invalid_params(format!("unknown prompt `{name}`")))?;
            let args = prompt_arguments(&params)?;
            if !prompt.asks() {
                return prompt.render(&args).map_err(RpcError::invalid_params);
            }
            // A prompt that asks the client first needs the link this request has (a session's stream).
            let ctx = scope.call_ctx();
            Box::pin(prompt.ask_and_render(&args, &ctx)).await.map_err(|e| RpcError::from_gateway(&e, scope.request_id))
        }
        "completion/complete" => complete(scope, &params),
        "logging/setLevel" => {
            let level = required_str(&params, "level")?;
            let level = LogLevel::parse(level)
                .ok_or_else(|| RpcError::invalid_params(format!("unknown log level `{level}`")))?;
            if let Some(session) = scope.session {
                session.set_log_level(level).await.map_err(|e| RpcError::from_gateway(&e, scope.request_id))?;
            }
            Ok(json!({}))
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

/// Handle a client notification. Unknown notifications are ignored, as JSON-RPC requires.
pub async fn notification(session: Option<&Arc<Session>>, method: &str, params: &Value) {
    match method {
        "notifications/cancelled" => {
            let Some(request_id) = params.get("requestId") else { return };
            // With Redis, a call running on another replica is cancelled there (and `cancelled` is false here).
            let cancelled = match session {
                Some(s) => s.cancel(request_id).await,
                None => false,
            };
            tracing::info!(%request_id, cancelled, reason = ?params.get("reason"), "client cancelled a request");
        }
        "notifications/initialized" => {}
        other => tracing::debug!(method = other, "notification ignored"),
    }
}

/// The JSON-RPC message answering a request.
#[must_use]
pub fn outcome_message(id: &Value, outcome: Result<Reply, RpcError>) -> Value {
    match outcome {
        Ok(result) => response(id, result.into_value()),
        Err(error) => error_response(id, &error),
    }
}

fn tools_list(scope: &RequestScope<'_>, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let registry = scope.state.engine.registry().snapshot();
    let items = registry.visible_to(scope.caller).tools().map(|t| t.describe()).collect();
    page(scope, params, items, "tools")
}

async fn tools_call(scope: &RequestScope<'_>, mut params: Map<String, Value>) -> Result<Reply, RpcError> {
    // The arguments move into the call; everything else is read in place.
    let args = params.remove("arguments").unwrap_or(Value::Null);
    let name = required_str(&params, "name")?;
    let ctx = scope.call_ctx();
    if params.get("task").is_some_and(Value::is_object) {
        return Box::pin(super::tasks::call_as_task(scope, &ctx, name, args)).await.map(Reply::Value);
    }
    let registry = scope.state.engine.registry().snapshot();
    let has_output_schema =
        registry.visible_to(scope.caller).callable(name).is_some_and(|t| t.spec.output_schema.is_some());
    match scope.state.engine.call_in(&registry, &ctx, name, args).await {
        Ok(output) => Ok(Reply::Call(CallResult::new(output, has_output_schema))),
        Err(err) if err.code == ErrorCode::UnknownTool => Err(RpcError::from_gateway(&err, scope.request_id)),
        Err(err) => Ok(Reply::Value(error_result(&err, scope.request_id))),
    }
}

/// A tool failure as a result the model can read (`isError: true`), with the typed error in `_meta`.
#[must_use]
pub fn error_result(err: &GatewayError, request_id: &str) -> Value {
    json!({
        "content": [{"type": "text", "text": err.message}],
        "isError": true,
        "_meta": {"mcp-gateway/error": err.to_json(request_id)},
    })
}

/// A resource read or a prompt an upstream serves: the request sent on as the caller made it (without its
/// `_meta`), under the call timeout, relayed through the request's client link; the upstream's result as is.
async fn forward(
    scope: &RequestScope<'_>,
    item: &UpstreamItem,
    method: &str,
    mut params: Map<String, Value>,
) -> Result<Value, RpcError> {
    params.remove("_meta");
    let ctx = scope.call_ctx();
    let deadline = std::time::Instant::now() + scope.state.config.limits.call_timeout;
    item.caller
        .forward(method, Value::Object(params), Some(&ctx), deadline)
        .await
        .map_err(|e| RpcError::from_gateway(&e, scope.request_id))
}

fn complete(scope: &RequestScope<'_>, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let reference = params.get("ref").ok_or_else(|| RpcError::invalid_params("`ref` is required"))?;
    let argument = params.get("argument").ok_or_else(|| RpcError::invalid_params("`argument` is required"))?;
    let arg_name = argument
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("`argument.name` is required"))?;
    let prefix = argument.get("value").and_then(Value::as_str).unwrap_or("");
    let registry = scope.state.engine.registry().snapshot();
    let visible = registry.visible_to(scope.caller);
    let values = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => {
            let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
            visible
                .prompt(name)
                .ok_or_else(|| RpcError::invalid_params(format!("unknown prompt `{name}`")))?
                .complete(arg_name, prefix)
        }
        Some("ref/resource") => {
            let uri = reference.get("uri").and_then(Value::as_str).unwrap_or("");
            visible
                .template(uri)
                .ok_or_else(|| RpcError::invalid_params(format!("unknown resource template `{uri}`")))?
                .complete(arg_name, prefix)
        }
        _ => return Err(RpcError::invalid_params("`ref.type` must be ref/prompt or ref/resource")),
    };
    let total = values.len();
    let shown: Vec<String> = values.into_iter().take(100).collect();
    Ok(json!({"completion": {"values": shown, "total": total, "hasMore": total > 100}}))
}

/// Cut a list into pages with an opaque cursor.
fn page(
    scope: &RequestScope<'_>,
    params: &Map<String, Value>,
    items: Vec<Value>,
    key: &str,
) -> Result<Value, RpcError> {
    let size = scope.state.config.page_size;
    let start = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => decode_cursor(cursor).filter(|&n| n <= items.len()).ok_or_else(|| {
            RpcError::new(INVALID_PARAMS, format!("invalid cursor `{cursor}`; use a nextCursor from a previous page"))
        })?,
        Some(_) => return Err(RpcError::invalid_params("`cursor` must be a string")),
    };
    let end = (start + size).min(items.len());
    let mut result = json!({ key: items[start..end].to_vec() });
    if end < items.len() {
        result["nextCursor"] = json!(CURSOR.encode(format!("offset:{end}")));
    }
    Ok(result)
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = CURSOR.decode(cursor).ok()?;
    std::str::from_utf8(&bytes).ok()?.strip_prefix("offset:")?.parse().ok()
}

/// `prompts/get`'s `arguments`: an object, or none.
pub fn prompt_arguments(params: &Map<String, Value>) -> Result<Map<String, Value>, RpcError> {
    match params.get("arguments") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(args)) => Ok(args.clone()),
        Some(_) => Err(RpcError::invalid_params("`arguments` must be an object")),
    }
}

fn required_str<'p>(params: &'p Map<String, Value>, key: &str) -> Result<&'p str, RpcError> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("`{key}` is required and must be a string")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let encoded = CURSOR.encode("offset:42");
        assert_eq!(decode_cursor(&encoded), Some(42));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor(&CURSOR.encode("offset:-1")), None);
    }

    #[test]
    fn error_results_carry_the_code() {
        let err = GatewayError::invalid_params("bad `x`");
        let result = error_result(&err, "rid");
        assert_eq!(result["isError"], true);
        assert_eq!(result["content"][0]["text"], "bad `x`");
        assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "invalid_params");
    }
}
