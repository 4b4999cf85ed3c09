//! From an upstream's `tools/list` to the gateway's own tools: the spec's `include` / `exclude` patterns, the
//! prefix and renames, description overrides, and `fixed` arguments taken out of the schema clients see.
//!
//! Each tool is checked as a declared tool would be (a valid name of at most 64 characters after prefixing,
//! an object input schema that compiles); a tool that fails, or whose name another tool already has, is left
//! out with a problem naming it, and the upstream's other tools are still served.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::auth::NamePattern;
use crate::tools::Tool;
use crate::tools::binding::Binding;
use crate::tools::spec::{ToolSpec, check_name, compile_schema};
use crate::tools::upstream_binding::{UpstreamBinding, UpstreamCaller};
use crate::tools::upstream_spec::{ToolRules, UpstreamSpec};

/// Whether the spec's `include` / `exclude` patterns serve the upstream tool `name`.
#[must_use]
pub fn included(rules: &ToolRules, name: &str) -> bool {
    let matches = |patterns: &[String]| patterns.iter().any(|p| NamePattern::new(p).matches(name));
    (rules.include.is_empty() || matches(&rules.include)) && !matches(&rules.exclude)
}

/// The name the gateway serves the upstream tool `name` under.
#[must_use]
pub fn served_name(spec: &UpstreamSpec, name: &str) -> String {
    let renamed = lookup(&spec.tools.rename, name, name).map_or(name, String::as_str);
    format!("{}{renamed}", spec.prefix)
}

/// A rule keyed by the upstream name or by the renamed one.
fn lookup<'a, T>(rules: &'a [(String, T)], name: &str, renamed: &str) -> Option<&'a T> {
    rules.iter().find(|(k, _)| k == name).or_else(|| rules.iter().find(|(k, _)| k == renamed)).map(|(_, v)| v)
}

/// The tools to serve from `listed` (the upstream's tool objects, already admitted by pins), with a problem
/// for each left out. `taken` holds names other tools already use; the served names are added to it.
pub fn shape(
    spec: &UpstreamSpec,
    listed: &[Value],
    taken: &mut HashSet<String>,
    caller: &Arc<dyn UpstreamCaller>,
) -> (Vec<Arc<Tool>>, Vec<String>) {
    let mut tools = Vec::new();
    let mut problems = Vec::new();
    for offered in listed {
        match shape_one(spec, offered, caller) {
            Ok(tool) if taken.insert(tool.spec.name.clone()) => tools.push(Arc::new(tool)),
            Ok(tool) => problems.push(format!(
                "tool `{}` is not served: the name `{}` is already another tool's",
                offered["name"].as_str().unwrap_or_default(),
                tool.spec.name
            )),
            Err(problem) => problems.push(problem),
        }
    }
    (tools, problems)
}

