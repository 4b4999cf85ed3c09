//! Higgsfield: asynchronous image and video generation. Submit `POST /{model_id}` → `{status: "queued",
//! request_id, status_url, cancel_url}`; poll `GET /requests/{id}/status` → the same plus `images[{url}]` or
//! `video{url}` when done, or `error`; cancel `POST /requests/{id}/cancel` (202 while queued, else 400).
//! Statuses: queued, in_progress, completed, failed, nsfw, canceled.
//!
//! Credentials go as `Authorization: Key {id}:{secret}`; the older API's `hf-api-key` / `hf-secret` headers are
//! available as [`Auth::Headers`]. Paths come from tool specs (the model path, the status and cancel paths with
//! `{id}`), so the older API's `/v1/text2image/soul` and `/v1/job-sets/{id}` are configuration, not code.
//! Status and cancel URLs are built from the configured base URL, never taken from a response, so the
//! credentials only ever go to the configured host.
//!
//! A submit is a write: it is never sent again once it may have arrived. Polls are reads and retry Higgsfield's
//! transient statuses (408, 429, 500, 502, 503, 504).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::elevenlabs::describe_problem;
use super::job_status::JobStatus;
use super::upstream::{Answer, Outgoing, Upstream};
use crate::config::ExposeOption;
use crate::config::HiggsfieldSettings;
use crate::error::{ErrorCode, GatewayError};

/// Statuses Higgsfield documents as transient.
pub const TRANSIENT: &[u16] = &[408, 429, 500, 502, 503, 504];

/// How credentials are presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// `Authorization: Key {id}:{secret}` (the current API).
    Key,
    /// `hf-api-key: {id}` and `hf-secret: {secret}` (the older API).
    Headers,
}

/// What a status poll found.
#[derive(Debug, Clone)]
pub struct Polled {
    pub status: JobStatus,
    /// Output URLs (images, then the video), when completed.
    pub outputs: Vec<String>,
    /// Higgsfield's own error text, when failed.
    pub error: Option<String>,
}

/// The `not_configured` error naming what is missing, or the credentials.
pub fn credentials(settings: &HiggsfieldSettings) -> Result<(&str, &str), GatewayError> {
    match (settings.key_id.exposed(), settings.key_secret.exposed()) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        (id, _) => {
            let missing = if id.is_none() { "HIGGSFIELD_API_KEY" } else { "HIGGSFIELD_API_SECRET" };
            Err(GatewayError::new(
                ErrorCode::NotConfigured,
                format!("Higgsfield is not configured: set {missing} (or HF_KEY={{key id}}:{{key secret}})"),
            )
            .with_details(json!({"provider": "higgsfield", "missing": missing})))
        }
    }
}

/// Submit a generation; returns Higgsfield's request id. Never retried once it may have arrived.
pub async fn submit(
    settings: &HiggsfieldSettings,
    upstream: &Upstream<'_>,
    target: Target<'_>,
    body: &Value,
    request_id: &str,
    deadline: Instant,
) -> Result<String, GatewayError> {
    let request = outgoing(settings, target, reqwest::Method::POST, Some(body.clone()), false)?;
    let answer = checked(upstream.send(&request, request_id, deadline).await?)?;
    let value = answer.json("Higgsfield")?;
    let id = value.get("request_id").or_else(|| value.get("id")).and_then(Value::as_str).filter(|id| safe_id(id));
    id.map(str::to_owned).ok_or_else(|| {
        GatewayError::new(ErrorCode::UpstreamError, "Higgsfield accepted the request but sent no usable request_id")
            .with_details(json!({"provider": "higgsfield", "upstream_status": answer.status}))
    })
}

/// Poll a request's status (a read: transient failures are retried).
pub async fn poll(
    settings: &HiggsfieldSettings,
    upstream: &Upstream<'_>,
    target: Target<'_>,
    request_id: &str,
    deadline: Instant,
) -> Result<Polled, GatewayError> {
    let request = outgoing(settings, target, reqwest::Method::GET, None, true)?;
    let answer = checked(upstream.send(&request, request_id, deadline).await?)?;
    let value = answer.json("Higgsfield")?;
    parse_status(&value).ok_or_else(|| malformed(answer.status))
}

/// Ask Higgsfield to cancel a request; `Ok(false)` when it is too late (400).
pub async fn cancel(
    settings: &HiggsfieldSettings,
    upstream: &Upstream<'_>,
    target: Target<'_>,
    request_id: &str,
    deadline: Instant,
) -> Result<bool, GatewayError> {
    let request = outgoing(settings, target, reqwest::Method::POST, None, false)?;
    let answer = upstream.send(&request, request_id, deadline).await?;
    match answer.status {
        200..=299 => Ok(true),
        400 => Ok(false),
        _ => checked(answer).map(|_| false),
    }
}

/// Where a request goes: how credentials are presented, the path under the base URL, the per-request timeout.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub auth: Auth,
    pub path: &'a str,
    pub timeout: Duration,
}

