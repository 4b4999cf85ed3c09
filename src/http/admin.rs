//! Administration endpoints (scope `admin`): `GET /admin/audit` reads the audit log with filters
//! `tool`, `key`, `outcome`, `since`, `until` (RFC 3339) and `limit` (default 100, at most 1000);
//! `GET /admin/config` shows the effective configuration with every secret masked.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::body::rest_error;
use super::request_id::RequestId;
use crate::audit::{AuditQuery, parse_rfc3339_ms};
use crate::config_view;
use crate::error::{ErrorCode, GatewayError};
use crate::state::AppState;

/// `GET /admin/config`: [`config_view::masked`], plus the settings the tools refer to (names and whether each
/// is set, never values).
pub async fn config(State(state): State<AppState>) -> Response {
    let registry = state.engine.registry().snapshot();
    let mut tool_settings: BTreeMap<&str, &str> = BTreeMap::new();
    for tool in registry.tools() {
        for name in tool.spec.binding.required_settings() {
            tool_settings.insert(name, if state.engine.setting_is_set(name) { "set" } else { "unset" });
        }
    }
    let mut view = config_view::masked(&state.config);
    view["tool_settings"] = json!(tool_settings);
    axum::Json(view).into_response()
}

/// `GET /admin/audit`
pub async fn audit(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(audit) = state.audit.clone() else {
        let err = GatewayError::new(ErrorCode::NotConfigured, "the audit log is disabled (audit = false)");
        return rest_error(&err, &request_id);
    };
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return rest_error(&GatewayError::invalid_params("`limit` must be 1 to 1000"), &request_id),
    };
    let mut bounds = [None, None];
    for (slot, name) in bounds.iter_mut().zip(["since", "until"]) {
        if let Some(value) = params.get(name) {
            match parse_rfc3339_ms(value) {
                Some(ms) => *slot = Some(ms),
                None => {
                    let err = GatewayError::invalid_params(format!("`{name}` must be an RFC 3339 time, not `{value}`"));
                    return rest_error(&err, &request_id);
                }
            }
        }
    }
    let [since_ms, until_ms] = bounds;
    let query = AuditQuery {
        tool: params.get("tool").cloned(),
        key_id: params.get("key").cloned(),
        outcome: params.get("outcome").cloned(),
        since_ms,
        until_ms,
        limit,
    };
    match tokio::task::spawn_blocking(move || audit.query(&query)).await {
        Ok(Ok(entries)) => axum::Json(json!({"count": entries.len(), "entries": entries})).into_response(),
        Ok(Err(e)) => rest_error(&GatewayError::internal("reading the audit log", &e), &request_id),
        Err(e) => rest_error(&GatewayError::internal("reading the audit log", &e), &request_id),
    }
}
