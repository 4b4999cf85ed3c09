//! Reading request bodies as JSON, with the size and depth limits, and the REST content-type rule.
//!
//! Every endpoint reads its body through [`read_json`], so oversized bodies (413), unreadable bodies, invalid
//! UTF-8, malformed JSON and absurd nesting (serde_json's recursion limit) all become typed errors that each
//! adapter encodes in its caller's format.

use axum::body::Body;
use axum::http::HeaderMap;
use serde_json::Value;

use crate::error::{ErrorCode, GatewayError};

/// Why a body could not be read as JSON.
#[derive(Debug)]
pub enum BodyError {
    /// Over the limit: 413.
    TooLarge(usize),
    /// Not JSON (or not readable): the JSON-RPC parse error.
    NotJson(String),
}

impl BodyError {
    #[must_use]
    pub fn to_gateway(&self) -> GatewayError {
        match self {
            Self::TooLarge(limit) => GatewayError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than the limit of {limit} bytes"),
            ),
            Self::NotJson(why) => GatewayError::invalid_request(format!("the request body is not valid JSON: {why}")),
        }
    }
}

/// How much a body may hold.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub bytes: usize,
    pub depth: usize,
}

/// Read the whole body (at most `limits.bytes`, nested at most `limits.depth` deep) and parse it as JSON.
pub async fn read_json(headers: &HeaderMap, body: Body, limits: BodyLimits) -> Result<Value, BodyError> {
    let limit = limits.bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some());
        if too_large { BodyError::TooLarge(limit) } else { BodyError::NotJson(format!("cannot read the body: {e}")) }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::NotJson("the body is empty".into()));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| BodyError::NotJson(e.to_string()))?;
    if depth(&value) > limits.depth {
        return Err(BodyError::NotJson(format!("nesting deeper than {} levels", limits.depth)));
    }
    Ok(value)
}

/// How deeply a value nests (a scalar is 0), without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        deepest = deepest.max(level);
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, level + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, level + 1))),
            _ => {}
        }
    }
    deepest
}

/// The media type of the request, lower-cased, without parameters; `None` when absent.
#[must_use]
pub fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("invalid").split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// REST endpoints read JSON whatever the declared type (the seeds' curl examples used `-d`, which declares a
/// form), except for types that cannot hold JSON text.
pub fn check_rest_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    match content_type(headers) {
        Some(t)
            if t.starts_with("multipart/") || t.starts_with("image/") || t.starts_with("audio/") || t == "invalid" =>
        {
            Err(GatewayError::new(
                ErrorCode::UnsupportedMediaType,
                format!("send JSON (Content-Type: application/json), not {t}"),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]})), 3);
    }
}
