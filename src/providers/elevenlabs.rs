//! ElevenLabs: text to speech, sound effects, music (audio bytes back) and voices (JSON), with the header
//! `xi-api-key` (the gateway's key, never the caller's).
//!
//! Errors come as `{"detail": {"status", "message"}}` (401 `invalid_api_key` / `quota_exceeded`, 429
//! `too_many_concurrent_requests` / `system_busy`) or, for 422, `{"detail": [{loc, msg, type}]}`; the provider's
//! code is kept in the error's `details.provider_code`. The response headers `request-id`, `character-cost` and
//! `song-id` are kept as the call's trace.
//!
//! Retries: a generation is a write (it costs credits), so it is never sent again once it may have been
//! processed, with one exception ElevenLabs documents: a 429 means the request was refused before any work, so
//! it is sent again after `retry-after` (or a backoff), within the call's deadline. Reads (voices) also retry
//! 5xx through the shared client.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::upstream::{Answer, Outgoing, RetryPolicy, Upstream, retry_after};
use crate::config::ElevenLabsSettings;
use crate::config::ExposeOption;
use crate::error::{ErrorCode, GatewayError};

/// What ElevenLabs documents as transient for reads: busy (429) and server errors.
pub const TRANSIENT: &[u16] = &[429, 500, 502, 503, 504];

/// Attempts of a generation refused with 429.
const BUSY_ATTEMPTS: u32 = 3;

/// One request to ElevenLabs, path relative to the configured base URL.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub timeout: Duration,
}

/// Generated audio.
#[derive(Debug, Clone)]
pub struct Audio {
    pub bytes: Bytes,
    /// The response's media type, e.g. `audio/mpeg`.
    pub mime_type: String,
    /// `request-id`, `character-cost`, `song-id` when ElevenLabs sent them.
    pub trace: Value,
}

/// The `not_configured` error when the key is missing, `Ok` otherwise.
pub fn check_configured(settings: &ElevenLabsSettings) -> Result<&str, GatewayError> {
    settings.api_key.exposed().ok_or_else(|| {
        GatewayError::new(ErrorCode::NotConfigured, "ElevenLabs is not configured: set ELEVENLABS_API_KEY")
            .with_details(json!({"provider": "elevenlabs", "missing": "ELEVENLABS_API_KEY"}))
    })
}

/// Generate audio (TTS, sound effects, music): the answer must be audio bytes.
pub async fn generate(
    settings: &ElevenLabsSettings,
    upstream: &Upstream<'_>,
    request: &Request,
    request_id: &str,
    deadline: Instant,
) -> Result<Audio, GatewayError> {
    let answer = send(settings, upstream, request, false, request_id, deadline).await?;
    let mime_type = answer.content_type();
    if !mime_type.starts_with("audio/") && !mime_type.starts_with("application/octet-stream") {
        return Err(GatewayError::new(
            ErrorCode::UpstreamError,
            format!("ElevenLabs answered {} with `{mime_type}` instead of audio", request.path),
        )
        .with_details(json!({"provider": "elevenlabs", "upstream_status": answer.status, "content_type": mime_type})));
    }
    if answer.body.is_empty() {
        return Err(GatewayError::new(ErrorCode::UpstreamError, "ElevenLabs answered with empty audio")
            .with_details(json!({"provider": "elevenlabs", "upstream_status": answer.status})));
    }
    let mime_type = if mime_type.starts_with("audio/") { mime_type } else { "audio/mpeg".to_owned() };
    Ok(Audio { trace: trace(&answer), bytes: answer.body, mime_type })
}

/// A JSON request (e.g. `GET /v1/voices`): the answer must be JSON.
pub async fn fetch_json(
    settings: &ElevenLabsSettings,
    upstream: &Upstream<'_>,
    request: &Request,
    request_id: &str,
    deadline: Instant,
) -> Result<Value, GatewayError> {
    let idempotent = matches!(request.method, reqwest::Method::GET | reqwest::Method::HEAD);
    let answer = send(settings, upstream, request, idempotent, request_id, deadline).await?;
    answer.json("ElevenLabs")
}

