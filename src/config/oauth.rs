//! The OAuth section: the MCP endpoint as an OAuth 2.1 resource server. Outside issuers
//! (`GATEWAY_OAUTH_ISSUER`, one or more) and the built-in authorization server (`GATEWAY_OAUTH=builtin`, whose
//! issuer is the public URL) sign the access tokens the gateway accepts beside its API keys; the resource those
//! tokens must name is the public MCP URL (`GATEWAY_PUBLIC_URL` + `/mcp`).

use std::time::Duration;

use super::ConfigError;
use super::raw::RawConfig;
use super::values::http_url;

/// Who issues the tokens the gateway accepts, and how their claims read.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Outside issuer identifiers, exactly as the tokens' `iss` and the issuers' metadata say them.
    pub issuers: Vec<String>,
    /// The built-in authorization server's issuer (the public URL), when `GATEWAY_OAUTH=builtin`.
    pub builtin_issuer: Option<String>,
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
    /// `None` when no issuer is configured and the built-in server is off (API keys only).
    pub(super) fn validate(raw: &RawConfig, public_base_url: &str) -> Result<Option<Self>, ConfigError> {
        let issuers: Vec<String> = raw
            .oauth_issuers
            .iter()
            .map(|i| i.trim())
            .filter(|i| !i.is_empty())
            .map(|i| http_url("oauth_issuers", i))
            .collect::<Result<_, _>>()?;
        let builtin_issuer = match raw.oauth.trim() {
            "" | "off" => None,
            "builtin" => Some(builtin_issuer(public_base_url)?),
            other => return Err(ConfigError::key("oauth", format!("must be `builtin` or `off`, not `{other}`"))),
        };
        if issuers.is_empty() && builtin_issuer.is_none() {
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
            builtin_issuer,
            resource,
            audience,
            scope_claim: claim("oauth_scope_claim", &raw.oauth_scope_claim)?,
            caller_claim: claim("oauth_caller_claim", &raw.oauth_caller_claim)?,
            jwks_refresh_interval: Duration::from_secs(raw.oauth_jwks_refresh_secs),
        }))
    }
}

/// The built-in server's issuer: the public URL, which RFC 8414 wants https (plain http only on loopback, for
/// trying it out on one machine).
fn builtin_issuer(public_base_url: &str) -> Result<String, ConfigError> {
    let url = reqwest::Url::parse(public_base_url)
        .map_err(|e| ConfigError::key("public_base_url", format!("is not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !loopback {
        return Err(ConfigError::key(
            "public_base_url",
            "must be an https URL when GATEWAY_OAUTH=builtin (it is the issuer clients verify)",
        ));
    }
    Ok(public_base_url.to_owned())
}
