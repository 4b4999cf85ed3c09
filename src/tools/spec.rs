//! Parsing one spec file into a checked item: a tool, a resource, a resource template or a prompt.
//!
//! Tools come in two shapes, so existing specs load unchanged:
//! - MCP-native: `{name, title?, description, inputSchema, outputSchema?, annotations?, icons?, category?, tags?,
//!   timeout_secs?, execution?, binding}` (`execution.taskSupport`: `optional` or `required`, MCP's own field:
//!   the tool may or must run as a task of the 2026-07-28 tasks extension, see `mcp::modern::tool_tasks`);
//! - Dragonfly / OpenAI-function: `{"type": "function", "function": {name, displayName?, category?, tags?,
//!   description, parameters}, binding}`.
//!
//! Other items say what they are with `"kind": "resource" | "resource_template" | "prompt" | "upstream"`. Every problem is
//! reported with the file and a JSON path (`$.binding.name`), and a file is either wholly accepted or rejected.
//! This module reads JSON values only; it does not touch the filesystem.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::binding::Binding;
use super::catalog::{Prompt, Resource, ResourceTemplate};
use super::upstream_spec::UpstreamSpec;
use crate::config::TemplateEnv;

/// A problem found while loading specs, located by file and JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.message)
    }
}

/// A located error inside one file, before the file name is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub path: String,
    pub message: String,
}

impl PathError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// What one spec file declares.
#[derive(Debug)]
pub enum SpecItem {
    Tool(Box<ToolSpec>),
    Resource(Resource),
    ResourceTemplate(ResourceTemplate),
    Prompt(Prompt),
    /// An upstream MCP server (`kind: upstream`), see [`super::upstream_spec`].
    Upstream(Box<UpstreamSpec>),
}

impl std::fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSpec")
            .field("name", &self.name)
            .field("binding", &self.binding.kind())
            .finish_non_exhaustive()
    }
}

/// A tool as declared, checked, with its schemas compiled.
pub struct ToolSpec {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    pub input_validator: jsonschema::Validator,
    pub output_validator: Option<jsonschema::Validator>,
    pub annotations: Value,
    pub icons: Option<Value>,
    pub timeout: Option<Duration>,
    /// Whether a call may (or must) run as a task (`execution.taskSupport`); `None` for a synchronous tool.
    pub task_support: Option<TaskSupport>,
    pub binding: Binding,
}

/// A tool's `execution.taskSupport`: whether a call may run as a task, or must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSupport {
    /// A client that opted in to tasks gets one; others get the result synchronously.
    Optional,
    /// Only as a task: a client that did not opt in is refused.
    Required,
}

impl TaskSupport {
    /// The value in `tools/list`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

const TOOL_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
    "icons",
    "category",
    "tags",
    "timeout_secs",
    "execution",
    "binding",
    "kind",
    "_meta",
];

/// Names clients accept everywhere: MCP's alphabet, at most 64 characters (many clients cut at 64).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("name `{name}` must be 1 to 64 characters long"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(format!("name `{name}` has `{bad}`; only A-Z, a-z, 0-9, `_`, `-` and `.` are allowed"));
    }
    Ok(())
}

/// Parse one file's JSON into a spec item. `dir` is the file's folder, for items that point to files; `env`
/// names the environment variables binding templates may read.
pub fn parse_item(value: Value, dir: &Path, env: &TemplateEnv) -> Result<SpecItem, PathError> {
    let Value::Object(obj) = value else {
        return Err(PathError::new("$", "a spec file must hold one JSON object"));
    };
    match obj.get("kind").map(|k| k.as_str().ok_or(k)) {
        None | Some(Ok("tool")) => parse_tool(obj, env).map(|t| SpecItem::Tool(Box::new(t))),
        Some(Ok("resource")) => Resource::parse(obj, dir).map(SpecItem::Resource),
        Some(Ok("resource_template")) => ResourceTemplate::parse(obj).map(SpecItem::ResourceTemplate),
        Some(Ok("prompt")) => Prompt::parse(obj).map(SpecItem::Prompt),
        Some(Ok("upstream")) => UpstreamSpec::parse(&obj, env).map(|u| SpecItem::Upstream(Box::new(u))),
        Some(Ok(other)) => Err(PathError::new(
            "$.kind",
            format!("unknown kind `{other}`; expected tool, resource, resource_template, prompt or upstream"),
        )),
        Some(Err(_)) => Err(PathError::new("$.kind", "must be a string")),
    }
}

