//! MCP tasks (2025-11-25, experimental) answered from the media job store: a `tools/call` with `task` on a tool
//! whose `execution.taskSupport` is `optional` (the media tools) starts the job without waiting and returns a
//! task whose id is the job id; `tasks/get` reads the job, `tasks/result` waits for it to end and returns the
//! tool result, `tasks/cancel` cancels it. `tasks/list` is not offered.
//!
//! A task belongs to the caller that created it (the job's owner, [`crate::auth::Caller::id`]), as the tasks
//! text requires: for any other caller `tasks/get`, `tasks/result` and `tasks/cancel` answer exactly what an
//! unknown id gets (and cancel nothing). A caller holding `admin` reaches every task ([`job_reader`]).
//!
//! Task statuses map job statuses: queued and in_progress are `working`; completed is `completed`; failed and
//! nsfw are `failed`; canceled is `cancelled`. Jobs are kept without expiry, so `ttl` is `null`.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::call_result::call_result;
use super::dispatch::{RequestScope, error_result};
use super::jsonrpc::{METHOD_NOT_FOUND, RpcError};
use crate::error::ErrorCode;
use crate::jobs::{JobRecord, JobStatus};
use crate::tools::media::{job_error, job_output, job_reader};
use crate::tools::{CallCtx, ToolOutput};

const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";
/// How often `tasks/result` looks at the job while it runs.
const RESULT_POLL: Duration = Duration::from_millis(200);

/// The `tasks` server capability.
#[must_use]
pub fn capability() -> Value {
    json!({"cancel": {}, "requests": {"tools": {"call": {}}}})
}

/// `tools/call` with `task`: start the tool's job and answer `{task}` at once.
pub async fn call_as_task(scope: &RequestScope<'_>, ctx: &CallCtx, name: &str, args: Value) -> Result<Value, RpcError> {
    let registry = scope.state.engine.registry().snapshot();
    if registry.visible_to(scope.caller).callable(name).is_some_and(|tool| !tool.spec.binding.runs_as_job()) {
        return Err(RpcError::new(METHOD_NOT_FOUND, format!("tool `{name}` does not support task execution")));
    }
    match start_job(scope, ctx, name, args).await? {
        Started::Job(record) => Ok(json!({"task": task(scope, &record)})),
        Started::Answered(result) => Ok(result),
    }
}

/// What starting a tool's job gave.
pub(in crate::mcp) enum Started {
    /// The job, saved before the call returned.
    Job(Box<JobRecord>),
    /// The call ended without a job (it failed before one existed): its result as a `tools/call` answers it.
    Answered(Value),
}

/// Call a job tool without waiting for its job (`wait_for_completion: false` where the tool declares it).
pub(in crate::mcp) async fn start_job(
    scope: &RequestScope<'_>,
    ctx: &CallCtx,
    name: &str,
    args: Value,
) -> Result<Started, RpcError> {
    let registry = scope.state.engine.registry().snapshot();
    let tool = registry.visible_to(scope.caller).callable(name);
    let mut args = if args.is_null() { Value::Object(Map::new()) } else { args };
    let declares_wait = tool.is_some_and(|t| t.spec.input_schema.pointer("/properties/wait_for_completion").is_some());
    if let (Value::Object(map), true) = (&mut args, declares_wait) {
        map.insert("wait_for_completion".into(), json!(false));
    }
    let output = match scope.state.engine.call(ctx, name, args).await {
        Ok(output) => output,
        Err(err) if err.code == ErrorCode::UnknownTool => return Err(RpcError::from_gateway(&err, scope.request_id)),
        Err(err) => return Ok(Started::Answered(error_result(&err, scope.request_id))),
    };
    let job_id = output.value.get("job_id").and_then(Value::as_str).unwrap_or_default();
    find(scope, job_id).await.map(|record| Started::Job(Box::new(record)))
}

/// `tasks/get`, `tasks/result`, `tasks/cancel`.
pub async fn request(scope: &RequestScope<'_>, method: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
    let task_id = params
        .get("taskId")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("`taskId` is required and must be a string"))?;
    match method {
        "tasks/get" => Ok(task(scope, &find(scope, task_id).await?)),
        "tasks/result" => result(scope, task_id).await,
        "tasks/cancel" => {
            let jobs = scope.state.engine.jobs();
            let before = find(scope, task_id).await?;
            if before.status.is_terminal() {
                return Err(RpcError::invalid_params(format!(
                    "task `{task_id}` is already {}",
                    task_status(before.status)
                )));
            }
            let record = jobs
                .cancel(task_id, job_reader(scope.caller))
                .await
                .map_err(|e| RpcError::from_gateway(&e, scope.request_id))?
                .ok_or_else(|| unknown(task_id))?;
            Ok(task(scope, &record))
        }
        other => Err(RpcError::method_not_found(other)),
    }
}

/// Wait for the job to end (or the request to be cancelled), then answer the tool result.
async fn result(scope: &RequestScope<'_>, task_id: &str) -> Result<Value, RpcError> {
    let jobs = scope.state.engine.jobs();
    loop {
        let record = find(scope, task_id).await?;
        if record.status.is_terminal() {
            let mut answer = if record.status == JobStatus::Completed {
                let output: ToolOutput = job_output(jobs, &record).await;
                call_result(output, false)
            } else {
                error_result(&job_error(&record), scope.request_id)
            };
            answer["_meta"][RELATED_TASK] = json!({"taskId": task_id});
            return Ok(answer);
        }
        tokio::select! {
            () = tokio::time::sleep(RESULT_POLL) => {}
            () = scope.cancel.cancelled() => return Err(RpcError::new(super::jsonrpc::INTERNAL_ERROR, "the request was cancelled")),
        }
    }
}

/// The caller's task (job) by id; another caller's is [`unknown`], like an id that never existed.
pub(in crate::mcp) async fn find(scope: &RequestScope<'_>, task_id: &str) -> Result<JobRecord, RpcError> {
    scope
        .state
        .engine
        .jobs()
        .get(task_id, job_reader(scope.caller))
        .await
        .map_err(|e| RpcError::from_gateway(&e, scope.request_id))?
        .ok_or_else(|| unknown(task_id))
}

/// The answer to a task id the caller has no task of.
pub(in crate::mcp) fn unknown(task_id: &str) -> RpcError {
    RpcError::invalid_params(format!("unknown task `{task_id}`"))
}

fn task_status(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued | JobStatus::InProgress => "working",
        JobStatus::Completed => "completed",
        JobStatus::Failed | JobStatus::Nsfw => "failed",
        JobStatus::Canceled => "cancelled",
    }
}

/// The MCP `Task` of a job.
fn task(scope: &RequestScope<'_>, record: &JobRecord) -> Value {
    let mut task = json!({
        "taskId": record.job_id,
        "status": task_status(record.status),
        "createdAt": record.created_at,
        "lastUpdatedAt": record.updated_at,
        "ttl": null,
        "pollInterval": u64::try_from(scope.state.config.jobs.poll_initial.as_millis()).unwrap_or(u64::MAX),
    });
    let message = match record.status {
        JobStatus::Completed => Some(format!("{} job completed", record.provider)),
        _ => record.error.as_ref().and_then(|e| e.get("message")).and_then(Value::as_str).map(str::to_owned),
    };
    if let Some(message) = message {
        task["statusMessage"] = json!(message);
    }
    task
}
