//! The one call pipeline every entry point uses: look the tool up, validate arguments, run the binding under the
//! call's deadline and cancellation, check the output, record metrics.
//!
//! Transports call [`Engine::call`] and encode what it returns; nothing here knows which transport asked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::context::CallCtx;
use super::executor;
use super::handle::RegistryHandle;
use super::output::ToolOutput;
use super::registry::Registry;
use crate::error::{ErrorCode, GatewayError};
use crate::metrics::Metrics;

/// Runs tools. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    registry: Arc<RegistryHandle>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    default_timeout: Duration,
}

impl Engine {
    #[must_use]
    pub fn new(
        registry: Arc<RegistryHandle>,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
        default_timeout: Duration,
    ) -> Self {
        Self { registry, http, metrics, default_timeout }
    }

    /// The live registry handle.
    #[must_use]
    pub fn registry(&self) -> &Arc<RegistryHandle> {
        &self.registry
    }

    /// The pooled HTTP client, for bindings that call upstreams.
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Call a tool by name. `Err` is a failure of the call itself (unknown tool, invalid arguments, upstream
    /// error, timeout); a tool that ran and reports failure returns `Ok` with `is_error` set.
    pub async fn call(&self, ctx: &CallCtx, name: &str, args: Value) -> Result<ToolOutput, GatewayError> {
        let registry = self.registry.snapshot();
        let started = Instant::now();
        let outcome = self.run(&registry, ctx, name, args).await;
        let label = match &outcome {
            Ok(out) if out.is_error => "tool_error",
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        let elapsed = started.elapsed();
        // Unknown names are not recorded per name: that label would be unbounded.
        let tool_label = if registry.tool(name).is_some() { name } else { "(unknown)" };
        self.metrics.record_tool_call(tool_label, label, elapsed.as_secs_f64());
        match &outcome {
            Ok(_) => tracing::info!(tool = name, outcome = label, ms = elapsed.as_millis(), "tool call"),
            Err(e) => {
                tracing::warn!(tool = name, outcome = label, ms = elapsed.as_millis(), error = %e.message, "tool call failed")
            }
        }
        outcome
    }

    async fn run(
        &self,
        registry: &Registry,
        ctx: &CallCtx,
        name: &str,
        args: Value,
    ) -> Result<ToolOutput, GatewayError> {
        let tool = registry.tool(name).ok_or_else(|| GatewayError::unknown_tool(name))?;
        let args = match args {
            Value::Null => Value::Object(Map::new()),
            obj @ Value::Object(_) => obj,
            other => {
                return Err(GatewayError::invalid_params(format!(
                    "arguments must be a JSON object, not {}",
                    json_type(&other)
                )));
            }
        };
        tool.validate_arguments(&args)?;
        let timeout = tool.spec.timeout.unwrap_or(self.default_timeout);
        let output = tokio::select! {
            out = executor::execute(self, tool, ctx, args) => out?,
            () = ctx.cancel.cancelled() => return Err(GatewayError::new(ErrorCode::Cancelled, "the call was cancelled")),
            () = tokio::time::sleep(timeout) => return Err(GatewayError::new(
                ErrorCode::Timeout,
                format!("`{name}` did not finish within {} s", timeout.as_secs_f64()),
            )),
        };
        if !output.is_error {
            tool.validate_output(&output.value)?;
        }
        Ok(output)
    }
}

/// A JSON value's type name, for messages.
#[must_use]
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