fn parse_tool(obj: Map<String, Value>, env: &TemplateEnv) -> Result<ToolSpec, PathError> {
    let obj = if obj.get("type").and_then(Value::as_str) == Some("function") { from_function_shape(obj)? } else { obj };
    if let Some(unknown) = obj.keys().find(|k| !TOOL_KEYS.contains(&k.as_str())) {
        return Err(PathError::new(format!("$.{unknown}"), format!("unknown field `{unknown}`")));
    }
    let name = required_str(&obj, "name", "$.name")?;
    check_name(&name).map_err(|m| PathError::new("$.name", m))?;
    let description = optional_str(&obj, "description", "$.description")?
        .ok_or_else(|| PathError::new("$.description", "a tool needs a description, models choose tools by it"))?;
    let title = optional_str(&obj, "title", "$.title")?;
    let category = optional_str(&obj, "category", "$.category")?.map(|c| c.to_ascii_lowercase());
    let tags = string_array(obj.get("tags"), "$.tags")?;
    let (input_schema, input_validator) = input_schema(obj.get("inputSchema"))?;
    let (output_schema, output_validator) = match obj.get("outputSchema") {
        None | Some(Value::Null) => (None, None),
        Some(schema @ Value::Object(_)) => (Some(schema.clone()), Some(compile_schema(schema, "$.outputSchema")?)),
        Some(_) => return Err(PathError::new("$.outputSchema", "must be a JSON Schema object")),
    };
    let annotations = annotations(obj.get("annotations"), category.as_deref(), title.as_deref())?;
    let icons = match obj.get("icons") {
        None => None,
        Some(icons @ Value::Array(_)) => Some(icons.clone()),
        Some(_) => return Err(PathError::new("$.icons", "must be an array of icon objects")),
    };
    let timeout = match obj.get("timeout_secs") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(secs) if secs > 0.0 && secs <= 86_400.0 => Some(Duration::from_secs_f64(secs)),
            _ => return Err(PathError::new("$.timeout_secs", "must be a number of seconds between 0 and 86400")),
        },
    };
    let task_support = task_support(obj.get("execution"))?;
    let binding_value =
        obj.get("binding").ok_or_else(|| PathError::new("$.binding", "a tool needs a binding: what a call does"))?;
    let binding = Binding::parse(binding_value, &input_schema, env)?;
    Ok(ToolSpec {
        name,
        title,
        description,
        category,
        tags,
        input_schema,
        output_schema,
        input_validator,
        output_validator,
        annotations,
        icons,
        timeout,
        task_support,
        binding,
    })
}

/// `execution`: `{"taskSupport": "forbidden" | "optional" | "required"}` (forbidden, the default, is `None`).
fn task_support(execution: Option<&Value>) -> Result<Option<TaskSupport>, PathError> {
    let Some(execution) = execution else { return Ok(None) };
    let Some(obj) = execution.as_object() else {
        return Err(PathError::new("$.execution", "must be an object such as {\"taskSupport\": \"optional\"}"));
    };
    if let Some(unknown) = obj.keys().find(|k| k.as_str() != "taskSupport") {
        return Err(PathError::new(format!("$.execution.{unknown}"), format!("unknown field `{unknown}`")));
    }
    match obj.get("taskSupport").and_then(Value::as_str) {
        None | Some("forbidden") => Ok(None),
        Some("optional") => Ok(Some(TaskSupport::Optional)),
        Some("required") => Ok(Some(TaskSupport::Required)),
        Some(_) => Err(PathError::new("$.execution.taskSupport", "must be `forbidden`, `optional` or `required`")),
    }
}

/// Rewrite the Dragonfly/OpenAI-function shape into the MCP-native one.
fn from_function_shape(mut obj: Map<String, Value>) -> Result<Map<String, Value>, PathError> {
    let Some(Value::Object(function)) = obj.remove("function") else {
        return Err(PathError::new("$.function", "`type: function` specs need a `function` object"));
    };
    obj.remove("type");
    let mut out = Map::new();
    for (key, value) in function {
        let target = match key.as_str() {
            "name" | "description" | "category" | "tags" | "title" => key,
            "displayName" => "title".to_owned(),
            "parameters" => "inputSchema".to_owned(),
            // OpenAI's `strict` and any vendor notes carry no meaning for MCP.
            _ => continue,
        };
        out.insert(target, value);
    }
    for (key, value) in obj {
        if out.contains_key(&key) {
            return Err(PathError::new(
                format!("$.{key}"),
                format!("`{key}` is given both inside and beside `function`"),
            ));
        }
        out.insert(key, value);
    }
    Ok(out)
}

