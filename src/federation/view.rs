//! What operators see of the upstreams: each one's spec (URLs without query or credentials, header and
//! environment NAMES only, never their values) and its live state, for `/admin/upstreams` and `/admin/config`.

use serde_json::{Value, json};

use super::link::Status;
use crate::providers::upstream::redact_url;
use crate::tools::upstream_spec::{Transport, UpstreamSpec};

/// One upstream, as `/admin/upstreams` lists it.
#[must_use]
pub fn upstream(spec: &UpstreamSpec, status: &Status) -> Value {
    let mut view = json!({
        "name": spec.name,
        "prefix": spec.prefix,
        "pin": spec.pin,
        "timeout_secs": spec.timeout.as_secs_f64(),
        "state": status.state.as_str(),
        "era": status.era,
        "tools": status.served,
        "error": status.error,
        "problems": status.problems,
        "held": status.held,
    });
    let names = |pairs: &[(String, crate::tools::template::Template)]| -> Vec<String> {
        pairs.iter().map(|(name, _)| name.clone()).collect()
    };
    match &spec.transport {
        Transport::StreamableHttp { url, headers } | Transport::Sse { url, headers } => {
            view["url"] = json!(redact_url(url));
            view["headers"] = json!(names(headers));
        }
        Transport::Stdio { command, args, env } => {
            view["command"] = json!(command);
            view["args"] = json!(args);
            view["env"] = json!(names(env));
        }
    }
    view["transport"] = json!(match &spec.transport {
        Transport::StreamableHttp { .. } => "streamable_http",
        Transport::Sse { .. } => "sse",
        Transport::Stdio { .. } => "stdio",
    });
    view
}
