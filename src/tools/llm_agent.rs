//! `call_llm` (seed 000): ask the configured LLM, letting it call the gateway tools named in `tool_names`.
//!
//! Arguments: `message` (the user's), `promptSystem?`, `model?` (else `LLM_MODEL`), `tool_names?`,
//! `temperature?`, `max_tokens?`. Each listed tool is offered in OpenAI function format (its `inputSchema` as
//! `parameters`). A name that is not a tool the caller may call is `invalid_params` before any LLM request: a
//! tool the caller may not call does not exist for it, here as everywhere.
//!
//! Rounds: each round is one chat completion. When the model asks for tools, each call runs through the same
//! pipeline ([`Engine::call`] with a nested [`CallCtx`]: the caller's scopes, category rate limits, audit and
//! the outer call's deadline and cancellation apply), and its result goes back as `{role: "tool",
//! tool_call_id, content}`; a failing tool's typed error is sent to the model as that content, and a call to a
//! tool that was not offered is refused the same way, never run. At most `GATEWAY_LLM_MAX_ROUNDS` rounds: a
//! model still asking for tools in the last one ends the call with a `tool_error` whose details list the tool
//! calls made. Progress is reported after each round (when the caller gave a progress token) and cancellation
//! is checked between rounds and tool calls.
//!
//! The result's value is `{answer, model, rounds, tool_calls[{round, id, name, arguments, ok, result | error}],
//! finish_reason, usage}`; its MCP content is the answer's text.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::context::CallCtx;
use super::engine::Engine;
use super::output::ToolOutput;
use super::registry::Tool;
use crate::error::{ErrorCode, GatewayError};
use crate::providers::llm::{self, ChatReply, ChatRequest, ToolCall};
use crate::providers::upstream::RetryPolicy;

/// The most characters of one tool result sent back to the model (about 12k tokens); the rest is cut with a
/// note, so one large result cannot overflow the model's context. The call's result keeps the whole value.
pub const MAX_TOOL_RESULT_CHARS: usize = 48_000;

/// The argument `call_llm` cannot do without (its tool's inputSchema must declare it).
pub const MESSAGE: &str = "message";

