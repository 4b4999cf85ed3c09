//! The MCP endpoint as an OAuth 2.1 resource server (MCP basic/authorization; RFC 9728, RFC 6750).
//!
//! [`TokenVerifier`] checks an access token from an outside issuer: a JWT signed with an asymmetric algorithm
//! (RS*, PS*, ES256/384, EdDSA; never `none` or HS*, so a public key cannot be used as an HMAC secret) by a key
//! its issuer publishes, whose `iss` is a configured issuer, whose `aud` is this resource, and which is within
//! `nbf`..`exp` (60 s leeway). Its scopes (the `scope` claim, space-separated, or the `scp` list) map to gateway
//! scopes by name (`tools:list`, `tools:call`, `tools:call:<category>`, `workers`, `admin`; others are ignored),
//! and a claim (default `sub`) names the caller: `oauth:<issuer host>:<sub>`. The caller then goes through the
//! pipeline like a key with those scopes. [`resource_metadata`] is the RFC 9728 document clients discover.
//!
//! Tokens of the built-in authorization server ([`builtin`], when `GATEWAY_OAUTH=builtin`) are checked by it,
//! with its own key: they stand for one of the gateway's API keys.

pub mod builtin;
pub mod issuer;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use self::builtin::AuthServer;
use self::issuer::Issuer;
use crate::auth::{ApiKey, Scope};
use crate::config::OAuthSettings;
use crate::error::{ErrorCode, GatewayError};
use crate::metrics::Metrics;

/// The algorithms a token may be signed with.
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The scopes the resource offers, advertised in its metadata and challenges.
pub const SCOPES_SUPPORTED: [&str; 2] = ["tools:list", "tools:call"];

/// Checks access tokens from the configured issuers.
#[derive(Debug)]
pub struct TokenVerifier {
    settings: OAuthSettings,
    issuers: Vec<Issuer>,
    builtin: Option<Arc<AuthServer>>,
}

/// Why a token was refused: 401 `invalid_token`, or the issuer's keys could not be had (503, retryable).
fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::Unauthorized, message).with_details(json!({"reason": "invalid_token"}))
}

/// Why a token's signature or claims did not verify, in words.
fn refusal(e: &jsonwebtoken::errors::Error, audience: &str) -> GatewayError {
    use jsonwebtoken::errors::ErrorKind;
    invalid(match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".to_owned(),
        ErrorKind::InvalidAudience => format!("the token is not for this resource ({audience})"),
        ErrorKind::InvalidIssuer => "the token's issuer does not match".to_owned(),
        ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        _ => format!("the token is not valid: {e}"),
    })
}

impl TokenVerifier {
    /// The verifier of the configured outside issuers' tokens and of the built-in server's (`builtin`).
    #[must_use]
    pub fn new(
        settings: OAuthSettings,
        builtin: Option<Arc<AuthServer>>,
        http: &reqwest::Client,
        metrics: &Arc<Metrics>,
    ) -> Self {
        let issuers = settings
            .issuers
            .iter()
            .map(|url| Issuer::new(url.clone(), http.clone(), metrics.clone(), settings.jwks_refresh_interval))
            .collect();
        Self { settings, issuers, builtin }
    }

    /// The resource identifier (the public MCP URL).
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.settings.resource
    }

    /// The issuers whose tokens are accepted (the metadata's `authorization_servers`): the built-in one first.
    #[must_use]
    pub fn authorization_servers(&self) -> Vec<String> {
        let builtin = self.builtin.iter().map(|server| server.issuer().to_owned());
        builtin.chain(self.settings.issuers.iter().cloned()).collect()
    }

    /// Does this look like a JWT (three base64url parts)? Anything else is an API key.
    #[must_use]
    pub fn looks_like_token(presented: &str) -> bool {
        let parts: Vec<&str> = presented.split('.').collect();
        parts.len() == 3
            && parts[..2].iter().all(|p| !p.is_empty())
            && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    }

    /// Verify a token and give the key-like caller it stands for.
    pub async fn verify(&self, token: &str, request_id: &str) -> Result<ApiKey, GatewayError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("the token is not a JWT: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!("tokens signed with {:?} are not accepted", header.alg)));
        }
        // Which issuer to ask for the key: the unverified `iss`, checked again below with the signature.
        let claimed: Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| invalid("the token's claims are not readable"))?;
        let iss = claimed.get("iss").and_then(Value::as_str).unwrap_or_default();
        if let Some(builtin) = self.builtin.as_ref().filter(|server| server.issuer() == iss) {
            return builtin.verify(token);
        }
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.url == iss)
            .ok_or_else(|| invalid("the token's issuer is not one this gateway trusts"))?;
        let jwk = issuer.key(header.kid.as_deref(), request_id).await?;
        if let Some(declared) = &jwk.common.key_algorithm {
            if format!("{declared:?}") != format!("{:?}", header.alg) {
                return Err(invalid("the token's algorithm is not its key's"));
            }
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("the issuer's key is not usable: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[iss]);
        validation.set_audience(&[self.settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 60;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| refusal(&e, &self.settings.audience))?;
        Ok(self.caller(issuer, &data.claims))
    }

    /// The caller a verified token stands for.
    fn caller(&self, issuer: &Issuer, claims: &Value) -> ApiKey {
        let who = match claims.get(&self.settings.caller_claim) {
            Some(Value::String(s)) => s.clone(),
            Some(other) if !other.is_null() => other.to_string(),
            _ => "unknown".into(),
        };
        let host = reqwest::Url::parse(&issuer.url).ok().and_then(|u| u.host_str().map(str::to_owned));
        let id = format!("oauth:{}:{who}", host.unwrap_or_default());
        let names: Vec<String> = match claims.get(&self.settings.scope_claim).or_else(|| claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let scopes = names.iter().filter_map(|name| Scope::parse(name).ok()).collect();
        ApiKey::for_token(id, scopes)
    }
}

/// The RFC 9728 protected resource metadata.
#[must_use]
pub fn resource_metadata(resource: &str, authorization_servers: &[String]) -> Value {
    json!({
        "resource": resource,
        "authorization_servers": authorization_servers,
        "scopes_supported": SCOPES_SUPPORTED,
        "bearer_methods_supported": ["header"],
        "resource_name": "MCP Gateway",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_base64url_parts_look_like_a_token() {
        assert!(TokenVerifier::looks_like_token("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(
            TokenVerifier::looks_like_token("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            "an unsigned JWT is refused later"
        );
        assert!(!TokenVerifier::looks_like_token("gw_live_0123456789abcdef"));
        assert!(!TokenVerifier::looks_like_token("a.b"));
        assert!(!TokenVerifier::looks_like_token("a b.c.d"));
    }
}
