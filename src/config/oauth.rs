//! The OAuth section: the MCP endpoint as an OAuth 2.1 resource server. Outside issuers
//! (`GATEWAY_OAUTH_ISSUER`, one or more) sign the access tokens the gateway accepts beside its API keys; the
//! resource those tokens must name is the public MCP URL (`GATEWAY_PUBLIC_URL` + `/mcp`).

use std::time::Duration;

use super::ConfigError;
use super::raw::RawConfig;
use super::values::http_url;

/// Who issues the tokens the gateway accepts, and how their claims read.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Issuer identifiers, exactly as the tokens' `iss` and the issuers' metadata say them.
    pub issuers: Vec<String>,
    /// The resource identifier: the public MCP URL (`{public_base_url}/mcp`).
    pub resource: String,
    /// The audience a token must carry (default: the resource).
    pub audience: String,
    /// The claim holding the token's scopes (a space-separated string or a list).
    pub scope_claim: String,
    /// The claim that names the caller in logs and the audit log.
    pub caller_claim: String,
    /// A token naming a key id the cache does not know fetches the issuer's keys again at most this often.
    pub jwks_refresh_interval: Duration,
}

impl OAuthSettings {
    /// `None` when no issuer is configured (API keys only).
    pub(super) fn validate(raw: &RawConfig, public_base_url: &str) -> Result<Option<Self>, ConfigError> {
        let issuers: Vec<String> = raw
            .oauth_issuers
            .iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty())
            .map(|i| http_url("oauth_issuers", i))
            .collect::<Result<_, _>>()?;
        if issuers.is_empty() {
            return Ok(None);
        }
        let resource = format!("{public_base_url}/mcp");
        let audience = match raw.oauth_audience.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            Some(audience) => audience.to_owned(),
            None => resource.clone(),
        };
        let claim = |key: &str, value: &str| {
            let value = value.trim();
            if value.is_empty() { Err(ConfigError::key(key, "must name a claim")) } else { Ok(value.to_owned()) }
        };
        Ok(Some(Self {
            issuers,
            resource,
            audience,
            scope_claim: claim("oauth_scope_claim", &raw.oauth_scope_claim)?,
            caller_claim: claim("oauth_caller_claim", &raw.oauth_caller_claim)?,
            jwks_refresh_interval: Duration::from_secs(raw.oauth_jwks_refresh_secs),
        }))
    }
}
