//! The built-in OAuth 2.1 authorization server (`GATEWAY_OAUTH=builtin`), for teams without an identity
//! provider: a person signs a connector in with one of the gateway's API keys, and the connector gets tokens that
//! stand for that key (its id, its scopes narrowed to what was asked, its allow/deny patterns).
//!
//! - The issuer is the public URL; its RFC 8414 metadata is [`AuthServer::metadata`].
//! - Clients: RFC 7591 registration, or a client ID metadata document ([`clients`]); public clients only.
//! - Authorization code with PKCE S256 only, the `resource` (RFC 8707) bound into the code and the token, `iss` in
//!   the authorization response (RFC 9207), redirect URIs matched exactly ([`authorize`]).
//! - Access tokens: ES256 JWTs, 10 minutes, signed with the key of [`signing`]; refresh tokens rotate, and a
//!   rotated one presented again revokes its family ([`token`]). Codes and refresh tokens are stored only as
//!   digests ([`store`]).
//! - A token whose key is no longer configured is refused, and so are its refresh tokens: removing a key from
//!   the configuration revokes everything issued for it.
//!
//! It never logs a code, a token or a key; it does no HTTP itself beyond fetching metadata documents (the
//! endpoints are in `http/oauth_server.rs`).

pub mod authorize;
pub mod clients;
pub mod signing;
pub mod store;
pub mod token;

use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use self::signing::SigningKey;
use self::store::{Client, Store};
use crate::auth::{ApiKey, KeyRing, Scope};
use crate::error::GatewayError;
use crate::metrics::Metrics;

/// Where the endpoints are, below the issuer.
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const REGISTER_PATH: &str = "/oauth/register";
pub const JWKS_PATH: &str = "/oauth/jwks";
/// The most clients that may register themselves (registration needs no key).
const MAX_REGISTERED_CLIENTS: i64 = 10_000;
/// A fetched client metadata document is used this long before it is fetched again.
const METADATA_DOCUMENT_TTL_MS: i64 = 10 * 60 * 1000;

/// An OAuth error answer (RFC 6749 section 5.2): `{error, error_description}` with its status.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: u16,
}

impl OAuthError {
    /// A 400 with this error code.
    #[must_use]
    pub fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self { error, description: description.into(), status: 400 }
    }

    /// A 500 `server_error`; the cause is logged, not answered.
    #[must_use]
    pub fn server(cause: &str) -> Self {
        tracing::error!(cause, "the authorization server failed");
        Self { error: "server_error", description: "the authorization server failed; try again".into(), status: 500 }
    }
}

/// The built-in authorization server.
#[derive(Debug)]
pub struct AuthServer {
    issuer: String,
    resource: String,
    signing: SigningKey,
    store: Store,
    keys: Arc<KeyRing>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    fetches: Arc<Semaphore>,
}

/// What the server is built from.
#[derive(Debug)]
pub struct AuthServerParts<'a> {
    /// The issuer identifier: the public URL.
    pub issuer: &'a str,
    /// The resource its tokens are for: the public MCP URL.
    pub resource: &'a str,
    pub data_dir: &'a Path,
    pub keys: Arc<KeyRing>,
    pub http: reqwest::Client,
    pub metrics: Arc<Metrics>,
}

