//! The `supabase_rpc` binding: a Postgres function through PostgREST, arguments mapped with templates.
//!
//! ```json
//! {"kind": "supabase_rpc", "function": "search_entreprise_with_stats",
//!  "args": {"p_search_term": "{{args.search_term}}", "p_limit": "{{args.limit ?? 10}}"},
//!  "idempotent": true, "schema": "public", "timeout_secs": 15}
//! ```
//!
//! `idempotent` (default false) lets a read function be retried on transient failures; an RPC that writes must
//! not set it. Missing `SUPABASE_URL` / `SUPABASE_API_KEY` make calls answer `not_configured`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::output::ToolOutput;
use super::spec::{PathError, binding_idempotent, binding_timeout, reject_unknown_keys};
use super::template::{Known, Template, render_for_call};
use crate::error::GatewayError;
use crate::providers::supabase::{self, Rpc};
use crate::providers::upstream::RetryPolicy;

/// A checked `supabase_rpc` binding.
#[derive(Debug)]
pub struct SupabaseBinding {
    function: String,
    args: Template,
    schema: Option<String>,
    idempotent: bool,
    timeout: Duration,
}

fn identifier(text: &str) -> bool {
    !text.is_empty() && text.len() <= 63 && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SupabaseBinding {
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(obj, &["kind", "function", "args", "schema", "idempotent", "timeout_secs"], "$.binding")?;
        let function = obj
            .get("function")
            .and_then(Value::as_str)
            .filter(|f| identifier(f))
            .ok_or_else(|| PathError::new("$.binding.function", "must name a Postgres function (letters, digits, _)"))?
            .to_owned();
        let args_value = obj.get("args").cloned().unwrap_or_else(|| Value::Object(Map::new()));
        if !args_value.is_object() {
            return Err(PathError::new("$.binding.args", "must be an object of named function arguments"));
        }
        let args = Template::parse(&args_value, "$.binding.args", known)?;
        let schema = match obj.get("schema") {
            None => None,
            Some(Value::String(s)) if identifier(s) => Some(s.clone()),
            Some(_) => return Err(PathError::new("$.binding.schema", "must be a schema name (letters, digits, _)")),
        };
        let idempotent = binding_idempotent(obj, false)?;
        let timeout = binding_timeout(obj)?;
        Ok(Self { function, args, schema, idempotent, timeout })
    }
}

impl BindingKind for SupabaseBinding {
    fn kind(&self) -> &'static str {
        "supabase_rpc"
    }

    fn required_settings(&self) -> Vec<&str> {
        vec!["SUPABASE_URL", "SUPABASE_API_KEY"]
    }

    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: _, ctx, args, deadline } = call;
        let args = &args;
        let rpc_args = render_for_call(args, |bindings| self.args.render_value(bindings))?;
        let upstream = engine.upstream("supabase", RetryPolicy::retrying(supabase::TRANSIENT));
        let rpc = Rpc {
            function: &self.function,
            args: rpc_args,
            schema: self.schema.as_deref(),
            idempotent: self.idempotent,
            timeout: self.timeout,
        };
        let value = supabase::call(engine.supabase(), &upstream, rpc, &ctx.request_id, deadline).await?;
        Ok(ToolOutput::json(value))
    }
}
