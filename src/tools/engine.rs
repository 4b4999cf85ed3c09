//! The one call pipeline every entry point uses: look the tool up (as the caller may see it), validate
//! arguments, apply the category rate limit, wait for a slot in the call gate, run the binding under the call's
//! deadline and cancellation, check the output, then record metrics, a log line and an audit entry.
//!
//! Transports call [`Engine::call`] and encode what it returns; nothing here knows which transport asked.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::context::CallCtx;
use super::executor::Call;
use super::handle::RegistryHandle;
use super::output::ToolOutput;
use super::registry::{Registry, Tool};
use super::to_end::ToEnd;
use crate::audit::{AuditEntry, AuditLog, hash_arguments, now_ms};
use crate::config::{FlowChatWorkerSettings, LlmSettings, Rate, SupabaseSettings};
use crate::error::{ErrorCode, GatewayError};
use crate::jobs::Jobs;
use crate::limits::{CallGate, KeyedLimit, ProviderCaps, Refused, SharedBudgets};
use crate::metrics::{Metrics, NO_CATEGORY, RateLimit};
use crate::providers::upstream::{RetryPolicy, Upstream};
use crate::voice_workers::Workers;

/// How the engine admits, times and records calls.
#[derive(Debug)]
pub struct EngineOptions {
    pub default_timeout: Duration,
    pub max_concurrent_calls: usize,
    pub call_queue: usize,
    /// Per caller and tool category.
    pub category_rate_limits: Vec<(String, Rate)>,
    /// Where the category budgets live when replicas share them (`GATEWAY_REDIS_URL`).
    pub shared_budgets: Option<SharedBudgets>,
    pub audit: Option<Arc<AuditLog>>,
    /// Store arguments in the audit log, not only their hash.
    pub audit_arguments: bool,
    pub supabase: SupabaseSettings,
    pub flowchat_workers: FlowChatWorkerSettings,
    /// The voice workers, for the `worker_query` builtin.
    pub workers: Arc<Workers>,
    /// Requests in flight per upstream provider (shared with the job service).
    pub provider_caps: Arc<ProviderCaps>,
    /// The largest upstream answer read (`upstream_max_answer_bytes`).
    pub max_answer_bytes: u64,
    /// Long media jobs and their storage.
    pub jobs: Arc<Jobs>,
    pub llm: LlmSettings,
}