fn input_schema(value: Option<&Value>) -> Result<(Value, jsonschema::Validator), PathError> {
    let mut schema = match value {
        None => json!({"type": "object", "properties": {}}),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(_) => return Err(PathError::new("$.inputSchema", "must be a JSON Schema object with `type: object`")),
    };
    match schema.get("type") {
        None => {
            schema["type"] = json!("object");
        }
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => {
            return Err(PathError::new(
                "$.inputSchema.type",
                format!("tool arguments are a JSON object, so the schema type must be \"object\", not {other}"),
            ));
        }
    }
    let validator = compile_schema(&schema, "$.inputSchema")?;
    super::header_params::check(&schema)?;
    Ok((schema, validator))
}

/// Compile a JSON Schema, reporting where inside it the problem lies.
pub fn compile_schema(schema: &Value, path: &str) -> Result<jsonschema::Validator, PathError> {
    jsonschema::validator_for(schema).map_err(|e| {
        let inner = e.instance_path().to_string();
        let location = if inner.is_empty() { path.to_owned() } else { format!("{path}{}", pointer_to_path(&inner)) };
        PathError::new(location, format!("schema does not compile: {e}"))
    })
}

/// `/properties/limit` → `.properties.limit`
pub fn pointer_to_path(pointer: &str) -> String {
    pointer
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| if s.chars().all(|c| c.is_ascii_digit()) { format!("[{s}]") } else { format!(".{s}") })
        .collect()
}

fn annotations(value: Option<&Value>, category: Option<&str>, title: Option<&str>) -> Result<Value, PathError> {
    let mut derived = match category {
        Some("read") => json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true}),
        Some("write" | "workflow") => json!({"readOnlyHint": false}),
        _ => json!({}),
    };
    if let Some(title) = title {
        derived["title"] = json!(title);
    }
    match value {
        None => {}
        Some(Value::Object(given)) => {
            for (key, v) in given {
                let ok = match key.as_str() {
                    "title" => v.is_string(),
                    "readOnlyHint" | "destructiveHint" | "idempotentHint" | "openWorldHint" => v.is_boolean(),
                    _ => true,
                };
                if !ok {
                    return Err(PathError::new(format!("$.annotations.{key}"), "has the wrong type"));
                }
                derived[key] = v.clone();
            }
        }
        Some(_) => return Err(PathError::new("$.annotations", "must be an object")),
    }
    Ok(derived)
}

pub fn required_str(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, PathError> {
    optional_str(obj, key, path)?.ok_or_else(|| PathError::new(path, format!("`{key}` is required")))
}

pub fn optional_str(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, PathError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(PathError::new(path, "must not be empty")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(PathError::new(path, "must be a string")),
    }
}

pub(super) fn string_array(value: Option<&Value>, path: &str) -> Result<Vec<String>, PathError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_owned).ok_or_else(|| PathError::new(format!("{path}[{i}]"), "must be a string"))
            })
            .collect(),
        Some(_) => Err(PathError::new(path, "must be an array of strings")),
    }
}

/// An upstream binding's per-request `timeout_secs`: seconds in (0, 3600], 30 when absent.
pub fn binding_timeout(obj: &Map<String, Value>) -> Result<Duration, PathError> {
    match obj.get("timeout_secs") {
        None => Ok(Duration::from_secs(30)),
        Some(v) => v
            .as_f64()
            .filter(|s| *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| PathError::new("$.binding.timeout_secs", "must be seconds between 0 and 3600")),
    }
}

/// A binding's `idempotent` flag (may a request be sent again), `default` when absent.
pub fn binding_idempotent(obj: &Map<String, Value>, default: bool) -> Result<bool, PathError> {
    match obj.get("idempotent") {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(PathError::new("$.binding.idempotent", "must be a boolean")),
    }
}