async fn send(
    settings: &ElevenLabsSettings,
    upstream: &Upstream<'_>,
    request: &Request,
    idempotent: bool,
    request_id: &str,
    deadline: Instant,
) -> Result<Answer, GatewayError> {
    let key = check_configured(settings)?;
    let outgoing = Outgoing {
        method: request.method.clone(),
        url: format!("{}{}", settings.base_url, request.path),
        headers: vec![("xi-api-key".to_owned(), key.to_owned()), ("accept".to_owned(), "*/*".to_owned())],
        query: request.query.clone(),
        body: request.body.clone(),
        idempotent,
        timeout: request.timeout,
    };
    // The busy resend follows the shared policy's delays, starting at half a second.
    let mut delays =
        RetryPolicy { max_attempts: BUSY_ATTEMPTS, base_delay: Duration::from_millis(500), ..upstream.policy }.delays();
    let mut attempt = 1;
    loop {
        let answer = upstream.send(&outgoing, request_id, deadline).await?;
        if answer.status < 400 {
            return Ok(answer);
        }
        let err = map_error(&answer);
        // Idempotent requests were already retried by the shared client; a refused (429) write was never
        // processed, so it may go again.
        let hint = retry_after(&answer.headers);
        let wait = (answer.status == 429 && !idempotent).then(|| delays.next()).flatten().map(|d| hint.unwrap_or(d));
        let Some(wait) = wait.filter(|wait| Instant::now() + *wait < deadline) else {
            return Err(err);
        };
        upstream.metrics.record_upstream_retry(upstream.provider);
        tracing::info!(attempt, wait_ms = wait.as_millis(), "ElevenLabs is busy (429); sending again");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// Map an ElevenLabs error answer, keeping `detail.status` as `details.provider_code`.
fn map_error(answer: &Answer) -> GatewayError {
    let Err(mut err) = answer.error_for_status("ElevenLabs") else {
        return GatewayError::new(ErrorCode::UpstreamError, "ElevenLabs failed");
    };
    let body = answer.value();
    if let Some(code) = body.pointer("/detail/status").and_then(Value::as_str) {
        err.details["provider_code"] = json!(code);
        if code == "quota_exceeded" {
            err.message = format!("ElevenLabs quota exceeded: {}", err.message);
        }
    }
    if let Some(Value::Array(problems)) = body.get("detail") {
        let listed: Vec<String> = problems.iter().map(describe_problem).collect();
        err.message = format!("ElevenLabs rejected the request ({}): {}", answer.status, listed.join("; "));
        err.details["provider_code"] = json!("validation_error");
    }
    err
}

/// `body.text: field required` from `{loc: ["body", "text"], msg}`.
pub fn describe_problem(problem: &Value) -> String {
    let location: Vec<String> = problem
        .get("loc")
        .and_then(Value::as_array)
        .map(|loc| loc.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned)).collect())
        .unwrap_or_default();
    let message = problem.get("msg").and_then(Value::as_str).unwrap_or("invalid");
    if location.is_empty() { message.to_owned() } else { format!("{}: {message}", location.join(".")) }
}

fn trace(answer: &Answer) -> Value {
    let mut trace = Map::new();
    for name in ["request-id", "character-cost", "song-id"] {
        if let Some(value) = answer.headers.get(name).and_then(|v| v.to_str().ok()) {
            trace.insert(name.replace('-', "_"), json!(value));
        }
    }
    Value::Object(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer { status, headers: reqwest::header::HeaderMap::new(), body: Bytes::from(body.to_string()) }
    }

    #[test]
    fn detail_status_becomes_the_provider_code() {
        let err = map_error(&answer(401, json!({"detail": {"status": "quota_exceeded", "message": "no credits"}})));
        assert_eq!(err.details["provider_code"], "quota_exceeded");
        assert!(err.message.contains("quota exceeded") && err.message.contains("no credits"), "{}", err.message);
        assert!(!err.retryable);
    }

    #[test]
    fn validation_lists_name_the_fields() {
        let body = json!({"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]});
        let err = map_error(&answer(422, body));
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert!(err.message.contains("body.text: field required"), "{}", err.message);
    }
}
