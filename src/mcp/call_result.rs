//! The `tools/call` result, `{content, isError, structuredContent?}`, made from a tool's output in two ways: as a
//! value, for the transports that keep messages as values (streams, batches, tasks, the 2026-07-28 era), and
//! serialized straight from the output, for the plain JSON answer that is written once: that way builds no map
//! (each costs an allocation and a hash per key) and copies no content block.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::tools::ToolOutput;

/// A successful call's result, kept as the tool's output until it is written.
#[derive(Debug)]
pub struct CallResult {
    output: ToolOutput,
    structured: bool,
}

impl CallResult {
    /// The result of `output`. Its value is `structuredContent` when it is an object, or when the tool declares
    /// an output schema (`has_output_schema`) and it is not null.
    #[must_use]
    pub fn new(output: ToolOutput, has_output_schema: bool) -> Self {
        let structured = output.value.is_object() || (has_output_schema && !output.value.is_null());
        Self { output, structured }
    }

    /// The result as a value, the output moved in, not copied.
    #[must_use]
    pub fn into_value(self) -> Value {
        let content = Value::Array(self.output.content_blocks());
        let mut result = Map::with_capacity(3);
        result.insert("content".into(), content);
        result.insert("isError".into(), self.output.is_error.into());
        if self.structured {
            result.insert("structuredContent".into(), self.output.value);
        }
        Value::Object(result)
    }
}

/// The same JSON as [`CallResult::into_value`], key for key and in the same order.
impl Serialize for CallResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut result = serializer.serialize_map(Some(2 + usize::from(self.structured)))?;
        result.serialize_entry("content", &Blocks(&self.output))?;
        result.serialize_entry("isError", &self.output.is_error)?;
        if self.structured {
            result.serialize_entry("structuredContent", &self.output.value)?;
        }
        result.end()
    }
}

/// [`ToolOutput::content_blocks`], serialized without copying them.
struct Blocks<'a>(&'a ToolOutput);

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.0.content.is_empty() {
            return self.0.content.serialize(serializer);
        }
        let mut blocks = serializer.serialize_seq(Some(1))?;
        blocks.serialize_element(&TextBlock(&self.0.value_text()))?;
        blocks.end()
    }
}

/// `{"type": "text", "text": ...}`.
struct TextBlock<'a>(&'a str);

impl Serialize for TextBlock<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut block = serializer.serialize_map(Some(2))?;
        block.serialize_entry("type", "text")?;
        block.serialize_entry("text", self.0)?;
        block.end()
    }
}

/// A successful `tools/call` result as a value (see [`CallResult::new`]).
#[must_use]
pub fn call_result(output: ToolOutput, has_output_schema: bool) -> Value {
    CallResult::new(output, has_output_schema).into_value()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn object_results_are_structured_and_a_declared_schema_structures_any_value() {
        let out = ToolOutput::json(json!({"a": 1}));
        assert_eq!(
            call_result(out, false),
            json!({"content": [{"type": "text", "text": "{\"a\":1}"}], "isError": false, "structuredContent": {"a": 1}})
        );
        assert!(call_result(ToolOutput::json(json!([1])), false).get("structuredContent").is_none());
        let declared = call_result(ToolOutput::json(json!([1])), true);
        assert_eq!(declared["structuredContent"], json!([1]), "a declared output schema structures any value");
    }

    #[test]
    fn serializing_writes_the_bytes_of_the_value() {
        let outputs = [
            (ToolOutput::json(json!({"pong": true, "text": "a \"quoted\"\nline", "n": [1, 2.5, null]})), false),
            (ToolOutput::json(json!("plain text")), false),
            (ToolOutput::json(json!("plain text")), true),
            (ToolOutput::json(json!([1, {"b": 2}])), false),
            (ToolOutput::json(json!([1, {"b": 2}])), true),
            (ToolOutput::json(Value::Null), true),
            (
                ToolOutput {
                    value: Value::Null,
                    content: vec![json!({"type": "image", "data": "AAAA", "mimeType": "image/png"})],
                    is_error: false,
                },
                false,
            ),
            (ToolOutput { value: json!({"why": "no"}), content: Vec::new(), is_error: true }, false),
        ];
        for (output, has_output_schema) in outputs {
            let written = serde_json::to_string(&CallResult::new(output.clone(), has_output_schema)).unwrap();
            let value = call_result(output, has_output_schema);
            assert_eq!(written, value.to_string(), "same bytes, keys in the same order");
        }
    }
}
