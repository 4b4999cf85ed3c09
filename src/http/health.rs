//! Liveness (`/health`), readiness (`/ready`) and Prometheus (`/metrics`).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// `GET /health`: the seed 002 shape `{status, environment, version, features}`.
pub async fn health(State(state): State<AppState>) -> Response {
    let mut features =
        vec!["mcp_streamable_http", "mcp_legacy_sse", "action_envelope", "flowchat_rest", "dragonfly_rest"];
    if state.config.reload {
        features.push("hot_reload");
    }
    axum::Json(json!({
        "status": "ok",
        "environment": state.config.environment,
        "version": env!("CARGO_PKG_VERSION"),
        "features": features,
    }))
    .into_response()
}

/// `GET /ready`: 200 while the gateway can serve tools; a failed hot reload is reported (the previous registry
/// keeps serving) as `degraded`.
pub async fn ready(State(state): State<AppState>) -> Response {
    let registry = state.engine.registry().snapshot();
    let problems = state.engine.registry().status().problems;
    let status = if problems.is_empty() { "ready" } else { "degraded" };
    let body = json!({
        "status": status,
        "tools": registry.tools().len(),
        "resources": registry.resources().len(),
        "prompts": registry.prompts().len(),
        "reload_problems": problems,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}
