//! Tool calls run as tasks (2026-07-28 tasks extension): a tool whose spec declares `execution.taskSupport`
//! (`optional` or `required`), called by a request that opted in to the extension, starts in the background and
//! the request answers the flat `CreateTaskResult` at once. The call runs through the same engine pipeline as
//! any call (limits, deadline, audit), under a context detached from the request, with a [`TaskLink`] as its
//! client link. Without the opt-in an `optional` tool runs synchronously and a `required` one is refused with
//! -32021 naming the extension. Media job tools are tasks of their own kind ([`super::tasks`]).
//!
//! Records ([`TaskRecord`]) live in the job store's `tool_tasks` table: status, owner, the `CallToolResult` of a
//! completed task (a tool error is `completed` with `isError`) or the JSON-RPC error of a `failed` one (a
//! protocol or internal error: a missing client capability, an unknown tool, an internal failure). They are
//! kept [`TTL_MS`] (an hour) after their last update, and another caller's task answers like an unknown id. A
//! restart cannot continue a running call: its task reads `failed` with a message saying so.
//!
//! Questions a task asks (elicitation, sampling, roots) park the call: the task reads `input_required` with
//! `inputRequests` (only the keys still pending), `tasks/update {taskId, inputResponses}` delivers answers
//! (unknown or malformed keys are ignored, a partial answer leaves the rest pending) and the call resumes once
//! everything it asked is answered. A tool may also ask over the request first and become a task afterwards
//! (`ask`'s `rounds_before_task`: plain `input_required` rounds with `requestState`, then `CreateTaskResult`).
//! The waiting questions and the cancellation handle live in this replica's memory ([`LiveTasks`]): a
//! `tasks/update` or `tasks/cancel` must reach the replica running the call (moving this state to Redis is
//! the scale-out issue's part). A waiting task still counts against the tool's timeout and holds its call slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use futures_util::FutureExt;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use super::round_trip::{RoundTripLink, is_answer, missing_capability};
use super::tasks::EXTENSION;
use super::{Exchange, MISSING_CAPABILITY, call_outcome, capability_refusal, round_inputs};
use crate::error::{ErrorCode, GatewayError};
use crate::jobs::{Jobs, TaskRecord, TaskStatus};
use crate::mcp::call_result::call_result;
use crate::mcp::dispatch::error_result;
use crate::mcp::jsonrpc::{INTERNAL_ERROR, RpcError};
use crate::mcp::peer::request_of;
use crate::mcp::request_state::Binding;
use crate::tools::spec::TaskSupport;
use crate::tools::{Ask, CallCtx, ChannelFuture, ClientChannel, ClientLink, LogLevel, Progress, Question, ToolOutput};

/// How long a task's record is kept after its last update.
pub const TTL_MS: u64 = 3_600_000;
/// How often clients are told to poll a tool task.
const POLL_INTERVAL_MS: u64 = 500;

/// The running tool tasks of this replica, by task id: what `tasks/update` and `tasks/cancel` reach.
#[derive(Debug, Default)]
pub struct LiveTasks {
    tasks: Mutex<HashMap<String, Arc<Inbox>>>,
}

impl LiveTasks {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Inbox>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, task_id: &str) -> Option<Arc<Inbox>> {
        self.lock().get(task_id).cloned()
    }
}

/// A running task's questions, answers and cancellation.
#[derive(Debug)]
struct Inbox {
    cancel: CancellationToken,
    questions: Mutex<Questions>,
    answered: Notify,
}

