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
