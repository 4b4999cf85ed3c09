//! Built-in tool handlers, named by `{"kind": "builtin", "name": ...}` bindings.
//!
//! Each builtin parses its `options` when the spec loads, so a typo fails at start-up, not at call time.
//! Besides `ping` and `list_tools`, four builtins exercise the client link: `progress` (progress
//! notifications), `log` (log messages), `sample` (asks the client's model through `sampling/createMessage`)
//! and `elicit` (asks the user through `elicitation/create`). They back the protocol fixtures and are useful
//! in their own right (an "ask the user" tool is an `elicit` spec); `ask` asks several questions in rounds
//! ([`super::ask_builtin`]); `reload_tools` reloads the specs folder (clients are told the list changed). `worker_query` runs a read-only SQL query on
//! a voice worker's database through the `workers` domain; `check_job_status` reads a media job; `call_llm` lets
//! the configured LLM call gateway tools ([`super::llm_agent`]).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ask_builtin::AskOptions;
use super::client::{LogLevel, Question};
use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::handle::reload_refused;
use super::llm_agent;
use super::media::{job_output, job_reader};
use super::output::ToolOutput;
use super::spec::PathError;
use crate::error::{ErrorCode, GatewayError};
use crate::timestamp::now_rfc3339;
use crate::voice_workers::{QueryRequest, run_blocking};

/// The known builtins with their checked options.
#[derive(Debug)]
pub enum Builtin {
    /// Liveness: `{pong, server, version, time}`.
    Ping,
    /// The tools the caller may see: `{tools: [{name, category, description}], total}`, optionally filtered by
    /// category.
    ListTools,
    /// Report progress in `steps` even steps up to `total`, `interval_ms` apart (or spread over the number of
    /// seconds in the `duration_argument` argument: a long computation), then answer `text`.
    Progress(ProgressOptions),
    /// Send each message to the client's log, `interval_ms` apart, then answer `text`.
    Log(LogOptions),
    /// Ask the client's model to complete the prompt found in the `prompt_argument` argument.
    Sample(SampleOptions),
    /// Ask the user to fill in `requested_schema`, with a fixed `message` or one from `message_argument`.
    Elicit(ElicitOptions),
    /// Ask the client questions in rounds, then answer with what it said.
    Ask(AskOptions),
    /// Reload the tool specs from their folder now: `{reloaded, tools}`; clients are told the list changed.
    ReloadTools,
    /// A read-only SQL query on a voice worker's database: `{worker_id, query, limit?}`.
    WorkerQuery,
    /// A media job's record by `job_id` (any provider), with its assets as content blocks; only the caller's own
    /// jobs (every job for `admin`).
    CheckJobStatus,
    /// Ask the configured LLM, letting it call the tools named in `tool_names` in bounded rounds.
    CallLlm,
}

const NAMES: &str =
    "ping, list_tools, progress, log, sample, elicit, ask, reload_tools, worker_query, check_job_status, call_llm";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressOptions {
    #[serde(default = "default_steps")]
    steps: u32,
    #[serde(default = "default_total")]
    total: f64,
    #[serde(default = "default_interval")]
    interval_ms: u64,
    /// The number argument holding how many seconds the whole run takes (instead of `interval_ms`).
    duration_argument: Option<String>,
    #[serde(default = "default_done")]
    text: String,
}

/// The longest run a `duration_argument` may ask for; the tool's own timeout usually ends it sooner.
const MAX_PROGRESS_SECS: f64 = 86_400.0;

