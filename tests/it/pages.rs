//! The web pages over the real app: `/workers/ui`, `/control` and `/static/{file}` (content types, ETags and
//! 304, the security headers, 404 for anything not embedded, no key needed and no secret inside), and
//! `GET /admin/config` (admin scope, every secret masked). What the pages do in a browser is tested by
//! `tests/browser/pages.mjs` in headless Chromium.

use crate::common;

use std::collections::BTreeSet;

use common::{TestApp, assert_content_type, core_specs, header};
use mcp_gateway::auth::{ApiKey, NamePattern, Scope, digest};
use mcp_gateway::config::{Config, SupabaseSettings};
use reqwest::StatusCode;
use serde_json::Value;

const PAGES: [&str; 2] = ["/workers/ui", "/control"];

fn key(id: &str, secret: &str, scopes: &[&str]) -> ApiKey {
    ApiKey::new(
        id.into(),
        digest(secret),
        scopes.iter().map(|s| Scope::parse(s).expect("a known scope")).collect(),
        vec![NamePattern::new("*")],
        vec![NamePattern::new("secret_*")],
    )
}

/// A gateway with keys and provider secrets configured, and the secret strings to look for.
async fn gateway_with_secrets() -> (TestApp, Vec<&'static str>) {
    let secrets = vec![
        "admin-key-7f3a9c",
        "reader-key-51be02",
        "sb-service-role-9d8e7f6a",
        "sb-url-password-44c1",
        "sk-long-lived-realtime-0b9c",
        "worker-shared-secret-31aa",
        "xi-elevenlabs-key-77d2",
        "hf-key-id-5c01",
        "hf-key-secret-9e42",
        "sk-llm-key-a1b2",
        "sbp-personal-token-c3d4",
    ];
    let app = TestApp::spawn_with(&core_specs(), |config: &mut Config| {
        config.security.keys =
            vec![key("ops", "admin-key-7f3a9c", &["admin"]), key("reader", "reader-key-51be02", &["tools:list"])];
        config.supabase = SupabaseSettings {
            url: Some("https://svc:sb-url-password-44c1@project.supabase.co".into()),
            api_key: Some("sb-service-role-9d8e7f6a".into()),
        };
        config.realtime.api_key = Some("sk-long-lived-realtime-0b9c".into());
        config.flowchat_workers.database = Some("http://db-worker:8001".into());
        config.flowchat_workers.auth_key = Some("worker-shared-secret-31aa".into());
        config.elevenlabs.api_key = Some("xi-elevenlabs-key-77d2".into());
        config.higgsfield.key_id = Some("hf-key-id-5c01".into());
        config.higgsfield.key_secret = Some("hf-key-secret-9e42".into());
        config.llm.base_url = Some("http://localhost:11434/v1".into());
        config.llm.api_key = Some("sk-llm-key-a1b2".into());
        config.supabase_mcp.pat = Some("sbp-personal-token-c3d4".into());
    })
    .await;
    (app, secrets)
}

async fn text_of(app: &TestApp, path: &str) -> String {
    let response = app.get(path).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.expect("a text body")
}

/// Every `/static/...` file a page or module names: links and scripts in HTML, `./x.js` imports in modules.
fn referenced_files(text: &str) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for (marker, prefix) in [("\"/static/", "/static/"), ("from './", "/static/")] {
        for piece in text.split(marker).skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
            if !name.is_empty() {
                files.insert(format!("{prefix}{name}"));
            }
        }
    }
    files
}

