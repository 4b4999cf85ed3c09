//! The 2026-07-28 request headers (basic/transports/streamable-http, "Request Metadata"): `MCP-Protocol-Version`,
//! `Mcp-Method` and `Mcp-Name` mirror the body so intermediaries can route without parsing it, and a tool's
//! `x-mcp-header` parameters are mirrored as `Mcp-Param-{name}`. The gateway reads the body, so it checks every
//! mirror against it: a missing or different header is a `HeaderMismatch` (-32020).
//!
//! Values are compared after trimming spaces and tabs. A value `=?base64?{standard base64}?=` is the Base64 form
//! clients use for text that is not plain visible ASCII; it is decoded (strictly: canonical padding, UTF-8)
//! before comparing.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::tools::header_params;

/// Why a header does not mirror the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(pub String);

/// The header's value, trimmed and decoded; `Ok(None)` when absent.
fn value(headers: &HeaderMap, name: &str) -> Result<Option<String>, Mismatch> {
    let Some(raw) = headers.get(name) else { return Ok(None) };
    let text = std::str::from_utf8(raw.as_bytes())
        .ok()
        .filter(|t| t.bytes().all(|b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b)))
        .ok_or_else(|| {
            Mismatch(format!("the {name} header is not visible ASCII; send non-ASCII text as =?base64?...?="))
        })?;
    let text = text.trim_matches([' ', '\t']);
    match text.strip_prefix("=?base64?").and_then(|t| t.strip_suffix("?=")) {
        Some(encoded) => decode(encoded)
            .map(Some)
            .ok_or_else(|| Mismatch(format!("the {name} header's Base64 value is not canonical Base64 of UTF-8 text"))),
        None => Ok(Some(text.to_owned())),
    }
}

fn decode(encoded: &str) -> Option<String> {
    // The standard engine insists on canonical padding and rejects characters outside the alphabet.
    let bytes = STANDARD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok()
}

/// The header must be present and equal `expected`.
fn require(headers: &HeaderMap, name: &str, expected: &str) -> Result<(), Mismatch> {
    match value(headers, name)? {
        Some(v) if v == expected => Ok(()),
        Some(v) => Err(Mismatch(format!("the {name} header `{v}` does not match the body's `{expected}`"))),
        None => Err(Mismatch(format!("the {name} header is required and must be `{expected}`"))),
    }
}

/// `MCP-Protocol-Version` equals the version in `_meta`.
pub fn check_version(headers: &HeaderMap, version: &str) -> Result<(), Mismatch> {
    require(headers, "mcp-protocol-version", version)
}

/// `Mcp-Method` equals the body's method (case matters).
pub fn check_method(headers: &HeaderMap, method: &str) -> Result<(), Mismatch> {
    require(headers, "mcp-method", method)
}

/// `Mcp-Name` equals the name the request acts on: `params.name` for `tools/call` and `prompts/get`,
/// `params.uri` for `resources/read` (required), `params.taskId` for the tasks extension (checked when sent:
/// not every client sends it there).
pub fn check_name(headers: &HeaderMap, method: &str, params: &Map<String, Value>) -> Result<(), Mismatch> {
    let (field, required) = match method {
        "tools/call" | "prompts/get" => ("name", true),
        "resources/read" => ("uri", true),
        "tasks/get" | "tasks/update" | "tasks/cancel" => ("taskId", false),
        _ => return Ok(()),
    };
    // A body without the field is the handler's to refuse (invalid params); only a present value is mirrored.
    let Some(expected) = params.get(field).and_then(Value::as_str) else { return Ok(()) };
    if required {
        require(headers, "mcp-name", expected)
    } else {
        match value(headers, "mcp-name")? {
            Some(v) if v != expected => {
                Err(Mismatch(format!("the Mcp-Name header `{v}` does not match the body's `{expected}`")))
            }
            _ => Ok(()),
        }
    }
}

