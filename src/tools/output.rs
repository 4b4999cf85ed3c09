//! What a tool call produces, before any transport encodes it.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::error::{ErrorCode, GatewayError};

/// A tool's result: its JSON value, optional explicit MCP content blocks, and whether it is an error result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The JSON result: what REST callers get as `result`, and MCP's `structuredContent` when it is an object.
    pub value: Value,
    /// Explicit content blocks; when empty, MCP content is one text block holding the value.
    pub content: Vec<Value>,
    /// The tool ran but reports failure (MCP `isError: true`).
    pub is_error: bool,
}

impl ToolOutput {
    /// A plain JSON result.
    #[must_use]
    pub fn json(value: Value) -> Self {
        Self { value, content: Vec::new(), is_error: false }
    }

    /// The MCP content blocks: the explicit ones, or the value as text (a string as itself, else its JSON).
    #[must_use]
    pub fn content_blocks(&self) -> Vec<Value> {
        if !self.content.is_empty() {
            return self.content.clone();
        }
        // Built in place: `json!` would copy the text once more.
        let mut block = Map::with_capacity(2);
        block.insert("type".into(), "text".into());
        block.insert("text".into(), Value::String(self.value_text().into_owned()));
        vec![Value::Object(block)]
    }

    /// The text of the one content block an output without explicit blocks has: a string value as itself, any
    /// other value as its JSON.
    #[must_use]
    pub fn value_text(&self) -> Cow<'_, str> {
        match &self.value {
            Value::String(s) => Cow::Borrowed(s),
            // Serializing a `Value` cannot fail (its keys are strings).
            other => Cow::Owned(serde_json::to_string(other).unwrap_or_default()),
        }
    }

    /// The value REST callers see: the JSON result, or for content-only outputs the text of their text blocks.
    #[must_use]
    pub fn rest_value(&self) -> Value {
        if !self.value.is_null() || self.content.is_empty() {
            return self.value.clone();
        }
        let texts: Vec<&str> = self.content.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect();
        match texts.as_slice() {
            [] => json!({"content": self.content}),
            [one] => json!(one),
            many => json!(many.join("\n")),
        }
    }
}

impl ToolOutput {
    /// For REST callers, who have no `isError`: an error result becomes a `tool_error`.
    pub fn into_rest(self) -> Result<Value, GatewayError> {
        if !self.is_error {
            // The common case moves the value instead of copying it.
            if !self.value.is_null() || self.content.is_empty() {
                return Ok(self.value);
            }
            return Ok(self.rest_value());
        }
        let message = match self.rest_value() {
            Value::String(text) if !text.is_empty() => text,
            other => format!("the tool reported an error: {other}"),
        };
        Err(GatewayError::new(ErrorCode::ToolError, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_becomes_one_text_block() {
        let out = ToolOutput::json(json!({"pong": true}));
        assert_eq!(out.content_blocks(), vec![json!({"type": "text", "text": "{\"pong\":true}"})]);
        let out = ToolOutput::json(json!("plain"));
        assert_eq!(out.content_blocks()[0]["text"], "plain");
    }

    #[test]
    fn content_only_outputs_give_rest_their_text() {
        let out =
            ToolOutput { value: Value::Null, content: vec![json!({"type": "text", "text": "hi"})], is_error: false };
        assert_eq!(out.rest_value(), json!("hi"));
    }
}
