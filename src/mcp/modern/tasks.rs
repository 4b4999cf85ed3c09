//! The tasks extension of 2026-07-28 (`io.modelcontextprotocol/tasks`), answered from the media job store: the
//! media jobs are tasks, and a job's task id is its job id; tool calls of tools that declare
//! `execution.taskSupport` are tasks too ([`super::tool_tasks`], looked up first by `tasks/*`).
//!
//! `server/discover` advertises the extension; a request opts in through `_meta`'s client capabilities
//! (`extensions["io.modelcontextprotocol/tasks"]`). Creation is the server's choice: with the opt-in, a
//! `tools/call` of a job tool ([`crate::tools::Binding::runs_as_job`]) starts the job without waiting and answers a
//! flat `CreateTaskResult` (`resultType: "task"`); without it the tool runs as it always does. A legacy `task`
//! request field means nothing here. `tasks/get` answers the task with, once it ended, what the call would have
//! answered synchronously (`result`), `tasks/update` acknowledges (media jobs never wait for input, so every
//! answer is one nobody asked for, and ignored), `tasks/cancel` cancels the job (idempotent once it ended).
//! `tasks/result` and `tasks/list` are not part of the extension (-32601, 404, by the method ladder).
//!
//! Without the opt-in, `tasks/get`, `tasks/update` and `tasks/cancel` are `MissingRequiredClientCapability`
//! (-32021, 400) before any id is looked at. A task belongs to its caller, as a job does: another caller's task
//! answers what an unknown id answers (-32602) and is left alone (see [`super::super::tasks`]).
//!
//! Statuses: queued and in-progress jobs are `working`; completed ones `completed` with the tool result; a job
//! the provider failed (or withheld as NSFW) is `completed` too, with the tool's error result (`isError: true`),
//! since that is what the synchronous call answers; only an internal failure is `failed`, with a JSON-RPC error;
//! a cancelled job is `cancelled`. Jobs are kept without expiry, so `ttlMs` is `null`; `pollIntervalMs` is the
//! first job poll wait (`JOB_POLL_INITIAL_MS`).

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::super::McpHandle;
use super::super::call_result::call_result;
use super::super::dispatch::{RequestScope, error_result};
use super::super::jsonrpc::{INTERNAL_ERROR, RpcError};
use super::super::tasks::{Started, find, start_job, unknown};
use super::MISSING_CAPABILITY;
use crate::auth::Caller;
use crate::jobs::{JobRecord, JobStatus};
use crate::tools::CallCtx;
use crate::tools::media::{job_error, job_output, job_reader};

/// The extension's identifier, in capabilities.
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The extension's methods (`tasks/result` and `tasks/list` are not among them).
pub const METHODS: [&str; 3] = ["tasks/get", "tasks/update", "tasks/cancel"];

/// Did the request's client capabilities opt in to the extension?
#[must_use]
pub fn opted_in(capabilities: &Value) -> bool {
    capabilities.get("extensions").and_then(|e| e.get(EXTENSION)).is_some_and(|v| !v.is_null())
}

/// The extension's methods need the opt-in: `MissingRequiredClientCapability` naming it otherwise.
pub fn gate(method: &str, capabilities: &Value) -> Result<(), RpcError> {
    if !METHODS.contains(&method) || opted_in(capabilities) {
        return Ok(());
    }
    let mut error = RpcError::new(
        MISSING_CAPABILITY,
        format!("Missing required client capability: `{method}` needs the `{EXTENSION}` extension in _meta"),
    );
    error.data = Some(json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}}));
    Err(error)
}

/// Does this `tools/call` run as a task: the request opted in and the tool runs as a job?
#[must_use]
pub fn runs_as_task(mcp: &McpHandle, caller: &Caller, name: &str, capabilities: &Value) -> bool {
    opted_in(capabilities)
        && mcp
            .engine
            .registry()
            .snapshot()
            .visible_to(caller)
            .callable(name)
            .is_some_and(|t| t.spec.binding.runs_as_job())
}

fn scope<'a>(mcp: &'a McpHandle, caller: &'a Caller, request_id: &'a std::sync::Arc<str>) -> RequestScope<'a> {
    RequestScope { state: mcp, session: None, caller, request_id, link: None, cancel: CancellationToken::new() }
}