/// Every `x-mcp-header` parameter of the tool's input schema that the arguments give must arrive as its
/// `Mcp-Param-{name}` header with the same value (integers compared as numbers); headers for parameters the
/// arguments leave out are ignored, as are unknown `Mcp-Param-*` headers.
pub fn check_params(headers: &HeaderMap, input_schema: &Value, arguments: &Value) -> Result<(), Mismatch> {
    for (path, header) in header_params::declared(input_schema) {
        let mut at = Some(arguments);
        for key in &path {
            at = at.and_then(|v| v.get(key));
        }
        let Some(expected) = at.filter(|v| !v.is_null()) else { continue };
        let name = format!("mcp-param-{}", header.to_ascii_lowercase());
        let Some(got) = value(headers, &name)? else {
            return Err(Mismatch(format!(
                "the Mcp-Param-{header} header is required: the arguments set `{}`",
                path.join(".")
            )));
        };
        let same = match expected {
            Value::String(s) => &got == s,
            Value::Bool(b) => got == b.to_string(),
            Value::Number(n) => got.parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(a, b)| a == b),
            _ => false,
        };
        if !same {
            return Err(Mismatch(format!(
                "the Mcp-Param-{header} header `{got}` does not match the argument `{}`",
                path.join(".")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn method_and_name_must_mirror_the_body() {
        let params = json!({"name": "echo"});
        let params = params.as_object().unwrap();
        assert!(check_method(&headers(&[("mcp-method", "tools/call")]), "tools/call").is_ok());
        assert!(check_method(&headers(&[("mcp-method", "TOOLS/CALL")]), "tools/call").is_err());
        assert!(check_method(&headers(&[]), "tools/call").is_err());
        assert!(check_name(&headers(&[("mcp-name", "  echo\t")]), "tools/call", params).is_ok());
        assert!(check_name(&headers(&[("mcp-name", "other")]), "tools/call", params).is_err());
        assert!(check_name(&headers(&[]), "tools/call", params).is_err());
        assert!(check_name(&headers(&[("mcp-name", "=?base64?ZWNobw==?=")]), "tools/call", params).is_ok());
        assert!(check_name(&headers(&[("mcp-name", "=?base64?ZWNobw?=")]), "tools/call", params).is_err());
        let task = json!({"taskId": "t1"});
        assert!(check_name(&headers(&[]), "tasks/get", task.as_object().unwrap()).is_ok(), "optional for tasks");
        assert!(check_name(&headers(&[("mcp-name", "t2")]), "tasks/get", task.as_object().unwrap()).is_err());
    }

    #[test]
    fn param_headers_mirror_annotated_arguments() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "integer", "x-mcp-header": "N"},
            "deep": {"type": "object", "properties": {"flag": {"type": "boolean", "x-mcp-header": "Flag"}}}}});
        let args = json!({"region": "Hello", "n": 42, "deep": {"flag": true}});
        let ok = headers(&[
            ("mcp-param-region", "=?base64?SGVsbG8=?="),
            ("mcp-param-n", "42.0"),
            ("mcp-param-flag", "true"),
        ]);
        assert_eq!(check_params(&ok, &schema, &args), Ok(()));
        let wrong = headers(&[("mcp-param-region", "Bye"), ("mcp-param-n", "42"), ("mcp-param-flag", "true")]);
        assert!(check_params(&wrong, &schema, &args).is_err());
        let missing = headers(&[("mcp-param-n", "42"), ("mcp-param-flag", "true")]);
        assert!(check_params(&missing, &schema, &args).is_err());
        assert_eq!(check_params(&headers(&[]), &schema, &json!({})), Ok(()), "absent arguments need no header");
        let literal = headers(&[("mcp-param-region", "=?base64?SGVsbG8=")]);
        assert_eq!(check_params(&literal, &schema, &json!({"region": "=?base64?SGVsbG8="})), Ok(()));
    }
}