impl ProgressOptions {
    /// The wait between steps: `interval_ms`, or the call's duration spread over the steps.
    fn interval(&self, args: &Value) -> Duration {
        let Some(argument) = &self.duration_argument else { return Duration::from_millis(self.interval_ms) };
        let secs = args.get(argument).and_then(Value::as_f64).filter(|s| s.is_finite()).unwrap_or(0.0);
        let gaps = self.steps.saturating_sub(1).max(1);
        Duration::from_secs_f64(secs.clamp(0.0, MAX_PROGRESS_SECS)) / gaps
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogOptions {
    messages: Vec<LogMessage>,
    #[serde(default = "default_interval")]
    interval_ms: u64,
    #[serde(default = "default_done")]
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogMessage {
    level: String,
    data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleOptions {
    prompt_argument: String,
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    system_prompt: Option<String>,
    #[serde(default)]
    prefix: String,
    /// The key the answer comes back under (2026-07-28 `inputRequests`).
    #[serde(default = "default_sample_key")]
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElicitOptions {
    message: Option<String>,
    message_argument: Option<String>,
    requested_schema: Value,
    /// The key the answer comes back under (2026-07-28 `inputRequests`).
    #[serde(default = "default_elicit_key")]
    key: String,
}

fn default_sample_key() -> String {
    "sampling".into()
}
fn default_elicit_key() -> String {
    "elicitation".into()
}

fn default_steps() -> u32 {
    3
}
fn default_total() -> f64 {
    100.0
}
fn default_interval() -> u64 {
    50
}
fn default_done() -> String {
    "done".into()
}
fn default_max_tokens() -> u32 {
    256
}

fn options<T: for<'de> Deserialize<'de>>(name: &str, options: &Value) -> Result<T, PathError> {
    T::deserialize(options).map_err(|e| PathError::new("$.binding.options", format!("builtin `{name}`: {e}")))
}

/// An argument a builtin reads must be a declared string property of the tool.
fn declared_argument(schema: &Value, argument: &str, option: &str) -> Result<(), PathError> {
    let declared = schema.get("properties").and_then(|p| p.get(argument)).is_some();
    if declared {
        Ok(())
    } else {
        Err(PathError::new(
            format!("$.binding.options.{option}"),
            format!("`{argument}` is not a property of the tool's inputSchema"),
        ))
    }
}

impl Builtin {
    /// Parse `$.binding.name` and `$.binding.options`.
    pub fn parse(name: &str, raw: &Value, input_schema: &Value) -> Result<Self, PathError> {
        let no_options = |b: Self| {
            if raw.as_object().is_some_and(serde_json::Map::is_empty) {
                Ok(b)
            } else {
                Err(PathError::new("$.binding.options", format!("builtin `{name}` takes no options")))
            }
        };
        match name {
            "ping" => no_options(Self::Ping),
            "reload_tools" => no_options(Self::ReloadTools),
            "ask" => Ok(Self::Ask(AskOptions::parse(raw)?)),
            "list_tools" => no_options(Self::ListTools),
            "worker_query" => {
                let properties = input_schema.get("properties");
                if let Some(missing) =
                    ["worker_id", "query"].into_iter().find(|a| properties.and_then(|p| p.get(a)).is_none())
                {
                    return Err(PathError::new(
                        "$.inputSchema.properties",
                        format!("builtin `worker_query` reads `{missing}`: declare it"),
                    ));
                }
                no_options(Self::WorkerQuery)
            }
            "check_job_status" => {
                if input_schema.pointer("/properties/job_id").is_none() {
                    return Err(PathError::new(
                        "$.inputSchema.properties",
                        "builtin `check_job_status` reads a `job_id` argument: declare it",
                    ));
                }
                no_options(Self::CheckJobStatus)
            }
            "progress" => {
                let o: ProgressOptions = options(name, raw)?;
                if o.steps == 0 || o.steps > 1000 || !o.total.is_finite() || o.total <= 0.0 {
                    return Err(PathError::new("$.binding.options", "`steps` must be 1..=1000 and `total` positive"));
                }
                if let Some(argument) = &o.duration_argument {
                    declared_argument(input_schema, argument, "duration_argument")?;
                }
                Ok(Self::Progress(o))
            }
            "log" => {
                let o: LogOptions = options(name, raw)?;
                for (i, m) in o.messages.iter().enumerate() {
                    if LogLevel::parse(&m.level).is_none() {
                        return Err(PathError::new(
                            format!("$.binding.options.messages[{i}].level"),
                            format!("unknown log level `{}`", m.level),
                        ));
                    }
                }
                Ok(Self::Log(o))
            }
            "sample" => {
                let o: SampleOptions = options(name, raw)?;
                declared_argument(input_schema, &o.prompt_argument, "prompt_argument")?;
                Ok(Self::Sample(o))
            }
            "elicit" => {
                let o: ElicitOptions = options(name, raw)?;
                match (&o.message, &o.message_argument) {
                    (Some(_), None) => {}
                    (None, Some(arg)) => declared_argument(input_schema, arg, "message_argument")?,
                    _ => {
                        return Err(PathError::new(
                            "$.binding.options",
                            "builtin `elicit` needs exactly one of `message` or `message_argument`",
                        ));
                    }
                }
                if o.requested_schema.get("type").and_then(Value::as_str) != Some("object") {
                    return Err(PathError::new("$.binding.options.requested_schema", "must be an object schema"));
                }
                Ok(Self::Elicit(o))
            }
            "call_llm" => {
                if input_schema.get("properties").and_then(|p| p.get(llm_agent::MESSAGE)).is_none() {
                    return Err(PathError::new(
                        "$.inputSchema.properties",
                        "builtin `call_llm` reads the `message` argument: declare it",
                    ));
                }
                no_options(Self::CallLlm)
            }
            other => Err(PathError::new("$.binding.name", format!("unknown builtin `{other}`; known: {NAMES}"))),
        }
    }
}

impl BindingKind for Builtin {
    fn kind(&self) -> &'static str {
        "builtin"
    }

    /// Settings a call needs (see [`super::binding::Binding::required_settings`]).
    fn required_settings(&self) -> Vec<&str> {
        match self {
            Self::CallLlm => vec!["LLM_BASE_URL"],
            Self::Ping
            | Self::ListTools
            | Self::Progress(_)
            | Self::Log(_)
            | Self::Sample(_)
            | Self::Elicit(_)
            | Self::Ask(_)
            | Self::ReloadTools
            | Self::WorkerQuery
            | Self::CheckJobStatus => Vec::new(),
        }
    }

    /// Run with validated arguments, before `deadline`. `ping` answers at once; the others wait on far larger
    /// futures (an LLM agent's loop, the client's answers), kept behind a pointer: inline, ping's future would be
    /// as large as theirs, and the pipeline copies it whole when it boxes it (3% of a ping call's CPU time).
    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        match self {
            Self::Ping => Ok(pong()),
            _ => Box::pin(self.run_waiting(engine, call)).await,
        }
    }
}

/// The builtin `ping` tool's answer.
fn pong() -> ToolOutput {
    ToolOutput::json(json!({
        "pong": true,
        "server": "mcp-gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "time": now_rfc3339(),
    }))
}

impl Builtin {
    /// Every builtin but `ping` (see [`BindingKind::run`]).
    async fn run_waiting(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: _, ctx, args, deadline } = call;
        match self {
            Self::CallLlm => llm_agent::run(engine, ctx, &args, deadline).await,
            Self::Ask(o) => o.run(ctx).await,
            Self::ReloadTools => match engine.registry().reload_async().await {
                Ok(tools) => Ok(ToolOutput::json(json!({"reloaded": true, "tools": tools}))),
                Err(problems) => Err(reload_refused(&problems)),
            },
            Self::Ping => Ok(pong()),
            Self::ListTools => {
                let category = args.get("category").and_then(Value::as_str).map(str::to_ascii_lowercase);
                let registry = engine.registry().snapshot();
                let tools: Vec<Value> = registry
                    .visible_to(&ctx.caller)
                    .tools()
                    .filter(|t| category.is_none() || t.spec.category == category)
                    .map(|t| json!({"name": t.spec.name, "category": t.spec.category, "description": t.spec.description}))
                    .collect();
                Ok(ToolOutput::json(json!({"total": tools.len(), "tools": tools})))
            }
            Self::Progress(o) => {
                let interval = o.interval(&args);
                for step in 0..o.steps {
                    if step > 0 || (o.steps == 1 && o.duration_argument.is_some()) {
                        tokio::time::sleep(interval).await;
                    }
                    let done = if o.steps == 1 { o.total } else { o.total * f64::from(step) / f64::from(o.steps - 1) };
                    ctx.progress(done, Some(o.total), Some(&format!("step {} of {}", step + 1, o.steps))).await;
                }
                Ok(ToolOutput::json(json!(o.text)))
            }
            Self::Log(o) => {
                for (i, m) in o.messages.iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(o.interval_ms)).await;
                    }
                    let level = LogLevel::parse(&m.level).unwrap_or(LogLevel::Info);
                    ctx.log(level, "mcp-gateway", m.data.clone()).await;
                }
                Ok(ToolOutput::json(json!(o.text)))
            }
            Self::Sample(o) => {
                let prompt = args.get(&o.prompt_argument).and_then(Value::as_str).unwrap_or_default();
                let mut params = json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": o.max_tokens,
                });
                if let Some(system) = &o.system_prompt {
                    params["systemPrompt"] = json!(system);
                }
                let answer = ctx.ask_client(&o.key, Question::Sampling(params)).await?;
                let text =
                    answer.get("content").and_then(|c| c.get("text")).and_then(Value::as_str).unwrap_or_default();
                Ok(ToolOutput {
                    content: vec![json!({"type": "text", "text": format!("{}{text}", o.prefix)})],
                    value: json!({"text": text, "model": answer.get("model"), "stopReason": answer.get("stopReason")}),
                    is_error: false,
                })
            }
            Self::WorkerQuery => {
                let id = args.get("worker_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                let request = QueryRequest::from_args(&args)?;
                let workers = engine.workers().clone();
                let outcome = run_blocking(move || workers.query(&id, &request)).await?;
                Ok(ToolOutput::json(outcome.body))
            }
            Self::CheckJobStatus => {
                let job_id = args.get("job_id").and_then(Value::as_str).unwrap_or_default();
                let jobs = engine.jobs();
                // Another caller's job is not found, exactly like an unknown id.
                let record = jobs.get(job_id, job_reader(&ctx.caller)).await?.ok_or_else(|| {
                    GatewayError::new(ErrorCode::NotFound, format!("no job `{job_id}` on this gateway"))
                        .with_details(json!({"job_id": job_id}))
                })?;
                if let Some(provider) = args.get("provider").and_then(Value::as_str) {
                    if !provider.eq_ignore_ascii_case(&record.provider) {
                        return Err(GatewayError::invalid_params(format!(
                            "job `{job_id}` is a {} job, not {provider}",
                            record.provider
                        )));
                    }
                }
                Ok(job_output(jobs, &record).await)
            }
            Self::Elicit(o) => {
                let message = match (&o.message, &o.message_argument) {
                    (Some(m), _) => m.clone(),
                    (None, Some(arg)) => args.get(arg).and_then(Value::as_str).unwrap_or_default().to_owned(),
                    (None, None) => String::new(),
                };
                let params = json!({"message": message, "requestedSchema": o.requested_schema});
                let answer = ctx.ask_client(&o.key, Question::Elicitation(params)).await?;
                let action = answer.get("action").and_then(Value::as_str).unwrap_or("cancel").to_owned();
                let content = answer.get("content").cloned().unwrap_or(Value::Null);
                Ok(ToolOutput {
                    content: vec![
                        json!({"type": "text", "text": format!("User response: action={action}, content={content}")}),
                    ],
                    value: json!({"action": action, "content": content}),
                    is_error: false,
                })
            }
        }
    }
}