#[derive(Debug, Default)]
struct Questions {
    /// Asked and not answered yet: the request (`{method, params}`) and the question, by key.
    pending: Map<String, Value>,
    kinds: HashMap<String, Question>,
    answers: Map<String, Value>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Questions> {
        self.questions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The questions still waiting for an answer (`inputRequests`), if any.
    fn pending(&self) -> Option<Map<String, Value>> {
        let questions = self.lock();
        (!questions.pending.is_empty()).then(|| questions.pending.clone())
    }

    /// Take the answers to pending questions; other keys and malformed answers are ignored.
    fn deliver(&self, responses: &Map<String, Value>) {
        let mut questions = self.lock();
        for (key, answer) in responses {
            let fits = questions.kinds.get(key).is_some_and(|q| is_answer(q, answer));
            if fits && questions.pending.remove(key).is_some() {
                questions.answers.insert(key.clone(), answer.clone());
            }
        }
        drop(questions);
        self.answered.notify_waiters();
    }
}

/// The client link of a tool task: the request's own [`RoundTripLink`] until the call becomes a task, then the
/// task's [`Inbox`] (progress and log lines have no stream to go to in a task, and are dropped).
#[derive(Debug)]
pub struct TaskLink {
    round: RoundTripLink,
    capabilities: Value,
    jobs: Arc<Jobs>,
    live: Arc<LiveTasks>,
    owner: String,
    tool: String,
    inbox: Arc<Inbox>,
    /// The task, once the call became one.
    record: Mutex<Option<TaskRecord>>,
    /// Told when the task exists, so the request can answer it.
    created: Mutex<Option<oneshot::Sender<TaskRecord>>>,
}

impl TaskLink {
    fn record(&self) -> Option<TaskRecord> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn supports(&self, capability: &str) -> bool {
        self.capabilities.get(capability).is_some_and(|c| !c.is_null())
    }

    /// Wait inside the task until every question is answered.
    async fn ask_in_task(&self, questions: Vec<Ask>) -> Result<Vec<Value>, GatewayError> {
        loop {
            let answered = self.inbox.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            {
                let mut state = self.inbox.lock();
                let mut out = Vec::with_capacity(questions.len());
                let mut waiting = false;
                for Ask { key, question, optional } in &questions {
                    if !self.supports(question.kind()) {
                        if *optional {
                            out.push(Value::Null);
                            continue;
                        }
                        return Err(missing_capability(question.kind()));
                    }
                    match state.answers.get(key) {
                        Some(answer) => out.push(answer.clone()),
                        None => {
                            let (method, params, _) = request_of(question.clone());
                            state.pending.insert(key.clone(), json!({"method": method, "params": params}));
                            state.kinds.insert(key.clone(), question.clone());
                            waiting = true;
                        }
                    }
                }
                if !waiting {
                    return Ok(out);
                }
            }
            answered.await;
        }
    }
}

impl ClientChannel for TaskLink {
    fn progress<'a>(&'a self, update: Progress<'a>) -> ChannelFuture<'a, ()> {
        self.round.progress(update)
    }

    fn log<'a>(&'a self, level: LogLevel, logger: &'a str, data: Value) -> ChannelFuture<'a, ()> {
        self.round.log(level, logger, data)
    }

    fn ask(&self, questions: Vec<Ask>) -> ChannelFuture<'_, Result<Vec<Value>, GatewayError>> {
        if self.record().is_some() { Box::pin(self.ask_in_task(questions)) } else { self.round.ask(questions) }
    }

    fn recall(&self, key: &str) -> Option<Value> {
        self.round.recall(key)
    }

    fn remember(&self, key: &str, value: Value) {
        self.round.remember(key, value);
    }

    /// Create the task (saved before anyone hears of it, so an immediate `tasks/get` finds it).
    fn become_task(&self) -> ChannelFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            if self.record().is_some() {
                return Ok(());
            }
            let record = TaskRecord::new(&self.owner, &self.tool, TTL_MS);
            self.jobs.save_task(&record).await?;
            self.live.lock().insert(record.task_id.clone(), self.inbox.clone());
            *self.record.lock().unwrap_or_else(PoisonError::into_inner) = Some(record.clone());
            if let Some(created) = self.created.lock().unwrap_or_else(PoisonError::into_inner).take() {
                // The request may have gone; the task runs on regardless.
                let _ = created.send(record);
            }
            Ok(())
        })
    }
}

/// The task support a tool declares, when the caller may call it (media job tools are not among them).
#[must_use]
pub fn support(mcp: &crate::mcp::McpHandle, caller: &crate::auth::Caller, name: &str) -> Option<TaskSupport> {
    let registry = mcp.engine.registry().snapshot();
    let tool = registry.visible_to(caller).callable(name)?;
    if tool.spec.binding.runs_as_job() { None } else { tool.spec.task_support }
}

