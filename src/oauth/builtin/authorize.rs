//! The authorization endpoint's logic: check an authorization request, then, once the person has given an API
//! key, issue a code.
//!
//! Order matters (RFC 6749 section 4.1.2.1): until the client and its redirect URI are known good, a problem is
//! shown to the person ([`Refused::Show`]) and never redirected; after that, it goes back to the client as an
//! error response ([`Refused::Redirect`]). Every response to the client carries `state` and `iss` (RFC 9207).

use std::collections::HashMap;

use super::store::{Code, Grant};
use super::{AuthServer, OAuthError, digest, granted, random_secret, scope_text};

/// How long a code may be exchanged.
const CODE_TTL_MS: i64 = 60_000;

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub client_id: String,
    /// The client's name, for the consent page.
    pub client_name: Option<String>,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    /// The scopes asked for, as written (empty: all of the key's).
    pub scope: String,
}

/// Why an authorization request is refused.
#[derive(Debug, Clone)]
pub enum Refused {
    /// Shown on the page: the client or the redirect URI is not known good.
    Show(String),
    /// Sent back to the client at this location.
    Redirect(String),
}

/// Is this a PKCE code challenge or verifier: 43 to 128 unreserved characters (RFC 7636 section 4.1)?
pub(super) fn pkce_shaped(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl AuthServer {
    /// Check an authorization request's parameters.
    pub async fn check_request(
        &self,
        params: &HashMap<String, String>,
        request_id: &str,
    ) -> Result<Authorization, Refused> {
        let param = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let client_id = param("client_id").ok_or_else(|| Refused::Show("the request names no client_id".into()))?;
        let client = self.client(client_id, request_id).await.map_err(|e| Refused::Show(e.description))?;
        let redirect_uri = match param("redirect_uri") {
            Some(uri) if client.redirect_uris.iter().any(|known| known == uri) => uri.to_owned(),
            Some(uri) => return Err(Refused::Show(format!("`{uri}` is not a redirect URI of this client"))),
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => return Err(Refused::Show("the request names no redirect_uri".into())),
        };
        let state = param("state").map(str::to_owned);
        let refuse = |error: &'static str, description: &str| {
            Refused::Redirect(self.redirect(
                &redirect_uri,
                &[("error", error), ("error_description", description)],
                state.as_deref(),
            ))
        };
        if param("response_type") != Some("code") {
            return Err(refuse("unsupported_response_type", "only response_type=code is supported"));
        }
        let code_challenge = param("code_challenge")
            .filter(|c| pkce_shaped(c))
            .ok_or_else(|| refuse("invalid_request", "a PKCE code_challenge (S256) is required"))?;
        if param("code_challenge_method") != Some("S256") {
            return Err(refuse("invalid_request", "code_challenge_method must be S256"));
        }
        let resource = param("resource").unwrap_or(&self.resource);
        if resource != self.resource {
            return Err(refuse("invalid_target", &format!("this server issues tokens only for {}", self.resource)));
        }
        Ok(Authorization {
            client_id: client.client_id,
            client_name: client.client_name,
            redirect_uri,
            state,
            code_challenge: code_challenge.to_owned(),
            resource: resource.to_owned(),
            scope: param("scope").unwrap_or_default().to_owned(),
        })
    }

    /// The person gave `api_key`: issue a code and answer where to send the browser, or `Err(None)` when the
    /// key is not one the gateway knows (ask again).
    pub async fn approve(&self, request: &Authorization, api_key: &str) -> Result<String, Option<OAuthError>> {
        let key = self.keys.authenticate(api_key.trim()).ok_or(None)?;
        let scopes = granted(&key, &request.scope);
        let state = request.state.as_deref();
        if scopes.is_empty() {
            let description = "this API key holds none of the scopes the client asked for";
            return Ok(self.redirect(
                &request.redirect_uri,
                &[("error", "invalid_scope"), ("error_description", description)],
                state,
            ));
        }
        let code = random_secret().map_err(Some)?;
        let grant = Grant {
            client_id: request.client_id.clone(),
            resource: request.resource.clone(),
            key_id: key.id.clone(),
            scope: scope_text(&scopes),
        };
        let binding = Code {
            grant,
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            expires_ms: crate::audit::now_ms() + CODE_TTL_MS,
        };
        self.store.save_code(digest(&code), binding).await.map_err(|e| Some(OAuthError::server(&e)))?;
        tracing::info!(client_id = %request.client_id, key_id = %key.id, "an authorization code was issued");
        Ok(self.redirect(&request.redirect_uri, &[("code", &code)], state))
    }

    /// `redirect_uri` with `pairs`, `state` (when the request had one) and `iss` added to its query.
    fn redirect(&self, redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> String {
        let Ok(mut url) = reqwest::Url::parse(redirect_uri) else { return redirect_uri.to_owned() };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.issuer);
        }
        url.into()
    }
}
