//! What the media bindings (`elevenlabs`, `higgsfield`) and `check_job_status` share: the arguments every
//! media tool takes (`wait_for_completion`, `project_name`), whose jobs a caller may read ([`job_reader`]), the
//! tool output of a job record (the record as JSON, a `resource_link` per asset, inline `image`/`audio` blocks
//! for small files), waiting for a Higgsfield job with progress notifications, and what happens to a job when
//! the waiting call goes away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::context::CallCtx;
use super::output::ToolOutput;
use super::spec::PathError;
use super::template::{Known, Template};
use crate::auth::{Caller, Scope};
use crate::error::{ErrorCode, GatewayError};
use crate::jobs::{JobRecord, JobStatus, Jobs, MediaKind, Reader, sanitize_project};

/// The arguments every media tool reads besides its templated ones.
#[derive(Debug, Clone)]
pub struct MediaArgs {
    /// Wait for the result (default false: return the job record at once).
    pub wait: bool,
    /// The sanitised project folder, from `project_name` (the action envelope's `trace.project` arrives as it).
    pub project: String,
}

impl MediaArgs {
    #[must_use]
    pub fn read(args: &Value) -> Self {
        Self {
            wait: args.get("wait_for_completion").and_then(Value::as_bool).unwrap_or(false),
            project: sanitize_project(args.get("project_name").and_then(Value::as_str)),
        }
    }
}

/// Whose jobs `caller` may read and cancel: the ones it created (by [`Caller::id`]); a caller holding `admin`
/// (an admin key, or anyone when the gateway runs without keys) reads every job.
#[must_use]
pub fn job_reader(caller: &Caller) -> Reader<'_> {
    if caller.has(&Scope::Admin) { Reader::Anyone } else { Reader::Owner(caller.id()) }
}

/// The tool output of a job: its record as the JSON result, and content blocks for MCP clients.
pub async fn job_output(jobs: &Jobs, record: &JobRecord) -> ToolOutput {
    let value = record.result();
    let summary = match record.status {
        JobStatus::Completed => format!("{} job {} completed: {}", record.provider, record.job_id, links(record)),
        status => format!(
            "{} job {} is {}; ask check_job_status with this job_id for the result",
            record.provider,
            record.job_id,
            status.as_str()
        ),
    };
    let mut content =
        vec![json!({"type": "text", "text": summary}), json!({"type": "text", "text": value.to_string()})];
    for asset in &record.assets {
        let name = asset.file.clone().unwrap_or_else(|| asset.asset_id.clone());
        let mut link = json!({"type": "resource_link", "uri": asset.url, "name": name, "mimeType": asset.mime_type});
        if let Some(bytes) = asset.bytes {
            link["size"] = json!(bytes);
        }
        content.push(link.clone());
        if let Some(copy) = &asset.sftp_url {
            link["uri"] = json!(copy);
            content.push(link);
        }
        let block_type = match asset.media_type {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => continue,
        };
        if let Some(bytes) = jobs.media().inline_bytes(&record.project, asset).await {
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            content.push(json!({"type": block_type, "data": data, "mimeType": asset.mime_type}));
        }
    }
    ToolOutput { value, content, is_error: false }
}

fn links(record: &JobRecord) -> String {
    record.links().join(", ")
}

/// A job that ended without output, as the caller's error (its `job_id` in the details).
#[must_use]
pub fn job_error(record: &JobRecord) -> GatewayError {
    let error = record.error.clone().unwrap_or(Value::Null);
    let message = error.get("message").and_then(Value::as_str).unwrap_or("the job did not complete").to_owned();
    let code = match error.get("code").and_then(Value::as_str) {
        Some("cancelled") => ErrorCode::Cancelled,
        Some("timeout") => ErrorCode::Timeout,
        Some("upstream_timeout") => ErrorCode::UpstreamTimeout,
        Some("rate_limited") => ErrorCode::RateLimited,
        Some("invalid_params") => ErrorCode::InvalidParams,
        _ => ErrorCode::UpstreamError,
    };
    let retryable = error.get("retryable").and_then(Value::as_bool).unwrap_or(false);
    let mut details = error.get("details").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    details["job_id"] = json!(record.job_id);
    details["status"] = json!(record.status.as_str());
    GatewayError::new(code, message).with_details(details).retryable(retryable)
}

/// Add the job id to an error's details.
#[must_use]
pub fn with_job(mut err: GatewayError, record: &JobRecord) -> GatewayError {
    if !err.details.is_object() {
        err.details = json!({});
    }
    err.details["job_id"] = json!(record.job_id);
    err
}

/// What to do with a job whose waiting call ended early (cancelled, or dropped at its deadline).
#[derive(Debug, Clone, Copy)]
pub enum OnAbandon {
    /// Cancel it upstream when the caller cancelled and it is still queued; otherwise keep polling it.
    CancelOrPoll,
    /// Nothing can pick it up again: mark it failed.
    Fail,
}

