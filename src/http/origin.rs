//! Origin and Host validation for the MCP transports and the REST tool endpoints (DNS-rebinding and
//! cross-site request protection: a page in a browser must not reach tools through `/execute` when it cannot
//! through `/mcp`).
//!
//! - `Origin`, when present, must name a loopback host, an allowed host, or an allowed origin; else 403.
//! - `Host` is checked when the gateway listens on a loopback address (the case DNS rebinding attacks) or
//!   when allowed hosts are configured: it must be loopback or an allowed host; else 403.
//! - `*` in either list allows anything. A gateway behind a reverse proxy lists its public name.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::errors::{ErrorFormat, RestError, written};
use crate::config::Config;
use crate::error::{ErrorCode, GatewayError};
use crate::mcp::jsonrpc::{INVALID_REQUEST, RpcError};
use crate::mcp::streamable::rpc_error;

/// Which hosts and origins may reach the MCP endpoints.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    check_host: bool,
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl OriginPolicy {
    #[must_use]
    pub fn from_config(config: &Config) -> Self {
        Self {
            check_host: config.bind.ip().is_loopback() || !config.security.allowed_hosts.is_empty(),
            hosts: config.security.allowed_hosts.clone(),
            origins: config.security.allowed_origins.clone(),
        }
    }

    /// `Err` names what was refused.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        if self.check_host && !self.hosts.iter().any(|h| h == "*") {
            let host = headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !self.host_allowed(host) {
                return Err(format!("Host `{host}` is not allowed"));
            }
        }
        if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            let allowed = self.origins.iter().any(|o| o == "*" || *o == origin)
                || origin_authority(&origin).is_some_and(|authority| self.host_allowed(authority));
            if !allowed {
                return Err(format!("Origin `{origin}` is not allowed"));
            }
        }
        Ok(())
    }

    fn host_allowed(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let name = hostname(&authority);
        is_loopback(name) || self.hosts.iter().any(|h| h == "*" || *h == authority || h == name)
    }
}

/// `https://example.com:8443/x` → `example.com:8443`
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// `example.com:8080` → `example.com`, `[::1]:8080` → `::1`
fn hostname(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { authority })
}

fn is_loopback(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The refusal of the policy: the message callers get, with what was refused as the cause in the access log.
fn refused(why: &str) -> GatewayError {
    GatewayError::new(ErrorCode::Forbidden, format!("{why}; see allowed_hosts / allowed_origins"))
        .with_cause(format!("refused by origin policy: {why}"))
}

/// The policy's refusal, in the family's format: a JSON-RPC error for the MCP transports, a REST error for the
/// rest.
#[must_use]
pub fn refusal(format: ErrorFormat, why: &str) -> Response {
    let err = refused(why);
    match format {
        ErrorFormat::JsonRpc => {
            let body = RpcError::new(INVALID_REQUEST, err.message.clone());
            written(rpc_error(StatusCode::FORBIDDEN, &Value::Null, &body), err)
        }
        ErrorFormat::Rest => RestError(err).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn policy(check_host: bool, hosts: &[&str], origins: &[&str]) -> OriginPolicy {
        OriginPolicy {
            check_host,
            hosts: hosts.iter().map(|s| (*s).to_owned()).collect(),
            origins: origins.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert("origin", HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn loopback_is_always_allowed_and_rebinding_is_refused() {
        let p = policy(true, &[], &[]);
        assert!(p.check(&headers("127.0.0.1:8080", None)).is_ok());
        assert!(p.check(&headers("localhost:8080", Some("http://localhost:3000"))).is_ok());
        assert!(p.check(&headers("[::1]:8080", None)).is_ok());
        assert!(p.check(&headers("evil.example.com", Some("http://evil.example.com"))).is_err());
        assert!(p.check(&headers("127.0.0.1:8080", Some("http://evil.example.com"))).is_err());
    }

    #[test]
    fn configured_public_names_are_allowed() {
        let p = policy(true, &["mcp.example.com"], &["https://app.example.com"]);
        assert!(p.check(&headers("mcp.example.com", Some("https://mcp.example.com"))).is_ok());
        assert!(p.check(&headers("mcp.example.com:443", Some("https://app.example.com"))).is_ok());
        assert!(p.check(&headers("other.example.com", None)).is_err());
    }

    #[test]
    fn public_bind_without_hosts_checks_only_origin() {
        let p = policy(false, &[], &[]);
        assert!(p.check(&headers("203.0.113.9:8080", None)).is_ok());
        assert!(p.check(&headers("203.0.113.9:8080", Some("http://evil.example.com"))).is_err());
    }
}