/// `tools/call` of a job tool, opted in: start the job and answer the `CreateTaskResult` once its record is
/// saved (so an immediate `tasks/get` finds it). A call that fails before its job exists answers as it would
/// synchronously.
pub async fn create(
    mcp: &McpHandle,
    caller: &Caller,
    request_id: &std::sync::Arc<str>,
    name: &str,
    args: Value,
) -> Result<Value, RpcError> {
    let scope = scope(mcp, caller, request_id);
    let ctx = CallCtx::detached(request_id.clone(), caller.clone());
    match start_job(&scope, &ctx, name, args).await? {
        Started::Job(record) => {
            let mut created = task(mcp, &record);
            created.insert("resultType".into(), "task".into());
            Ok(Value::Object(created))
        }
        Started::Answered(result) => Ok(result),
    }
}

/// `tasks/get`, `tasks/update`, `tasks/cancel` (the opt-in already checked by [`gate`]).
pub async fn request(
    mcp: &McpHandle,
    caller: &Caller,
    request_id: &std::sync::Arc<str>,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let scope = scope(mcp, caller, request_id);
    let task_id = params
        .get("taskId")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("`taskId` is required and must be a string"))?;
    let tool_task = mcp
        .engine
        .jobs()
        .get_task(task_id, job_reader(caller))
        .await
        .map_err(|e| RpcError::from_gateway(&e, request_id))?;
    if let Some(record) = tool_task {
        return super::tool_tasks::request(mcp, request_id, record, method, params).await;
    }
    match method {
        "tasks/get" => {
            let record = find(&scope, task_id).await?;
            Ok(Value::Object(detailed(mcp, &scope, &record).await))
        }
        "tasks/update" => {
            if params.get("inputResponses").is_some_and(|r| !r.is_object()) {
                return Err(RpcError::invalid_params("`inputResponses` must be an object of answers by key"));
            }
            find(&scope, task_id).await?;
            Ok(json!({}))
        }
        "tasks/cancel" => {
            mcp.engine
                .jobs()
                .cancel(task_id, job_reader(caller))
                .await
                .map_err(|e| RpcError::from_gateway(&e, request_id))?
                .ok_or_else(|| unknown(task_id))?;
            Ok(json!({}))
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

/// How a job's status reads as a task's.
fn status(record: &JobRecord) -> &'static str {
    match record.status {
        JobStatus::Queued | JobStatus::InProgress => "working",
        JobStatus::Canceled => "cancelled",
        JobStatus::Failed if internal_failure(record) => "failed",
        JobStatus::Completed | JobStatus::Failed | JobStatus::Nsfw => "completed",
    }
}

/// The job failed inside the gateway, not at its provider: no tool result says anything useful.
fn internal_failure(record: &JobRecord) -> bool {
    record.error.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str) == Some("internal")
}

/// The task fields every answer about a task carries.
fn task(mcp: &McpHandle, record: &JobRecord) -> Map<String, Value> {
    let poll_ms = u64::try_from(mcp.config.jobs.poll_initial.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut task = Map::with_capacity(8);
    task.insert("taskId".into(), record.job_id.as_str().into());
    task.insert("status".into(), status(record).into());
    task.insert("createdAt".into(), record.created_at.as_str().into());
    task.insert("lastUpdatedAt".into(), record.updated_at.as_str().into());
    task.insert("ttlMs".into(), Value::Null);
    task.insert("pollIntervalMs".into(), poll_ms.into());
    task
}

/// The `DetailedTask` of `tasks/get`: the task and, once it ended, its `result` or `error`.
async fn detailed(mcp: &McpHandle, scope: &RequestScope<'_>, record: &JobRecord) -> Map<String, Value> {
    let mut answer = task(mcp, record);
    let message = record.error.as_ref().and_then(|e| e.get("message")).and_then(Value::as_str);
    if let Some(message) = message {
        answer.insert("statusMessage".into(), message.into());
    }
    match status(record) {
        "completed" => {
            let mut result = if record.status == JobStatus::Completed {
                call_result(job_output(mcp.engine.jobs(), record).await, false)
            } else {
                error_result(&job_error(record), scope.request_id)
            };
            result["resultType"] = json!("complete");
            answer.insert("result".into(), result);
        }
        "failed" => {
            let mut error = RpcError::new(INTERNAL_ERROR, message.unwrap_or("the job failed inside the gateway"));
            error.data = Some(json!({"job_id": record.job_id}));
            answer.insert("error".into(), error.to_json());
        }
        _ => {}
    }
    answer
}
