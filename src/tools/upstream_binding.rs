//! The binding of a tool an upstream MCP server serves through the gateway (`federation`): the tool's name
//! upstream, the arguments the gateway sets, and the link that calls it. Specs never declare this kind; the
//! federation builds it from the upstream's own listing, so its tools go through the same pipeline (keys,
//! limits, deadlines, audit) as every declared tool.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use super::client::ChannelFuture;
use super::context::CallCtx;
use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::output::ToolOutput;
use crate::error::GatewayError;

/// What calls a tool on an upstream (the federation's link to it).
pub trait UpstreamCaller: Send + Sync + Debug {
    /// Call `tool` (its upstream name) with `args` before `deadline`, relaying through `ctx`.
    fn call_tool<'a>(
        &'a self,
        tool: &'a str,
        args: Value,
        ctx: &'a CallCtx,
        deadline: Instant,
    ) -> ChannelFuture<'a, Result<ToolOutput, GatewayError>>;

    /// Send `method` with `params` (a resource read, a prompt) as the caller sent them, and answer the upstream's
    /// result as it is; with `ctx`, questions and progress are relayed as for a tool call.
    fn forward<'a>(
        &'a self,
        method: &'a str,
        params: Value,
        ctx: Option<&'a CallCtx>,
        deadline: Instant,
    ) -> ChannelFuture<'a, Result<Value, GatewayError>>;
}

/// A resource, resource template or prompt an upstream serves: what listings show, and how to reach it.
#[derive(Debug, Clone)]
pub struct UpstreamItem {
    /// The name (a prompt's, prefixed), URI or URI template clients use.
    pub key: String,
    /// The prompt's name upstream (for resources, the same as `key`).
    pub remote: String,
    /// The entry for the listing, as served.
    pub listed: Value,
    pub caller: Arc<dyn UpstreamCaller>,
}

impl UpstreamItem {
    /// Does this resource template's URI template match `uri`? (`{var}` matches any run of characters.)
    #[must_use]
    pub fn template_matches(&self, uri: &str) -> bool {
        let mut pattern = String::with_capacity(self.key.len());
        let mut in_var = false;
        for c in self.key.chars() {
            match c {
                '{' => {
                    in_var = true;
                    pattern.push('*');
                }
                '}' => in_var = false,
                c if !in_var => pattern.push(c),
                _ => {}
            }
        }
        crate::auth::NamePattern::new(&pattern).matches(uri)
    }
}

/// Everything one upstream serves besides tools.
#[derive(Debug, Clone, Default)]
pub struct UpstreamCatalog {
    pub resources: Vec<UpstreamItem>,
    pub templates: Vec<UpstreamItem>,
    pub prompts: Vec<UpstreamItem>,
}

/// A federated tool's binding.
#[derive(Debug)]
pub struct UpstreamBinding {
    /// The tool's name on the upstream.
    pub tool: String,
    /// Arguments the gateway sets, over whatever the caller sent.
    pub fixed: Map<String, Value>,
    pub caller: Arc<dyn UpstreamCaller>,
}

impl BindingKind for UpstreamBinding {
    fn kind(&self) -> &'static str {
        "upstream"
    }

    fn required_settings(&self) -> Vec<&str> {
        Vec::new()
    }

    async fn run(&self, _engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let mut args = match call.args {
            Value::Object(args) => args,
            _ => Map::new(),
        };
        for (key, value) in &self.fixed {
            args.insert(key.clone(), value.clone());
        }
        self.caller.call_tool(&self.tool, Value::Object(args), call.ctx, call.deadline).await
    }
}
