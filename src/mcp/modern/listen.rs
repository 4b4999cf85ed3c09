//! `subscriptions/listen` (2026-07-28, basic/patterns/subscriptions): the long-lived stream of change
//! notifications, replacing the handshake era's GET stream and `resources/subscribe`.
//!
//! The request names what the client wants (`toolsListChanged`, `promptsListChanged`, `resourcesListChanged`,
//! `resourceSubscriptions: [uri]`). The answer is an SSE stream that first acknowledges the subset the gateway
//! honours, then carries only those notifications, each with the listen request's id as
//! `_meta.io.modelcontextprotocol/subscriptionId`. Tools, prompts and resources change when the specs are
//! reloaded (hot reload, `reload_tools`, `/tools?reload=1`): each reload sends the list changes asked for, and
//! `notifications/resources/updated` for a subscribed resource whose content the reload changed. Only resources
//! the caller can see are honoured. The client ends the subscription by closing the stream; on shutdown the
//! gateway ends it with the listen request's result.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::super::McpHandle;
use super::super::jsonrpc::{RpcError, response};
use super::super::sse;
use super::super::streamable::rpc_error;
use super::META_SERVER_INFO;
use crate::auth::Caller;
use crate::tools::Registry;

const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// The most resources one listen request may watch.
const MAX_RESOURCES: usize = 100;

/// What a listener asked for and is given.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    tools: bool,
    prompts: bool,
    resources: bool,
    watched: Vec<String>,
}

impl Filter {
    fn read(params: &Map<String, Value>, registry: &Registry, caller: &Caller) -> Result<Self, RpcError> {
        let wanted = params
            .get("notifications")
            .and_then(Value::as_object)
            .ok_or_else(|| RpcError::invalid_params("`notifications` is required: the notifications to listen for"))?;
        let flag = |key: &str| wanted.get(key).and_then(Value::as_bool).unwrap_or(false);
        let watched = match wanted.get("resourceSubscriptions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(uris)) if uris.len() <= MAX_RESOURCES => {
                let visible = registry.visible_to(caller);
                uris.iter()
                    .filter_map(Value::as_str)
                    .filter(|uri| visible.read_resource(uri).is_some())
                    .map(str::to_owned)
                    .collect()
            }
            Some(_) => {
                return Err(RpcError::invalid_params(format!(
                    "`resourceSubscriptions` must be a list of at most {MAX_RESOURCES} resource URIs"
                )));
            }
        };
        Ok(Self {
            tools: flag("toolsListChanged"),
            prompts: flag("promptsListChanged"),
            resources: flag("resourcesListChanged"),
            watched,
        })
    }

    /// The subset honoured, as the acknowledgement says it.
    fn acknowledged(&self) -> Value {
        let mut out = Map::new();
        for (on, key) in [
            (self.tools, "toolsListChanged"),
            (self.prompts, "promptsListChanged"),
            (self.resources, "resourcesListChanged"),
        ] {
            if on {
                out.insert(key.into(), true.into());
            }
        }
        if !self.watched.is_empty() {
            out.insert("resourceSubscriptions".into(), json!(self.watched));
        }
        Value::Object(out)
    }

    /// The notifications a reload from `before` to `after` sends this listener.
    fn changes(&self, before: &Registry, after: &Registry, caller: &Caller) -> Vec<(&'static str, Option<String>)> {
        let mut out = Vec::new();
        for (on, method) in [
            (self.tools, "notifications/tools/list_changed"),
            (self.prompts, "notifications/prompts/list_changed"),
            (self.resources, "notifications/resources/list_changed"),
        ] {
            if on {
                out.push((method, None));
            }
        }
        for uri in &self.watched {
            if before.visible_to(caller).read_resource(uri) != after.visible_to(caller).read_resource(uri) {
                out.push(("notifications/resources/updated", Some(uri.clone())));
            }
        }
        out
    }
}

fn notification(method: &str, id: &Value, mut params: Map<String, Value>) -> Value {
    let mut meta = Map::new();
    meta.insert(SUBSCRIPTION_ID.into(), id.clone());
    params.insert("_meta".into(), Value::Object(meta));
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

/// Answer `subscriptions/listen` with its stream.
pub fn open(mcp: &McpHandle, id: Value, params: &Map<String, Value>, caller: Caller) -> Response {
    let registry = mcp.engine.registry();
    let mut snapshot: Arc<Registry> = registry.snapshot();
    let filter = match Filter::read(params, &snapshot, &caller) {
        Ok(filter) => filter,
        Err(error) => return rpc_error(StatusCode::OK, &id, &error),
    };
    let (events, stream) = match sse::open(mcp) {
        Ok(stream) => stream,
        Err(err) => return rpc_error(StatusCode::SERVICE_UNAVAILABLE, &id, &RpcError::from_gateway(&err, "")),
    };
    let mut reloads = registry.subscribe();
    reloads.mark_unchanged();
    let registry = registry.clone();
    tokio::spawn(async move {
        let mut ack = Map::new();
        ack.insert("notifications".into(), filter.acknowledged());
        if !events.data(&notification("notifications/subscriptions/acknowledged", &id, ack)).await {
            return;
        }
        loop {
            tokio::select! {
                () = events.closed() => break,
                changed = reloads.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = registry.snapshot();
                    for (method, uri) in filter.changes(&snapshot, &now, &caller) {
                        let mut params = Map::new();
                        if let Some(uri) = uri {
                            params.insert("uri".into(), uri.into());
                        }
                        if !events.data(&notification(method, &id, params)).await {
                            return;
                        }
                    }
                    snapshot = now;
                }
            }
        }
        // The gateway ends the subscription (shutdown): its result closes the stream. A client that left
        // reads nothing more.
        let mut meta = Map::new();
        meta.insert(SUBSCRIPTION_ID.into(), id.clone());
        meta.insert(META_SERVER_INFO.into(), super::discover::server_info());
        events.data(&response(&id, json!({"resultType": "complete", "_meta": meta}))).await;
    });
    stream
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acknowledgement_lists_only_what_is_honoured() {
        let filter = Filter { tools: true, prompts: false, resources: false, watched: vec!["test://a".into()] };
        assert_eq!(filter.acknowledged(), json!({"toolsListChanged": true, "resourceSubscriptions": ["test://a"]}));
        assert_eq!(Filter::default().acknowledged(), json!({}));
    }

    #[test]
    fn every_notification_names_its_subscription() {
        let message = notification("notifications/tools/list_changed", &json!("listen:1"), Map::new());
        assert_eq!(message["params"]["_meta"][SUBSCRIPTION_ID], "listen:1");
    }
}
