//! Resources, resource templates and prompts declared in the specs folder (`"kind"` in the file).
//!
//! They are served as-is by `resources/*`, `prompts/*` and `completion/complete`: text or base64 content,
//! `{var}` substitution for templates, `{{arg}}` substitution for prompts. Parsing checks everything at load;
//! rendering cannot fail except on caller input.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::ask_builtin::{in_words, parse_question};
use super::binding::check_content_block;
use super::client::Ask;
use super::context::CallCtx;
use super::spec::{PathError, optional_str, reject_unknown_keys, required_str};
use crate::error::GatewayError;

/// The body of a resource: UTF-8 text or base64 bytes.
#[derive(Debug, Clone)]
pub enum Body {
    Text(String),
    Blob(String),
}

impl Body {
    fn content(&self, uri: &str, mime_type: &str) -> Value {
        match self {
            Self::Text(text) => json!({"uri": uri, "mimeType": mime_type, "text": text}),
            Self::Blob(blob) => json!({"uri": uri, "mimeType": mime_type, "blob": blob}),
        }
    }
}

/// A fixed resource.
#[derive(Debug, Clone)]
pub struct Resource {
    pub uri: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub mime_type: String,
    pub body: Body,
}

impl Resource {
    pub(super) fn parse(obj: Map<String, Value>, dir: &Path) -> Result<Self, PathError> {
        reject_unknown_keys(
            &obj,
            &["kind", "uri", "name", "title", "description", "mimeType", "text", "blob", "file"],
            "$",
        )?;
        let uri = required_str(&obj, "uri", "$.uri")?;
        let name = optional_str(&obj, "name", "$.name")?.unwrap_or_else(|| uri.clone());
        let body = match (obj.get("text"), obj.get("blob"), obj.get("file")) {
            (Some(Value::String(text)), None, None) => Body::Text(text.clone()),
            (None, Some(Value::String(blob)), None) => {
                BASE64.decode(blob).map_err(|e| PathError::new("$.blob", format!("is not valid base64: {e}")))?;
                Body::Blob(blob.clone())
            }
            (None, None, Some(Value::String(file))) => {
                let path = dir.join(file);
                let bytes = std::fs::read(&path)
                    .map_err(|e| PathError::new("$.file", format!("cannot read {}: {e}", path.display())))?;
                match String::from_utf8(bytes) {
                    Ok(text) => Body::Text(text),
                    Err(e) => Body::Blob(BASE64.encode(e.into_bytes())),
                }
            }
            _ => return Err(PathError::new("$", "a resource needs exactly one of `text`, `blob` (base64) or `file`")),
        };
        let default_mime = if matches!(body, Body::Text(_)) { "text/plain" } else { "application/octet-stream" };
        Ok(Self {
            name,
            title: optional_str(&obj, "title", "$.title")?,
            description: optional_str(&obj, "description", "$.description")?,
            mime_type: optional_str(&obj, "mimeType", "$.mimeType")?.unwrap_or_else(|| default_mime.into()),
            uri,
            body,
        })
    }

    /// The entry for `resources/list`.
    #[must_use]
    pub fn describe(&self) -> Value {
        let mut out = json!({"uri": self.uri, "name": self.name, "mimeType": self.mime_type});
        insert_opt(&mut out, "title", self.title.as_ref());
        insert_opt(&mut out, "description", self.description.as_ref());
        out
    }

    /// The `contents` of `resources/read`.
    #[must_use]
    pub fn contents(&self) -> Value {
        json!([self.body.content(&self.uri, &self.mime_type)])
    }
}

