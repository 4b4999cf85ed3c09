//! JSON-RPC 2.0 message shapes: classifying what a client sent, and building what the gateway answers.
//!
//! Messages are built by moving values into maps, not with `json!`: the macro serializes every interpolated
//! value into a new one, a deep copy of the whole result on every answer.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::error::GatewayError;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// A JSON-RPC error object with the gateway's typed error in `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(METHOD_NOT_FOUND, format!("method `{method}` is not supported"))
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// A gateway error as a protocol error, keeping code, retryability and request id in `data`.
    #[must_use]
    pub fn from_gateway(err: &GatewayError, request_id: &str) -> Self {
        Self { code: err.code.jsonrpc_code(), message: err.message.clone(), data: Some(err.to_json(request_id)) }
    }

    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut error = Map::with_capacity(3);
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.as_str().into());
        if let Some(data) = &self.data {
            error.insert("data".into(), data.clone());
        }
        Value::Object(error)
    }
}

/// What one JSON-RPC message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// A client's answer to a server-initiated request.
    Response {
        id: Value,
        outcome: Result<Value, Value>,
    },
}

impl Incoming {
    /// Classify a message (taking it apart, so that its params move rather than copy); an `Err` carries the id
    /// (if any could be read) and the error to answer with.
    pub fn parse(message: Value) -> Result<Self, Box<(Value, RpcError)>> {
        let Value::Object(mut obj) = message else {
            return Err(Box::new((
                Value::Null,
                RpcError::new(INVALID_REQUEST, "a JSON-RPC message must be an object"),
            )));
        };
        let id = obj.remove("id");
        let fail = |msg: &str| Box::new((id.clone().unwrap_or(Value::Null), RpcError::new(INVALID_REQUEST, msg)));
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(fail("`jsonrpc` must be \"2.0\""));
        }
        if let Some(id) = &id {
            if !(id.is_string() || id.is_i64() || id.is_u64()) {
                return Err(Box::new((
                    Value::Null,
                    RpcError::new(INVALID_REQUEST, "`id` must be a string or an integer"),
                )));
            }
        }
        let params = obj.remove("params").unwrap_or(Value::Null);
        if !(params.is_null() || params.is_object()) {
            return Err(fail("`params` must be an object"));
        }
        match (obj.remove("method"), id.clone()) {
            (Some(Value::String(method)), Some(id)) => Ok(Self::Request { id, method, params }),
            (Some(Value::String(method)), None) => Ok(Self::Notification { method, params }),
            (Some(_), _) => Err(fail("`method` must be a string")),
            (None, Some(id)) => match (obj.remove("result"), obj.remove("error")) {
                (Some(result), None) => Ok(Self::Response { id, outcome: Ok(result) }),
                (None, Some(error)) => Ok(Self::Response { id, outcome: Err(error) }),
                _ => Err(Box::new((
                    id,
                    RpcError::new(INVALID_REQUEST, "a response needs exactly one of `result` or `error`"),
                ))),
            },
            (None, None) => Err(fail("a message needs a `method` or an `id`")),
        }
    }
}

/// A success response.
#[must_use]
pub fn response(id: &Value, result: Value) -> Value {
    message(id, "result", result)
}

/// A success response serialized straight from its result: the JSON of [`response`], for an answer written once.
pub struct ResponseMessage<'a, T> {
    pub id: &'a Value,
    pub result: &'a T,
}

impl<T: Serialize> Serialize for ResponseMessage<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut message = serializer.serialize_map(Some(3))?;
        message.serialize_entry("jsonrpc", "2.0")?;
        message.serialize_entry("id", self.id)?;
        message.serialize_entry("result", self.result)?;
        message.end()
    }
}

/// An error response.
#[must_use]
pub fn error_response(id: &Value, error: &RpcError) -> Value {
    message(id, "error", error.to_json())
}

/// `{"jsonrpc": "2.0", "id": id, key: value}`, in that order.
fn message(id: &Value, key: &str, value: Value) -> Value {
    let mut message = Map::with_capacity(3);
    message.insert("jsonrpc".into(), "2.0".into());
    message.insert("id".into(), id.clone());
    message.insert(key.into(), value);
    Value::Object(message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn classifies_requests_notifications_and_responses() {
        let req = Incoming::parse(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).unwrap();
        assert!(matches!(req, Incoming::Request { ref method, .. } if method == "ping"));
        let note = Incoming::parse(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).unwrap();
        assert!(matches!(note, Incoming::Notification { .. }));
        let resp = Incoming::parse(json!({"jsonrpc": "2.0", "id": "s1", "result": {}})).unwrap();
        assert!(matches!(resp, Incoming::Response { outcome: Ok(_), .. }));
    }

    #[test]
    fn a_serialized_response_is_the_response_value() {
        for id in [json!(7), json!("call-1")] {
            let result = json!({"content": [], "isError": false});
            let written = serde_json::to_string(&ResponseMessage { id: &id, result: &result }).unwrap();
            assert_eq!(written, response(&id, result).to_string());
        }
    }

    #[test]
    fn rejects_malformed_messages_with_invalid_request() {
        for bad in [
            json!([1]),
            json!({"id": 1, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": 1, "method": 7}),
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1, 2]}),
            json!({"jsonrpc": "2.0"}),
        ] {
            let (_, err) = *Incoming::parse(bad.clone()).unwrap_err();
            assert_eq!(err.code, INVALID_REQUEST, "{bad}");
        }
    }
}
