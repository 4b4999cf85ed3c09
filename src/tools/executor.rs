//! Runs a tool's binding. One arm per binding kind; new kinds plug in here without touching any transport.

use std::time::Instant;

use serde_json::Value;

use super::binding::Binding;
use super::context::CallCtx;
use super::engine::Engine;
use super::output::ToolOutput;
use super::registry::Tool;
use crate::error::GatewayError;

/// Execute `tool`'s binding with already-validated arguments, before `deadline`.
pub async fn execute(
    engine: &Engine,
    tool: &Tool,
    ctx: &CallCtx,
    args: Value,
    deadline: Instant,
) -> Result<ToolOutput, GatewayError> {
    run_binding(engine, tool.name(), &tool.spec.binding, ctx, args, deadline).await
}

/// Run one binding (a tool's, or a workflow step's inline one); `name` labels what it produces (jobs, assets).
pub async fn run_binding(
    engine: &Engine,
    name: &str,
    binding: &Binding,
    ctx: &CallCtx,
    args: Value,
    deadline: Instant,
) -> Result<ToolOutput, GatewayError> {
    match binding {
        Binding::Builtin(builtin) => builtin.run(engine, ctx, args, deadline).await,
        Binding::Llm(binding) => binding.run(engine, ctx, &args, deadline).await,
        Binding::Http(http) => http.run(engine, ctx, &args, deadline).await,
        Binding::SupabaseRpc(rpc) => rpc.run(engine, ctx, &args, deadline).await,
        Binding::Worker(worker) => worker.run(engine, ctx, &args, deadline).await,
        Binding::Workflow(workflow) => workflow.run(engine, ctx, &args, deadline).await,
        Binding::ElevenLabs(binding) => binding.run(engine, name, ctx, &args, deadline).await,
        Binding::Higgsfield(binding) => binding.run(engine, name, ctx, &args, deadline).await,
        Binding::Static(fixed) => Ok(ToolOutput {
            value: fixed.result.clone().unwrap_or(Value::Null),
            content: fixed.content.clone(),
            is_error: fixed.is_error,
        }),
    }
}
