//! Built-in tool handlers, named by `{"kind": "builtin", "name": ...}` bindings.
//!
//! Each builtin parses its `options` when the spec loads, so a typo fails at start-up, not at call time.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::context::CallCtx;
use super::engine::Engine;
use super::output::ToolOutput;
use super::spec::PathError;
use crate::error::GatewayError;

/// The known builtins with their checked options.
#[derive(Debug)]
pub enum Builtin {
    /// Liveness: `{pong, server, version, time}`.
    Ping,
    /// The tool catalogue: `{tools: [{name, category, description}], total}`, optionally filtered by category.
    ListTools,
}

const NAMES: &str = "ping, list_tools";

impl Builtin {
    /// Parse `$.binding.name` and `$.binding.options`.
    pub fn parse(name: &str, options: &Value, _input_schema: &Value) -> Result<Self, PathError> {
        let no_options = |b: Self| {
            if options.as_object().is_some_and(serde_json::Map::is_empty) {
                Ok(b)
            } else {
                Err(PathError::new("$.binding.options", format!("builtin `{name}` takes no options")))
            }
        };
        match name {
            "ping" => no_options(Self::Ping),
            "list_tools" => no_options(Self::ListTools),
            other => Err(PathError::new("$.binding.name", format!("unknown builtin `{other}`; known: {NAMES}"))),
        }
    }

    /// Run with validated arguments.
    pub async fn run(&self, engine: &Engine, _ctx: &CallCtx, args: Value) -> Result<ToolOutput, GatewayError> {
        match self {
            Self::Ping => Ok(ToolOutput::json(json!({
                "pong": true,
                "server": "mcp-gateway",
                "version": env!("CARGO_PKG_VERSION"),
                "time": now_rfc3339(),
            }))),
            Self::ListTools => {
                let category = args.get("category").and_then(Value::as_str).map(str::to_ascii_lowercase);
                let registry = engine.registry().snapshot();
                let tools: Vec<Value> = registry
                    .tools()
                    .iter()
                    .filter(|t| category.is_none() || t.spec.category == category)
                    .map(|t| json!({"name": t.spec.name, "category": t.spec.category, "description": t.spec.description}))
                    .collect();
                Ok(ToolOutput::json(json!({"total": tools.len(), "tools": tools})))
            }
        }
    }
}

/// The current UTC time as RFC 3339.
#[must_use]
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}
