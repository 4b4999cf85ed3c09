//! The `http` binding: any REST call declared in a spec, with no Rust code.
//!
//! ```json
//! {"kind": "http", "method": "GET", "url": "{{env.INVENTORY_URL}}/items/{{args.id}}",
//!  "headers": {"Authorization": "Bearer {{env.INVENTORY_TOKEN}}"}, "query": {"limit": "{{args.limit ?? 10}}"},
//!  "body": {"name": "{{args.name}}"}, "timeout_secs": 10, "idempotent": true, "result": "/data"}
//! ```
//!
//! The answer must be JSON (an HTML page or other text is an `upstream_error`) unless the spec says
//! `"response": "text"`, which returns the body as a string.
//!
//! Every template is checked when the spec loads (an `env.NAME` must be one `template_env` allows). A setting the
//! environment lacks makes the call answer `not_configured` naming it, without stopping start-up. Retries follow
//! the upstream client's policy: `GET`/`HEAD`/`OPTIONS`/`PUT`/`DELETE` count as idempotent unless the spec says
//! otherwise.

use std::time::Duration;

use serde_json::{Map, Value};

use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::output::ToolOutput;
use super::spec::{PathError, binding_idempotent, binding_timeout, reject_unknown_keys};
use super::template::{Bindings, Known, MissingSetting, Template, render_for_call};
use crate::error::{ErrorCode, GatewayError};
use crate::providers::upstream::{Outgoing, RetryPolicy};

/// A checked `http` binding.
#[derive(Debug)]
pub struct HttpBinding {
    method: reqwest::Method,
    url: Template,
    headers: Vec<(String, Template)>,
    query: Vec<(String, Template)>,
    body: Option<Template>,
    idempotent: bool,
    timeout: Duration,
    result: Option<String>,
    attempts: u32,
    text_response: bool,
}

impl HttpBinding {
    /// Parse `$.binding`; `known` says what its templates may reference.
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(
            obj,
            &[
                "kind",
                "method",
                "url",
                "headers",
                "query",
                "body",
                "timeout_secs",
                "idempotent",
                "result",
                "max_attempts",
                "response",
            ],
            "$.binding",
        )?;
        let method_text = obj.get("method").and_then(Value::as_str).unwrap_or("GET").to_ascii_uppercase();
        let method = match method_text.as_str() {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
                reqwest::Method::from_bytes(method_text.as_bytes()).unwrap_or(reqwest::Method::GET)
            }
            other => return Err(PathError::new("$.binding.method", format!("`{other}` is not an HTTP method"))),
        };
        let url_value = obj.get("url").ok_or_else(|| PathError::new("$.binding.url", "an http binding needs a url"))?;
        if !url_value.is_string() {
            return Err(PathError::new("$.binding.url", "must be a string"));
        }
        let url = Template::parse(url_value, "$.binding.url", known)?;
        if let Template::Literal(Value::String(literal)) = &url {
            let parsed = reqwest::Url::parse(literal)
                .map_err(|e| PathError::new("$.binding.url", format!("`{literal}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(PathError::new("$.binding.url", "only http and https URLs are supported"));
            }
        }
        let pairs = |key: &str| -> Result<Vec<(String, Template)>, PathError> {
            match obj.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(name, value)| {
                        let path = format!("$.binding.{key}.{name}");
                        Ok((name.clone(), Template::parse(value, &path, known)?))
                    })
                    .collect(),
                Some(_) => Err(PathError::new(format!("$.binding.{key}"), "must be an object of name: value")),
            }
        };
        let headers = pairs("headers")?;
        for (name, _) in &headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| PathError::new(format!("$.binding.headers.{name}"), "is not a valid header name"))?;
        }
        let query = pairs("query")?;
        let body = obj.get("body").map(|b| Template::parse(b, "$.binding.body", known)).transpose()?;
        let idempotent = binding_idempotent(obj, !matches!(method_text.as_str(), "POST" | "PATCH"))?;
        let timeout = binding_timeout(obj)?;
        let result = match obj.get("result") {
            None => None,
            Some(Value::String(p)) if p.is_empty() || p.starts_with('/') => Some(p.clone()),
            Some(_) => return Err(PathError::new("$.binding.result", "must be a JSON pointer such as /data/items")),
        };
        let attempts = match obj.get("max_attempts") {
            None => RetryPolicy::default().max_attempts,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=10).contains(n))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| PathError::new("$.binding.max_attempts", "must be 1 to 10"))?,
        };
        let text_response = match obj.get("response").map(Value::as_str) {
            None | Some(Some("json")) => false,
            Some(Some("text")) => true,
            Some(_) => return Err(PathError::new("$.binding.response", "must be `json` (the default) or `text`")),
        };
        if text_response && result.is_some() {
            return Err(PathError::new("$.binding.result", "selects inside JSON: it cannot go with `response: text`"));
        }
        Ok(Self { method, url, headers, query, body, idempotent, timeout, result, attempts, text_response })
    }
}

impl BindingKind for HttpBinding {
    fn kind(&self) -> &'static str {
        "http"
    }

    /// Environment settings the call needs (no default given).
    fn required_settings(&self) -> Vec<&str> {
        let mut out = self.url.required_settings();
        for (_, template) in self.headers.iter().chain(&self.query) {
            out.extend(template.required_settings());
        }
        if let Some(body) = &self.body {
            out.extend(body.required_settings());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Send the request and shape the answer.
    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: _, ctx, args, deadline } = call;
        let args = &args;
        let request = render_for_call(args, |bindings| self.build(bindings))?;
        let upstream = engine.upstream("http", RetryPolicy { max_attempts: self.attempts, ..RetryPolicy::default() });
        let answer = upstream.send(&request, &ctx.request_id, deadline).await?;
        answer.error_for_status("the upstream")?;
        if self.text_response {
            return Ok(ToolOutput::json(Value::String(String::from_utf8_lossy(&answer.body).into_owned())));
        }
        let value = answer.json("the upstream")?;
        let selected = match &self.result {
            None => value,
            Some(pointer) => value.pointer(pointer).cloned().ok_or_else(|| {
                GatewayError::new(ErrorCode::UpstreamError, format!("the upstream's answer has nothing at `{pointer}`"))
                    .with_details(serde_json::json!({"upstream": value}))
            })?,
        };
        Ok(ToolOutput::json(selected))
    }
}

impl HttpBinding {
    fn build(&self, bindings: &Bindings<'_>) -> Result<Outgoing, MissingSetting> {
        let url = match self.url.render_value(bindings)? {
            Value::String(url) => url,
            other => other.to_string(),
        };
        let text_pairs = |pairs: &[(String, Template)]| -> Result<Vec<(String, String)>, MissingSetting> {
            let mut out = Vec::new();
            for (name, template) in pairs {
                match template.render(bindings)? {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => out.push((name.clone(), s)),
                    Some(other) => out.push((name.clone(), other.to_string())),
                }
            }
            Ok(out)
        };
        Ok(Outgoing {
            method: self.method.clone(),
            url,
            headers: text_pairs(&self.headers)?,
            query: text_pairs(&self.query)?,
            body: self.body.as_ref().map(|b| b.render_value(bindings)).transpose()?,
            idempotent: self.idempotent,
            timeout: self.timeout,
        })
    }
}
