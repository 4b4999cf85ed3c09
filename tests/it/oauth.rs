//! The MCP endpoint as an OAuth resource server with an outside issuer: protected resource metadata, the
//! 401/403 challenges, tokens verified against the issuer's JWKS (served here, with a key that rotates), and
//! every way a token can be wrong.

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::common::{TestApp, api_key, bearer, eventually, header};
use mcp_gateway::config::OAuthSettings;

const PUBLIC_URL: &str = "https://mcp.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";

/// A signing key of the fake issuer, with its id.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

fn new_key(kid: &str) -> SigningKey {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.into());
    SigningKey { kid: kid.into(), encoding, jwk }
}

/// An OpenID issuer on loopback whose published keys the test changes.
struct Issuer {
    url: String,
    published: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<Mutex<usize>>,
}

async fn issuer() -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let published: Arc<Mutex<Vec<Jwk>>> = Arc::default();
    let fetches: Arc<Mutex<usize>> = Arc::default();
    let (keys, count, issuer_url) = (published.clone(), fetches.clone(), url.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || {
                let url = issuer_url.clone();
                async move { axum::Json(json!({"issuer": url, "jwks_uri": format!("{url}/jwks")})) }
            }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || {
                *count.lock().unwrap() += 1;
                let set = JwkSet { keys: keys.lock().unwrap().clone() };
                async move { axum::Json(set) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer { url, published, fetches }
}

impl Issuer {
    fn publish(&self, key: &SigningKey) {
        self.published.lock().unwrap().push(key.jwk.clone());
    }

    fn claims(&self, scope: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({"iss": self.url, "sub": "alice", "aud": RESOURCE, "exp": now + 600, "iat": now, "scope": scope})
    }
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

async fn app_for(issuer: &Issuer) -> TestApp {
    app_refreshing_every(issuer, std::time::Duration::from_secs(30)).await
}

async fn app_refreshing_every(issuer: &Issuer, jwks_refresh_interval: std::time::Duration) -> TestApp {
    let issuer_url = issuer.url.clone();
    TestApp::spawn_with(&crate::common::core_specs(), move |c| {
        c.media.public_base_url = PUBLIC_URL.into();
        c.security.keys = vec![api_key("ops", &["tools:list", "tools:call", "admin"], &[], &[])];
        c.oauth = Some(OAuthSettings {
            issuers: vec![issuer_url],
            builtin_issuer: None,
            resource: RESOURCE.into(),
            audience: RESOURCE.into(),
            scope_claim: "scope".into(),
            caller_claim: "sub".into(),
            jwks_refresh_interval,
        });
    })
    .await
}

async fn list_tools(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let request = app.mcp(None, &body);
    let request = match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_resource_metadata_names_the_mcp_url_and_its_issuer() {
    let issuer = issuer().await;
    let app = app_for(&issuer).await;
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let metadata: Value = app.get(path).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["resource"], RESOURCE, "{path}");
        assert_eq!(metadata["authorization_servers"], json!([issuer.url]));
        assert_eq!(metadata["scopes_supported"], json!(["tools:list", "tools:call"]));
    }
    let response = list_tools(&app, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(
        challenge.contains(r#"resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="tools:list tools:call""#), "{challenge}");
}

#[tokio::test]
async fn a_valid_token_calls_as_its_subject_and_api_keys_keep_working() {
    let issuer = issuer().await;
    let key = new_key("k1");
    issuer.publish(&key);
    let app = app_for(&issuer).await;
    let token = sign(&key, &issuer.claims("tools:list tools:call"));
    let response = list_tools(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Value = response.json().await.unwrap();
    assert!(listed["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "ping"), "{listed}");
    let called = app
        .post("/mcp/tools/call")
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"tool_name": "ping", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(called.status(), StatusCode::OK);
    let audited = || async {
        let response = app.get("/admin/audit?tool=ping").header("authorization", bearer("ops"));
        let body: Value = response.send().await.unwrap().json().await.unwrap();
        body["entries"].as_array().cloned().unwrap_or_default()
    };
    eventually("the token's call is audited", || async { !audited().await.is_empty() }).await;
    assert_eq!(audited().await[0]["key_id"], "oauth:127.0.0.1:alice", "the caller is named by its token's subject");
    assert_eq!(list_tools(&app, Some(&bearer("ops"))).await.status(), StatusCode::OK, "API keys still work");
    // A token is only read from the Authorization header.
    let in_query =
        app.post(&format!("/mcp?key={token}")).json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert_eq!(in_query.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_without_the_scope_gets_403_insufficient_scope() {
    let issuer = issuer().await;
    let key = new_key("k1");
    issuer.publish(&key);
    let app = app_for(&issuer).await;
    let token = sign(&key, &issuer.claims("tools:list"));
    let response = app
        .post("/mcp/tools/call")
        .header("authorization", format!("Bearer {token}"))
        .json(&json!({"tool_name": "ping", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = header(&response, "www-authenticate").unwrap();
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
}

#[tokio::test]
async fn wrong_expired_forged_and_unsigned_tokens_are_refused() {
    let issuer = issuer().await;
    let key = new_key("k1");
    issuer.publish(&key);
    let stranger = new_key("k1");
    let app = app_for(&issuer).await;
    let good = issuer.claims("tools:list tools:call");
    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let now = jsonwebtoken::get_current_timestamp();
    let unsigned =
        format!("{}.{}.", B64.encode(br#"{"alg":"none","typ":"JWT"}"#), B64.encode(serde_json::to_vec(&good).unwrap()));
    // HS256 with the issuer's public key as the secret: the classic algorithm confusion.
    let public_jwk = serde_json::to_vec(&key.jwk).unwrap();
    let confused = jsonwebtoken::encode(
        &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
        &good,
        &EncodingKey::from_secret(&public_jwk).unwrap(),
    )
    .unwrap();
    let mut tampered = sign(&key, &good);
    tampered.push('A');
    let cases = [
        ("another resource", sign(&key, &with("aud", json!("https://other.example.com/mcp")))),
        ("expired", sign(&key, &with("exp", json!(now - 3600)))),
        ("not yet valid", sign(&key, &with("nbf", json!(now + 3600)))),
        ("an unknown issuer", sign(&key, &with("iss", json!("https://evil.example.com")))),
        ("a key the issuer never published", sign(&stranger, &good)),
        ("alg none", unsigned),
        ("HS256 with the public key", confused),
        ("a tampered signature", tampered),
    ];
    for (what, token) in cases {
        let response = list_tools(&app, Some(&format!("Bearer {token}"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        assert!(challenge.contains(r#"error="invalid_token""#), "{what}: {challenge}");
        let body: Value = response.json().await.unwrap();
        assert!(!body.to_string().contains(&token), "{what}: the token is never echoed");
    }
}

#[tokio::test]
async fn forged_key_ids_cost_one_fetch_of_the_issuers_keys() {
    let issuer = issuer().await;
    let first = new_key("k1");
    issuer.publish(&first);
    let app = app_for(&issuer).await;
    let claims = issuer.claims("tools:list");
    assert_eq!(list_tools(&app, Some(&format!("Bearer {}", sign(&first, &claims)))).await.status(), StatusCode::OK);
    let fetched = *issuer.fetches.lock().unwrap();
    // Ids the issuer never published: at most one more fetch, however many arrive.
    for i in 0..5 {
        let forged = sign(&new_key(&format!("forged-{i}")), &claims);
        assert_eq!(list_tools(&app, Some(&format!("Bearer {forged}"))).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(*issuer.fetches.lock().unwrap() <= fetched + 1, "forged key ids do not hammer the issuer");
}

#[tokio::test]
async fn a_token_signed_with_a_rotated_key_fetches_the_issuers_new_keys() {
    let issuer = issuer().await;
    let first = new_key("k1");
    issuer.publish(&first);
    let app = app_refreshing_every(&issuer, std::time::Duration::ZERO).await;
    let claims = issuer.claims("tools:list");
    assert_eq!(list_tools(&app, Some(&format!("Bearer {}", sign(&first, &claims)))).await.status(), StatusCode::OK);
    let second = new_key("k2");
    issuer.publish(&second);
    assert_eq!(list_tools(&app, Some(&format!("Bearer {}", sign(&second, &claims)))).await.status(), StatusCode::OK);
    assert_eq!(*issuer.fetches.lock().unwrap(), 2, "one fetch at first use, one for the new key id");
}
