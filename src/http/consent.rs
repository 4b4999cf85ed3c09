//! The consent page of the built-in authorization server (`GET /oauth/authorize`): which client asks, for which
//! scopes, and a form where the person types one of the gateway's API keys (field `api_key`). It is rendered on
//! the server with every value HTML-escaped, in the gateway's look (`/static/base.css`), and no script.
//!
//! Its headers: no caching, no referrer, no framing (clickjacking), and a Content-Security-Policy whose
//! `form-action` allows this origin and the client's redirect origin only (browsers check the redirect after the
//! form is posted against it).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::oauth::builtin::authorize::Authorization;

/// Text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page around `body`.
fn page(status: StatusCode, body: &str, form_origin: Option<&str>) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sign in · mcp-gateway</title>
  <link rel="icon" href="/static/icon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/base.css">
</head>
<body>
  <header class="bar"><h1>Sign in to mcp-gateway</h1></header>
  <main>
    <section class="panel consent">
{body}
    </section>
  </main>
</body>
</html>
"#
    );
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{}; frame-ancestors 'none'; \
         base-uri 'none'",
        form_origin.map(|o| format!(" {o}")).unwrap_or_default()
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// A problem with the request itself: shown, never redirected.
pub fn problem(message: &str) -> Response {
    let body = format!(
        r#"      <h2>This sign-in request cannot be used</h2>
      <p class="error" role="alert">{}</p>
      <p class="muted">Go back to the application and start connecting again.</p>"#,
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, &body, None)
}

/// The form asking for an API key, with `error` when the last one was refused.
pub fn form(request: &Authorization, error: Option<&str>) -> Response {
    let redirect = reqwest::Url::parse(&request.redirect_uri).ok();
    let origin = redirect.as_ref().map(|u| u.origin().ascii_serialization());
    let host = redirect.as_ref().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let name = request.client_name.as_deref().unwrap_or(&request.client_id);
    let scopes = if request.scope.trim().is_empty() { "all of your key's scopes" } else { request.scope.as_str() };
    let hidden = [
        ("response_type", "code"),
        ("client_id", request.client_id.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("code_challenge", request.code_challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("resource", request.resource.as_str()),
        ("scope", request.scope.as_str()),
        ("state", request.state.as_deref().unwrap_or("")),
    ]
    .iter()
    .map(|(name, value)| format!(r#"        <input type="hidden" name="{name}" value="{}">"#, escape(value)))
    .collect::<Vec<_>>()
    .join("\n");
    let error = error
        .map(|e| format!(r#"        <p class="error" role="alert" id="consent-error">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"      <h2><strong id="client-name">{name}</strong> wants to use this gateway's tools</h2>
      <p>It asks for: <code id="scopes">{scopes}</code>. After you sign in, you return to <strong>{host}</strong>.</p>
      <form method="post" action="/oauth/authorize">
{hidden}
        <label for="api_key">Your API key</label>
        <input id="api_key" name="api_key" type="password" autocomplete="current-password" required autofocus>
{error}
        <p class="muted">The application gets a token that acts with this key's permissions, never the key itself.
        Removing the key from the gateway's configuration ends its access.</p>
        <button class="primary" type="submit">Allow</button>
      </form>"#,
        name = escape(name),
        scopes = escape(scopes),
        host = escape(&host),
    );
    page(StatusCode::OK, &body, origin.as_deref().filter(|o| *o != "null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(escape(r#"<script>"a"&'b'</script>"#), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
    }
}
