//! The upstream MCP servers, for operators (scope `admin`): `GET /admin/upstreams` lists each with its state,
//! served tools, problems and held definition changes (the pinned and the offered definition side by side);
//! `POST /admin/upstreams/{name}/approve` (body optional: `{"tools": ["add"]}`, upstream names; absent: every
//! held one) makes the offered definitions the pins and serves them at once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::errors::RestError;
use crate::error::{ErrorCode, GatewayError};
use crate::federation::Federation;
use crate::state::AppState;

/// `GET /admin/upstreams`
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let upstreams = state.federation.as_ref().map(|f| f.views()).unwrap_or_default();
    Json(json!({"upstreams": upstreams}))
}

/// `POST /admin/upstreams/{name}/approve`
pub async fn approve(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, RestError> {
    let tools = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| GatewayError::invalid_request(format!("the body is not JSON: {e}")))?;
        match parsed.get("tools") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| GatewayError::invalid_params("`tools` must be an array of tool names"))?,
            ),
            Some(_) => return Err(GatewayError::invalid_params("`tools` must be an array of tool names").into()),
        }
    };
    let federation: &Federation = state
        .federation
        .as_deref()
        .ok_or_else(|| GatewayError::new(ErrorCode::NotFound, format!("no upstream is named `{name}`")))?;
    let approved = federation.approve(&name, tools).await?;
    Ok(Json(json!({"approved": approved})))
}
