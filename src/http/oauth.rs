//! The resource server's edge (MCP basic/authorization, RFC 9728): the protected resource metadata clients
//! discover at `/.well-known/oauth-protected-resource/mcp` (and the root variant), and the challenge every
//! 401/403 carries so a client knows where to sign in: `WWW-Authenticate: Bearer resource_metadata="...",
//! scope="..."` (and `error="insufficient_scope"` on a 403). Present only when OAuth issuers (or the built-in server) are configured.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oauth::{SCOPES_SUPPORTED, TokenVerifier, resource_metadata};

/// Where the metadata lives, below the public URL.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// What the challenge names.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The absolute URL of the metadata document.
    pub metadata_url: Arc<str>,
}

/// `GET /.well-known/oauth-protected-resource[/mcp]`.
pub async fn metadata(State(tokens): State<Arc<TokenVerifier>>) -> Response {
    let mut response = Json(resource_metadata(tokens.resource(), &tokens.authorization_servers())).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Name the metadata and the scopes in the `WWW-Authenticate` challenge of every 401 and 403 (a layer around
/// the whole router).
pub async fn challenge(State(challenge): State<Challenge>, mut response: Response) -> Response {
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return response;
    }
    let existing = response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut value = if existing.starts_with("Bearer") { existing.to_owned() } else { "Bearer".to_owned() };
    value.push_str(if value == "Bearer" { " " } else { ", " });
    value.push_str(&format!(r#"resource_metadata="{}""#, challenge.metadata_url));
    if !value.contains("scope=") {
        value.push_str(&format!(r#", scope="{}""#, SCOPES_SUPPORTED.join(" ")));
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