/// A resource family addressed by an RFC 6570 level-1 template such as `test://template/{id}/data`.
#[derive(Debug, Clone)]
pub struct ResourceTemplate {
    pub uri_template: String,
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub mime_type: String,
    parts: Vec<TemplatePart>,
    text: String,
    completions: HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
enum TemplatePart {
    Literal(String),
    Var(String),
}

impl ResourceTemplate {
    pub(super) fn parse(obj: Map<String, Value>) -> Result<Self, PathError> {
        reject_unknown_keys(
            &obj,
            &["kind", "uriTemplate", "name", "title", "description", "mimeType", "text", "completions"],
            "$",
        )?;
        let uri_template = required_str(&obj, "uriTemplate", "$.uriTemplate")?;
        let parts = split_template(&uri_template).map_err(|m| PathError::new("$.uriTemplate", m))?;
        let vars: Vec<&str> =
            parts.iter().filter_map(|p| if let TemplatePart::Var(v) = p { Some(v.as_str()) } else { None }).collect();
        let completions = match obj.get("completions") {
            None => HashMap::new(),
            Some(Value::Object(map)) => {
                let mut out = HashMap::new();
                for (var, values) in map {
                    if !vars.contains(&var.as_str()) {
                        return Err(PathError::new(
                            format!("$.completions.{var}"),
                            format!("`{var}` is not a template variable"),
                        ));
                    }
                    out.insert(var.clone(), string_list(values, &format!("$.completions.{var}"))?);
                }
                out
            }
            Some(_) => return Err(PathError::new("$.completions", "must map variable names to value lists")),
        };
        Ok(Self {
            name: optional_str(&obj, "name", "$.name")?.unwrap_or_else(|| uri_template.clone()),
            title: optional_str(&obj, "title", "$.title")?,
            description: optional_str(&obj, "description", "$.description")?,
            mime_type: optional_str(&obj, "mimeType", "$.mimeType")?.unwrap_or_else(|| "text/plain".into()),
            text: required_str(&obj, "text", "$.text")?,
            uri_template,
            parts,
            completions,
        })
    }

    /// The entry for `resources/templates/list`.
    #[must_use]
    pub fn describe(&self) -> Value {
        let mut out = json!({"uriTemplate": self.uri_template, "name": self.name, "mimeType": self.mime_type});
        insert_opt(&mut out, "title", self.title.as_ref());
        insert_opt(&mut out, "description", self.description.as_ref());
        out
    }

