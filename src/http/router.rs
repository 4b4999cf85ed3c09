//! Every route, in one place, with the middleware each family runs behind.
//!
//! | family | routes | requires | refusals as |
//! |---|---|---|---|
//! | MCP | `/mcp`, `/sse`, `/messages` | a key (per-method scopes inside) | JSON-RPC (envelope for actions) |
//! | tool listings | `/mcp/tools/list`, `/mcp/tools/{name}/schema`, `/tools` | `tools:list` | REST |
//! | tool calls | `/mcp/tools/call`, `/execute` | a call scope (per-tool checks inside) | REST |
//! | workers | `/workers`, `/workers/{id}/query`, `/workers/{id}/realtime/config` | `workers` | REST |
//! | Supabase MCP passthrough | `/mcp/`, `/mcp/{*path}` (paths the gateway does not own) | `proxy` | REST |
//! | admin | `/admin/audit`, `/admin/activity`, `/admin/config` | `admin` | REST |
//! | metrics | `/metrics` | `metrics` | REST |
//! | probes | `/health`, `/ready` | nothing | REST |
//! | OAuth | `/.well-known/oauth-protected-resource[/mcp]`; built-in server: `/.well-known/oauth-authorization-server`, `/oauth/{authorize,token,register,jwks}` | nothing | OAuth (RFC 6749) / the consent page |
//! | assets | `/assets/{project}/{type}/{file}` | nothing (capability URLs, see `assets.rs`) | REST |
//! | pages | `/workers/ui`, `/control`, `/static/{file}` | nothing (they hold no data; their API calls are gated) | REST |
//!
//! Every request first gets its id, its access-log line and its [`auth::Authenticator`] outcome, in layers around
//! the router (not repeated per route); each gated family then checks its requirement and the per-caller rate
//! limit. On the way out, [`errors::FinishLayer`] writes error bodies with the request id.

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, post};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use super::auth::{self, Gate, Requirement};
use super::errors::{ErrorFormat, RestError};
use super::guard::Guard;
use super::origin::OriginPolicy;
use super::pages::PageHeaders;
use super::{
    access_log, admin, admin_upstreams, assets, errors, health, mcp_routes, oauth, oauth_server, pages, passthrough,
    request_id, rest, voice_workers,
};
use crate::auth::Scope;
use crate::error::{ErrorCode, GatewayError};
use crate::oauth::builtin;
use crate::state::AppState;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let policy = Arc::new(OriginPolicy::from_config(&state.config));
    let trusted_proxies = Arc::new(state.config.security.trusted_proxies.clone());
    let guard = |requirement: Requirement, format: ErrorFormat| {
        Guard::new(Gate {
            requirement,
            format,
            rate_limit: state.rate_limit.clone(),
            trusted_proxies: trusted_proxies.clone(),
            metrics: state.metrics.clone(),
        })
    };
    let timeout = state.config.limits.request_timeout;

    let mcp = Router::new()
        .route("/mcp", post(mcp_routes::post_mcp).get(mcp_routes::get_mcp).delete(mcp_routes::delete_mcp))
        .route("/sse", get(mcp_routes::get_sse))
        .route("/messages", post(mcp_routes::post_messages))
        .route_layer(guard(Requirement::Authenticated, ErrorFormat::JsonRpc).origin(policy.clone()));
    let tool_listings = Router::new()
        .route("/mcp/tools/list", get(rest::flowchat_list))
        .route("/mcp/tools/{name}/schema", get(rest::flowchat_schema))
        .route("/tools", get(rest::dragonfly_tools))
        .route_layer(
            guard(Requirement::Scope(Scope::ToolsList), ErrorFormat::Rest).origin(policy.clone()).deadline(timeout),
        );
    let tool_calls = Router::new()
        .route("/mcp/tools/call", post(rest::flowchat_call))
        .route("/execute", post(rest::dragonfly_execute))
        .route_layer(guard(Requirement::AnyCallScope, ErrorFormat::Rest).origin(policy.clone()));
    let workers = Router::new()
        .route("/workers", get(voice_workers::list))
        .route("/workers/{id}/query", post(voice_workers::query))
        .route("/workers/{id}/realtime/config", get(voice_workers::realtime_config))
        .route_layer(guard(Requirement::Scope(Scope::Workers), ErrorFormat::Rest).deadline(timeout));
    // Static routes win over the wildcard, so `/mcp/tools/*` stay the gateway's own.
    let passthrough = Router::new()
        .route("/mcp/", any(passthrough::proxy))
        .route("/mcp/{*path}", any(passthrough::proxy))
        .route_layer(guard(Requirement::Scope(Scope::Proxy), ErrorFormat::Rest).origin(policy));
    let admin = Router::new()
        .route("/admin/audit", get(admin::audit))
        .route("/admin/activity", get(admin::activity))
        .route("/admin/config", get(admin::config))
        .route("/admin/upstreams", get(admin_upstreams::list))
        .route("/admin/upstreams/{name}/approve", post(admin_upstreams::approve))
        .route_layer(guard(Requirement::Scope(Scope::Admin), ErrorFormat::Rest).deadline(timeout));
    let metrics = Router::new()
        .route("/metrics", get(health::metrics))
        .route_layer(guard(Requirement::Scope(Scope::Metrics), ErrorFormat::Rest));
    let pages = Router::new()
        .route("/workers/ui", get(pages::page))
        .route("/control", get(pages::page))
        .route("/static/{file}", get(pages::static_file))
        .with_state(Arc::new(PageHeaders::new(&state.config.realtime.base_url)));
    let probes = Router::new().route("/health", get(health::health)).route("/ready", get(health::ready));
    let media = Router::new().route("/assets/{project}/{kind}/{file}", get(assets::serve));

    // The OAuth resource server's metadata and challenges, when issuers are configured.
    let (resource_metadata, challenge) = match &state.tokens {
        Some(tokens) => {
            let document = Router::new()
                .route(oauth::METADATA_PATH, get(oauth::metadata))
                .route(&format!("{}/mcp", oauth::METADATA_PATH), get(oauth::metadata))
                .with_state(tokens.clone());
            let url = format!("{}{}/mcp", state.config.media.public_base_url, oauth::METADATA_PATH);
            (document, Some(oauth::Challenge { metadata_url: url.into() }))
        }
        None => (Router::new(), None),
    };
    // The built-in authorization server, when `GATEWAY_OAUTH=builtin`.
    let auth_server = match &state.auth_server {
        Some(server) => Router::new()
            .route(oauth_server::METADATA_PATH, get(oauth_server::metadata))
            .route(builtin::JWKS_PATH, get(oauth_server::jwks))
            .route(builtin::REGISTER_PATH, post(oauth_server::register))
            .route(builtin::AUTHORIZE_PATH, get(oauth_server::authorize_page).post(oauth_server::authorize))
            .route(builtin::TOKEN_PATH, post(oauth_server::token))
            // Signing in is rate limited like everything else: guessing keys on the consent page, or flooding
            // registration, meets the per-address limit.
            .route_layer(guard(Requirement::Open, ErrorFormat::Rest).deadline(timeout))
            .with_state(server.clone()),
        None => Router::new(),
    };

    let routes = Router::new()
        .merge(mcp)
        .merge(tool_listings)
        .merge(tool_calls)
        .merge(workers)
        .merge(passthrough)
        .merge(admin)
        .merge(metrics)
        .merge(probes)
        .merge(media)
        .merge(pages)
        .merge(resource_metadata)
        .merge(auth_server)
        .fallback(not_found)
        // Inside the router, the one place that knows the matched route.
        .layer(access_log::LabelLayer)
        .with_state(state.clone());
    // The layers every request passes wrap the router once, not each route: `Router::layer` wraps every route in
    // each layer, and axum's middleware clones the (boxed) stack below it on every request, which cost about
    // seventy allocations per call. Outermost first: the request id is set before anything reads it and on the
    // response after everything. The outer router only hands every request to this stack.
    let challenge = challenge.map(|c| axum::middleware::map_response_with_state(c, oauth::challenge));
    let app = ServiceBuilder::new()
        .layer(MapRequestLayer::new(request_id::drop_unacceptable))
        .layer(SetRequestIdLayer::new(request_id::HEADER, request_id::UuidV7))
        .layer(PropagateRequestIdLayer::new(request_id::HEADER))
        .layer(access_log::layer(state.metrics.clone()))
        .option_layer(challenge)
        .layer(errors::FinishLayer)
        .layer(auth::Authenticator { keys: state.keys.clone(), tokens: state.tokens.clone() })
        .service(routes);
    Router::new().fallback_service(app)
}

async fn not_found(uri: axum::http::Uri) -> RestError {
    RestError(GatewayError::new(ErrorCode::NotFound, format!("no route for {}", uri.path())))
}
