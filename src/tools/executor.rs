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
    match &tool.spec.binding {
        Binding::Builtin(builtin) => builtin.run(engine, ctx, args, deadline).await,
        Binding::Llm(binding) => binding.run(engine, ctx, &args, deadline).await,
        Binding::Http(http) => http.run(engine, ctx, &args, deadline).await,
        Binding::SupabaseRpc(rpc) => rpc.run(engine, ctx, &args, deadline).await,
        Binding::Static(fixed) => Ok(ToolOutput {
            value: fixed.result.clone().unwrap_or(Value::Null),
            content: fixed.content.clone(),
            is_error: fixed.is_error,
        }),
    }
}
