//! `x-mcp-header` (2026-07-28, server/tools): a tool may ask clients to mirror some of its arguments into
//! `Mcp-Param-{name}` HTTP headers, so intermediaries can route on them. The annotation sits on a property of
//! the input schema; this module finds the annotated properties and checks, when a spec loads, the rules the
//! specification sets (a client drops a tool that breaks them): the name is an HTTP token, unique regardless of
//! case, on a `string`, `integer` or `boolean` property reached through `properties` alone.

use std::collections::HashSet;

use serde_json::Value;

use super::spec::PathError;

const ANNOTATION: &str = "x-mcp-header";

/// The annotated properties of a schema: the property path (through `properties` only) and the header name.
#[must_use]
pub fn declared(schema: &Value) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    collect(schema, &mut Vec::new(), &mut out);
    out
}

fn collect(schema: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
    for (key, property) in properties {
        path.push(key.clone());
        if let Some(header) = property.get(ANNOTATION).and_then(Value::as_str) {
            out.push((path.clone(), header.to_owned()));
        }
        collect(property, path, out);
        path.pop();
    }
}

/// Is `name` an HTTP token (RFC 9110 `1*tchar`)?
#[must_use]
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Check every `x-mcp-header` annotation of an input schema.
pub fn check(schema: &Value) -> Result<(), PathError> {
    let annotations = count(schema);
    let declared = declared(schema);
    if annotations != declared.len() {
        return Err(PathError::new(
            "$.inputSchema",
            format!(
                "`{ANNOTATION}` may only annotate properties reached through `properties` (not items, $ref or combinators)"
            ),
        ));
    }
    let mut seen = HashSet::new();
    for (path, header) in &declared {
        let at = format!("$.inputSchema.properties.{}", path.join(".properties."));
        if !is_token(header) {
            return Err(PathError::new(
                format!("{at}.{ANNOTATION}"),
                format!("`{header}` is not an HTTP header token"),
            ));
        }
        if !seen.insert(header.to_ascii_lowercase()) {
            return Err(PathError::new(format!("{at}.{ANNOTATION}"), format!("`{header}` is used twice")));
        }
        let mut property = schema;
        for key in path {
            property = &property["properties"][key];
        }
        if !matches!(property.get("type").and_then(Value::as_str), Some("string" | "integer" | "boolean")) {
            return Err(PathError::new(at, format!("`{ANNOTATION}` goes on a string, integer or boolean property")));
        }
    }
    Ok(())
}

/// How many `x-mcp-header` keys the schema holds anywhere.
fn count(value: &Value) -> usize {
    match value {
        Value::Object(map) => usize::from(map.contains_key(ANNOTATION)) + map.values().map(count).sum::<usize>(),
        Value::Array(items) => items.iter().map(count).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn valid_annotations_pass_and_each_rule_is_enforced() {
        let ok = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "deep": {"type": "object", "properties": {"n": {"type": "integer", "x-mcp-header": "N"}}}}});
        assert!(check(&ok).is_ok());
        assert_eq!(declared(&ok).len(), 2);
        for bad in [
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "a b"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "X"}, "b": {"type": "string", "x-mcp-header": "x"}}}),
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "A"}]}}}),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
    }
}
