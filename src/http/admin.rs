//! Administration endpoints (scope `admin`): `GET /admin/audit` reads the audit log with filters
//! `tool`, `key`, `outcome`, `since`, `until` (RFC 3339) and `limit` (default 100, at most 1000);
//! `GET /admin/activity` summarises a recent window of it (`window` seconds, default 3600, in buckets of
//! `bucket` seconds, default 60; see [`crate::audit::ActivityQuery`]); `GET /admin/config` shows the effective
//! configuration with every secret masked.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::RestError;
use crate::audit::{Activity, ActivityQuery, AuditLog, AuditQuery, now_ms, parse_rfc3339_ms};
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
    view["upstreams"] = json!(state.federation.as_ref().map(|f| f.views()).unwrap_or_default());
    axum::Json(view).into_response()
}

/// `GET /admin/audit`
pub async fn audit(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let audit = audit_log(&state)?;
    let limit = bounded(&params, "limit", 100, 1..=1000)?;
    let mut bounds = [None, None];
    for (slot, name) in bounds.iter_mut().zip(["since", "until"]) {
        if let Some(value) = params.get(name) {
            let ms = parse_rfc3339_ms(value).ok_or_else(|| {
                GatewayError::invalid_params(format!("`{name}` must be an RFC 3339 time, not `{value}`"))
            })?;
            *slot = Some(ms);
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
    let entries = audit.query(&query).await?;
    Ok(Json(json!({"count": entries.len(), "entries": entries})))
}

/// `GET /admin/activity`
pub async fn activity(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Activity>, RestError> {
    let audit = audit_log(&state)?;
    let window = bounded(&params, "window", 3600, 60..=crate::audit::MAX_WINDOW_SECS)?;
    let bucket = bounded(&params, "bucket", 60, 10..=3600)?;
    let query = ActivityQuery::ending_at(now_ms(), window, bucket).map_err(GatewayError::invalid_params)?;
    Ok(Json(audit.activity(&query).await?))
}

/// The audit log, or `not_configured` when it is off.
fn audit_log(state: &AppState) -> Result<Arc<AuditLog>, GatewayError> {
    state
        .audit
        .clone()
        .ok_or_else(|| GatewayError::new(ErrorCode::NotConfigured, "the audit log is disabled (audit = false)"))
}

/// The query parameter `name` as a number in `range`, `default` when absent.
fn bounded<T>(
    params: &HashMap<String, String>,
    name: &str,
    default: T,
    range: RangeInclusive<T>,
) -> Result<T, GatewayError>
where
    T: FromStr + PartialOrd + Display,
{
    match params.get(name).map(|v| v.parse::<T>()) {
        None => Ok(default),
        Some(Ok(n)) if range.contains(&n) => Ok(n),
        Some(_) => Err(GatewayError::invalid_params(format!("`{name}` must be {} to {}", range.start(), range.end()))),
    }
}
