//! The `llm` binding: one chat completion from prompt templates, through the OpenAI-compatible LLM provider.
//!
//! ```json
//! {"kind": "llm", "system": "You summarise French invoices.", "prompt": "Summarise: {{args.text}}",
//!  "messages": "{{args.history}}", "model": "{{args.model ?? \"llama3.1\"}}", "temperature": 0.2,
//!  "max_tokens": 400, "output": "json", "response_format": {"type": "json_object"}, "timeout_secs": 60}
//! ```
//!
//! The request's messages are, in order: `system` (a string template), `messages` (a template rendering to an
//! array of `{role, content}` objects, e.g. a whole `{{args.messages}}`), `prompt` (a string template, the last
//! user message). `prompt` or `messages` is required. `model` falls back to `LLM_MODEL`; `temperature` and
//! `max_tokens` are numbers or templates. `output: "json"` parses the answer as JSON (a Markdown code fence
//! around it is tolerated) and fails with `upstream_error` when it is not; `response_format` is sent as written.
//! Every template is checked when the spec loads.
//!
//! The result's value is `{answer, model, finish_reason, usage}`; its MCP content is the answer's text.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::output::ToolOutput;
use super::spec::{PathError, binding_timeout, reject_unknown_keys};
use super::template::{Bindings, Known, MissingSetting, Template, render_for_call};
use crate::error::{ErrorCode, GatewayError};
use crate::providers::llm::{self, ChatRequest};
use crate::providers::upstream::RetryPolicy;

const ROLES: &[&str] = &["system", "user", "assistant", "tool", "developer"];

/// A checked `llm` binding.
#[derive(Debug)]
pub struct LlmBinding {
    system: Option<Template>,
    messages: Option<Template>,
    prompt: Option<Template>,
    model: Option<Template>,
    temperature: Option<Template>,
    max_tokens: Option<Template>,
    response_format: Option<Value>,
    json_output: bool,
    timeout: Option<Duration>,
}

impl LlmBinding {
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(
            obj,
            &[
                "kind",
                "system",
                "prompt",
                "messages",
                "model",
                "temperature",
                "max_tokens",
                "output",
                "response_format",
                "timeout_secs",
            ],
            "$.binding",
        )?;
        let template = |key: &str, check: fn(&Value) -> Result<(), &'static str>| -> Result<_, PathError> {
            let path = format!("$.binding.{key}");
            obj.get(key)
                .map(|value| {
                    check(value).map_err(|m| PathError::new(&path, m))?;
                    Template::parse(value, &path, known)
                })
                .transpose()
        };
        let system = template("system", |v| if v.is_string() { Ok(()) } else { Err("must be a string template") })?;
        let prompt = template("prompt", |v| if v.is_string() { Ok(()) } else { Err("must be a string template") })?;
        let model = template("model", |v| if v.is_string() { Ok(()) } else { Err("must be a string template") })?;
        let messages = template("messages", check_messages)?;
        if prompt.is_none() && messages.is_none() {
            return Err(PathError::new("$.binding", "an llm binding needs `prompt` or `messages`"));
        }
        let temperature = template("temperature", |v| match v {
            Value::String(_) => Ok(()),
            Value::Number(n) if n.as_f64().is_some_and(|t| (0.0..=2.0).contains(&t)) => Ok(()),
            _ => Err("must be a number from 0 to 2, or a template"),
        })?;
        let max_tokens = template("max_tokens", |v| match v {
            Value::String(_) => Ok(()),
            Value::Number(n) if n.as_u64().is_some_and(|m| m > 0) => Ok(()),
            _ => Err("must be a positive integer, or a template"),
        })?;
        let json_output = match obj.get("output").map(|o| o.as_str().ok_or(o)) {
            None | Some(Ok("text")) => false,
            Some(Ok("json")) => true,
            Some(_) => return Err(PathError::new("$.binding.output", "must be \"text\" or \"json\"")),
        };
        let response_format = match obj.get("response_format") {
            None => None,
            Some(format) if format.get("type").is_some_and(Value::is_string) => Some(format.clone()),
            Some(_) => {
                return Err(PathError::new(
                    "$.binding.response_format",
                    "must be an object with a `type` (\"json_object\", \"json_schema\", ...)",
                ));
            }
        };
        let timeout = obj.contains_key("timeout_secs").then(|| binding_timeout(obj)).transpose()?;
        Ok(Self { system, messages, prompt, model, temperature, max_tokens, response_format, json_output, timeout })
    }
}