#[tokio::test]
async fn pages_are_html_with_a_strict_policy_an_etag_and_a_phone_viewport() {
    let app = TestApp::spawn().await;
    for page in PAGES {
        let response = app.get(page).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert_content_type(&response, "text/html");
        let csp = header(&response, "content-security-policy").expect("a CSP on pages");
        for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{page}: {directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert!(header(&response, "permissions-policy").is_some_and(|p| p.contains("microphone=(self)")));
        assert_eq!(header(&response, "x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header(&response, "cache-control").as_deref(), Some("no-cache"));
        assert!(header(&response, "etag").is_some_and(|e| e.starts_with('"') && e.len() > 10));
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#), "{page}");
        assert!(!html.contains("<script>") && !html.contains("style="), "{page} has inline code the CSP would block");
    }
}

#[tokio::test]
async fn the_page_policy_lets_the_pages_reach_the_configured_realtime_origin_only() {
    let app = TestApp::spawn_with(&core_specs(), |config: &mut Config| {
        config.realtime.base_url = "http://127.0.0.1:4555".into();
    })
    .await;
    let response = app.get("/workers/ui").send().await.unwrap();
    let csp = header(&response, "content-security-policy").unwrap();
    assert!(csp.contains("connect-src 'self' http://127.0.0.1:4555;"), "{csp}");
    assert!(!csp.contains("api.openai.com"), "{csp}");
    let default = TestApp::spawn().await;
    let csp = header(&default.get("/control").send().await.unwrap(), "content-security-policy").unwrap();
    assert!(csp.contains("connect-src 'self' https://api.openai.com;"), "{csp}");
}

#[tokio::test]
async fn every_file_the_pages_name_is_served_with_its_content_type() {
    let app = TestApp::spawn().await;
    let mut pending: Vec<String> = Vec::new();
    for page in PAGES {
        pending.extend(referenced_files(&text_of(&app, page).await));
    }
    let mut seen = BTreeSet::new();
    while let Some(path) = pending.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = app.get(&path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} is named but not served");
        let expected = match path.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected file type {other:?} for {path}"),
        };
        assert_content_type(&response, expected);
        assert!(header(&response, "content-security-policy").is_none(), "only documents carry the page policy");
        let text = response.text().await.unwrap();
        if path.ends_with(".js") {
            pending.extend(referenced_files(&text));
        }
    }
    assert!(seen.contains("/static/workers-session.js") && seen.contains("/static/control-form.js"), "{seen:?}");
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_without_a_body() {
    let app = TestApp::spawn().await;
    for path in ["/control", "/static/api.js"] {
        let first = app.get(path).send().await.unwrap();
        let etag = header(&first, "etag").expect("an ETag");
        let again = app.get(path).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header(&again, "etag").as_deref(), Some(etag.as_str()));
        assert!(again.bytes().await.unwrap().is_empty());
        let stale = app.get(path).header("if-none-match", "\"stale\"").send().await.unwrap();
        assert_eq!(stale.status(), StatusCode::OK, "{path}: another ETag gets the file");
    }
}

#[tokio::test]
async fn unknown_static_files_and_traversal_attempts_are_typed_404s() {
    let app = TestApp::spawn().await;
    for path in [
        "/static/missing.js",
        "/static/..%2FCargo.toml",
        "/static/..%2F..%2Fsrc%2Fmain.rs",
        "/static/%2e%2e%2fCargo.toml",
        "/static/..%5CCargo.toml",
        "/static/api.js%00.txt",
        "/static/templates/control.html",
        "/static/",
        "/workers/ui/extra",
    ] {
        let response = app.get(path).header("x-request-id", "req-static-404").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
        assert_eq!(body["error"]["request_id"], "req-static-404", "{path}: {body}");
        assert!(!body.to_string().contains("[package]"), "{path} leaked a file: {body}");
    }
}

#[tokio::test]
async fn pages_load_without_a_key_and_hold_no_secret_while_the_api_still_needs_one() {
    let (app, secrets) = gateway_with_secrets().await;
    let mut everything = String::new();
    for page in PAGES {
        let html = text_of(&app, page).await;
        for file in referenced_files(&html) {
            everything.push_str(&text_of(&app, &file).await);
        }
        everything.push_str(&html);
    }
    for secret in &secrets {
        assert!(!everything.contains(secret), "a page or file holds the secret {secret}");
    }
    for (path, expected) in [("/tools", StatusCode::UNAUTHORIZED), ("/admin/config", StatusCode::UNAUTHORIZED)] {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.status(), expected, "{path} without a key");
        assert!(header(&response, "www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
    }
}

#[tokio::test]
async fn admin_config_needs_the_admin_scope() {
    let (app, _) = gateway_with_secrets().await;
    let refused = app.get("/admin/config").header("authorization", "Bearer reader-key-51be02").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert_eq!(body["error"]["details"]["required_scope"], "admin", "{body}");
    let wrong = app.get("/admin/config").header("authorization", "Bearer not-a-key").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let allowed = app.get("/admin/config").header("authorization", "Bearer admin-key-7f3a9c").send().await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[tokio::test]
async fn admin_config_shows_the_effective_settings_with_every_secret_masked() {
    let (app, secrets) = gateway_with_secrets().await;
    let response = app.get("/admin/config").header("authorization", "Bearer admin-key-7f3a9c").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_content_type(&response, "application/json");
    let headers = format!("{:?}", response.headers());
    let text = response.text().await.unwrap();
    for secret in &secrets {
        assert!(!text.contains(secret) && !headers.contains(secret), "{secret} leaked: {text}");
    }
    for digest_hex in secrets.iter().map(|s| hex_of(&digest(s))) {
        assert!(!text.contains(&digest_hex[..16]), "a key digest leaked: {text}");
    }
    let view: Value = serde_json::from_str(&text).unwrap();
    let keys = view["security"]["keys"].as_array().expect("the keys, listed");
    assert_eq!(keys.len(), 2, "{view}");
    assert_eq!(keys[0]["id"], "ops");
    assert_eq!(keys[0]["secret"], "set");
    assert_eq!(keys[0]["scopes"], serde_json::json!(["admin"]));
    assert_eq!(keys[1]["deny"], serde_json::json!(["secret_*"]));
    assert_eq!(view["providers"]["supabase"]["api_key"], "set");
    assert_eq!(view["providers"]["supabase"]["url"], "https://project.supabase.co", "userinfo is dropped");
    assert_eq!(view["providers"]["realtime"]["api_key"], "set", "{view}");
    assert_eq!(view["providers"]["realtime"]["base_url"], "https://api.openai.com", "{view}");
    let providers = &view["providers"];
    assert_eq!(providers["flowchat_workers"]["database"], "http://db-worker:8001", "{view}");
    for (provider, field) in [
        ("flowchat_workers", "auth_key"),
        ("elevenlabs", "api_key"),
        ("higgsfield", "key_id"),
        ("higgsfield", "key_secret"),
        ("llm", "api_key"),
        ("supabase_mcp", "pat"),
    ] {
        assert_eq!(providers[provider][field], "set", "{provider}.{field}: {view}");
    }
    assert_eq!(providers["llm"]["base_url"], "http://localhost:11434/v1");
    assert_eq!(view["server"]["environment"], "test");
    assert_eq!(view["security"]["rate_limit"], "off");
    assert!(view["limits"]["max_body_bytes"].as_u64().is_some_and(|n| n > 0), "{view}");
}

#[tokio::test]
async fn admin_config_says_unset_for_missing_provider_secrets() {
    let app = TestApp::spawn().await;
    let view: Value = app.get("/admin/config").send().await.unwrap().json().await.unwrap();
    assert_eq!(view["providers"]["supabase"]["api_key"], "unset", "{view}");
    assert_eq!(view["providers"]["supabase"]["url"], Value::Null, "{view}");
    assert_eq!(view["providers"]["realtime"]["api_key"], "unset", "{view}");
    assert_eq!(view["security"]["keys"], serde_json::json!([]), "{view}");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