/// A finished call, as [`Engine::record`] accounts for it.
#[derive(Debug)]
pub struct CallRecord<'a> {
    pub request_id: &'a str,
    pub caller: &'a str,
    pub tool: &'a str,
    /// The tool exists (metrics label unknown names as one, so the label set stays bounded).
    pub known: bool,
    pub category: Option<&'a str>,
    /// `Ok(is_error)` for a call that ran, `Err` for one that failed.
    pub outcome: Result<bool, &'a GatewayError>,
    pub elapsed: Duration,
    /// From [`Engine::audit_arguments`].
    pub audit_args: Option<(String, Option<String>)>,
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
    flowchat_workers: FlowChatWorkerSettings,
    workers: Arc<Workers>,
    provider_caps: Arc<ProviderCaps>,
    max_answer_bytes: u64,
    jobs: Arc<Jobs>,
    llm: LlmSettings,
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
            category_limits: options
                .category_rate_limits
                .into_iter()
                .map(|(c, r)| {
                    let limit =
                        KeyedLimit::local_or_shared(r, options.shared_budgets.as_ref(), &format!("category:{c}"));
                    (c, limit)
                })
                .collect(),
            audit: options.audit,
            audit_arguments: options.audit_arguments,
            supabase: options.supabase,
            flowchat_workers: options.flowchat_workers,
            llm: options.llm,
            provider_caps: options.provider_caps,
            max_answer_bytes: options.max_answer_bytes,
            workers: options.workers,
            jobs: options.jobs,
        }
    }

    /// The upstream client of one provider, on the pooled HTTP client and the gateway's metrics, under the
    /// provider's concurrency cap.
    #[must_use]
    pub fn upstream<'a>(&'a self, provider: &'a str, policy: RetryPolicy) -> Upstream<'a> {
        let cap = self.provider_caps.cap(provider);
        Upstream {
            client: &self.http,
            metrics: &self.metrics,
            provider,
            policy,
            cap,
            max_answer_bytes: self.max_answer_bytes,
        }
    }

    /// Whether a setting a binding needs is available (typed provider settings, else the environment).
    #[must_use]
    pub fn setting_is_set(&self, name: &str) -> bool {
        match name {
            "SUPABASE_URL" => self.supabase.url.is_some(),
            "SUPABASE_API_KEY" => self.supabase.api_key.is_some(),
            "DATABASE_WORKER_URL" => self.flowchat_workers.database.is_some(),
            "DOCUMENT_WORKER_URL" => self.flowchat_workers.document.is_some(),
            "STORAGE_WORKER_URL" => self.flowchat_workers.storage.is_some(),
            "EMAIL_WORKER_URL" => self.flowchat_workers.email.is_some(),
            "WORKER_AUTH_KEY" => self.flowchat_workers.auth_key.is_some(),
            "ELEVENLABS_API_KEY" => self.jobs.elevenlabs().api_key.is_some(),
            "HIGGSFIELD_API_KEY" => self.jobs.higgsfield().key_id.is_some(),
            "HIGGSFIELD_API_SECRET" => self.jobs.higgsfield().key_secret.is_some(),
            "LLM_BASE_URL" => self.llm.base_url.is_some(),
            "LLM_API_KEY" => self.llm.api_key.is_some(),
            "LLM_MODEL" => self.llm.model.is_some(),
            other => std::env::var(other).is_ok_and(|v| !v.is_empty()),
        }
    }

    /// Supabase settings, for `supabase_rpc` bindings.
    #[must_use]
    pub fn supabase(&self) -> &SupabaseSettings {
        &self.supabase
    }

    /// The FlowChat worker settings, for `worker` bindings.
    #[must_use]
    pub fn flowchat_workers(&self) -> &FlowChatWorkerSettings {
        &self.flowchat_workers
    }

    /// The voice workers, for the `worker_query` builtin.
    #[must_use]
    pub fn workers(&self) -> &Arc<Workers> {
        &self.workers
    }

    /// The media job service (ElevenLabs and Higgsfield bindings, `check_job_status`).
    #[must_use]
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    /// The LLM settings, for `llm` bindings and `call_llm`.
    #[must_use]
    pub fn llm(&self) -> &LlmSettings {
        &self.llm
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

    /// [`Engine::call`] behind a pointer, for tools that call tools (`call_llm`, workflow steps): those run
    /// inside `Engine::call`, so its future type would otherwise contain itself.
    pub fn call_boxed<'a>(
        &'a self,
        ctx: &'a CallCtx,
        name: &'a str,
        args: Value,
    ) -> Pin<Box<dyn Future<Output = Result<ToolOutput, GatewayError>> + Send + 'a>> {
        Box::pin(self.call(ctx, name, args))
    }

    /// Call a tool by name. `Err` is a failure of the call itself (unknown tool, invalid arguments, upstream
    /// error, timeout); a tool that ran and reports failure returns `Ok` with `is_error` set.
    pub async fn call(&self, ctx: &CallCtx, name: &str, args: Value) -> Result<ToolOutput, GatewayError> {
        self.call_in(&self.registry.snapshot(), ctx, name, args).await
    }

    /// [`Engine::call`] on a registry snapshot the caller already holds: one lock and reference count fewer.
    pub async fn call_in(
        &self,
        registry: &Registry,
        ctx: &CallCtx,
        name: &str,
        args: Value,
    ) -> Result<ToolOutput, GatewayError> {
        let started = Instant::now();
        let audit_args = self.audit_arguments(&args);
        let tool = registry.tool(name);
        // A tool the caller may not call does not exist for it: the answer is the same as for a typo.
        let callable = tool.filter(|t| registry.visible_to(&ctx.caller).may_call(t));
        let outcome = self.run(callable, ctx, name, args).await;
        self.record(CallRecord {
            request_id: &ctx.request_id,
            caller: ctx.caller.id(),
            tool: name,
            known: tool.is_some(),
            category: tool.and_then(|t| t.spec.category.as_deref()),
            outcome: outcome.as_ref().map(|out| out.is_error),
            elapsed: started.elapsed(),
            audit_args,
        });
        outcome
    }

    /// [`Engine::call`] for adapters that answer on the request itself (REST, action envelopes): the call runs to
    /// its end even when the client hangs up first (see [`ToEnd`]), so a write is never abandoned half-done. A
    /// panic in the call is an `internal` error.
    pub async fn call_to_end(
        self: &Arc<Self>,
        ctx: CallCtx,
        name: String,
        args: Value,
    ) -> Result<ToolOutput, GatewayError> {
        let engine = self.clone();
        let call = ToEnd::new(async move { engine.call(&ctx, &name, args).await }).await;
        call.unwrap_or_else(|panicked| Err(GatewayError::internal("running the tool", &panicked)))
    }

    /// What the audit log keeps of a call's arguments (their hash, and the arguments when configured); `None`
    /// when the audit log is off. Taken before the call, which consumes the arguments.
    #[must_use]
    pub fn audit_arguments(&self, args: &Value) -> Option<(String, Option<String>)> {
        self.audit.as_ref().map(|_| (hash_arguments(args), self.audit_arguments.then(|| args.to_string())))
    }

    /// Record a finished call: metrics, a log line and an audit entry. Also used by endpoints that run a tool's
    /// work without the pipeline (the REST worker query), so every call is accounted for the same way.
    pub fn record(&self, call: CallRecord<'_>) {
        let label = match &call.outcome {
            Ok(true) => "tool_error",
            Ok(false) => "ok",
            Err(e) => e.code.as_str(),
        };
        let (name, caller, elapsed) = (call.tool, call.caller, call.elapsed);
        // Unknown names are not recorded per name: that label would be unbounded.
        self.metrics.record_tool_call(if call.known { name } else { "(unknown)" }, label, elapsed.as_secs_f64());
        self.metrics.record_caller_call(caller, call.category.unwrap_or(NO_CATEGORY), label);
        match &call.outcome {
            Ok(_) => tracing::info!(tool = name, caller, outcome = label, ms = elapsed.as_millis(), "tool call"),
            Err(e) => tracing::warn!(
                tool = name, caller, outcome = label, ms = elapsed.as_millis(), error = %e.message, "tool call failed"
            ),
        }
        if let (Some(audit), Some((args_hash, args))) = (&self.audit, call.audit_args) {
            let upstream_status = call
                .outcome
                .as_ref()
                .err()
                .and_then(|e| e.details.get("upstream_status"))
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok());
            let recorded = audit.record(AuditEntry {
                time_ms: now_ms(),
                request_id: call.request_id.to_owned(),
                key_id: caller.to_owned(),
                // At most 128 characters; a name of at most 128 bytes has no more, and is copied whole.
                tool: if name.len() <= 128 { name.to_owned() } else { name.chars().take(128).collect() },
                category: call.category.map(str::to_owned),
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
    }

    async fn run(
        &self,
        tool: Option<&Arc<Tool>>,
        ctx: &CallCtx,
        name: &str,
        args: Value,
    ) -> Result<ToolOutput, GatewayError> {
        let tool = tool.ok_or_else(|| GatewayError::unknown_tool(name))?;
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
                if let Err(refused) = limit.check(ctx.caller.id()).await {
                    let wait = match refused {
                        Refused::Wait(wait) => wait,
                        Refused::Unavailable(err) => return Err(err),
                    };
                    self.metrics.record_rate_limited(RateLimit::Category, category, ctx.caller.id());
                    let secs = wait.as_secs() + 1;
                    return Err(GatewayError::new(
                        ErrorCode::RateLimited,
                        format!("the rate limit for `{category}` tools is exceeded; retry in {secs} s"),
                    )
                    .with_details(json!({"retry_after_secs": secs, "category": category})));
                }
            }
        }
        // A nested call (a tool calling a tool) runs in its parent's slot: waiting for a slot of its own while
        // the parent holds one could deadlock a full gate.
        let _slot = if ctx.depth == 0 { Some(self.gate.enter().await?) } else { None };
        let timeout = tool.spec.timeout.unwrap_or(self.default_timeout);
        let deadline = Instant::now() + timeout;
        // The binding first: one that answers at once (most builtins) never registers a timer or a cancellation
        // waiter, which cost locks on the timer wheel and the token; a binding that waits sees both as before.
        let output = tokio::select! {
            biased;
            out = tool.spec.binding.run(self, Call { name: tool.name(), ctx, args, deadline }) => out?,
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