impl BindingKind for LlmBinding {
    fn kind(&self) -> &'static str {
        "llm"
    }

    fn required_settings(&self) -> Vec<&str> {
        vec!["LLM_BASE_URL"]
    }

    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: _, ctx, args, deadline } = call;
        let args = &args;
        let [system, messages, prompt, model, temperature, max_tokens] = render_for_call(args, |b| {
            Ok([
                render(&self.system, b)?,
                render(&self.messages, b)?,
                render(&self.prompt, b)?,
                render(&self.model, b)?,
                render(&self.temperature, b)?,
                render(&self.max_tokens, b)?,
            ])
        })?;
        let request = ChatRequest {
            model: text(model, "model")?,
            messages: conversation(system, messages, prompt)?,
            temperature: number(temperature, "temperature")?.map(|(t, _)| t),
            max_tokens: number(max_tokens, "max_tokens")?.and_then(|(_, m)| m),
            response_format: self.response_format.clone(),
            timeout: self.timeout,
            ..ChatRequest::default()
        };
        let upstream = engine.upstream(llm::PROVIDER, RetryPolicy::retrying(llm::TRANSIENT));
        let reply = llm::complete(engine.llm(), &upstream, request, &ctx.request_id, deadline).await?;
        let text = reply.content.unwrap_or_default();
        let answer = if self.json_output { parse_json_answer(&text)? } else { Value::String(text.clone()) };
        Ok(ToolOutput {
            value: json!({"answer": answer, "model": reply.model, "finish_reason": reply.finish_reason, "usage": reply.usage}),
            content: vec![json!({"type": "text", "text": text})],
            is_error: false,
        })
    }
}

/// Render an optional template; absent stays `None`.
fn render(template: &Option<Template>, bindings: &Bindings<'_>) -> Result<Option<Value>, MissingSetting> {
    Ok(template.as_ref().map(|t| t.render(bindings)).transpose()?.flatten())
}

/// A literal `messages` array is checked now; a template is checked when rendered.
fn check_messages(value: &Value) -> Result<(), &'static str> {
    match value {
        Value::String(_) => Ok(()),
        Value::Array(items)
            if items.iter().all(|m| m.get("role").and_then(Value::as_str).is_some_and(|r| ROLES.contains(&r))) =>
        {
            Ok(())
        }
        _ => Err("must be an array of {role, content} messages, or a template such as \"{{args.messages}}\""),
    }
}

/// system, then the messages, then the prompt; blank parts are left out.
fn conversation(
    system: Option<Value>,
    messages: Option<Value>,
    prompt: Option<Value>,
) -> Result<Vec<Value>, GatewayError> {
    let mut out = Vec::new();
    if let Some(system) = text(system, "system")?.filter(|s| !s.trim().is_empty()) {
        out.push(json!({"role": "system", "content": system}));
    }
    match messages {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, message) in items.into_iter().enumerate() {
                let role = message.get("role").and_then(Value::as_str);
                if !role.is_some_and(|r| ROLES.contains(&r)) || message.get("content").is_none() {
                    return Err(GatewayError::invalid_params(format!(
                        "`messages[{i}]` must be an object with a `role` ({}) and a `content`",
                        ROLES.join(", ")
                    )));
                }
                out.push(message);
            }
        }
        Some(_) => return Err(GatewayError::invalid_params("`messages` must be an array of {role, content} objects")),
    }
    if let Some(prompt) = text(prompt, "prompt")?.filter(|p| !p.trim().is_empty()) {
        out.push(json!({"role": "user", "content": prompt}));
    }
    if out.iter().all(|m| m["role"] == "system") {
        return Err(GatewayError::invalid_params("there is nothing to ask the model: give a prompt or messages"));
    }
    Ok(out)
}