fn shape_one(spec: &UpstreamSpec, offered: &Value, caller: &Arc<dyn UpstreamCaller>) -> Result<Tool, String> {
    let name = offered["name"].as_str().ok_or("a listed tool has no name")?;
    let served = served_name(spec, name);
    check_name(&served).map_err(|m| format!("tool `{name}` is not served: {m}"))?;
    let renamed = served.strip_prefix(spec.prefix.as_str()).unwrap_or(&served);
    let fixed = lookup(&spec.tools.fixed, name, renamed).cloned().unwrap_or_default();
    let input_schema = schema_without(offered.get("inputSchema"), &fixed)
        .ok_or_else(|| format!("tool `{name}` is not served: its inputSchema is not an object schema"))?;
    let input_validator = compile_schema(&input_schema, "$.inputSchema")
        .map_err(|e| format!("tool `{name}` is not served: {}", e.message))?;
    let output_schema = offered.get("outputSchema").filter(|s| s.is_object()).cloned();
    let output_validator = match &output_schema {
        Some(schema) => Some(
            compile_schema(schema, "$.outputSchema")
                .map_err(|e| format!("tool `{name}` is not served: {}", e.message))?,
        ),
        None => None,
    };
    let description = lookup(&spec.tools.descriptions, name, renamed)
        .cloned()
        .or_else(|| offered["description"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let annotations = offered.get("annotations").filter(|a| a.is_object()).cloned().unwrap_or_else(|| json!({}));
    Ok(Tool {
        spec: ToolSpec {
            name: served,
            title: offered["title"].as_str().map(str::to_owned),
            description,
            category: Some(spec.name.clone()),
            tags: vec!["upstream".into()],
            input_schema,
            output_schema,
            input_validator,
            output_validator,
            annotations,
            icons: offered.get("icons").filter(|i| i.is_array()).cloned(),
            timeout: Some(spec.timeout),
            task_support: None,
            binding: Binding::Upstream(Box::new(UpstreamBinding {
                tool: name.to_owned(),
                fixed,
                caller: caller.clone(),
            })),
        },
        source: format!("upstream:{}", spec.name),
    })
}

/// The input schema with the `fixed` arguments taken out of `properties` and `required`; `None` when it is not
/// an object schema.
fn schema_without(schema: Option<&Value>, fixed: &Map<String, Value>) -> Option<Value> {
    let mut schema = match schema {
        None => json!({"type": "object", "properties": {}}),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(_) => return None,
    };
    match schema.get("type") {
        None => schema["type"] = json!("object"),
        Some(t) if t == "object" => {}
        Some(_) => return None,
    }
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.retain(|k, _| !fixed.contains_key(k));
    }
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|k| k.as_str().is_none_or(|k| !fixed.contains_key(k)));
    }
    Some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TemplateEnv;
    use crate::error::GatewayError;
    use crate::tools::{CallCtx, ChannelFuture, ToolOutput};

    #[derive(Debug)]
    struct Nowhere;

    impl UpstreamCaller for Nowhere {
        fn call_tool<'a>(
            &'a self,
            _: &'a str,
            _: Value,
            _: &'a CallCtx,
            _: std::time::Instant,
        ) -> ChannelFuture<'a, Result<ToolOutput, GatewayError>> {
            Box::pin(async { Err(GatewayError::internal("test", &"not called")) })
        }

        fn forward<'a>(
            &'a self,
            _: &'a str,
            _: Value,
            _: Option<&'a CallCtx>,
            _: std::time::Instant,
        ) -> ChannelFuture<'a, Result<Value, GatewayError>> {
            Box::pin(async { Err(GatewayError::internal("test", &"not called")) })
        }
    }

    fn crm() -> UpstreamSpec {
        let value = json!({"kind": "upstream", "name": "crm", "prefix": "crm_", "transport": "streamable_http",
            "url": "http://127.0.0.1:9/mcp",
            "tools": {"exclude": ["internal_*"], "rename": {"add": "sum"}, "descriptions": {"sum": "Adds."},
                      "fixed": {"search": {"tenant": "acme"}}}});
        UpstreamSpec::parse(value.as_object().unwrap(), &TemplateEnv::default()).unwrap()
    }

    #[test]
    fn rules_shape_names_descriptions_and_schemas() {
        let spec = crm();
        let listed = [
            json!({"name": "add", "description": "a+b", "inputSchema": {"type": "object", "properties": {"a": {}, "b": {}}}}),
            json!({"name": "search", "inputSchema": {"type": "object",
                   "properties": {"query": {"type": "string"}, "tenant": {"type": "string"}}, "required": ["query", "tenant"]}}),
            json!({"name": "bad", "inputSchema": {"type": "array"}}),
            json!({"name": "taken", "inputSchema": {}}),
        ];
        let listed: Vec<Value> =
            listed.into_iter().filter(|t| included(&spec.tools, t["name"].as_str().unwrap())).collect();
        assert!(!included(&spec.tools, "internal_only"));
        let mut taken = HashSet::from(["crm_taken".to_owned()]);
        let caller: Arc<dyn UpstreamCaller> = Arc::new(Nowhere);
        let (tools, problems) = shape(&spec, &listed, &mut taken, &caller);
        let names: Vec<&str> = tools.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["crm_sum", "crm_search"]);
        assert_eq!(tools[0].spec.description, "Adds.");
        assert_eq!(tools[1].spec.input_schema["required"], json!(["query"]));
        assert!(tools[1].spec.input_schema["properties"].get("tenant").is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("`bad`")));
        assert!(problems.iter().any(|p| p.contains("crm_taken")));
    }
}
