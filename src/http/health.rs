//! Liveness (`/health`), readiness (`/ready`) and Prometheus (`/metrics`).

use std::collections::BTreeMap;
use std::path::Path;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Auth;
use crate::auth::{Caller, Scope};
use crate::federation::link::State as UpstreamState;
use crate::state::AppState;

/// `GET /health`: the seed 002 shape `{status, environment, version, features}`.
pub async fn health(State(state): State<AppState>) -> Response {
    let mut features =
        vec!["mcp_streamable_http", "mcp_legacy_sse", "action_envelope", "flowchat_rest", "dragonfly_rest"];
    if state.config.reload {
        features.push("hot_reload");
    }
    if state.config.supabase_mcp.pat.is_some() {
        features.push("supabase_proxy");
    }
    if state.config.llm.base_url.is_some() {
        features.push("llm");
    }
    axum::Json(json!({
        "status": "ok",
        "environment": state.config.environment,
        "version": env!("CARGO_PKG_VERSION"),
        "features": features,
    }))
    .into_response()
}

/// `GET /ready`: 503 `unavailable` when the data dir cannot be written (the audit log and job store live
/// there), with `GATEWAY_REDIS_URL` when Redis does not answer a PING (budgets, sessions, job records; block
/// `redis`), with `GATEWAY_AUDIT_URL` when PostgreSQL does not answer (the audit log; block `audit`), or with
/// `GATEWAY_MEDIA_URL` when the S3 bucket does not answer a HEAD (stored media; block `media`); otherwise 200,
/// `degraded` when a hot reload failed (the previous registry keeps serving). Also lists the settings tools need
/// and whether each is set (names only, never values), and the tools that lack one.
///
/// Those details (reload problems with their paths, the data dir's OS error, setting and tool names) are for
/// operators: an `admin` key, or the keyless mode on a loopback bind. Anyone else gets the status and counts.
pub async fn ready(State(state): State<AppState>, Extension(auth): Extension<Auth>) -> Response {
    let detailed = match &auth {
        Auth::Ok(Caller::Anonymous) => state.config.bind.ip().is_loopback(),
        Auth::Ok(caller @ Caller::Key(_)) => caller.has(&Scope::Admin),
        Auth::Missing | Auth::Invalid | Auth::Refused(_) => false,
    };
    let registry = state.engine.registry().snapshot();
    let problems = state.engine.registry().status().problems;
    let data_dir = state.config.data_dir.clone();
    let writable =
        tokio::task::spawn_blocking(move || probe_writable(&data_dir)).await.unwrap_or_else(|e| Err(e.to_string()));
    // With shared state, a replica that cannot reach Redis cannot admit calls, find sessions or read jobs; with the
    // audit log on PostgreSQL, one that cannot reach it only queues its calls' entries; with media on S3, one that
    // cannot reach the bucket can neither store nor serve media: not ready in each case. All asked at once.
    let (redis, audit, media) = tokio::join!(
        async {
            match &state.redis {
                Some(link) => Some(link.ping().await),
                None => None,
            }
        },
        async {
            match &state.audit {
                Some(audit) => audit.ping().await,
                None => None,
            }
        },
        async {
            match state.engine.jobs().media().bucket() {
                Some(bucket) => Some(bucket.check().await.map_err(|e| e.message)),
                None => None,
            }
        }
    );
    let mut settings: BTreeMap<&str, bool> = BTreeMap::new();
    let mut unconfigured = Vec::new();
    for tool in registry.tools() {
        let required = tool.spec.binding.required_settings();
        let missing = required.iter().any(|name| !state.engine.setting_is_set(name));
        for name in required {
            settings.insert(name, state.engine.setting_is_set(name));
        }
        if missing {
            unconfigured.push(tool.name());
        }
    }
    let shared_down = [&redis, &audit, &media].iter().any(|check| matches!(check, Some(Err(_))));
    // An upstream that is down fails only its own tools: the gateway stays ready, degraded.
    let upstreams = state.federation.as_ref().map(|f| f.statuses()).unwrap_or_default();
    let upstream_down = upstreams.iter().any(|(_, s)| s.state != UpstreamState::Ready);
    let (code, status) = match (&writable, problems.is_empty()) {
        (Err(_), _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ if shared_down => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (Ok(()), false) => (StatusCode::OK, "degraded"),
        (Ok(()), true) if upstream_down => (StatusCode::OK, "degraded"),
        (Ok(()), true) => (StatusCode::OK, "ready"),
    };
    let mut body = if detailed {
        json!({
            "status": status,
            "tools": registry.tools().len(),
            "resources": registry.resources().len(),
            "prompts": registry.prompts().len(),
            "reload_problems": problems,
            "data_dir": {"writable": writable.is_ok(), "error": writable.err()},
            "settings": settings,
            "unconfigured_tools": unconfigured,
        })
    } else {
        json!({
            "status": status,
            "tools": registry.tools().len(),
            "resources": registry.resources().len(),
            "prompts": registry.prompts().len(),
            "reload_problems": problems.len(),
            "data_dir": {"writable": writable.is_ok()},
            "unconfigured_tools": unconfigured.len(),
        })
    };
    for (name, check) in [("redis", redis), ("audit", audit), ("media", media)] {
        if let Some(reachable) = check {
            body[name] = if detailed {
                json!({"reachable": reachable.is_ok(), "error": reachable.err()})
            } else {
                json!({"reachable": reachable.is_ok()})
            };
        }
    }
    if !upstreams.is_empty() {
        body["upstreams"] = if detailed {
            upstreams
                .iter()
                .map(|(spec, s)| (spec.name.clone(), json!(s.state.as_str())))
                .collect::<serde_json::Map<_, _>>()
                .into()
        } else {
            let ready = upstreams.iter().filter(|(_, s)| s.state == UpstreamState::Ready).count();
            json!({"ready": ready, "total": upstreams.len()})
        };
    }
    (code, axum::Json(body)).into_response()
}

/// Create, write and remove a probe file in the data dir.
fn probe_writable(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".ready-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&probe, b"ok").map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    std::fs::remove_file(&probe).map_err(|e| format!("cannot remove {}: {e}", probe.display()))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render()).into_response()
}