/// Armed while a call waits for a job; if the call's future is dropped first (cancellation, deadline), the job
/// is handed to the application's background tasks instead of being left "running".
pub struct Handoff {
    jobs: Arc<Jobs>,
    job_id: String,
    cancel: tokio_util::sync::CancellationToken,
    on_abandon: OnAbandon,
    armed: bool,
}

impl Handoff {
    #[must_use]
    pub fn new(jobs: &Arc<Jobs>, job_id: &str, ctx: &CallCtx, on_abandon: OnAbandon) -> Self {
        Self { jobs: jobs.clone(), job_id: job_id.to_owned(), cancel: ctx.cancel.clone(), on_abandon, armed: true }
    }

    /// The call saw the job through (or handed it over itself).
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let job_id = std::mem::take(&mut self.job_id);
        match (self.on_abandon, self.cancel.is_cancelled()) {
            (OnAbandon::CancelOrPoll, true) => self.jobs.spawn_cancel_or_continue(job_id),
            (OnAbandon::CancelOrPoll, false) => self.jobs.spawn_polling(job_id),
            (OnAbandon::Fail, cancelled) => {
                let jobs = self.jobs.clone();
                self.jobs.spawn(async move {
                    let Ok(Some(mut record)) = jobs.get(&job_id, Reader::Anyone).await else { return };
                    if record.status.is_terminal() {
                        return;
                    }
                    let why = if cancelled { "the call was cancelled" } else { "the call reached its deadline" };
                    let err = GatewayError::new(
                        if cancelled { ErrorCode::Cancelled } else { ErrorCode::Timeout },
                        format!("{why} before the provider answered; nothing was kept"),
                    );
                    jobs.fail(&mut record, &err).await;
                });
            }
        }
    }
}

/// Poll a Higgsfield job until it ends or the call's deadline is near, reporting progress when the caller gave a
/// progress token. Near the deadline the job is handed to background polling and its current record returned.
pub async fn wait_for_higgsfield(
    jobs: &Arc<Jobs>,
    ctx: &CallCtx,
    mut record: JobRecord,
    deadline: Instant,
) -> Result<JobRecord, GatewayError> {
    let mut handoff = Handoff::new(jobs, &record.job_id, ctx, OnAbandon::CancelOrPoll);
    let margin = deadline.saturating_duration_since(Instant::now()).div_f64(10.0).min(Duration::from_secs(1));
    let stop_at = deadline.checked_sub(margin).unwrap_or(deadline);
    let mut polls: u32 = 0;
    ctx.progress(0.0, None, Some(&format!("job {}: {}", record.job_id, record.status.as_str()))).await;
    loop {
        if let Some(err) = jobs.too_old(&record) {
            jobs.fail(&mut record, &err).await;
            handoff.disarm();
            return Ok(record);
        }
        let delay = jobs.poll_delay(polls);
        if Instant::now() + delay >= stop_at {
            break;
        }
        tokio::time::sleep(delay).await;
        polls += 1;
        // A poll (and a download) may not run into the deadline: past `stop_at` the job goes to the background.
        let Ok(polled) = tokio::time::timeout_at(stop_at.into(), jobs.poll_higgsfield_once(&mut record)).await else {
            break;
        };
        match polled {
            Ok(()) if record.status.is_terminal() => {
                handoff.disarm();
                ctx.progress(
                    f64::from(polls),
                    None,
                    Some(&format!("job {}: {}", record.job_id, record.status.as_str())),
                )
                .await;
                return Ok(record);
            }
            Ok(()) => {
                let message = format!("job {}: {}", record.job_id, record.status.as_str());
                ctx.progress(f64::from(polls), None, Some(&message)).await;
            }
            Err(err) if err.retryable => tracing::info!(job_id = record.job_id, error = %err, "poll failed; retrying"),
            Err(err) => {
                jobs.fail(&mut record, &err).await;
                handoff.disarm();
                return Ok(record);
            }
        }
    }
    handoff.disarm();
    jobs.spawn_polling(record.job_id.clone());
    Ok(record)
}

/// A rendered request path is URL-safe: `/`-separated segments of `A-Z a-z 0-9 - _ . ~`, none of them `..`.
#[must_use]
pub fn safe_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 512
        && path[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        })
}

/// An object of `name: template` pairs at `$.binding.{key}`.
pub fn template_pairs(
    obj: &Map<String, Value>,
    key: &str,
    known: &Known<'_>,
) -> Result<Vec<(String, Template)>, PathError> {
    match obj.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, value)| Ok((name.clone(), Template::parse(value, &format!("$.binding.{key}.{name}"), known)?)))
            .collect(),
        Some(_) => Err(PathError::new(format!("$.binding.{key}"), "must be an object of name: value")),
    }
}
