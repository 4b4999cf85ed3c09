//! Every route, in one place, with the middleware each group runs behind.

use std::sync::Arc;

use axum::Router;
use axum::extract::Extension;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};

use super::body::rest_error;
use super::origin::OriginPolicy;
use super::request_id::RequestId;
use super::{access_log, health, mcp_routes, origin, request_id, rest};
use crate::error::{ErrorCode, GatewayError};
use crate::state::AppState;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let policy = Arc::new(OriginPolicy::from_config(&state.config));
    let mcp = Router::new()
        .route("/mcp", post(mcp_routes::post_mcp).get(mcp_routes::get_mcp).delete(mcp_routes::delete_mcp))
        .route("/sse", get(mcp_routes::get_sse))
        .route("/messages", post(mcp_routes::post_messages))
        .route_layer(from_fn_with_state(policy, origin::middleware));
    let rest = Router::new()
        .route("/mcp/tools/list", get(rest::flowchat_list))
        .route("/mcp/tools/call", post(rest::flowchat_call))
        .route("/mcp/tools/{name}/schema", get(rest::flowchat_schema))
        .route("/tools", get(rest::dragonfly_tools))
        .route("/execute", post(rest::dragonfly_execute));
    let ops = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics));
    Router::new()
        .merge(mcp)
        .merge(rest)
        .merge(ops)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), access_log::middleware))
        .layer(from_fn(request_id::middleware))
        .with_state(state)
}

async fn not_found(Extension(RequestId(request_id)): Extension<RequestId>, uri: axum::http::Uri) -> Response {
    let err = GatewayError::new(ErrorCode::NotFound, format!("no route for {}", uri.path()));
    rest_error(&err, &request_id)
}
