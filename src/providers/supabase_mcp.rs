//! Supabase's hosted MCP server as the target of the `/mcp/...` passthrough (seed 002): where a proxied request
//! goes and with which credentials. `https://mcp.supabase.com/mcp` (Streamable HTTP) takes `project_ref=`,
//! `read_only=true` and `features=` in its query and `Authorization: Bearer <personal access token>`.
//!
//! Rules: the path tail after `/mcp` is appended to `SUPABASE_MCP_URL` (`/mcp/` is the server's endpoint
//! itself); the caller's query is kept minus its `key=` (the gateway key) and minus any `project_ref`,
//! `read_only` or `features` the gateway sets itself, so a caller cannot lift the configured restrictions; the
//! bearer is always the gateway's token. This module only computes the target; streaming is the edge's job
//! (`http/passthrough.rs`).

use serde_json::json;

use crate::config::ExposeOption;
use crate::config::SupabaseMcpSettings;
use crate::error::{ErrorCode, GatewayError};

/// Where one proxied request goes, and the credentials it carries.
pub struct Target {
    pub url: reqwest::Url,
    /// The `Authorization` header value: `Bearer <SUPABASE_PAT>`.
    pub authorization: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

/// The target of a request to `/mcp{tail}?{query}`.
///
/// # Errors
/// `not_configured` without `SUPABASE_PAT`; `invalid_request` for a tail with `.` or `..` segments.
pub fn target(settings: &SupabaseMcpSettings, tail: &str, query: Option<&str>) -> Result<Target, GatewayError> {
    let pat = settings.pat.exposed().ok_or_else(|| {
        GatewayError::new(ErrorCode::NotConfigured, "the Supabase MCP passthrough is not configured: set SUPABASE_PAT")
            .with_details(json!({"provider": "supabase_mcp", "missing": "SUPABASE_PAT"}))
    })?;
    let dot_segment =
        |s: &str| matches!(s.to_ascii_lowercase().as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.");
    if tail.split('/').any(dot_segment) {
        return Err(GatewayError::invalid_request("the proxied path must not contain `.` or `..` segments"));
    }
    let tail = if tail == "/" { "" } else { tail };
    let mut url = reqwest::Url::parse(&format!("{}{tail}", settings.url))
        .map_err(|_| GatewayError::invalid_request("the proxied path is not a valid URL path"))?;
    let mut overridden = vec!["key"];
    if settings.project_ref.is_some() {
        overridden.push("project_ref");
    }
    if settings.read_only {
        overridden.push("read_only");
    }
    if !settings.features.is_empty() {
        overridden.push("features");
    }
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            !overridden.iter().any(|o| o.eq_ignore_ascii_case(name))
        })
        .collect();
    url.set_query((!kept.is_empty()).then(|| kept.join("&")).as_deref());
    let mut own = Vec::new();
    if let Some(project_ref) = &settings.project_ref {
        own.push(("project_ref", project_ref.clone()));
    }
    if settings.read_only {
        own.push(("read_only", "true".to_owned()));
    }
    if !settings.features.is_empty() {
        own.push(("features", settings.features.join(",")));
    }
    if !own.is_empty() {
        url.query_pairs_mut().extend_pairs(own);
    }
    Ok(Target { url, authorization: format!("Bearer {pat}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SupabaseMcpSettings {
        SupabaseMcpSettings {
            url: "https://mcp.supabase.com/mcp".into(),
            pat: Some("sbp_secret".into()),
            project_ref: Some("abcd".into()),
            read_only: true,
            features: vec!["database".into(), "docs".into()],
        }
    }

    #[test]
    fn the_tail_is_appended_and_the_gateway_query_wins() {
        let t = target(&settings(), "/sse", Some("key=gw-key&read_only=false&x=1%202&project_ref=evil")).unwrap();
        assert_eq!(
            t.url.as_str(),
            "https://mcp.supabase.com/mcp/sse?x=1%202&project_ref=abcd&read_only=true&features=database%2Cdocs"
        );
        assert_eq!(t.authorization, "Bearer sbp_secret");
        let root = target(&settings(), "/", None).unwrap();
        assert!(root.url.as_str().starts_with("https://mcp.supabase.com/mcp?project_ref=abcd"), "{}", root.url);
        assert!(!format!("{root:?}").contains("sbp_secret"));
    }

    #[test]
    fn without_settings_only_the_key_is_dropped() {
        let plain = SupabaseMcpSettings { project_ref: None, read_only: false, features: Vec::new(), ..settings() };
        let t = target(&plain, "/a/b", Some("key=k&read_only=true")).unwrap();
        assert_eq!(t.url.as_str(), "https://mcp.supabase.com/mcp/a/b?read_only=true");
        assert_eq!(target(&plain, "/a", Some("key=k")).unwrap().url.query(), None);
    }

    #[test]
    fn missing_token_and_dot_segments_are_refused() {
        let err = target(&SupabaseMcpSettings { pat: None, ..settings() }, "/sse", None).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotConfigured);
        assert!(err.message.contains("SUPABASE_PAT"));
        for tail in ["/../admin", "/a/%2E%2E/b", "/./x"] {
            assert_eq!(target(&settings(), tail, None).unwrap_err().code, ErrorCode::InvalidRequest, "{tail}");
        }
    }
}
