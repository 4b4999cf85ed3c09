//! The built-in authorization server driven over real HTTP like a connector drives it: discovery, registration,
//! the consent page and its `api_key` form, the code with PKCE, tokens, calls to `/mcp`, refresh rotation; and
//! every way a client or an attacker can get it wrong.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{TestApp, api_key, core_specs};
use mcp_gateway::config::OAuthSettings;

const PUBLIC_URL: &str = "https://mcp.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const REDIRECT: &str = "https://app.example.com/callback";

async fn app_in(data: &std::path::Path, keys: Vec<mcp_gateway::auth::ApiKey>) -> TestApp {
    let data = data.to_path_buf();
    TestApp::spawn_with(&core_specs(), move |c| {
        c.data_dir = data;
        c.media.public_base_url = PUBLIC_URL.into();
        c.security.keys = keys;
        c.oauth = Some(OAuthSettings {
            issuers: Vec::new(),
            builtin_issuer: Some(PUBLIC_URL.into()),
            resource: RESOURCE.into(),
            audience: RESOURCE.into(),
            scope_claim: "scope".into(),
            caller_claim: "sub".into(),
            jwks_refresh_interval: std::time::Duration::from_secs(30),
        });
    })
    .await
}

fn alice() -> mcp_gateway::auth::ApiKey {
    api_key("alice", &["tools:list", "tools:call"], &[], &[])
}

/// A client that does not follow redirects (the browser's next hop is the client's redirect URI).
fn browser() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn challenge_of(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// The query pairs of a redirect location.
fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

async fn register(app: &TestApp, redirect: &str) -> reqwest::Response {
    let body = json!({"client_name": "Test client", "redirect_uris": [redirect], "token_endpoint_auth_method": "none"});
    app.post("/oauth/register").json(&body).send().await.unwrap()
}

/// One authorization attempt's parameters.
struct Attempt {
    client_id: String,
    verifier: String,
    pairs: Vec<(String, String)>,
}

impl Attempt {
    fn new(client_id: &str) -> Self {
        let verifier = format!("{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let pairs = [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge_of(&verifier)),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
            ("resource", RESOURCE),
            ("scope", "tools:list tools:call"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        Self { client_id: client_id.into(), verifier, pairs }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.pairs.retain(|(k, _)| k != name);
        self.pairs.push((name.into(), value.into()));
        self
    }

    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.pairs).finish()
    }

    async fn page(&self, app: &TestApp) -> reqwest::Response {
        browser().get(app.url(&format!("/oauth/authorize?{}", self.query()))).send().await.unwrap()
    }

    async fn submit(&self, app: &TestApp, key: &str) -> reqwest::Response {
        let mut pairs = self.pairs.clone();
        pairs.push(("api_key".into(), key.into()));
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let request = browser().post(app.url("/oauth/authorize"));
        request.header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap()
    }

    /// Sign in with `key` and take the code from the redirect.
    async fn code(&self, app: &TestApp, key: &str) -> String {
        let response = self.submit(app, key).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query = query_of(&location);
        assert_eq!(query["state"], "st-123");
        assert_eq!(query["iss"], PUBLIC_URL, "RFC 9207");
        query["code"].clone()
    }

    async fn exchange(&self, app: &TestApp, code: &str, verifier: &str) -> (StatusCode, Value) {
        token(
            app,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.client_id),
                ("code_verifier", verifier),
                ("resource", RESOURCE),
            ],
        )
        .await
    }
}

async fn token(app: &TestApp, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let request = app.post("/oauth/token").header("content-type", "application/x-www-form-urlencoded");
    let response = request.body(form(pairs)).send().await.unwrap();
    let status = response.status();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap())
}

async fn refresh(app: &TestApp, refresh_token: &str, client_id: &str) -> (StatusCode, Value) {
    token(app, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)]).await
}

async fn list_tools(app: &TestApp, access_token: &str) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    app.mcp(None, &body).header("authorization", format!("Bearer {access_token}")).send().await.unwrap()
}

async fn client_id(app: &TestApp) -> String {
    let registered: Value = register(app, REDIRECT).await.json().await.unwrap();
    registered["client_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn discovery_names_the_builtin_server_and_its_endpoints() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice()]).await;
    let resource: Value =
        app.get("/.well-known/oauth-protected-resource/mcp").send().await.unwrap().json().await.unwrap();
    assert_eq!(resource["authorization_servers"], json!([PUBLIC_URL]));
    let metadata: Value =
        app.get("/.well-known/oauth-authorization-server").send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["issuer"], PUBLIC_URL);
    assert_eq!(metadata["authorization_endpoint"], "https://mcp.example.com/oauth/authorize");
    assert_eq!(metadata["token_endpoint"], "https://mcp.example.com/oauth/token");
    assert_eq!(metadata["registration_endpoint"], "https://mcp.example.com/oauth/register");
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["token_endpoint_auth_methods_supported"], json!(["none"]));
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    let jwks: Value = app.get("/oauth/jwks").send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(jwks["keys"][0].get("d").is_none(), "public half only");
}