/// Add `execution.taskSupport` to the tools of a `tools/list` result that run as tasks in this era.
pub fn list_support(mcp: &crate::mcp::McpHandle, caller: &crate::auth::Caller, list: &mut Value) {
    let Some(tools) = list.get_mut("tools").and_then(Value::as_array_mut) else { return };
    for tool in tools {
        let support = tool.get("name").and_then(Value::as_str).and_then(|name| support(mcp, caller, name));
        if let Some(support) = support {
            tool["execution"] = json!({"taskSupport": support.as_str()});
        }
    }
}

/// A task-required tool called without the opt-in: -32021 naming the extension.
#[must_use]
pub fn required(name: &str) -> RpcError {
    let mut error = RpcError::new(
        MISSING_CAPABILITY,
        format!("Missing required client capability: tool `{name}` runs only as a task, which needs `{EXTENSION}`"),
    );
    error.data = Some(json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}}));
    error
}

/// `tools/call` of a task tool, opted in: start the call in the background and answer the `CreateTaskResult`
/// once the task exists, or what the call answered over the request before it became one (`input_required`,
/// or its result when it ended first).
pub(super) async fn call(ex: Exchange, name: String, args: Value) -> Result<Value, (StatusCode, RpcError)> {
    let binding = Binding::of(ex.caller.id(), &ex.method, &name, &args);
    let (carried, responses) = round_inputs(&ex, &binding).map_err(|e| (StatusCode::OK, e))?;
    let registry = ex.mcp.engine.registry().snapshot();
    let tool = registry.visible_to(&ex.caller).callable(&name);
    let has_output_schema = tool.is_some_and(|t| t.spec.output_schema.is_some());
    let asks_first = tool.is_some_and(|t| t.spec.binding.asks_before_task());
    let (created_tx, created_rx) = oneshot::channel();
    let cancel = CancellationToken::new();
    let capabilities = ex.envelope.capabilities.clone();
    let link = Arc::new(TaskLink {
        round: RoundTripLink::new(carried, responses, capabilities.clone(), None, None, None),
        capabilities,
        jobs: ex.mcp.engine.jobs().clone(),
        live: ex.mcp.live_tasks.clone(),
        owner: ex.caller.id().to_owned(),
        tool: name.clone(),
        inbox: Arc::new(Inbox { cancel: cancel.clone(), questions: Mutex::default(), answered: Notify::new() }),
        record: Mutex::new(None),
        created: Mutex::new(Some(created_tx)),
    });
    if !asks_first {
        link.become_task().await.map_err(|e| (StatusCode::OK, RpcError::from_gateway(&e, &ex.request_id)))?;
    }
    let ctx = CallCtx {
        request_id: ex.request_id.clone(),
        caller: ex.caller.clone(),
        cancel,
        client: Some(link.clone() as ClientLink),
        depth: 0,
    };
    let (done_tx, done_rx) = oneshot::channel();
    let (mcp, task_link) = (ex.mcp.clone(), link.clone());
    ex.mcp.engine.jobs().spawn(async move {
        let outcome = std::panic::AssertUnwindSafe(mcp.engine.call(&ctx, &name, args)).catch_unwind().await;
        let outcome = outcome.unwrap_or_else(|_| Err(GatewayError::internal("running a task", &"the call panicked")));
        match task_link.record() {
            Some(record) => finish(&task_link, record, outcome, has_output_schema, &ctx.request_id).await,
            // Still the request's: it answers the outcome (it may have gone; nothing is left to do then).
            None => {
                let _ = done_tx.send(outcome);
            }
        }
    });
    tokio::select! {
        biased;
        Ok(record) = created_rx => Ok(created(&record)),
        done = done_rx => match done {
            Ok(outcome) => call_outcome(&ex, outcome, has_output_schema, &link.round, binding),
            Err(_) => Err((StatusCode::OK, RpcError::new(INTERNAL_ERROR, "the call ended without an answer"))),
        },
    }
}

