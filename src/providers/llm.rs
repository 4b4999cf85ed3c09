//! OpenAI-compatible chat completions: `POST {base}/v1/chat/completions` (a base already ending in `/v1`, as
//! Ollama users write `http://localhost:11434/v1`, is used as is), `Authorization: Bearer <LLM_API_KEY>` only
//! when a key is set (local servers need none), body `{model, messages, tools?, tool_choice?, temperature?,
//! max_tokens?, response_format?}`. The same path is served by OpenAI, Ollama, vLLM and llama.cpp's server.
//!
//! Retries: 408/409/429/5xx, honouring `retry-after`, within the call's deadline. A completion request is sent
//! as idempotent: the provider never executes tools, it only answers with the `tool_calls` it wants, and the
//! gateway runs those once per answer, after the request has succeeded. Sending the same request again can cost
//! tokens, never repeat a side effect.
//!
//! Errors `{"error": {"message", "type", "param", "code"}}` keep the provider's `code`/`type` in the gateway
//! error's details. The key never appears in an error: it is scrubbed from echoed bodies, and the message of a
//! 401/403 (OpenAI's names a masked key) is withheld.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::upstream::{Answer, Outgoing, Upstream, map_status, retry_after};
use crate::config::ExposeOption;
use crate::config::LlmSettings;
use crate::error::{ErrorCode, GatewayError};

/// The provider's name in metrics, caps and messages.
pub const PROVIDER: &str = "llm";

/// Statuses OpenAI-compatible servers document as transient.
pub const TRANSIENT: &[u16] = &[408, 409, 429, 500, 502, 503, 504];

/// One chat completion to ask for. `None` members are not sent.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The model; `LLM_MODEL` when `None`.
    pub model: Option<String>,
    pub messages: Vec<Value>,
    /// OpenAI function tools `{type: "function", function: {name, description, parameters}}`.
    pub tools: Vec<Value>,
    pub tool_choice: Option<Value>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub response_format: Option<Value>,
    /// Per-request timeout; the configured `llm_timeout_secs` when `None`.
    pub timeout: Option<Duration>,
}

/// A function call the model asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text, as the model wrote it.
    pub arguments: String,
}

/// What the model answered (the first choice).
#[derive(Debug, Clone)]
pub struct ChatReply {
    /// The text answer; `None` when the model only calls tools.
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    /// The assistant message as received, to send back in the next round.
    pub message: Value,
    pub finish_reason: Option<String>,
    /// The model that answered, as the server names it.
    pub model: Option<String>,
    /// Token counts, as the server reports them (`null` when it does not).
    pub usage: Value,
}

/// The completions endpoint for a base URL written with or without `/v1`.
#[must_use]
pub fn completions_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") { format!("{base}/chat/completions") } else { format!("{base}/v1/chat/completions") }
}

fn not_configured(setting: &str, message: &str) -> GatewayError {
    GatewayError::new(ErrorCode::NotConfigured, message.to_owned())
        .with_details(json!({"provider": PROVIDER, "missing": setting}))
}

/// Ask for one chat completion.
pub async fn complete(
    settings: &LlmSettings,
    upstream: &Upstream<'_>,
    request: ChatRequest,
    request_id: &str,
    deadline: Instant,
) -> Result<ChatReply, GatewayError> {
    let base = settings
        .base_url
        .as_deref()
        .ok_or_else(|| not_configured("LLM_BASE_URL", "the LLM is not configured: set LLM_BASE_URL"))?;
    let model = request
        .model
        .or_else(|| settings.model.clone())
        .ok_or_else(|| not_configured("LLM_MODEL", "no model was named: give `model` in the call or set LLM_MODEL"))?;
    let mut body = json!({"model": model, "messages": request.messages});
    if !request.tools.is_empty() {
        body["tools"] = Value::Array(request.tools);
    }
    let optional = [
        ("tool_choice", request.tool_choice),
        ("temperature", request.temperature.map(|t| json!(t))),
        ("max_tokens", request.max_tokens.map(|m| json!(m))),
        ("response_format", request.response_format),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body[name] = value;
        }
    }
    let headers =
        settings.api_key.iter().map(|key| ("authorization".to_owned(), format!("Bearer {}", key.expose()))).collect();
    let outgoing = Outgoing {
        method: reqwest::Method::POST,
        url: completions_url(base),
        headers,
        query: Vec::new(),
        body: Some(body),
        idempotent: true,
        timeout: request.timeout.unwrap_or(settings.timeout),
    };
    let answer = upstream.send(&outgoing, request_id, deadline).await?;
    let key = settings.api_key.exposed();
    if answer.status >= 400 {
        return Err(error_for(&answer, key));
    }
    parse_reply(&answer, key)
}

