//! The `worker` binding: a call to one of the FlowChat worker services, body mapped with templates.
//!
//! ```json
//! {"kind": "worker", "worker": "database", "method": "POST", "path": "/facture/create",
//!  "body": {"entreprise_id": "{{args.entreprise_id}}", "montant_ht": "{{args.montant_ht}}"},
//!  "require_validated": true, "timeout_secs": 15}
//! ```
//!
//! `require_validated` defaults to true for the database worker (every write there is validated, as the seed
//! insists) and false for the others. Calls are writes unless `idempotent` says otherwise, so they are never
//! sent twice once they may have arrived.

use std::time::Duration;

use serde_json::{Map, Value};

use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::output::ToolOutput;
use super::spec::{PathError, binding_idempotent, binding_timeout, reject_unknown_keys};
use super::template::{Known, Template, render_for_call};
use crate::error::GatewayError;
use crate::providers::flowchat_workers::{self, AUTH_KEY_SETTING, Worker, WorkerCall};
use crate::providers::upstream::RetryPolicy;

/// A checked `worker` binding.
#[derive(Debug)]
pub struct WorkerBinding {
    worker: Worker,
    method: reqwest::Method,
    path: String,
    body: Option<Template>,
    require_validated: bool,
    idempotent: bool,
    timeout: Duration,
}

impl WorkerBinding {
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(
            obj,
            &["kind", "worker", "method", "path", "body", "require_validated", "idempotent", "timeout_secs"],
            "$.binding",
        )?;
        let worker = obj.get("worker").and_then(Value::as_str).and_then(Worker::parse).ok_or_else(|| {
            PathError::new("$.binding.worker", "must name a worker: database, document, storage or email")
        })?;
        let method = match obj.get("method").and_then(Value::as_str).unwrap_or("POST") {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            "DELETE" => reqwest::Method::DELETE,
            other => {
                return Err(PathError::new("$.binding.method", format!("`{other}` is not GET/POST/PUT/PATCH/DELETE")));
            }
        };
        let path = obj
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| {
                p.starts_with('/')
                    && !p.contains("..")
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
            })
            .ok_or_else(|| PathError::new("$.binding.path", "must be a literal path like /facture/create"))?
            .to_owned();
        let body = obj.get("body").map(|b| Template::parse(b, "$.binding.body", known)).transpose()?;
        let require_validated = match obj.get("require_validated") {
            None => worker == Worker::Database,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(PathError::new("$.binding.require_validated", "must be a boolean")),
        };
        Ok(Self {
            worker,
            method,
            path,
            body,
            require_validated,
            idempotent: binding_idempotent(obj, false)?,
            timeout: binding_timeout(obj)?,
        })
    }
}

impl BindingKind for WorkerBinding {
    fn kind(&self) -> &'static str {
        "worker"
    }

    /// The settings a call needs.
    fn required_settings(&self) -> Vec<&str> {
        vec![self.worker.url_setting(), AUTH_KEY_SETTING]
    }

    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: _, ctx, args, deadline } = call;
        let args = &args;
        let body = match &self.body {
            Some(template) => Some(render_for_call(args, |bindings| template.render_value(bindings))?),
            // Workers take JSON: a POST, PUT or PATCH without a declared body sends an empty object.
            None if !matches!(self.method, reqwest::Method::GET | reqwest::Method::DELETE) => {
                Some(Value::Object(Map::new()))
            }
            None => None,
        };
        let upstream = engine.upstream("workers", RetryPolicy::retrying(flowchat_workers::TRANSIENT));
        let call = WorkerCall {
            worker: self.worker,
            method: self.method.clone(),
            path: &self.path,
            body,
            require_validated: self.require_validated,
            idempotent: self.idempotent,
            timeout: self.timeout,
        };
        let value =
            flowchat_workers::call(engine.flowchat_workers(), &upstream, call, &ctx.request_id, deadline).await?;
        Ok(ToolOutput::json(value))
    }
}
