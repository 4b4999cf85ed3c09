//! The token endpoint's logic (RFC 6749 section 4.1.3 and 6, OAuth 2.1): an authorization code with its PKCE
//! verifier, or a refresh token, for a new access token and a new refresh token. The refresh token presented is
//! used up (rotation); presenting a used one again revokes every token of its family, since one of the two
//! holders is not the client. A grant whose API key is no longer configured is refused.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::authorize::pkce_shaped;
use super::store::{Grant, Refresh};
use super::{AuthServer, OAuthError, digest, granted, random_secret, scope_text};

/// How long an access token is valid.
pub const ACCESS_TOKEN_SECS: i64 = 600;
/// How long a refresh token may be used.
const REFRESH_TOKEN_MS: i64 = 30 * 24 * 3600 * 1000;

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::bad("invalid_grant", description)
}

impl AuthServer {
    /// Answer a token request (its form fields).
    pub async fn token(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let required =
            |name: &str| field(name).ok_or_else(|| OAuthError::bad("invalid_request", format!("`{name}` is required")));
        if let Some(resource) = field("resource") {
            if resource != self.resource {
                return Err(OAuthError::bad(
                    "invalid_target",
                    format!("this server issues tokens only for {}", self.resource),
                ));
            }
        }
        match required("grant_type")? {
            "authorization_code" => {
                let code = required("code")?;
                let client_id = required("client_id")?;
                let redirect_uri = required("redirect_uri")?;
                let verifier = required("code_verifier")?;
                let binding = self.store.take_code(digest(code)).await.map_err(|e| OAuthError::server(&e))?;
                let binding = binding.ok_or_else(|| invalid_grant("the code is unknown, used or expired"))?;
                if binding.expires_ms < crate::audit::now_ms() {
                    return Err(invalid_grant("the code has expired"));
                }
                if binding.grant.client_id != client_id {
                    return Err(OAuthError::bad("invalid_client", "the code was issued to another client"));
                }
                if binding.redirect_uri != redirect_uri {
                    return Err(invalid_grant("redirect_uri is not the one the code was issued for"));
                }
                let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
                if !pkce_shaped(verifier) || !bool::from(computed.as_bytes().ct_eq(binding.code_challenge.as_bytes())) {
                    return Err(invalid_grant("the code_verifier does not match the code_challenge"));
                }
                let family = uuid::Uuid::new_v4().to_string();
                self.issue(binding.grant, family).await
            }
            "refresh_token" => {
                let presented = required("refresh_token")?;
                match self.store.use_refresh(digest(presented)).await.map_err(|e| OAuthError::server(&e))? {
                    Refresh::Fresh { grant, family } => {
                        if field("client_id").is_some_and(|id| id != grant.client_id) {
                            return Err(OAuthError::bad(
                                "invalid_client",
                                "the refresh token was issued to another client",
                            ));
                        }
                        self.issue(grant, family).await
                    }
                    Refresh::Reused => {
                        tracing::warn!("a rotated refresh token was presented again; its family is revoked");
                        Err(invalid_grant("the refresh token was already used; sign in again"))
                    }
                    Refresh::Unknown => Err(invalid_grant("the refresh token is unknown, revoked or expired")),
                }
            }
            other => Err(OAuthError::bad("unsupported_grant_type", format!("grant_type `{other}` is not supported"))),
        }
    }

    /// A new access token and refresh token for `grant`, with the scopes its key still holds.
    async fn issue(&self, grant: Grant, family: String) -> Result<Value, OAuthError> {
        let key = self
            .keys
            .by_id(&grant.key_id)
            .ok_or_else(|| invalid_grant("the API key this grant was made with is no longer configured"))?;
        let scopes = granted(&key, &grant.scope);
        if scopes.is_empty() {
            return Err(invalid_grant("the API key no longer holds any of the granted scopes"));
        }
        let scope = scope_text(&scopes);
        let now = crate::audit::now_ms() / 1000;
        let claims = json!({
            "iss": self.issuer,
            "aud": grant.resource,
            "sub": key.id,
            "gateway_key": key.id,
            "client_id": grant.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + ACCESS_TOKEN_SECS,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let access_token = self.signing.sign(&claims).map_err(|e| OAuthError::server(&e.to_string()))?;
        let refresh_token = random_secret()?;
        let expires_ms = crate::audit::now_ms() + REFRESH_TOKEN_MS;
        let grant = Grant { scope: scope.clone(), ..grant };
        self.store
            .save_refresh(digest(&refresh_token), family, grant, expires_ms)
            .await
            .map_err(|e| OAuthError::server(&e))?;
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECS,
            "refresh_token": refresh_token,
            "scope": scope,
        }))
    }
}
