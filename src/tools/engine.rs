//! The one call pipeline every entry point uses: look the tool up (as the caller may see it), validate
//! arguments, apply the category rate limit, wait for a slot in the call gate, run the binding under the call's
//! deadline and cancellation, check the output, then record metrics, a log line and an audit entry.
//!
//! Transports call [`Engine::call`] and encode what it returns; nothing here knows which transport asked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::context::CallCtx;
use super::executor;
use super::handle::RegistryHandle;
use super::output::ToolOutput;
use super::registry::Registry;
use crate::audit::{AuditEntry, AuditLog, hash_arguments, now_ms};
use crate::config::{Rate, SupabaseSettings};
use crate::error::{ErrorCode, GatewayError};
use crate::limits::{CallGate, KeyedLimit};
use crate::metrics::Metrics;
use crate::providers::upstream::{RetryPolicy, Upstream};
use crate::workers::Workers;

/// How the engine admits, times and records calls.
#[derive(Debug)]
pub struct EngineOptions {
    pub default_timeout: Duration,
    pub max_concurrent_calls: usize,
    pub call_queue: usize,
    /// Per caller and tool category.
    pub category_rate_limits: Vec<(String, Rate)>,
    pub audit: Option<Arc<AuditLog>>,
    /// Store arguments in the audit log, not only their hash.
    pub audit_arguments: bool,
    pub supabase: SupabaseSettings,
    /// The voice workers, for the `worker_query` builtin.
    pub workers: Arc<Workers>,
}

/// Runs tools. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    registry: Arc<RegistryHandle>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    default_timeout: Duration,
    gate: CallGate,
    category_limits: Vec<(String, KeyedLimit)>,
    audit: Option<Arc<AuditLog>>,
    audit_arguments: bool,
    supabase: SupabaseSettings,
    workers: Arc<Workers>,
}

impl Engine {
    #[must_use]
    pub fn new(
        registry: Arc<RegistryHandle>,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
        options: EngineOptions,
    ) -> Self {
        Self {
            registry,
            http,
            metrics,
            default_timeout: options.default_timeout,
            gate: CallGate::new(options.max_concurrent_calls, options.call_queue),
            category_limits: options.category_rate_limits.into_iter().map(|(c, r)| (c, KeyedLimit::new(r))).collect(),
            audit: options.audit,
            audit_arguments: options.audit_arguments,
            supabase: options.supabase,
            workers: options.workers,
        }
    }

    /// The upstream client of one provider, on the pooled HTTP client and the gateway's metrics.
    #[must_use]
    pub fn upstream<'a>(&'a self, provider: &'a str, policy: RetryPolicy) -> Upstream<'a> {
        Upstream { client: &self.http, metrics: &self.metrics, provider, policy }
    }

    /// Whether a setting a binding needs is available (typed provider settings, else the environment).
    #[must_use]
    pub fn setting_is_set(&self, name: &str) -> bool {
        match name {
            "SUPABASE_URL" => self.supabase.url.is_some(),
            "SUPABASE_API_KEY" => self.supabase.api_key.is_some(),
            other => std::env::var(other).is_ok_and(|v| !v.is_empty()),
        }
    }

    /// Supabase settings, for `supabase_rpc` bindings.
    #[must_use]
    pub fn supabase(&self) -> &SupabaseSettings {
        &self.supabase
    }

    /// The voice workers, for the `worker_query` builtin.
    #[must_use]
    pub fn workers(&self) -> &Arc<Workers> {
        &self.workers
    }

    /// The live registry handle.
    #[must_use]
    pub fn registry(&self) -> &Arc<RegistryHandle> {
        &self.registry
    }

    /// Forget idle rate-limit buckets (called periodically).
    pub fn prune_limits(&self) {
        for (_, limit) in &self.category_limits {
            limit.prune();
        }
    }

    /// Call a tool by name. `Err` is a failure of the call itself (unknown tool, invalid arguments, upstream
    /// error, timeout); a tool that ran and reports failure returns `Ok` with `is_error` set.
    pub async fn call(&self, ctx: &CallCtx, name: &str, args: Value) -> Result<ToolOutput, GatewayError> {
        let registry = self.registry.snapshot();
        let started = Instant::now();
        let audit_args =
            self.audit.as_ref().map(|_| (hash_arguments(&args), self.audit_arguments.then(|| args.to_string())));
        let outcome = self.run(&registry, ctx, name, args).await;
        let label = match &outcome {
            Ok(out) if out.is_error => "tool_error",
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        let elapsed = started.elapsed();
        // Unknown names are not recorded per name: that label would be unbounded.
        let known = registry.tool(name).is_some();
        self.metrics.record_tool_call(if known { name } else { "(unknown)" }, label, elapsed.as_secs_f64());
        let caller = ctx.caller.id();
        match &outcome {
            Ok(_) => tracing::info!(tool = name, caller, outcome = label, ms = elapsed.as_millis(), "tool call"),
            Err(e) => tracing::warn!(
                tool = name, caller, outcome = label, ms = elapsed.as_millis(), error = %e.message, "tool call failed"
            ),
        }
        if let (Some(audit), Some((args_hash, args))) = (&self.audit, audit_args) {
            let upstream_status = outcome
                .as_ref()
                .err()
                .and_then(|e| e.details.get("upstream_status"))
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok());
            let recorded = audit.record(AuditEntry {
                time_ms: now_ms(),
                request_id: ctx.request_id.to_string(),
                key_id: caller.to_owned(),
                tool: name.chars().take(128).collect(),
                category: registry.tool(name).and_then(|t| t.spec.category.clone()),
                outcome: label.to_owned(),
                duration_ms: elapsed.as_secs_f64() * 1000.0,
                upstream_status,
                args_hash,
                args,
            });
            if !recorded {
                self.metrics.record_audit_dropped();
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
        // A tool the caller may not call does not exist for it: the answer is the same as for a typo.
        let tool = registry
            .tool(name)
            .filter(|t| ctx.caller.may_call(name, t.spec.category.as_deref()))
            .ok_or_else(|| GatewayError::unknown_tool(name))?;
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
        if let Some(category) = &tool.spec.category {
            for (_, limit) in self.category_limits.iter().filter(|(c, _)| c == category) {
                if let Err(wait) = limit.check(ctx.caller.id()) {
                    let secs = wait.as_secs() + 1;
                    return Err(GatewayError::new(
                        ErrorCode::RateLimited,
                        format!("the rate limit for `{category}` tools is exceeded; retry in {secs} s"),
                    )
                    .with_details(json!({"retry_after_secs": secs, "category": category})));
                }
            }
        }
        let _slot = self.gate.enter().await?;
        let timeout = tool.spec.timeout.unwrap_or(self.default_timeout);
        let deadline = Instant::now() + timeout;
        let output = tokio::select! {
            out = executor::execute(self, tool, ctx, args, deadline) => out?,
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
