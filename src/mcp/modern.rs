//! The stateless "modern" protocol (2026-07-28). Not spoken yet: a modern request (for example a client's
//! `server/discover` probe) gets the fallback-friendly answer, a 400 carrying JSON-RPC -32601, so the client
//! falls back to the `initialize` handshake. Never answer -32022 listing only modern versions: clients then
//! give up instead of falling back.
//!
//! When the modern protocol is implemented it lives here, and the transport routes to it by the
//! `MCP-Protocol-Version` header exactly as it does today.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::jsonrpc::{METHOD_NOT_FOUND, RpcError};
use super::streamable::rpc_error;
use super::version::{MODERN, ProtocolVersion};

/// The answer to any request made with the modern protocol version.
#[must_use]
pub fn fallback(body: &Value) -> Response {
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    let method = body.get("method").and_then(Value::as_str).unwrap_or("(none)");
    let mut error = RpcError::new(
        METHOD_NOT_FOUND,
        format!(
            "protocol version {MODERN} is not supported (method `{method}`); initialize with one of {}",
            ProtocolVersion::supported_list()
        ),
    );
    error.data = Some(json!({"supported": ProtocolVersion::SUPPORTED.map(ProtocolVersion::as_str)}));
    rpc_error(StatusCode::BAD_REQUEST, &id, &error)
}