fn text(value: Option<Value>, what: &str) -> Result<Option<String>, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(GatewayError::invalid_params(format!("`{what}` must be a string"))),
    }
}

/// A rendered number: as a float, and as a positive integer when it is one.
fn number(value: Option<Value>, what: &str) -> Result<Option<(f64, Option<u64>)>, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(|f| (f, n.as_u64().filter(|m| *m > 0)))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => match s.trim().parse::<f64>() {
            Ok(f) => Ok(Some((f, s.trim().parse::<u64>().ok().filter(|m| *m > 0)))),
            Err(_) => Err(GatewayError::invalid_params(format!("`{what}` must be a number, not `{s}`"))),
        },
        Some(_) => Err(GatewayError::invalid_params(format!("`{what}` must be a number"))),
    }
}

/// The answer as JSON; models often wrap it in a Markdown code fence.
fn parse_json_answer(text: &str) -> Result<Value, GatewayError> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim()).map_err(|e| {
        GatewayError::new(
            ErrorCode::UpstreamError,
            format!("the model's answer is not the JSON the tool asked for: {e}"),
        )
        .with_details(json!({"provider": llm::PROVIDER, "answer": text.chars().take(500).collect::<String>()}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(binding: Value) -> Result<LlmBinding, PathError> {
        let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
        let env = crate::config::TemplateEnv::default();
        LlmBinding::parse(binding.as_object().unwrap(), &Known::arguments_of(&schema, &env))
    }

    #[test]
    fn specs_are_checked_with_json_paths() {
        for (binding, path) in [
            (json!({"kind": "llm", "system": "s"}), "$.binding"),
            (json!({"kind": "llm", "prompt": "{{args.nope}}"}), "$.binding.prompt"),
            (json!({"kind": "llm", "prompt": 3}), "$.binding.prompt"),
            (json!({"kind": "llm", "messages": [{"content": "x"}]}), "$.binding.messages"),
            (json!({"kind": "llm", "prompt": "p", "temperature": 7}), "$.binding.temperature"),
            (json!({"kind": "llm", "prompt": "p", "max_tokens": 0}), "$.binding.max_tokens"),
            (json!({"kind": "llm", "prompt": "p", "output": "xml"}), "$.binding.output"),
            (json!({"kind": "llm", "prompt": "p", "response_format": "json"}), "$.binding.response_format"),
            (json!({"kind": "llm", "prompt": "p", "stream": true}), "$.binding.stream"),
        ] {
            assert_eq!(parse(binding.clone()).unwrap_err().path, path, "{binding}");
        }
        assert!(parse(json!({"kind": "llm", "prompt": "Summarise {{args.text}}", "temperature": 0.5})).is_ok());
    }

    #[test]
    fn conversations_are_built_in_order_and_empty_ones_refused() {
        let out = conversation(
            Some(json!("be brief")),
            Some(json!([{"role": "assistant", "content": "hi"}])),
            Some(json!("why?")),
        )
        .unwrap();
        let roles: Vec<&str> = out.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "assistant", "user"]);
        assert_eq!(conversation(Some(json!("s")), None, Some(json!(" "))).unwrap_err().code, ErrorCode::InvalidParams);
        assert!(conversation(None, Some(json!([{"role": "bot", "content": "x"}])), None).is_err());
    }

    #[test]
    fn json_answers_may_be_fenced() {
        assert_eq!(parse_json_answer("```json\n{\"a\": 1}\n```").unwrap(), json!({"a": 1}));
        assert_eq!(parse_json_answer(" [1, 2] ").unwrap(), json!([1, 2]));
        assert_eq!(parse_json_answer("sure! {").unwrap_err().code, ErrorCode::UpstreamError);
    }
}
