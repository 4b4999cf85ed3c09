//! REST compatibility endpoints of the replaced services, all thin adapters over the one call pipeline:
//! - seed 002 (FlowChat): `GET /mcp/tools/list`, `GET /mcp/tools/{name}/schema`, `POST /mcp/tools/call
//!   {tool_name, params}` → `{success, tool_name, result}`;
//! - seed 000 (Dragonfly): `GET /tools` (`?reload=1` reloads the specs), `POST /execute {tool, params}`.
//!
//! Errors are [`RestError`]s: the code's HTTP status and `{detail, error{...}}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::auth::Authed;
use super::body::{check_rest_content_type, read_json};
use super::errors::RestError;
use super::mcp_routes::body_limits;
use super::request_id::RequestId;
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::state::AppState;
use crate::tools::CallCtx;
use crate::tools::handle::reload_refused;

/// `GET /mcp/tools/list`
pub async fn flowchat_list(State(state): State<AppState>, Authed(caller): Authed) -> Json<Value> {
    let registry = state.engine.registry().snapshot();
    let tools: Vec<Value> = registry
        .visible_to(&caller)
        .tools()
        .map(|t| json!({"name": t.spec.name, "category": t.spec.category, "description": t.spec.description}))
        .collect();
    Json(json!({"total": tools.len(), "tools": tools}))
}

/// `GET /mcp/tools/{name}/schema`
pub async fn flowchat_schema(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(name): Path<String>,
) -> Result<Json<Value>, RestError> {
    let registry = state.engine.registry().snapshot();
    let t = registry.visible_to(&caller).tool(&name).ok_or_else(|| GatewayError::unknown_tool(&name))?;
    Ok(Json(json!({
        "name": t.spec.name,
        "description": t.spec.description,
        "category": t.spec.category,
        "input_schema": t.spec.input_schema,
    })))
}

/// `POST /mcp/tools/call {tool_name, params}`
pub async fn flowchat_call(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, RestError> {
    let (name, result) = call_from_body(&state, &request_id, caller, &headers, body, "tool_name").await?;
    Ok(Json(object([("success", Value::Bool(true)), ("tool_name", Value::String(name)), ("result", result)])))
}

/// `GET /tools` (`?reload=1` reloads the specs first)
pub async fn dragonfly_tools(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let reload = query.get("reload").is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    if reload {
        if let Err(problems) = state.engine.registry().reload_async().await {
            return Err(reload_refused(&problems).into());
        }
    }
    let registry = state.engine.registry().snapshot();
    let tools: Vec<Value> = registry
        .visible_to(&caller)
        .tools()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.spec.name,
                "displayName": t.spec.title,
                "description": t.spec.description,
                "category": t.spec.category,
                "tags": t.spec.tags,
                "parameters": t.spec.input_schema,
            }})
        })
        .collect();
    Ok(Json(json!({"count": tools.len(), "reloaded": reload, "tools": tools})))
}

/// `POST /execute {tool, params}`
pub async fn dragonfly_execute(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, RestError> {
    let (name, result) = call_from_body(&state, &request_id, caller, &headers, body, "tool").await?;
    Ok(Json(object([("tool", Value::String(name)), ("result", result), ("request_id", Value::from(&*request_id))])))
}

/// Read `{<name_key>: tool, params}` and call the tool; returns the tool's name and its REST result.
async fn call_from_body(
    state: &AppState,
    request_id: &Arc<str>,
    caller: Caller,
    headers: &HeaderMap,
    body: Body,
    name_key: &str,
) -> Result<(String, Value), GatewayError> {
    let mut body = read_rest_body(state, headers, body).await?;
    let name = required_name(&body, name_key)?;
    // The arguments move into the call (the rest of the body is not needed again).
    let params = body.get_mut("params").map(Value::take);
    let result = call(state, request_id, caller, &name, params).await?;
    Ok((name, result))
}

async fn read_rest_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Value, GatewayError> {
    check_rest_content_type(headers)?;
    let value = read_json(headers, body, body_limits(state)).await.map_err(|e| e.to_gateway())?;
    if value.is_object() { Ok(value) } else { Err(GatewayError::invalid_request("the body must be a JSON object")) }
}

fn required_name(body: &Value, key: &str) -> Result<String, GatewayError> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| GatewayError::invalid_request(format!("`{key}` is required and must name a tool")))
}

async fn call(
    state: &AppState,
    request_id: &Arc<str>,
    caller: Caller,
    name: &str,
    params: Option<Value>,
) -> Result<Value, GatewayError> {
    let ctx = CallCtx::detached(request_id.clone(), caller);
    let args = params.unwrap_or(Value::Null);
    state.engine.call_to_end(ctx, name.to_owned(), args).await?.into_rest()
}

/// A JSON object of these entries, in this order. The result moves in: `json!` would serialize it into a copy.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Object(entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect())
}
