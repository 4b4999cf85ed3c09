//! The Supabase MCP passthrough (seed 002): requests to paths under `/mcp/` that the gateway does not own are
//! forwarded to Supabase's MCP server, bodies and Server-Sent Events streamed both ways without buffering.
//!
//! Only an allowlist of headers crosses: the caller's `Content-Type`, `Content-Length`, `Accept`,
//! `Mcp-Session-Id`, `MCP-Protocol-Version` and `Last-Event-ID` go up with the gateway's own
//! `Authorization: Bearer <SUPABASE_PAT>` and the request id; the caller's `Authorization`, `X-Proxy-Key`,
//! cookies and hop-by-hop headers never do. Back come the status, `Content-Type`, `Cache-Control`,
//! `Mcp-Session-Id`, `MCP-Protocol-Version`, `Retry-After` and the body.
//!
//! Failures are REST errors: 503 `not_configured` without `SUPABASE_PAT`; 502 when the server cannot be reached
//! or refuses the gateway's token (the caller's key was fine, so a 401 would mislead its client into an OAuth
//! dance); 504 when no answer starts within `request_timeout_secs`; 413 past `max_body_bytes`. An open event
//! stream counts under `max_streams` and ends at shutdown. A redirect is not followed (the request carries the
//! gateway's token) and answers 502 `upstream_error` naming the host it pointed to.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use super::errors::RestError;
use super::request_id::RequestId;
use crate::error::{ErrorCode, GatewayError};
use crate::mcp::sse::StreamGauge;
use crate::providers::supabase_mcp;
use crate::providers::upstream::redirect_refused;
use crate::state::AppState;

const PROVIDER: &str = "supabase_mcp";
const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// Caller headers sent up.
const UP: [HeaderName; 6] = [CONTENT_TYPE, CONTENT_LENGTH, ACCEPT, SESSION, VERSION, LAST_EVENT_ID];
/// Upstream headers sent back.
const DOWN: [HeaderName; 5] = [CONTENT_TYPE, CACHE_CONTROL, SESSION, VERSION, RETRY_AFTER];

/// Any method on `/mcp/` and `/mcp/{*path}`.
pub async fn proxy(State(state): State<AppState>, RequestId(request_id): RequestId, request: Request) -> Response {
    forward(&state, &request_id, request).await.unwrap_or_else(|err| {
        let unreachable = err.code == ErrorCode::UpstreamUnavailable;
        let mut response = RestError(err).into_response();
        if unreachable {
            // A proxy whose upstream cannot be reached answers Bad Gateway.
            *response.status_mut() = StatusCode::BAD_GATEWAY;
        }
        response
    })
}

async fn forward(state: &AppState, request_id: &str, request: Request) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    let tail = parts.uri.path().strip_prefix("/mcp").unwrap_or_default();
    let target = supabase_mcp::target(&state.config.supabase_mcp, tail, parts.uri.query())?;
    let limit = state.config.limits.max_body_bytes;
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut headers = copy_headers(&parts.headers, &UP);
    let authorization = HeaderValue::from_str(&target.authorization).map_err(|_| {
        GatewayError::new(ErrorCode::NotConfigured, "SUPABASE_PAT holds characters a header cannot carry")
            .with_details(json!({"provider": PROVIDER, "missing": "SUPABASE_PAT"}))
    })?;
    headers.insert(AUTHORIZATION, authorization);
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", id);
    }
    let has_body = declared.is_some_and(|n| n > 0) || parts.headers.contains_key("transfer-encoding");
    let method = parts.method.clone();
    let mut upstream = state.http.request(parts.method, target.url).headers(headers);
    if has_body {
        upstream = upstream.body(reqwest::Body::wrap_stream(Limited::new(body, limit).into_data_stream()));
    }
    let answer = send(state, &method, upstream).await?;
    stream_back(state, answer)
}

/// Send, waiting at most `request_timeout_secs` for the answer to start.
async fn send(
    state: &AppState,
    method: &reqwest::Method,
    upstream: reqwest::RequestBuilder,
) -> Result<reqwest::Response, GatewayError> {
    let wait = state.config.limits.request_timeout;
    let answer = match tokio::time::timeout(wait, upstream.send()).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(err)) if body_over_limit(&err) => return Err(too_large(state.config.limits.max_body_bytes)),
        Ok(Err(err)) => return Err(transport_error(state, &err)),
        Err(_) => {
            state.metrics.record_upstream(PROVIDER, "timeout");
            let message = format!("the Supabase MCP server did not start answering within {} s", wait.as_secs());
            return Err(
                GatewayError::new(ErrorCode::UpstreamTimeout, message).with_details(json!({"provider": PROVIDER}))
            );
        }
    };
    let status = answer.status();
    state.metrics.record_upstream(PROVIDER, status.as_str());
    if status.is_redirection() {
        let location = answer.headers().get(LOCATION).and_then(|v| v.to_str().ok());
        return Err(redirect_refused(
            "the Supabase MCP server",
            method,
            answer.url().as_str(),
            status.as_u16(),
            location,
        ));
    }
    if matches!(status.as_u16(), 401 | 403) {
        return Err(GatewayError::new(
            ErrorCode::UpstreamError,
            format!("the Supabase MCP server refused the gateway's token ({status}); check SUPABASE_PAT"),
        )
        .with_details(json!({"provider": PROVIDER, "upstream_status": status.as_u16()})));
    }
    Ok(answer)
}

/// The upstream's answer as ours: status, allowed headers, and the body streamed as it arrives.
fn stream_back(state: &AppState, answer: reqwest::Response) -> Result<Response, GatewayError> {
    let status = answer.status();
    let headers = copy_headers(answer.headers(), &DOWN);
    let is_event_stream = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    // An event stream holds a place under `max_streams` for as long as it is open.
    let gauge = is_event_stream.then(|| StreamGauge::acquire(&state.mcp)).transpose()?;
    // The stream ends with the upstream's, or at shutdown so the server can drain.
    let stream = answer.bytes_stream().take_until(state.shutdown.clone().cancelled_owned()).map(move |chunk| {
        let _open = &gauge;
        chunk
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn copy_headers(from: &HeaderMap, names: &[HeaderName]) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in names {
        for value in from.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn too_large(limit: usize) -> GatewayError {
    GatewayError::new(ErrorCode::PayloadTooLarge, format!("the request body is larger than the limit of {limit} bytes"))
}

/// The upload failed because the caller's body passed the size limit (a body sent without a length).
fn body_over_limit(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(error) = cause {
        if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            return true;
        }
        cause = error.source();
    }
    false
}

fn transport_error(state: &AppState, err: &reqwest::Error) -> GatewayError {
    let (label, what) = if err.is_connect() {
        ("connect_error", "could not be reached")
    } else {
        ("transport_error", "failed before answering")
    };
    state.metrics.record_upstream(PROVIDER, label);
    // reqwest's own text names the URL with its query; the access log gets the cause chain only.
    let cause = std::error::Error::source(err).map_or_else(|| "no detail".to_owned(), ToString::to_string);
    GatewayError::new(ErrorCode::UpstreamUnavailable, format!("the Supabase MCP server {what}"))
        .with_details(json!({"provider": PROVIDER}))
        .retryable(true)
        .with_cause(cause)
}