#[tokio::test]
async fn the_whole_flow_gives_tokens_that_call_as_the_key_and_refresh_rotates() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice(), api_key("ops", &["admin"], &[], &[])]).await;
    let registered = register(&app, REDIRECT).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Value = registered.json().await.unwrap();
    assert!(registered.get("client_secret").is_none());
    let client_id = registered["client_id"].as_str().unwrap().to_owned();

    let attempt = Attempt::new(&client_id);
    let page = attempt.page(&app).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' https://app.example.com"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"name="api_key""#), "{html}");
    assert!(html.contains("Test client") && html.contains("/static/base.css"), "{html}");

    let wrong = attempt.submit(&app, "not-a-key").await;
    assert_eq!(wrong.status(), StatusCode::OK, "asked again, not redirected");
    assert!(wrong.text().await.unwrap().contains("not valid"));

    let code = attempt.code(&app, "secret-alice").await;
    let (status, tokens) = attempt.exchange(&app, &code, &attempt.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    assert_eq!(tokens["scope"], "tools:list tools:call");
    let access = tokens["access_token"].as_str().unwrap();
    let listed = list_tools(&app, access).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    assert!(listed["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "ping"), "{listed}");
    let claims: Value = serde_json::from_slice(&B64.decode(access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["gateway_key"], "alice");
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["iss"], PUBLIC_URL);

    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = refresh(&app, &first_refresh, &client_id).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh, "a new refresh token");
    assert_eq!(list_tools(&app, rotated["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);
    // The old one is refused, and presenting it revokes the family: the new one stops working too.
    let (status, refused) = refresh(&app, &first_refresh, &client_id).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (status, refused) = refresh(&app, &second_refresh, &client_id).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn a_narrower_request_gets_a_narrower_token() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice()]).await;
    let attempt = Attempt::new(&client_id(&app).await).with("scope", "tools:list");
    let code = attempt.code(&app, "secret-alice").await;
    let (_, tokens) = attempt.exchange(&app, &code, &attempt.verifier).await;
    assert_eq!(tokens["scope"], "tools:list");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ping", "arguments": {}}});
    let access = tokens["access_token"].as_str().unwrap();
    let response = app.mcp(None, &call).header("authorization", format!("Bearer {access}")).send().await.unwrap();
    let answer: Value = response.json().await.unwrap();
    assert!(answer.get("error").is_some() || answer["result"]["isError"] == true, "no call scope: {answer}");
}

#[tokio::test]
async fn wrong_verifier_and_reused_code_are_invalid_grant() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice()]).await;
    let attempt = Attempt::new(&client_id(&app).await);
    let code = attempt.code(&app, "secret-alice").await;
    let other_verifier = format!("{}-{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let (status, refused) = attempt.exchange(&app, &code, &other_verifier).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    let (_, refused) = attempt.exchange(&app, &code, &attempt.verifier).await;
    assert_eq!(refused["error"], "invalid_grant", "a code is used up by any attempt");

    let code = attempt.code(&app, "secret-alice").await;
    assert_eq!(attempt.exchange(&app, &code, &attempt.verifier).await.0, StatusCode::OK);
    let (_, refused) = attempt.exchange(&app, &code, &attempt.verifier).await;
    assert_eq!(refused["error"], "invalid_grant", "single use");

    let code = attempt.code(&app, "secret-alice").await;
    let (_, refused) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("client_id", &attempt.client_id),
            ("code_verifier", &attempt.verifier),
        ],
    )
    .await;
    assert_eq!(refused["error"], "invalid_grant", "redirect_uri must be the code's");
    let code = attempt.code(&app, "secret-alice").await;
    let (_, refused) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "another-client"),
            ("code_verifier", &attempt.verifier),
        ],
    )
    .await;
    assert_eq!(refused["error"], "invalid_client", "the code is bound to its client");
    let (_, refused) = token(&app, &[("grant_type", "password"), ("username", "a")]).await;
    assert_eq!(refused["error"], "unsupported_grant_type");
    let (_, refused) = token(&app, &[("grant_type", "authorization_code")]).await;
    assert_eq!(refused["error"], "invalid_request");
}

