//! The security section: API keys (with the seeds' `X_PROXY_KEY` and `FLOWCHAT_MCP_KEY`), anonymous use, rate
//! limits, trusted proxies, and the Host / Origin allow-lists. Keys themselves are built (hashed, scopes parsed)
//! by `auth`; this section only gathers them, checks ids and decides whether the bind needs them.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use super::ConfigError;
use super::raw::RawConfig;
use super::secret::Secret;
use super::values::lowercase_all;
use crate::auth::{ApiKey, KeySpec};

/// Who may call, and how often.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    /// Configured keys, including those from the seeds' `X_PROXY_KEY` and `FLOWCHAT_MCP_KEY`.
    pub keys: Vec<ApiKey>,
    pub allow_anonymous: bool,
    /// Per caller; `None` when off.
    pub rate_limit: Option<Rate>,
    /// Per caller and tool category.
    pub category_rate_limits: Vec<(String, Rate)>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Extra Host names accepted (lower case; `*` any); loopback always is.
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins accepted (lower case; `*` any); loopback always is.
    pub allowed_origins: Vec<String>,
    /// Seals 2026-07-28 `requestState`; `None`: a key kept in the data folder.
    pub request_state_secret: Option<Secret>,
}

/// A rate: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl Rate {
    /// `200/minute`, `10/s`, `5000/hour`; `None` for `off`.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim().to_ascii_lowercase();
        if matches!(text.as_str(), "off" | "none" | "0" | "") {
            return Ok(None);
        }
        let (count, unit) = text.split_once('/').ok_or_else(|| format!("`{text}` is not like 200/minute"))?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| format!("`{count}` is not a positive count"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            other => return Err(format!("`{other}` is not a period (second, minute, hour, day)")),
        };
        Ok(Some(Self { count, period }))
    }
}

impl SecuritySettings {
    pub(super) fn validate(raw: &RawConfig, bind: SocketAddr) -> Result<Self, ConfigError> {
        let keys = api_keys(raw)?;
        let tokens_accepted = raw.oauth_issuers.iter().any(|i| !i.trim().is_empty());
        if keys.is_empty() && !tokens_accepted && !bind.ip().is_loopback() && !raw.allow_anonymous {
            return Err(ConfigError::key(
                "keys",
                format!(
                    "no API keys are configured and {bind} is not a loopback address; add keys (GATEWAY_KEYS, \
                     FLOWCHAT_MCP_KEY) or set allow_anonymous = true (GATEWAY_ALLOW_ANONYMOUS=true) on purpose"
                ),
            ));
        }
        let rate_limit = Rate::parse(&raw.rate_limit).map_err(|m| ConfigError::key("rate_limit", m))?;
        let mut category_rate_limits = Vec::new();
        for (category, rate) in &raw.category_rate_limits {
            match Rate::parse(rate) {
                Ok(Some(rate)) => category_rate_limits.push((category.to_ascii_lowercase(), rate)),
                Ok(None) => {}
                Err(m) => return Err(ConfigError::key("category_rate_limits", format!("{category}: {m}"))),
            }
        }
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::key("trusted_proxies", format!("`{p}` is not an IP address or CIDR")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            keys,
            allow_anonymous: raw.allow_anonymous,
            rate_limit,
            category_rate_limits,
            trusted_proxies,
            allowed_hosts: lowercase_all(raw.allowed_hosts.clone()),
            allowed_origins: lowercase_all(raw.allowed_origins.clone()),
            request_state_secret: Secret::from_setting(raw.request_state_secret.clone()),
        })
    }
}

/// Configured keys plus the seeds' two keys, each built by `auth`, with unique ids.
fn api_keys(raw: &RawConfig) -> Result<Vec<ApiKey>, ConfigError> {
    let mut specs: Vec<KeySpec> = raw
        .keys
        .iter()
        .map(|k| KeySpec {
            id: k.id.clone(),
            key: k.key.clone(),
            key_sha256: k.key_sha256.clone(),
            scopes: k.scopes.clone(),
            allow: k.allow.clone(),
            deny: k.deny.clone(),
        })
        .collect();
    let seeds =
        [("proxy", &raw.proxy_key, vec!["proxy"]), ("flowchat", &raw.flowchat_key, vec!["tools:list", "tools:call"])];
    for (id, secret, scopes) in seeds {
        if let Some(secret) = secret.as_ref().filter(|s| !s.trim().is_empty()) {
            specs.push(KeySpec {
                id: id.into(),
                key: Some(secret.clone()),
                key_sha256: None,
                scopes: scopes.into_iter().map(str::to_owned).collect(),
                allow: Vec::new(),
                deny: Vec::new(),
            });
        }
    }
    let mut keys: Vec<ApiKey> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = |m: String| ConfigError::key("keys", format!("key #{} (`{}`): {m}", i + 1, spec.id));
        if keys.iter().any(|existing| existing.id == spec.id) {
            return Err(at("the id is used twice".into()));
        }
        keys.push(ApiKey::from_spec(spec).map_err(at)?);
    }
    Ok(keys)
}
