//! `server/discover` (2026-07-28, server/discover): the versions this era speaks, what the gateway offers, and
//! who it is. Discovery replaces the handshake's `initialize` result; clients may cache it (`ttlMs`).

use serde_json::{Value, json};

use super::super::McpHandle;
use super::{VERSIONS, tasks};

/// The gateway's identity, in every 2026 result's `_meta`.
#[must_use]
pub fn server_info() -> Value {
    json!({"name": "mcp-gateway", "title": "MCP Gateway", "version": env!("CARGO_PKG_VERSION")})
}

/// The capabilities this era offers: lists that change on a reload (announced on `subscriptions/listen`),
/// resource subscriptions, completion, log lines for requests that choose a level, and the tasks extension
/// (media jobs as tasks, for requests that opt in).
#[must_use]
pub fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "completions": {},
        "logging": {},
        "extensions": {tasks::EXTENSION: {}},
    })
}

/// The `server/discover` result (made complete, with caching hints, by the caller).
#[must_use]
pub fn result(mcp: &McpHandle) -> Value {
    let mut result = json!({"supportedVersions": VERSIONS, "capabilities": capabilities()});
    if let Some(instructions) = &mcp.config.instructions {
        result["instructions"] = json!(instructions);
    }
    result
}