/// SHA-256 of a code or refresh token, hex: how they are stored and looked up.
fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 32 random bytes, base64url: a code or a refresh token.
fn random_secret() -> Result<String, OAuthError> {
    use aws_lc_rs::rand::SecureRandom as _;
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| OAuthError::server("no random bytes"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Space-separated scope names.
fn scope_text(scopes: &[Scope]) -> String {
    scopes.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

/// The scopes of `names` that `key` holds (all of the key's when none are named); unknown names are ignored.
fn granted(key: &ApiKey, names: &str) -> Vec<Scope> {
    let asked: Vec<Scope> = names.split_whitespace().filter_map(|name| Scope::parse(name).ok()).collect();
    if names.trim().is_empty() { key.scopes().to_vec() } else { asked.into_iter().filter(|s| key.has(s)).collect() }
}

impl AuthServer {
    /// Open the server: its signing key (`oauth_signing.key`) and its database (`oauth.db`) in the data folder.
    pub fn open(parts: AuthServerParts<'_>) -> Result<Self, String> {
        let key_path = parts.data_dir.join("oauth_signing.key");
        let signing = SigningKey::load_or_create(&key_path).map_err(|e| e.to_string())?;
        let store = Store::open(&parts.data_dir.join("oauth.db"))?;
        Ok(Self {
            issuer: parts.issuer.to_owned(),
            resource: parts.resource.to_owned(),
            signing,
            store,
            keys: parts.keys,
            http: parts.http,
            metrics: parts.metrics,
            fetches: Arc::new(Semaphore::new(4)),
        })
    }

    /// The issuer identifier.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The RFC 8414 authorization server metadata.
    #[must_use]
    pub fn metadata(&self) -> Value {
        let at = |path: &str| format!("{}{path}", self.issuer);
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": at(AUTHORIZE_PATH),
            "token_endpoint": at(TOKEN_PATH),
            "registration_endpoint": at(REGISTER_PATH),
            "jwks_uri": at(JWKS_PATH),
            "scopes_supported": super::SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true,
        })
    }

    /// The public signing keys.
    #[must_use]
    pub fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.signing.jwks()
    }

    /// Register a client (RFC 7591); answers its registration response.
    pub async fn register(&self, request: &Value) -> Result<Value, OAuthError> {
        let client = clients::registration(request)?;
        let count = self.store.registered_clients().await.map_err(|e| OAuthError::server(&e))?;
        if count >= MAX_REGISTERED_CLIENTS {
            return Err(OAuthError::bad("invalid_client_metadata", "this server accepts no more registrations"));
        }
        self.store.save_client(client.clone()).await.map_err(|e| OAuthError::server(&e))?;
        tracing::info!(client_id = %client.client_id, "an OAuth client registered");
        Ok(clients::registration_response(&client))
    }

    /// The client with this id: registered, or described by the metadata document at this URL (fetched again
    /// when the copy is older than ten minutes).
    async fn client(&self, client_id: &str, request_id: &str) -> Result<Client, OAuthError> {
        let known = self.store.client(client_id).await.map_err(|e| OAuthError::server(&e))?;
        let fresh = |c: &Client| c.fetched_ms.is_none_or(|at| crate::audit::now_ms() - at < METADATA_DOCUMENT_TTL_MS);
        if let Some(client) = known.filter(fresh) {
            return Ok(client);
        }
        if !clients::is_metadata_url(client_id) {
            return Err(OAuthError::bad("invalid_client", "this client is not registered here"));
        }
        let fetcher = super::issuer::Fetcher { http: &self.http, metrics: &self.metrics, cap: &self.fetches };
        let document = super::issuer::fetch_json(&fetcher, client_id, clients::MAX_METADATA_DOCUMENT_BYTES, request_id)
            .await
            .map_err(|e| {
                // The cause stays in the log: the answer does not tell what the gateway can reach.
                tracing::info!(client_id, cause = %e.message, "a client metadata document could not be fetched");
                OAuthError::bad("invalid_client", format!("the client metadata at {client_id} could not be fetched"))
            })?;
        let client = clients::from_metadata_document(client_id, &document)?;
        self.store.save_client(client.clone()).await.map_err(|e| OAuthError::server(&e))?;
        Ok(client)
    }

    /// Verify one of this server's access tokens: the caller is its key, with the token's scopes (within the
    /// key's) and the key's patterns. A token whose key is no longer configured is refused.
    pub fn verify(&self, token: &str) -> Result<ApiKey, GatewayError> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.resource.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Value>(token, self.signing.decoding(), &validation)
            .map_err(|e| super::refusal(&e, &self.resource))?;
        let key_id = data.claims.get("gateway_key").and_then(Value::as_str).unwrap_or_default();
        let key = self
            .keys
            .by_id(key_id)
            .ok_or_else(|| super::invalid("the API key this token was issued for is no longer configured"))?;
        let names = data.claims.get("scope").and_then(Value::as_str).unwrap_or_default();
        let scopes = if names.trim().is_empty() { Vec::new() } else { granted(&key, names) };
        Ok(key.narrowed(scopes))
    }
}
