//! Who may ask the built-in authorization server for a code: clients that registered themselves (RFC 7591
//! dynamic client registration, public clients only: no secret) and clients whose `client_id` is the https URL of
//! their client ID metadata document (on a host name, never an address), fetched like any upstream answer
//! (bounded size, a timeout, no redirects),
//! whose `client_id` must be that very URL. Both give the redirect URIs an authorization request must name
//! exactly: https, or plain http on a loopback host (RFC 8252 native apps), never with a fragment.

use serde_json::{Value, json};

use super::OAuthError;
use super::store::Client;

/// The most redirect URIs one client may declare.
const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI or client name accepted.
const MAX_FIELD_CHARS: usize = 2000;
/// The largest client ID metadata document read.
pub const MAX_METADATA_DOCUMENT_BYTES: u64 = 5 * 1024;

/// Why a redirect URI is not acceptable, `None` when it is.
#[must_use]
pub fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    if uri.len() > MAX_FIELD_CHARS {
        return Some("is too long");
    }
    let Ok(url) = reqwest::Url::parse(uri) else { return Some("is not an absolute URL") };
    if url.fragment().is_some() {
        return Some("must not have a fragment");
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some("must be https (plain http only on a loopback host)"),
        _ => Some("must be an https URL (or http on a loopback host)"),
    }
}

/// The redirect URIs of a registration request or a metadata document, each checked.
fn redirect_uris(metadata: &Value) -> Result<Vec<String>, OAuthError> {
    let invalid = |message: String| OAuthError::bad("invalid_redirect_uri", message);
    let list = metadata
        .get("redirect_uris")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or_else(|| invalid("`redirect_uris` must list at least one redirect URI".into()))?;
    if list.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!("at most {MAX_REDIRECT_URIS} redirect URIs")));
    }
    list.iter()
        .map(|uri| {
            let uri = uri.as_str().ok_or_else(|| invalid("every redirect URI must be a string".into()))?;
            match redirect_uri_problem(uri) {
                Some(problem) => Err(invalid(format!("the redirect URI `{uri}` {problem}"))),
                None => Ok(uri.to_owned()),
            }
        })
        .collect()
}

/// The client name, if any, bounded.
fn client_name(metadata: &Value) -> Option<String> {
    metadata.get("client_name").and_then(Value::as_str).map(|name| name.chars().take(200).collect())
}

/// Only public clients: no client authentication at the token endpoint.
fn check_auth_method(metadata: &Value) -> Result<(), OAuthError> {
    match metadata.get("token_endpoint_auth_method").and_then(Value::as_str) {
        None | Some("none") => Ok(()),
        Some(other) => Err(OAuthError::bad(
            "invalid_client_metadata",
            format!(
                "token_endpoint_auth_method `{other}` is not supported: this server only has public clients (`none`)"
            ),
        )),
    }
}

/// A registration request (RFC 7591) as the client to save, with a fresh id.
pub fn registration(request: &Value) -> Result<Client, OAuthError> {
    if !request.is_object() {
        return Err(OAuthError::bad("invalid_client_metadata", "the registration request must be a JSON object"));
    }
    check_auth_method(request)?;
    let supported: [(&str, &[&str]); 2] =
        [("grant_types", &["authorization_code", "refresh_token"]), ("response_types", &["code"])];
    for (field, allowed) in supported {
        if let Some(list) = request.get(field).and_then(Value::as_array) {
            if let Some(other) = list.iter().find(|v| !v.as_str().is_some_and(|v| allowed.contains(&v))) {
                return Err(OAuthError::bad("invalid_client_metadata", format!("{field} {other} is not supported")));
            }
        }
    }
    Ok(Client {
        client_id: uuid::Uuid::new_v4().to_string(),
        redirect_uris: redirect_uris(request)?,
        client_name: client_name(request),
        fetched_ms: None,
    })
}

/// The registration response (RFC 7591 section 3.2.1).
#[must_use]
pub fn registration_response(client: &Client) -> Value {
    json!({
        "client_id": client.client_id,
        "client_id_issued_at": crate::audit::now_ms() / 1000,
        "redirect_uris": client.redirect_uris,
        "client_name": client.client_name,
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    })
}

/// Is this `client_id` the URL of a metadata document (https with a path, on a host name)? Anyone may make the
/// gateway fetch it, so addresses (`https://10.0.0.5/...`) and `localhost` are refused outright; the fetch itself
/// follows no redirect and reads little.
#[must_use]
pub fn is_metadata_url(client_id: &str) -> bool {
    reqwest::Url::parse(client_id).is_ok_and(|url| {
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let named =
            !host.is_empty() && host.parse::<std::net::IpAddr>().is_err() && !host.eq_ignore_ascii_case("localhost");
        url.scheme() == "https" && url.path() != "/" && named
    })
}

/// The client a fetched metadata document describes; its `client_id` must be the URL it was fetched from.
pub fn from_metadata_document(url: &str, document: &Value) -> Result<Client, OAuthError> {
    let invalid = |message: &str| OAuthError::bad("invalid_client", format!("the client metadata at {url} {message}"));
    if document.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(invalid("does not name itself as its client_id"));
    }
    check_auth_method(document).map_err(|e| invalid(&e.description))?;
    let redirect_uris = redirect_uris(document).map_err(|e| invalid(&e.description))?;
    Ok(Client {
        client_id: url.to_owned(),
        redirect_uris,
        client_name: client_name(document),
        fetched_ms: Some(crate::audit::now_ms()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        assert_eq!(redirect_uri_problem("https://claude.ai/api/mcp/auth_callback"), None);
        assert_eq!(redirect_uri_problem("http://127.0.0.1:33418/callback"), None);
        assert_eq!(redirect_uri_problem("http://localhost/cb"), None);
        assert!(redirect_uri_problem("http://evil.example.com/cb").is_some());
        assert!(redirect_uri_problem("https://a.example/cb#frag").is_some());
        assert!(redirect_uri_problem("javascript:alert(1)").is_some());
        assert!(redirect_uri_problem("/relative").is_some());
    }

    #[test]
    fn a_metadata_document_must_name_its_own_url() {
        let url = "https://app.example.com/oauth/client.json";
        let good = json!({"client_id": url, "client_name": "App", "redirect_uris": ["https://app.example.com/cb"]});
        let client = from_metadata_document(url, &good).unwrap();
        assert_eq!(client.redirect_uris, vec!["https://app.example.com/cb".to_owned()]);
        let other =
            json!({"client_id": "https://evil.example.com/c.json", "redirect_uris": ["https://evil.example.com/cb"]});
        assert_eq!(from_metadata_document(url, &other).unwrap_err().error, "invalid_client");
        let secretive = json!({"client_id": url, "redirect_uris": ["https://app.example.com/cb"],
            "token_endpoint_auth_method": "client_secret_basic"});
        assert!(from_metadata_document(url, &secretive).is_err());
        assert!(is_metadata_url(url));
        assert!(!is_metadata_url("http://app.example.com/client.json"), "https only");
        assert!(!is_metadata_url("https://app.example.com"), "with a path");
        assert!(!is_metadata_url("3f2a-uuid"));
        assert!(!is_metadata_url("https://10.0.0.5/client.json"), "no addresses");
        assert!(!is_metadata_url("https://[::1]/client.json"));
        assert!(!is_metadata_url("https://localhost/client.json"));
    }
}
