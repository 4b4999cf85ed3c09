//! The web pages (`GET /workers/ui`, `GET /control`) and their files (`GET /static/{file}`), served from the
//! embedded table in [`super::assets`].
//!
//! Pages need no key to load: they hold no secret and no data. They then call the API like any other client
//! (no key when the gateway allows anonymous callers, else the key the person types, sent as a bearer).
//!
//! Every answer carries its content type, a strong ETag (`If-None-Match` gets 304) with `Cache-Control:
//! no-cache` (browsers revalidate, so a new binary never mixes old and new modules), and `nosniff`. Pages also
//! get a strict Content-Security-Policy: scripts, styles and fetches from this origin only, plus fetches to the
//! Realtime provider for the voice calls; no inline code, no frames, no plugins. The microphone is allowed for
//! this origin only (Permissions-Policy).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::errors::RestError;
use super::static_files::{self, Asset};
use crate::error::{ErrorCode, GatewayError};

/// The security headers of pages, built once from configuration.
#[derive(Debug, Clone)]
pub struct PageHeaders {
    csp: HeaderValue,
}

impl PageHeaders {
    /// The pages may also fetch from the Realtime provider at `realtime_base_url` (its calls endpoint).
    #[must_use]
    pub fn new(realtime_base_url: &str) -> Self {
        let realtime = reqwest::Url::parse(realtime_base_url).ok().map(|url| url.origin().ascii_serialization());
        let csp = content_security_policy(realtime.iter().filter(|origin| origin.as_str() != "null"));
        // A serialized origin is plain ASCII, so this always fits a header; if not, the strictest policy.
        let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
        Self { csp }
    }
}

/// The pages' policy: only this origin's files, scripts and styles; fetches to this origin and the given ones;
/// avatars from https hosts or data URLs; the call's audio is a MediaStream (`blob:`/`mediastream:`).
fn content_security_policy<'a>(connect_origins: impl Iterator<Item = &'a String>) -> String {
    let mut connect = vec!["'self'"];
    connect.extend(connect_origins.map(String::as_str));
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         media-src 'self' blob: mediastream:; connect-src {}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'; object-src 'none'",
        connect.join(" ")
    )
}

/// `GET /workers/ui`, `GET /control`
pub async fn page(
    State(headers): State<Arc<PageHeaders>>,
    request_headers: HeaderMap,
    uri: Uri,
) -> Result<Response, RestError> {
    serve(uri.path(), &request_headers, &headers)
}

/// `GET /static/{file}`
pub async fn static_file(
    State(headers): State<Arc<PageHeaders>>,
    request_headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Response, RestError> {
    serve(&format!("/static/{file}"), &request_headers, &headers)
}

fn serve(path: &str, request_headers: &HeaderMap, page_headers: &PageHeaders) -> Result<Response, RestError> {
    let (asset, etag) =
        static_files::find(path).ok_or_else(|| GatewayError::new(ErrorCode::NotFound, format!("no file at {path}")))?;
    let mut response = if matches_etag(request_headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    add_headers(response.headers_mut(), asset, etag, page_headers);
    Ok(response)
}

fn add_headers(headers: &mut HeaderMap, asset: &Asset, etag: &str, page_headers: &PageHeaders) {
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.is_page() {
        headers.insert(header::CONTENT_SECURITY_POLICY, page_headers.csp.clone());
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(
            "permissions-policy",
            HeaderValue::from_static("microphone=(self), camera=(), geolocation=(), payment=()"),
        );
    }
}

/// `If-None-Match` lists this ETag (weak comparison, as RFC 9110 asks for this header) or is `*`.
fn matches_etag(request_headers: &HeaderMap, etag: &str) -> bool {
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_realtime_origin_for_fetches_only() {
        let csp = content_security_policy(["https://api.openai.com".to_owned()].iter());
        assert!(csp.contains("connect-src 'self' https://api.openai.com;"), "{csp}");
        let headers = PageHeaders::new("http://127.0.0.1:9999/base/path");
        let csp = headers.csp.to_str().unwrap();
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:9999;"), "only the origin: {csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\", W/\"abc\""));
        assert!(matches_etag(&h, "\"abc\""));
        assert!(!matches_etag(&h, "\"abd\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_etag(&h, "\"anything\""));
        assert!(!matches_etag(&HeaderMap::new(), "\"abc\""));
    }
}