/// A request id safe to put in a path.
#[must_use]
pub fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

fn outgoing(
    settings: &HiggsfieldSettings,
    target: Target<'_>,
    method: reqwest::Method,
    body: Option<Value>,
    idempotent: bool,
) -> Result<Outgoing, GatewayError> {
    let (id, secret) = credentials(settings)?;
    let headers = match target.auth {
        Auth::Key => vec![("authorization".to_owned(), format!("Key {id}:{secret}"))],
        Auth::Headers => vec![("hf-api-key".to_owned(), id.to_owned()), ("hf-secret".to_owned(), secret.to_owned())],
    };
    Ok(Outgoing {
        method,
        url: format!("{}{}", settings.base_url, target.path),
        headers,
        query: Vec::new(),
        body,
        idempotent,
        timeout: target.timeout,
    })
}

/// Pass 2xx answers; map errors keeping Higgsfield's `detail`.
fn checked(answer: Answer) -> Result<Answer, GatewayError> {
    let Err(mut err) = answer.error_for_status("Higgsfield") else { return Ok(answer) };
    let body = answer.value();
    match (answer.status, body.get("detail")) {
        (403, _) => {
            err.message =
                format!("Higgsfield refused the request (403): out of credits or not allowed; {}", err.message)
        }
        (_, Some(Value::Array(problems))) => {
            let listed: Vec<String> = problems.iter().map(describe_problem).collect();
            err.message = format!("Higgsfield rejected the request ({}): {}", answer.status, listed.join("; "));
        }
        _ => {}
    }
    if answer.status == 500 {
        err = err.retryable(true);
    }
    Err(err)
}

fn malformed(status: u16) -> GatewayError {
    GatewayError::new(ErrorCode::UpstreamError, "Higgsfield answered a status request with an unreadable body")
        .with_details(json!({"provider": "higgsfield", "upstream_status": status}))
}

/// Read a status answer: the current shape (`status`, `images[].url`, `video.url`, `error`), or the older job
/// sets (`jobs[].status`, `jobs[].results.raw.url`).
fn parse_status(value: &Value) -> Option<Polled> {
    let url_of = |v: &Value| v.get("url").and_then(Value::as_str).map(str::to_owned);
    if let Some(status) = value.get("status").and_then(Value::as_str) {
        let mut outputs: Vec<String> = value
            .get("images")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(url_of).collect())
            .unwrap_or_default();
        outputs.extend(value.get("video").and_then(url_of));
        outputs.extend(value.get("videos").and_then(Value::as_array).into_iter().flatten().filter_map(url_of));
        let error = value.get("error").and_then(|e| {
            e.as_str().map(str::to_owned).or_else(|| e.get("message").and_then(Value::as_str).map(str::to_owned))
        });
        return Some(Polled { status: JobStatus::parse(status)?, outputs, error });
    }
    let jobs = value.get("jobs")?.as_array()?;
    let statuses: Vec<JobStatus> =
        jobs.iter().filter_map(|j| j.get("status").and_then(Value::as_str).and_then(JobStatus::parse)).collect();
    let status = if statuses.is_empty() {
        return None;
    } else if statuses.iter().all(|s| *s == JobStatus::Completed) {
        JobStatus::Completed
    } else if let Some(bad) =
        statuses.iter().find(|s| matches!(s, JobStatus::Failed | JobStatus::Nsfw | JobStatus::Canceled))
    {
        *bad
    } else if statuses.contains(&JobStatus::InProgress) || statuses.contains(&JobStatus::Completed) {
        JobStatus::InProgress
    } else {
        JobStatus::Queued
    };
    let outputs = jobs.iter().filter_map(|j| j.pointer("/results/raw").and_then(url_of)).collect();
    Some(Polled { status, outputs, error: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_status_shapes_are_read() {
        let done =
            parse_status(&json!({"status": "completed", "request_id": "r", "images": [{"url": "https://x/1.png"}]}))
                .unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(done.outputs, ["https://x/1.png"]);
        let video = parse_status(&json!({"status": "completed", "video": {"url": "https://x/v.mp4"}})).unwrap();
        assert_eq!(video.outputs, ["https://x/v.mp4"]);
        let failed = parse_status(&json!({"status": "failed", "error": "boom"})).unwrap();
        assert_eq!((failed.status, failed.error.as_deref()), (JobStatus::Failed, Some("boom")));
        assert!(parse_status(&json!({"status": "exploded"})).is_none());
    }

    #[test]
    fn older_job_sets_are_read() {
        let set = json!({"id": "s", "jobs": [{"status": "completed", "results": {"raw": {"url": "https://x/a.png"}}}]});
        let polled = parse_status(&set).unwrap();
        assert_eq!(polled.status, JobStatus::Completed);
        assert_eq!(polled.outputs, ["https://x/a.png"]);
    }

    #[test]
    fn only_plain_ids_go_into_paths() {
        assert!(safe_id("3f2b-9c1e_x"));
        assert!(!safe_id("../x") && !safe_id("a/b") && !safe_id(""));
    }
}