#[tokio::test]
async fn bad_requests_before_the_redirect_uri_is_known_are_shown_never_redirected() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice()]).await;
    let client_id = client_id(&app).await;
    for (what, attempt) in [
        ("unregistered redirect", Attempt::new(&client_id).with("redirect_uri", "https://evil.example.com/cb")),
        ("unknown client", Attempt::new("no-such-client")),
        // A client ID metadata document on an address: never fetched.
        ("client metadata on an address", Attempt::new("https://127.0.0.1:9/client.json")),
    ] {
        let page = attempt.page(&app).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{what}");
        assert!(page.headers().get("location").is_none(), "{what}");
        let posted = attempt.submit(&app, "secret-alice").await;
        assert!(posted.headers().get("location").is_none(), "{what}: no code for a bad request");
    }
    // After it, errors go back to the client, with state and iss.
    for (what, attempt, error) in [
        ("plain PKCE", Attempt::new(&client_id).with("code_challenge_method", "plain"), "invalid_request"),
        ("no PKCE", Attempt::new(&client_id).with("code_challenge", ""), "invalid_request"),
        (
            "another resource",
            Attempt::new(&client_id).with("resource", "https://other.example.com/mcp"),
            "invalid_target",
        ),
        ("implicit", Attempt::new(&client_id).with("response_type", "token"), "unsupported_response_type"),
    ] {
        let page = attempt.page(&app).await;
        assert_eq!(page.status(), StatusCode::FOUND, "{what}");
        let query = query_of(page.headers()["location"].to_str().unwrap());
        assert_eq!(query["error"], error, "{what}");
        assert_eq!(query["iss"], PUBLIC_URL, "{what}");
        assert_eq!(query["state"], "st-123", "{what}");
        assert!(!query.contains_key("code"), "{what}");
    }
}

#[tokio::test]
async fn registration_refuses_redirect_uris_that_are_not_https_or_loopback() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice()]).await;
    for uri in ["http://app.example.com/cb", "https://app.example.com/cb#x", "myapp:/cb"] {
        let response = register(&app, uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri", "{uri}");
    }
    assert_eq!(register(&app, "http://127.0.0.1:4567/cb").await.status(), StatusCode::CREATED);
    let no_uris = app.post("/oauth/register").json(&json!({"client_name": "x"})).send().await.unwrap();
    assert_eq!(no_uris.status(), StatusCode::BAD_REQUEST);
    let secret_client = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"});
    let response = app.post("/oauth/register").json(&secret_client).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice()]).await;
    // Signed with the server's own key, so only the audience is wrong.
    let pkcs8 = std::fs::read(data.path().join("oauth_signing.key")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_der(&pkcs8);
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |aud: &str| {
        json!({"iss": PUBLIC_URL, "aud": aud, "sub": "alice", "gateway_key": "alice", "scope": "tools:list",
               "iat": now, "exp": now + 600})
    };
    let sign = |claims: &Value| {
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), claims, &key).unwrap()
    };
    assert_eq!(list_tools(&app, &sign(&claims(RESOURCE))).await.status(), StatusCode::OK, "the control");
    let response = list_tools(&app, &sign(&claims("https://other.example.com/mcp"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let mut expired = claims(RESOURCE);
    expired["exp"] = json!(now - 600);
    assert_eq!(list_tools(&app, &sign(&expired)).await.status(), StatusCode::UNAUTHORIZED);
    let mut unknown_key = claims(RESOURCE);
    unknown_key["gateway_key"] = json!("mallory");
    assert_eq!(list_tools(&app, &sign(&unknown_key)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn removing_the_key_revokes_its_tokens_and_refresh_tokens() {
    let data = tempfile::tempdir().unwrap();
    let app = app_in(data.path(), vec![alice(), api_key("ops", &["admin"], &[], &[])]).await;
    let attempt = Attempt::new(&client_id(&app).await);
    let code = attempt.code(&app, "secret-alice").await;
    let (_, tokens) = attempt.exchange(&app, &code, &attempt.verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(list_tools(&app, access).await.status(), StatusCode::OK);

    // The same data folder (signing key, database), restarted without alice's key.
    let after = app_in(data.path(), vec![api_key("ops", &["admin"], &[], &[])]).await;
    let response = list_tools(&after, access).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("no longer configured"), "{body}");
    let (status, refused) = refresh(&after, tokens["refresh_token"].as_str().unwrap(), &attempt.client_id).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
}

#[tokio::test]
async fn signing_in_and_registering_meet_the_rate_limit() {
    let data = tempfile::tempdir().unwrap();
    let keys = vec![alice()];
    let dir = data.path().to_path_buf();
    let app = TestApp::spawn_with(&core_specs(), move |c| {
        c.data_dir = dir;
        c.media.public_base_url = PUBLIC_URL.into();
        c.security.keys = keys;
        c.security.rate_limit = Some(mcp_gateway::config::Rate {
            count: std::num::NonZeroU32::new(3).unwrap(),
            period: std::time::Duration::from_secs(60),
        });
        c.oauth = Some(OAuthSettings {
            issuers: Vec::new(),
            builtin_issuer: Some(PUBLIC_URL.into()),
            resource: RESOURCE.into(),
            audience: RESOURCE.into(),
            scope_claim: "scope".into(),
            caller_claim: "sub".into(),
            jwks_refresh_interval: std::time::Duration::from_secs(30),
        });
    })
    .await;
    for _ in 0..3 {
        assert_eq!(register(&app, REDIRECT).await.status(), StatusCode::CREATED);
    }
    let refused = register(&app, REDIRECT).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("retry-after").is_some());
    let guess = app
        .post("/oauth/authorize")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("api_key", "guess")]))
        .send()
        .await
        .unwrap();
    assert_eq!(guess.status(), StatusCode::TOO_MANY_REQUESTS, "key guesses on the consent page are limited too");
}
