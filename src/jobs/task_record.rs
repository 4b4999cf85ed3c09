//! The record of a tool call run as a task (2026-07-28 tasks extension, `mcp::modern::tool_tasks`): who
//! started it, where it stands, and how it ended. Media jobs have their own, richer record ([`super::JobRecord`]);
//! a tool task only needs its final answer.
//!
//! `result` is the `CallToolResult` the call answered (a tool error is a result with `isError`); `error` the
//! JSON-RPC error `{code, message, data?}` of a call that ended in a protocol or internal error. Questions a
//! running task waits on are not here: they live in the replica's memory with the running call.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::timestamp::now_rfc3339;

/// JSON-RPC's "internal error" code, for the failures recorded here (a task a restart cut).
pub const INTERNAL_ERROR: i64 = -32603;

/// Where a tool task stands (as stored; `input_required` is a running task waiting for answers, known only to
/// the replica running it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Working,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Working => "working",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One tool task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    /// The id of the caller that started it; only it (and administrators) can read or cancel it.
    pub owner: String,
    pub tool: String,
    pub status: TaskStatus,
    /// The `CallToolResult` of a completed task.
    pub result: Option<Value>,
    /// The JSON-RPC error of a failed task.
    pub error: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
    /// Milliseconds since the epoch at creation (a restart fails the tasks created before it).
    pub created_ms: i64,
    /// How long the record is kept after its last update.
    pub ttl_ms: u64,
}

impl TaskRecord {
    /// A new working task of `owner` calling `tool`.
    #[must_use]
    pub fn new(owner: &str, tool: &str, ttl_ms: u64) -> Self {
        let now = now_rfc3339();
        Self {
            task_id: uuid::Uuid::new_v4().to_string(),
            owner: owner.to_owned(),
            tool: tool.to_owned(),
            status: TaskStatus::Working,
            result: None,
            error: None,
            created_at: now.clone(),
            updated_at: now,
            created_ms: crate::audit::now_ms(),
            ttl_ms,
        }
    }

    /// End the task: `status` with its result or error.
    pub fn end(&mut self, status: TaskStatus, result: Option<Value>, error: Option<Value>) {
        self.status = status;
        self.result = result;
        self.error = error;
        self.updated_at = now_rfc3339();
    }
}