/// Map a failed answer, keeping the provider's code and never the key.
fn error_for(answer: &Answer, key: Option<&str>) -> GatewayError {
    let mut body = scrub(answer.value(), key);
    if matches!(answer.status, 401 | 403) {
        // OpenAI's 401 message quotes part of the key it was given.
        if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
            error.insert("message".into(), json!("(withheld: it may quote the gateway's key)"));
        } else {
            body = Value::Null;
        }
    }
    let mut err = map_status(PROVIDER, answer.status, &body, retry_after(&answer.headers));
    let provider_code = body.get("error").and_then(|e| e.get("code").filter(|c| !c.is_null()).or(e.get("type")));
    if let (Some(code), Some(details)) = (provider_code, err.details.as_object_mut()) {
        details.insert("provider_code".into(), code.clone());
    }
    err
}

/// Replace every occurrence of the key in the strings of `value`.
fn scrub(value: Value, key: Option<&str>) -> Value {
    let Some(key) = key.filter(|k| !k.is_empty()) else { return value };
    match value {
        Value::String(s) => Value::String(s.replace(key, "[redacted]")),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| scrub(v, Some(key))).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, scrub(v, Some(key)))).collect()),
        other => other,
    }
}

fn malformed(answer: &Answer, key: Option<&str>, what: &str) -> GatewayError {
    let text: String = String::from_utf8_lossy(&answer.body).chars().take(300).collect();
    GatewayError::new(ErrorCode::UpstreamError, format!("the LLM answered {} with a body that {what}", answer.status))
        .with_details(
            json!({"provider": PROVIDER, "upstream_status": answer.status, "body_start": scrub(json!(text), key)}),
        )
}

fn parse_reply(answer: &Answer, key: Option<&str>) -> Result<ChatReply, GatewayError> {
    let value: Value = serde_json::from_slice(&answer.body).map_err(|_| malformed(answer, key, "is not JSON"))?;
    let choice = value
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| malformed(answer, key, "has no `choices`: it is not a chat completion"))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| malformed(answer, key, "has no `choices[0].message`"))?;
    let tool_calls = match message.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .map(|call| {
                parse_tool_call(call).ok_or_else(|| malformed(answer, key, "has a malformed `tool_calls` entry"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed(answer, key, "has a `tool_calls` that is not an array")),
    };
    Ok(ChatReply {
        content: message.get("content").and_then(Value::as_str).map(str::to_owned),
        tool_calls,
        message: message.clone(),
        finish_reason: choice.get("finish_reason").and_then(Value::as_str).map(str::to_owned),
        model: value.get("model").and_then(Value::as_str).map(str::to_owned),
        usage: value.get("usage").cloned().unwrap_or(Value::Null),
    })
}

fn parse_tool_call(call: &Value) -> Option<ToolCall> {
    let function = call.get("function")?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        // Some local servers send the arguments as an object rather than JSON text.
        Some(object @ Value::Object(_)) => object.to_string(),
        Some(_) => return None,
    };
    Some(ToolCall {
        id: call.get("id")?.as_str()?.to_owned(),
        name: function.get("name")?.as_str()?.to_owned(),
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &Value) -> Answer {
        Answer { status, headers: reqwest::header::HeaderMap::new(), body: body.to_string().into() }
    }

    #[test]
    fn base_urls_work_with_and_without_v1() {
        assert_eq!(completions_url("http://localhost:11434/v1"), "http://localhost:11434/v1/chat/completions");
        assert_eq!(completions_url("http://localhost:11434/v1/"), "http://localhost:11434/v1/chat/completions");
        assert_eq!(completions_url("https://api.openai.com"), "https://api.openai.com/v1/chat/completions");
    }

    #[test]
    fn errors_keep_the_provider_code_and_never_the_key() {
        let body = json!({"error": {"message": "Incorrect API key provided: sk-te****cret", "type": "invalid_request_error",
                                    "param": null, "code": "invalid_api_key"}});
        let err = error_for(&answer(401, &body), Some("sk-test-secret"));
        assert_eq!(err.details["provider_code"], "invalid_api_key");
        assert!(!err.to_string().contains("sk-te") && !err.details.to_string().contains("sk-te"), "{err:?}");
        let body = json!({"error": {"message": "model sk-test-secret not found", "type": "not_found", "param": "model", "code": null}});
        let err = error_for(&answer(404, &body), Some("sk-test-secret"));
        assert_eq!(err.code, ErrorCode::NotFound);
        assert_eq!(err.details["provider_code"], "not_found");
        assert!(!format!("{err:?}").contains("sk-test-secret"));
    }

    #[test]
    fn replies_parse_text_and_tool_calls() {
        let body = json!({"model": "m", "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ping", "arguments": "{}"}}]}}]});
        let reply = parse_reply(&answer(200, &body), None).unwrap();
        assert_eq!(reply.tool_calls, [ToolCall { id: "c1".into(), name: "ping".into(), arguments: "{}".into() }]);
        assert_eq!(reply.content, None);
        let err = parse_reply(&answer(200, &json!({"object": "list"})), None).unwrap_err();
        assert_eq!(err.code, ErrorCode::UpstreamError);
    }
}
