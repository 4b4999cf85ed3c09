//! What every binding kind is: [`BindingKind`], the one interface the pipeline runs a binding through, and
//! [`Call`], what one call hands it. A new kind is a file implementing `BindingKind`, a variant of
//! `binding::Binding` and its line in that module's `each_kind!` match; nothing else (no transport) changes.

use std::future::Future;
use std::time::Instant;

use serde_json::Value;

use super::context::CallCtx;
use super::engine::Engine;
use super::output::ToolOutput;
use crate::error::GatewayError;

/// One call of a binding: validated arguments and the call's context and deadline.
pub struct Call<'a> {
    /// What the output is labelled with (jobs, assets): the tool's name, or a workflow step's label.
    pub name: &'a str,
    pub ctx: &'a CallCtx,
    pub args: Value,
    pub deadline: Instant,
}

/// A binding kind: checked when the spec loads (each kind's own `parse`), then run for each call.
pub trait BindingKind {
    /// The kind's name as written in specs.
    fn kind(&self) -> &'static str;

    /// Environment settings a call needs; an unset one makes the call answer `not_configured`.
    fn required_settings(&self) -> Vec<&str>;

    /// Tools this binding calls by name, with the JSON path of each reference (checked across specs at load).
    fn tool_references(&self) -> Vec<(String, &str)> {
        Vec::new()
    }

    /// Whether a call can run as a media job answered later (MCP tasks).
    fn runs_as_job(&self) -> bool {
        false
    }

    /// Run one call before its deadline.
    fn run(&self, engine: &Engine, call: Call<'_>) -> impl Future<Output = Result<ToolOutput, GatewayError>> + Send;
}