/// Reject keys outside `allowed`, naming the first unknown one.
pub fn reject_unknown_keys(obj: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), PathError> {
    let allowed: HashSet<&str> = allowed.iter().copied().collect();
    match obj.keys().find(|k| !allowed.contains(k.as_str())) {
        Some(k) => Err(PathError::new(format!("{prefix}.{k}"), format!("unknown field `{k}`"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<ToolSpec, PathError> {
        match parse_item(value, Path::new("."), &TemplateEnv::new(&["INVENTORY_*"]))? {
            SpecItem::Tool(t) => Ok(*t),
            _ => panic!("expected a tool"),
        }
    }

    fn ping_binding() -> Value {
        json!({"kind": "builtin", "name": "ping"})
    }

    #[test]
    fn execution_task_support_is_optional_required_or_none() {
        let with = |execution: Value| {
            parse(json!({"name": "t", "description": "d", "execution": execution, "binding": ping_binding()}))
        };
        assert_eq!(with(json!({"taskSupport": "optional"})).unwrap().task_support, Some(TaskSupport::Optional));
        assert_eq!(with(json!({"taskSupport": "required"})).unwrap().task_support, Some(TaskSupport::Required));
        assert_eq!(with(json!({"taskSupport": "forbidden"})).unwrap().task_support, None);
        assert_eq!(with(json!({"taskSupport": "sometimes"})).unwrap_err().path, "$.execution.taskSupport");
        assert_eq!(with(json!({"ttl": 5})).unwrap_err().path, "$.execution.ttl");
        assert_eq!(with(json!("optional")).unwrap_err().path, "$.execution");
    }

    #[test]
    fn mcp_native_tool_parses_with_derived_annotations() {
        let tool = parse(json!({
            "name": "search", "description": "Find things", "category": "READ",
            "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
            "binding": ping_binding()
        }))
        .unwrap();
        assert_eq!(tool.category.as_deref(), Some("read"));
        assert_eq!(tool.annotations["readOnlyHint"], true);
    }

    #[test]
    fn function_shape_becomes_mcp_native() {
        let tool = parse(json!({
            "type": "function",
            "function": {"name": "call_llm", "displayName": "Call LLM", "description": "Ask a model",
                          "parameters": {"type": "object", "properties": {"message": {"type": "string"}}}, "strict": true},
            "binding": ping_binding()
        }))
        .unwrap();
        assert_eq!(tool.name, "call_llm");
        assert_eq!(tool.title.as_deref(), Some("Call LLM"));
        assert_eq!(tool.input_schema["properties"]["message"]["type"], "string");
    }

    #[test]
    fn bad_names_are_rejected_at_name_path() {
        for bad in ["has space", "", &"x".repeat(65), "émoji"] {
            let err = parse(json!({"name": bad, "description": "d", "binding": ping_binding()})).unwrap_err();
            assert_eq!(err.path, "$.name", "{bad}: {}", err.message);
        }
    }

    #[test]
    fn non_object_input_schema_is_rejected() {
        let err = parse(
            json!({"name": "t", "description": "d", "inputSchema": {"type": "array"}, "binding": ping_binding()}),
        )
        .unwrap_err();
        assert_eq!(err.path, "$.inputSchema.type");
    }

    #[test]
    fn schema_that_does_not_compile_is_rejected() {
        let err = parse(json!({
            "name": "t", "description": "d",
            "inputSchema": {"type": "object", "properties": {"n": {"type": "integr"}}},
            "binding": ping_binding()
        }))
        .unwrap_err();
        assert!(err.path.starts_with("$.inputSchema"), "{err:?}");
        assert!(err.message.contains("does not compile"), "{err:?}");
    }

    #[test]
    fn missing_binding_and_unknown_fields_are_rejected() {
        let err = parse(json!({"name": "t", "description": "d"})).unwrap_err();
        assert_eq!(err.path, "$.binding");
        let err = parse(json!({"name": "t", "description": "d", "bindng": {}, "binding": ping_binding()})).unwrap_err();
        assert_eq!(err.path, "$.bindng");
    }

    #[test]
    fn a_binding_may_read_allowed_settings_but_never_the_gateways_secrets() {
        let tool = |header: &str| {
            json!({"name": "t", "description": "d",
                   "binding": {"kind": "http", "url": "{{env.INVENTORY_URL}}/items", "headers": {"X-Key": header}}})
        };
        let ok = parse(tool("{{env.INVENTORY_TOKEN}}")).unwrap();
        assert_eq!(ok.binding.required_settings(), ["INVENTORY_TOKEN", "INVENTORY_URL"]);
        let err = parse(tool("{{env.OPENAI_API_KEY}}")).unwrap_err();
        assert_eq!(err.path, "$.binding.headers.X-Key");
        assert!(err.message.contains("the gateway's own secret"), "{}", err.message);
        let err = parse(tool("{{env.HOME}}")).unwrap_err();
        assert_eq!(err.path, "$.binding.headers.X-Key");
        assert!(err.message.contains("not readable by templates"), "{}", err.message);
    }

    #[test]
    fn pointer_paths_read_as_json_paths() {
        assert_eq!(pointer_to_path("/properties/items/0"), ".properties.items[0]");
    }
}
