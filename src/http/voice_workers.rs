//! The voice workers endpoints of seed 000 (scope `workers`), thin adapters over the `workers` domain:
//! - `GET /workers` → `{workers: [{id, name, voice, ...}], count}`, sorted by name;
//! - `POST /workers/{id}/query {query, limit?}` → `{success, worker_id, columns, rows, count, row_count,
//!   truncated, summary, elapsed_ms}`;
//! - `GET /workers/{id}/realtime/config` → the session settings plus a freshly minted short-lived client
//!   secret (`token`, `client_secret{value, expires_at}`); the long-lived provider key never leaves the server.
//!
//! Scans, queries and schema reads block, so they run on blocking threads. Errors are [`RestError`]s.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::auth::Authed;
use super::body::{check_rest_content_type, read_json};
use super::errors::RestError;
use super::mcp_routes::body_limits;
use super::request_id::RequestId;
use crate::error::GatewayError;
use crate::providers::realtime;
use crate::providers::upstream::RetryPolicy;
use crate::state::AppState;
use crate::tools::engine::CallRecord;
use crate::voice_workers::realtime::{SessionPlan, read_schema};
use crate::voice_workers::{QueryRequest, Worker, run_blocking};

/// `GET /workers`
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, RestError> {
    let workers = state.engine.workers().clone();
    let list = run_blocking(move || Ok(workers.list())).await?;
    let entries: Vec<Value> = list.iter().map(Worker::to_listing).collect();
    Ok(Json(json!({"count": entries.len(), "workers": entries})))
}

/// `POST /workers/{id}/query`: recorded in metrics and the audit log like a `worker_query` tool call.
pub async fn query(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Authed(caller): Authed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, RestError> {
    let started = Instant::now();
    let mut audited_args = json!({"worker_id": id});
    let outcome = async {
        check_rest_content_type(&headers)?;
        let body = read_json(&headers, body, body_limits(&state)).await.map_err(|e| e.to_gateway())?;
        if let (Some(args), Some(fields)) = (audited_args.as_object_mut(), body.as_object()) {
            args.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let request = QueryRequest::from_args(&body)?;
        let workers = state.engine.workers().clone();
        run_blocking(move || workers.query(&id, &request)).await
    }
    .await;
    state.engine.record(CallRecord {
        request_id: &request_id,
        caller: caller.id(),
        tool: QUERY_TOOL,
        known: true,
        category: Some("read"),
        outcome: outcome.as_ref().map(|_| false),
        elapsed: started.elapsed(),
        audit_args: state.engine.audit_arguments(&audited_args),
    });
    Ok(Json(outcome?.body))
}

/// The tool name REST queries are recorded under, the same as the pipeline's.
const QUERY_TOOL: &str = "worker_query";

/// `GET /workers/{id}/realtime/config`
pub async fn realtime_config(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    Ok(Json(build_realtime_config(&state, &request_id, id).await?))
}

async fn build_realtime_config(state: &AppState, request_id: &str, id: String) -> Result<Value, GatewayError> {
    let settings = &state.config.realtime;
    if settings.api_key.is_none() {
        return Err(realtime::not_configured());
    }
    let workers = state.engine.workers().clone();
    let (worker, schema) = run_blocking(move || {
        let worker = workers.find(&id)?;
        let schema = read_schema(&worker.path)?;
        Ok((worker, schema))
    })
    .await?;
    let language = state.config.voice_workers.summary_language;
    let plan = SessionPlan::new(&worker, &schema, &settings.model, language);
    let upstream = state.engine.upstream("realtime", RetryPolicy::default());
    let deadline = Instant::now() + state.config.limits.request_timeout;
    let session = plan.session(&settings.transcription_model);
    let secret = realtime::mint_client_secret(settings, &upstream, session, request_id, deadline).await?;
    let base = &settings.base_url;
    let websocket_base = base.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    Ok(json!({
        "worker_id": worker.id,
        "name": worker.name,
        "persona": plan.persona,
        "instructions": plan.instructions,
        "voice": plan.voice,
        "model": plan.model,
        "tools": plan.tools,
        "turn_detection": plan.turn_detection,
        "token": secret.value,
        "client_secret": {"value": secret.value, "expires_at": secret.expires_at},
        "realtime_base_url": base,
        "calls_url": format!("{base}/v1/realtime/calls"),
        "wss_url": format!("{websocket_base}/v1/realtime?model={}", plan.model),
        "query_url": format!("/workers/{}/query", worker.id),
    }))
}