    /// The `contents` for `uri` when it matches this template.
    #[must_use]
    pub fn read(&self, uri: &str) -> Option<Value> {
        let vars = match_template(&self.parts, uri)?;
        let mut text = self.text.clone();
        for (name, value) in &vars {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        Some(json!([Body::Text(text).content(uri, &self.mime_type)]))
    }

    /// Completion values for a variable, filtered by prefix.
    #[must_use]
    pub fn complete(&self, var: &str, prefix: &str) -> Vec<String> {
        filter_prefix(self.completions.get(var), prefix)
    }
}

fn split_template(template: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        if start > 0 {
            parts.push(TemplatePart::Literal(rest[..start].to_owned()));
        }
        let end = rest[start..].find('}').ok_or("has an unclosed `{`")? + start;
        let var = &rest[start + 1..end];
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{{{var}}}` is not a simple variable"));
        }
        if matches!(parts.last(), Some(TemplatePart::Var(_))) {
            return Err("two variables must be separated by literal text".into());
        }
        parts.push(TemplatePart::Var(var.to_owned()));
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// Match `uri` against template parts; a variable matches one or more characters other than `/`.
fn match_template(parts: &[TemplatePart], uri: &str) -> Option<Vec<(String, String)>> {
    let mut vars = Vec::new();
    let mut rest = uri;
    for (i, part) in parts.iter().enumerate() {
        match part {
            TemplatePart::Literal(lit) => rest = rest.strip_prefix(lit.as_str())?,
            TemplatePart::Var(name) => {
                let end = match parts.get(i + 1) {
                    Some(TemplatePart::Literal(next)) => rest.find(next.as_str())?,
                    _ => rest.len(),
                };
                let value = &rest[..end];
                if value.is_empty() || value.contains('/') {
                    return None;
                }
                vars.push((name.clone(), value.to_owned()));
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(vars)
}

/// One declared prompt argument.
#[derive(Debug, Clone)]
pub struct PromptArgument {
    pub name: String,
    pub description: Option<String>,
    pub required: bool,
    completions: Vec<String>,
}

/// A prompt template: messages with `{{argument}}` placeholders. A prompt may first ask the client questions
/// (`"ask": {key: question}`, the questions of the `ask` builtin); each answer then fills `{{key}}`, in words.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub arguments: Vec<PromptArgument>,
    messages: Vec<Value>,
    asks: Vec<Ask>,
}

impl Prompt {
    pub(super) fn parse(obj: Map<String, Value>) -> Result<Self, PathError> {
        reject_unknown_keys(&obj, &["kind", "name", "title", "description", "arguments", "messages", "ask"], "$")?;
        let name = required_str(&obj, "name", "$.name")?;
        super::spec::check_name(&name).map_err(|m| PathError::new("$.name", m))?;
        let arguments = match obj.get("arguments") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, a)| parse_argument(a, i)).collect::<Result<_, _>>()?
            }
            Some(_) => return Err(PathError::new("$.arguments", "must be an array")),
        };
        let Some(Value::Array(messages)) = obj.get("messages") else {
            return Err(PathError::new("$.messages", "a prompt needs an array of messages"));
        };
        for (i, message) in messages.iter().enumerate() {
            let path = format!("$.messages[{i}]");
            match message.get("role").and_then(Value::as_str) {
                Some("user" | "assistant") => {}
                _ => return Err(PathError::new(format!("{path}.role"), "must be `user` or `assistant`")),
            }
            let content =
                message.get("content").ok_or_else(|| PathError::new(format!("{path}.content"), "is required"))?;
            check_content_block(content, &format!("{path}.content"))?;
        }
        let asks = match obj.get("ask") {
            None => Vec::new(),
            Some(Value::Object(questions)) if !questions.is_empty() => questions
                .iter()
                .map(|(key, raw)| parse_question(key.clone(), raw, &format!("$.ask.{key}")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(PathError::new("$.ask", "must be an object of questions by key")),
        };
        Ok(Self {
            name,
            title: optional_str(&obj, "title", "$.title")?,
            description: optional_str(&obj, "description", "$.description")?,
            arguments,
            messages: messages.clone(),
            asks,
        })
    }

    /// The entry for `prompts/list`.
    #[must_use]
    pub fn describe(&self) -> Value {
        let mut out = json!({"name": self.name});
        insert_opt(&mut out, "title", self.title.as_ref());
        insert_opt(&mut out, "description", self.description.as_ref());
        if !self.arguments.is_empty() {
            let args: Vec<Value> = self
                .arguments
                .iter()
                .map(|a| {
                    let mut arg = json!({"name": a.name, "required": a.required});
                    insert_opt(&mut arg, "description", a.description.as_ref());
                    arg
                })
                .collect();
            out["arguments"] = Value::Array(args);
        }
        out
    }

    /// Does rendering ask the client first?
    #[must_use]
    pub fn asks(&self) -> bool {
        !self.asks.is_empty()
    }

    /// Ask the prompt's questions through `ctx`, then render with the answers.
    pub async fn ask_and_render(&self, args: &Map<String, Value>, ctx: &CallCtx) -> Result<Value, GatewayError> {
        let answers = ctx.ask_all(self.asks.clone()).await?;
        let answered: HashMap<String, String> =
            self.asks.iter().zip(answers).map(|(ask, answer)| (ask.key.clone(), in_words(&answer))).collect();
        self.render_with(args, answered).map_err(GatewayError::invalid_params)
    }

    /// Render for `prompts/get`. A missing required argument is the caller's error.
    pub fn render(&self, args: &Map<String, Value>) -> Result<Value, String> {
        self.render_with(args, HashMap::new())
    }

    fn render_with(&self, args: &Map<String, Value>, mut values: HashMap<String, String>) -> Result<Value, String> {
        for arg in &self.arguments {
            match args.get(&arg.name) {
                Some(Value::String(s)) => {
                    values.insert(arg.name.clone(), s.clone());
                }
                Some(other) => {
                    values.insert(arg.name.clone(), other.to_string());
                }
                None if arg.required => return Err(format!("missing required argument `{}`", arg.name)),
                None => {
                    values.insert(arg.name.clone(), String::new());
                }
            }
        }
        let messages: Vec<Value> = self.messages.iter().map(|m| substitute(m, &values)).collect();
        let mut out = json!({"messages": messages});
        insert_opt(&mut out, "description", self.description.as_ref());
        Ok(out)
    }

    /// Completion values for an argument, filtered by prefix.
    #[must_use]
    pub fn complete(&self, argument: &str, prefix: &str) -> Vec<String> {
        filter_prefix(self.arguments.iter().find(|a| a.name == argument).map(|a| &a.completions), prefix)
    }
}

fn parse_argument(value: &Value, i: usize) -> Result<PromptArgument, PathError> {
    let path = format!("$.arguments[{i}]");
    let Value::Object(obj) = value else {
        return Err(PathError::new(path, "must be an object"));
    };
    reject_unknown_keys(obj, &["name", "description", "required", "completions"], &path)?;
    Ok(PromptArgument {
        name: required_str(obj, "name", &format!("{path}.name"))?,
        description: optional_str(obj, "description", &format!("{path}.description"))?,
        required: obj.get("required").and_then(Value::as_bool).unwrap_or(false),
        completions: match obj.get("completions") {
            None => Vec::new(),
            Some(v) => string_list(v, &format!("{path}.completions"))?,
        },
    })
}

/// Replace `{{name}}` in every string of a JSON value.
fn substitute(value: &Value, values: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => {
            let mut out = s.clone();
            for (name, v) in values {
                out = out.replace(&format!("{{{{{name}}}}}"), v);
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, values)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, values))).collect()),
        other => other.clone(),
    }
}

fn string_list(value: &Value, path: &str) -> Result<Vec<String>, PathError> {
    value
        .as_array()
        .and_then(|items| items.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| PathError::new(path, "must be an array of strings"))
}

fn filter_prefix(values: Option<&Vec<String>>, prefix: &str) -> Vec<String> {
    values.map(|vs| vs.iter().filter(|v| v.starts_with(prefix)).cloned().collect()).unwrap_or_default()
}

fn insert_opt(out: &mut Value, key: &str, value: Option<&String>) {
    if let Some(v) = value {
        out[key] = json!(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn template_matches_one_segment_and_substitutes() {
        let t = ResourceTemplate::parse(obj(json!({
            "uriTemplate": "test://template/{id}/data", "text": "Data for ID: {id}", "mimeType": "application/json"
        })))
        .unwrap();
        let contents = t.read("test://template/123/data").unwrap();
        assert_eq!(contents[0]["text"], "Data for ID: 123");
        assert_eq!(contents[0]["uri"], "test://template/123/data");
        assert!(t.read("test://template/1/2/data").is_none());
        assert!(t.read("test://template//data").is_none());
    }

    #[test]
    fn prompt_requires_arguments_and_substitutes() {
        let p = Prompt::parse(obj(json!({
            "name": "greet",
            "arguments": [{"name": "who", "required": true, "completions": ["world", "wasm"]}],
            "messages": [{"role": "user", "content": {"type": "text", "text": "Hello {{who}}"}}]
        })))
        .unwrap();
        assert!(p.render(&Map::new()).unwrap_err().contains("who"));
        let out = p.render(&obj(json!({"who": "you"}))).unwrap();
        assert_eq!(out["messages"][0]["content"]["text"], "Hello you");
        assert_eq!(p.complete("who", "wa"), vec!["wasm"]);
    }

    #[test]
    fn blob_must_be_base64() {
        let err = Resource::parse(obj(json!({"uri": "x://b", "blob": "not base64!"})), Path::new(".")).unwrap_err();
        assert_eq!(err.path, "$.blob");
    }
}