/// Save how the task's call ended and forget its live state.
async fn finish(
    link: &TaskLink,
    mut record: TaskRecord,
    outcome: Result<ToolOutput, GatewayError>,
    has_output_schema: bool,
    request_id: &str,
) {
    let (status, result, error) = match outcome {
        Ok(output) => (TaskStatus::Completed, Some(complete(call_result(output, has_output_schema))), None),
        Err(err) if err.code == ErrorCode::Cancelled => (TaskStatus::Cancelled, None, None),
        Err(err) => match capability_refusal(&err) {
            Some(refusal) => (TaskStatus::Failed, None, Some(refusal.to_json())),
            None if matches!(err.code, ErrorCode::UnknownTool | ErrorCode::Internal) => {
                (TaskStatus::Failed, None, Some(RpcError::from_gateway(&err, request_id).to_json()))
            }
            None => (TaskStatus::Completed, Some(complete(error_result(&err, request_id))), None),
        },
    };
    record.end(status, result, error);
    if let Err(err) = link.jobs.save_task(&record).await {
        tracing::error!(task_id = record.task_id, error = %err, "cannot save how a tool task ended");
    }
    link.live.lock().remove(&record.task_id);
}

fn complete(mut result: Value) -> Value {
    result["resultType"] = json!("complete");
    result
}

/// The task fields every answer about a tool task carries.
fn task(record: &TaskRecord, status: &str) -> Map<String, Value> {
    let mut task = Map::with_capacity(8);
    task.insert("taskId".into(), record.task_id.as_str().into());
    task.insert("status".into(), status.into());
    task.insert("createdAt".into(), record.created_at.as_str().into());
    task.insert("lastUpdatedAt".into(), record.updated_at.as_str().into());
    task.insert("ttlMs".into(), record.ttl_ms.into());
    task.insert("pollIntervalMs".into(), POLL_INTERVAL_MS.into());
    task
}

/// The flat `CreateTaskResult`.
fn created(record: &TaskRecord) -> Value {
    let mut created = task(record, TaskStatus::Working.as_str());
    created.insert("resultType".into(), "task".into());
    Value::Object(created)
}

/// `tasks/get`, `tasks/update`, `tasks/cancel` of a tool task the caller may reach.
pub async fn request(
    mcp: &crate::mcp::McpHandle,
    request_id: &str,
    record: TaskRecord,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let inbox = mcp.live_tasks.get(&record.task_id);
    match method {
        "tasks/get" => {
            let pending = inbox.as_ref().and_then(|i| i.pending()).filter(|_| record.status == TaskStatus::Working);
            let status = if pending.is_some() { "input_required" } else { record.status.as_str() };
            let mut answer = task(&record, status);
            if let Some(pending) = pending {
                answer.insert("inputRequests".into(), Value::Object(pending));
            }
            if let Some(result) = record.result.filter(|_| record.status == TaskStatus::Completed) {
                answer.insert("result".into(), result);
            }
            if let Some(error) = record.error.filter(|_| record.status == TaskStatus::Failed) {
                if let Some(message) = error.get("message").and_then(Value::as_str) {
                    answer.insert("statusMessage".into(), message.into());
                }
                answer.insert("error".into(), error);
            }
            Ok(Value::Object(answer))
        }
        "tasks/update" => {
            let responses = match params.get("inputResponses") {
                None => Map::new(),
                Some(Value::Object(responses)) => responses.clone(),
                Some(_) => {
                    return Err(RpcError::invalid_params("`inputResponses` must be an object of answers by key"));
                }
            };
            match inbox {
                Some(inbox) => inbox.deliver(&responses),
                // With shared state the task may run on another replica, which this one cannot hand answers to:
                // say so (retryable: the next attempt may reach that replica) rather than drop them.
                None if record.status == TaskStatus::Working && !responses.is_empty() && mcp.engine.jobs().shared() => {
                    let err = GatewayError::new(
                        ErrorCode::UpstreamUnavailable,
                        "this task runs on another replica, which answers cannot be relayed to yet; send them again",
                    )
                    .retryable(true);
                    return Err(RpcError::from_gateway(&err, request_id));
                }
                None => {}
            }
            Ok(json!({}))
        }
        "tasks/cancel" => {
            if record.status == TaskStatus::Working {
                let mut cancelled = record.clone();
                cancelled.end(TaskStatus::Cancelled, None, None);
                mcp.engine.jobs().save_task(&cancelled).await.map_err(|e| RpcError::from_gateway(&e, request_id))?;
            }
            if let Some(inbox) = inbox {
                inbox.cancel.cancel();
            }
            Ok(json!({}))
        }
        other => Err(RpcError::method_not_found(other)),
    }
}