/// Run `call_llm` with validated arguments.
pub async fn run(engine: &Engine, ctx: &CallCtx, args: &Value, deadline: Instant) -> Result<ToolOutput, GatewayError> {
    let text = |name: &str| args.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    let message = text(MESSAGE).ok_or_else(|| GatewayError::invalid_params("`message` must be a non-empty string"))?;
    let offered = offered_tools(engine, ctx, args.get("tool_names"))?;
    let nested = ctx.nested()?;
    let mut messages = Vec::new();
    if let Some(system) = text("promptSystem") {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": message}));
    let asked = ChatRequest {
        model: text("model").map(str::to_owned),
        tools: offered.iter().map(|t| function_format(t)).collect(),
        temperature: args.get("temperature").and_then(Value::as_f64),
        max_tokens: args.get("max_tokens").and_then(Value::as_u64),
        ..ChatRequest::default()
    };
    let max_rounds = engine.llm().max_rounds;
    let upstream = engine.upstream(llm::PROVIDER, RetryPolicy::retrying(llm::TRANSIENT));
    let mut made: Vec<Value> = Vec::new();
    let mut usage = Usage::default();
    let mut round = 0;
    loop {
        round += 1;
        stop_if_cancelled(ctx)?;
        let request = ChatRequest { messages: messages.clone(), ..asked.clone() };
        let reply = llm::complete(engine.llm(), &upstream, request, &ctx.request_id, deadline).await?;
        usage.add(&reply.usage);
        let total = Some(f64::from(max_rounds));
        if reply.tool_calls.is_empty() {
            ctx.progress(f64::from(round), total, Some(&format!("round {round}: the model answered"))).await;
            return Ok(answer(reply, round, made, usage));
        }
        let names: Vec<&str> = reply.tool_calls.iter().map(|c| c.name.as_str()).collect();
        if round >= max_rounds {
            return Err(round_bound_reached(max_rounds, made, &names));
        }
        let called = format!("round {round}: the model called {}", names.join(", "));
        ctx.progress(f64::from(round), total, Some(&called)).await;
        messages.push(assistant_message(&reply));
        for call in &reply.tool_calls {
            stop_if_cancelled(ctx)?;
            let (content, mut record) = run_tool_call(engine, &nested, &offered, call).await?;
            messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": content}));
            record["round"] = json!(round);
            made.push(record);
        }
    }
}

/// The model still asks for tools when no round is left: a typed error listing what was done.
fn round_bound_reached(max_rounds: u32, made: Vec<Value>, unanswered: &[&str]) -> GatewayError {
    GatewayError::new(
        ErrorCode::ToolError,
        format!(
            "the model still asked for tools ({}) after {max_rounds} rounds, the limit (GATEWAY_LLM_MAX_ROUNDS); it \
             gave no final answer",
            unanswered.join(", ")
        ),
    )
    .with_details(json!({"max_rounds": max_rounds, "tool_calls": made, "unanswered_tool_calls": unanswered}))
}

/// The tools named in `tool_names`, each one the caller may call; any other name is `invalid_params`.
fn offered_tools(engine: &Engine, ctx: &CallCtx, names: Option<&Value>) -> Result<Vec<Arc<Tool>>, GatewayError> {
    let names: Vec<&str> = match names {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| GatewayError::invalid_params("`tool_names` must hold tool names (strings)"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(GatewayError::invalid_params("`tool_names` must be an array of tool names")),
    };
    let registry = engine.registry().snapshot();
    let visible = registry.visible_to(&ctx.caller);
    let mut offered: Vec<Arc<Tool>> = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match visible.callable(name).cloned() {
            Some(tool) if offered.iter().any(|o| o.name() == tool.name()) => {}
            Some(tool) => offered.push(tool),
            None => unknown.push(name),
        }
    }
    if unknown.is_empty() {
        Ok(offered)
    } else {
        Err(GatewayError::invalid_params(format!("`tool_names` names unknown tools: {}", unknown.join(", ")))
            .with_details(json!({"unknown_tools": unknown})))
    }
}

/// A tool in OpenAI function format.
fn function_format(tool: &Tool) -> Value {
    json!({"type": "function", "function": {
        "name": tool.spec.name, "description": tool.spec.description, "parameters": tool.spec.input_schema,
    }})
}

/// The assistant turn to send back: as received, with its role made explicit.
fn assistant_message(reply: &ChatReply) -> Value {
    let mut message = reply.message.clone();
    message["role"] = json!("assistant");
    message
}

fn stop_if_cancelled(ctx: &CallCtx) -> Result<(), GatewayError> {
    if ctx.cancel.is_cancelled() {
        Err(GatewayError::new(ErrorCode::Cancelled, "the call was cancelled"))
    } else {
        Ok(())
    }
}

/// Run one tool call the model asked for: the content sent back to it, and the record for the result. A tool
/// failure is the model's to read; only a question the client must answer first ends the round (`Err`).
async fn run_tool_call(
    engine: &Engine,
    ctx: &CallCtx,
    offered: &[Arc<Tool>],
    call: &ToolCall,
) -> Result<(String, Value), GatewayError> {
    let mut record = json!({"id": call.id, "name": call.name});
    let arguments = if call.arguments.trim().is_empty() {
        Ok(Value::Object(Map::new()))
    } else {
        serde_json::from_str::<Value>(&call.arguments)
    };
    record["arguments"] = arguments.as_ref().map_or_else(|_| json!(call.arguments), Clone::clone);
    let outcome = match arguments {
        _ if !offered.iter().any(|t| t.name() == call.name) => Err(GatewayError::unknown_tool(&call.name)),
        Err(e) => Err(GatewayError::invalid_params(format!("the arguments are not valid JSON: {e}"))),
        Ok(arguments) => engine.call_boxed(ctx, &call.name, arguments).await,
    };
    Ok(match outcome {
        Err(err) if err.code == ErrorCode::InputRequired => return Err(err),
        Ok(output) if !output.is_error => {
            let value = output.rest_value();
            record["ok"] = json!(true);
            record["result"] = value.clone();
            let content = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (bounded(content), record)
        }
        Ok(output) => {
            let err =
                output.into_rest().err().unwrap_or_else(|| GatewayError::new(ErrorCode::ToolError, "the tool failed"));
            failed(&err, record)
        }
        Err(err) => failed(&err, record),
    })
}

/// A tool result cut to [`MAX_TOOL_RESULT_CHARS`], saying so.
fn bounded(content: String) -> String {
    let total = content.chars().count();
    if total <= MAX_TOOL_RESULT_CHARS {
        return content;
    }
    let kept: String = content.chars().take(MAX_TOOL_RESULT_CHARS).collect();
    format!("{kept}\n[truncated by the gateway: {MAX_TOOL_RESULT_CHARS} of {total} characters shown]")
}

fn failed(err: &GatewayError, mut record: Value) -> (String, Value) {
    let error = json!({"code": err.code, "message": err.message, "retryable": err.retryable});
    record["ok"] = json!(false);
    record["error"] = error.clone();
    (json!({"error": error}).to_string(), record)
}

/// Token counts summed over the rounds.
#[derive(Debug, Default)]
struct Usage {
    prompt: u64,
    completion: u64,
    reported: bool,
}

impl Usage {
    fn add(&mut self, usage: &Value) {
        let count = |name: &str| usage.get(name).and_then(Value::as_u64);
        if let (Some(prompt), Some(completion)) = (count("prompt_tokens"), count("completion_tokens")) {
            self.prompt += prompt;
            self.completion += completion;
            self.reported = true;
        }
    }

    fn to_json(&self) -> Value {
        if !self.reported {
            return Value::Null;
        }
        json!({"prompt_tokens": self.prompt, "completion_tokens": self.completion, "total_tokens": self.prompt + self.completion})
    }
}

fn answer(reply: ChatReply, rounds: u32, tool_calls: Vec<Value>, usage: Usage) -> ToolOutput {
    let text = reply.content.unwrap_or_default();
    ToolOutput {
        value: json!({
            "answer": text, "model": reply.model, "rounds": rounds, "tool_calls": tool_calls,
            "finish_reason": reply.finish_reason, "usage": usage.to_json(),
        }),
        content: vec![json!({"type": "text", "text": text})],
        is_error: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tool_results_are_cut_with_a_note() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_TOOL_RESULT_CHARS + 10);
        let cut = bounded(long);
        assert!(cut.starts_with(&"é".repeat(MAX_TOOL_RESULT_CHARS)));
        assert!(cut.ends_with(&format!("{MAX_TOOL_RESULT_CHARS} of {} characters shown]", MAX_TOOL_RESULT_CHARS + 10)));
    }

    #[test]
    fn usage_is_summed_only_when_reported() {
        let mut usage = Usage::default();
        assert_eq!(usage.to_json(), Value::Null);
        usage.add(&json!({"prompt_tokens": 3, "completion_tokens": 4}));
        usage.add(&Value::Null);
        usage.add(&json!({"prompt_tokens": 1, "completion_tokens": 1}));
        assert_eq!(usage.to_json(), json!({"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}));
    }
}
