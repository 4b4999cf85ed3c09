//! Making the wire to an upstream from its spec, each time it connects: header and environment templates are
//! rendered then (a rotated token is picked up on the next connection), and a setting they need but the
//! environment lacks is a `not_configured` error naming it.

use std::sync::Arc;

use serde_json::Value;

use super::http_wire::HttpWire;
use super::sse_wire::SseWire;
use super::stdio_wire::StdioWire;
use super::wire::Wire;
use crate::error::GatewayError;
use crate::tools::template::{Template, render_for_call};
use crate::tools::upstream_spec::{Transport, UpstreamSpec};

/// Makes wires for one upstream.
#[derive(Debug, Clone)]
pub struct Dialer {
    pub client: reqwest::Client,
    /// The largest answer (or SSE event, or stdio line) read from an upstream.
    pub max_answer_bytes: u64,
}

impl Dialer {
    /// A new wire to `spec`'s upstream, not yet open.
    pub fn dial(&self, spec: &UpstreamSpec) -> Result<Arc<dyn Wire>, GatewayError> {
        match &spec.transport {
            Transport::StreamableHttp { url, headers } => {
                let headers = rendered(headers)?;
                let wire = HttpWire::new(&spec.name, url, &headers, self.client.clone(), self.max_answer_bytes)?;
                Ok(Arc::new(Arc::new(wire)))
            }
            Transport::Sse { url, headers } => {
                let headers = rendered(headers)?;
                let wire = SseWire::new(&spec.name, url, &headers, self.client.clone(), self.max_answer_bytes)?;
                Ok(Arc::new(Arc::new(wire)))
            }
            Transport::Stdio { command, args, env } => {
                let env = rendered(env)?;
                Ok(Arc::new(StdioWire::new(&spec.name, command, args, env, self.max_answer_bytes)))
            }
        }
    }
}

/// Render `name -> template` pairs with the process environment.
fn rendered(templates: &[(String, Template)]) -> Result<Vec<(String, String)>, GatewayError> {
    templates
        .iter()
        .map(|(name, template)| {
            let value = render_for_call(&Value::Null, |b| template.render_value(b))?;
            let text = match value {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            Ok((name.clone(), text))
        })
        .collect()
}
