//! The tool catalogue as Markdown (`mcp-gateway tools --markdown`, committed as `docs/tools.md`): an index, then
//! per tool its title, category, description, binding kind, the settings a call needs and its arguments with
//! types, defaults and descriptions.
//!
//! The text depends on the specs only (tools in name order, arguments in schema order, no paths, times or
//! versions), so the committed file can be compared with a fresh rendering byte for byte. This module renders;
//! it reads no file and prints nothing.

use std::fmt::Write as _;

use serde_json::Value;

use super::registry::{Registry, Tool};

/// The catalogue of every tool in `registry`.
#[must_use]
pub fn render(registry: &Registry) -> String {
    let tools = registry.tools();
    let mut out = String::new();
    out.push_str("# Tool catalogue\n\n");
    out.push_str(
        "Generated from `tool_specs/` by `mcp-gateway tools --markdown > docs/tools.md`; do not edit by hand \
         (`tests/it/cli.rs` fails when it is out of date). Settings are the environment variables a call needs, a \
         workflow's including those of the tools it calls (`HF_KEY` may stand for the two Higgsfield ones); a tool \
         whose settings are missing is still listed and answers `not_configured`.\n\n",
    );
    let _ = writeln!(out, "{} tools.\n", tools.len());
    out.push_str("| tool | title | category | binding | settings |\n|---|---|---|---|---|\n");
    for tool in tools {
        let spec = &tool.spec;
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | `{}` | {} |",
            spec.name,
            anchor(&spec.name),
            cell(spec.title.as_deref().unwrap_or("—")),
            cell(spec.category.as_deref().unwrap_or("—")),
            spec.binding.kind(),
            settings(registry, tool),
        );
    }
    for tool in tools {
        out.push('\n');
        section(&mut out, registry, tool);
    }
    out
}

fn section(out: &mut String, registry: &Registry, tool: &Tool) {
    let spec = &tool.spec;
    let _ = writeln!(out, "## {}\n", spec.name);
    let _ = writeln!(out, "{}\n", spec.description.trim());
    if let Some(title) = &spec.title {
        let _ = writeln!(out, "- Title: {title}");
    }
    let _ = writeln!(out, "- Category: {}", spec.category.as_deref().unwrap_or("—"));
    let mut binding = format!("`{}`", spec.binding.kind());
    let calls: Vec<String> = spec.binding.tool_references().iter().map(|(_, name)| format!("`{name}`")).collect();
    if !calls.is_empty() {
        let _ = write!(binding, ", calling {}", calls.join(", "));
    }
    let _ = writeln!(out, "- Binding: {binding}");
    let _ = writeln!(out, "- Settings: {}", settings(registry, tool));
    let _ = writeln!(out, "- Spec: `{}`\n", tool.source.replace('\\', "/"));
    let mut rows = Vec::new();
    arguments(&spec.input_schema, "", &mut rows);
    if rows.is_empty() {
        out.push_str("No arguments.\n");
        return;
    }
    out.push_str("| argument | type | required | default | description |\n|---|---|---|---|---|\n");
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
}

/// The settings a call needs, reached workflow steps included.
fn settings(registry: &Registry, tool: &Tool) -> String {
    let names = registry.required_settings(tool);
    if names.is_empty() {
        return "none".to_owned();
    }
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// One table row per property of an object schema, nested objects and arrays of objects flattened as `a.b` and
/// `a[].b`.
fn arguments(schema: &Value, prefix: &str, rows: &mut Vec<String>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        let path = format!("{prefix}{name}");
        let default = property.get("default").map_or_else(|| "—".to_owned(), |d| format!("`{}`", cell(&d.to_string())));
        let description = property.get("description").and_then(Value::as_str).unwrap_or("");
        rows.push(format!(
            "| `{path}` | {} | {} | {default} | {} |",
            cell(&type_of(property)),
            if required.contains(&name.as_str()) { "yes" } else { "no" },
            cell(description),
        ));
        arguments(property, &format!("{path}."), rows);
        if let Some(items) = property.get("items") {
            arguments(items, &format!("{path}[]."), rows);
        }
    }
}

/// `string`, `integer | null`, `string (date)`, `array of object`, `string, one of "a", "b"`.
fn type_of(schema: &Value) -> String {
    let mut text = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ => "any".to_owned(),
    };
    if text == "array" {
        if let Some(items) = schema.get("items") {
            text = format!("array of {}", type_of(items));
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        let _ = write!(text, " ({format})");
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let listed: Vec<String> = values.iter().map(Value::to_string).collect();
        let _ = write!(text, ", one of {}", listed.join(", "));
    }
    text
}

/// Text safe inside a table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// The anchor GitHub gives a `## name` heading (tool names hold only `A-Z a-z 0-9 _ - .`).
fn anchor(name: &str) -> String {
    name.chars().filter(|c| *c != '.').map(|c| c.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::TemplateEnv;

    fn registry(specs: &[Value]) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        for spec in specs {
            let name = spec["name"].as_str().unwrap();
            std::fs::write(dir.path().join(format!("{name}.json")), spec.to_string()).unwrap();
        }
        Registry::load(dir.path(), &TemplateEnv::new(&["SHOP_*"])).unwrap()
    }

    #[test]
    fn arguments_show_types_defaults_nesting_and_escaped_text() {
        let schema = json!({"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "description": "Lines | many\nof them",
                      "items": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}},
            "when": {"type": ["string", "null"], "format": "date"},
            "sort": {"type": "string", "enum": ["asc", "desc"], "default": "asc"}
        }});
        let mut rows = Vec::new();
        arguments(&schema, "", &mut rows);
        assert_eq!(
            rows,
            [
                "| `items` | array of object | yes | — | Lines \\| many of them |",
                "| `items[].sku` | string | yes | — |  |",
                "| `when` | string or null (date) | no | — |  |",
                "| `sort` | string, one of \"asc\", \"desc\" | no | `\"asc\"` |  |",
            ]
        );
    }

    #[test]
    fn workflows_list_the_tools_they_call_and_inherit_their_settings() {
        let registry = registry(&[
            json!({"name": "stock", "description": "Stock level", "category": "read",
                   "binding": {"kind": "http", "url": "{{env.SHOP_URL}}/stock"}}),
            json!({"name": "a.restock", "title": "Restock", "description": "Check, then order", "category": "workflow",
                   "binding": {"kind": "workflow", "steps": [{"id": "s", "tool": "stock"}]}}),
        ]);
        let text = render(&registry);
        assert!(text.contains("2 tools.\n"), "{text}");
        assert!(text.contains("| [`a.restock`](#arestock) | Restock | workflow | `workflow` | `SHOP_URL` |"), "{text}");
        assert!(text.contains("- Binding: `workflow`, calling `stock`\n- Settings: `SHOP_URL`"), "{text}");
        assert!(text.contains("## stock\n\nStock level\n\n- Category: read\n"), "{text}");
        assert!(text.contains("No arguments."), "{text}");
        assert!(text.find("## a.restock").unwrap() < text.find("## stock").unwrap(), "name order");
        assert_eq!(text, render(&registry), "the same specs render the same text");
    }
}
