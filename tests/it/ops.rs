//! Operations surface: request ids, `/health`, `/ready` and `/metrics`.

use crate::common;

use common::{TestApp, header};
use mcp_gateway::auth::{ApiKey, Scope, digest};
use reqwest::StatusCode;
use serde_json::{Value, json};

const REQUEST_ID: &str = "x-request-id";

fn assert_fresh_uuid_v7(id: &str) {
    assert_eq!(id.len(), 36, "{id}");
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("`{id}` is not a UUID: {e}"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

#[tokio::test]
async fn a_valid_request_id_is_echoed() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").header(REQUEST_ID, "client-req_123.abc").send().await.unwrap();
    assert_eq!(header(&response, REQUEST_ID).as_deref(), Some("client-req_123.abc"));
}

#[tokio::test]
async fn a_missing_request_id_gets_a_fresh_uuid_v7() {
    let app = TestApp::spawn().await;
    let first = header(&app.get("/health").send().await.unwrap(), REQUEST_ID).unwrap();
    let second = header(&app.get("/health").send().await.unwrap(), REQUEST_ID).unwrap();
    assert_fresh_uuid_v7(&first);
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_request_id_with_spaces_is_replaced_by_a_uuid_v7() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").header(REQUEST_ID, "has spaces in it").send().await.unwrap();
    let id = header(&response, REQUEST_ID).unwrap();
    assert_ne!(id, "has spaces in it");
    assert_fresh_uuid_v7(&id);
}

#[tokio::test]
async fn a_200_character_request_id_is_replaced_by_a_uuid_v7() {
    let app = TestApp::spawn().await;
    let long = "r".repeat(200);
    let response = app.get("/health").header(REQUEST_ID, &long).send().await.unwrap();
    assert_fresh_uuid_v7(&header(&response, REQUEST_ID).unwrap());
}

#[tokio::test]
async fn the_request_id_appears_in_rest_error_bodies() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/mcp/tools/call")
        .header(REQUEST_ID, "trace-me-7")
        .json(&json!({"tool_name": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, REQUEST_ID).as_deref(), Some("trace-me-7"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], "trace-me-7");
}

#[tokio::test]
async fn the_request_id_appears_in_tool_error_results() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "list_tools", "arguments": {"category": 1}}});
    let response = app.mcp(None, &body).header(REQUEST_ID, "trace-me-8").send().await.unwrap();
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["result"]["_meta"]["mcp-gateway/error"]["request_id"], "trace-me-8", "{message}");
}

#[tokio::test]
async fn health_reports_status_environment_version_and_features() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["environment"], "test");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let features = body["features"].as_array().unwrap();
    assert!(features.contains(&json!("mcp_streamable_http")), "{body}");
    assert!(features.contains(&json!("mcp_legacy_sse")), "{body}");
    assert!(!features.contains(&json!("hot_reload")), "reload is off in tests by default: {body}");
}

#[tokio::test]
async fn ready_counts_what_the_registry_serves() {
    let app = TestApp::fixtures().await;
    let response = app.get("/ready").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let registry = app.state.engine.registry().snapshot();
    assert_eq!(body["tools"], registry.tools().len());
    assert_eq!(body["prompts"], registry.prompts().len());
    assert_eq!(body["prompts"], 5, "the fixture profile has five prompts");
    assert_eq!(body["reload_problems"], json!([]));
}

#[tokio::test]
async fn metrics_count_http_requests_by_route_and_tool_calls_by_outcome() {
    let app = TestApp::spawn().await;
    let result = app.call_tool(None, "ping", json!({})).await;
    assert_eq!(result["isError"], false);
    app.get("/mcp/tools/nope/schema").send().await.unwrap();

    let response = app.get("/metrics").send().await.unwrap();
    assert!(header(&response, "content-type").unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"gateway_http_requests_total{route="/mcp",method="POST",status="200"} 1"#), "{text}");
    assert!(
        text.contains(r#"gateway_http_requests_total{route="/mcp/tools/{name}/schema",method="GET",status="404"} 1"#),
        "routes are templates, not raw paths: {text}"
    );
    assert!(text.contains(r#"gateway_tool_calls_total{tool="ping",outcome="ok"} 1"#), "{text}");
    assert!(text.contains("gateway_tool_call_duration_seconds_bucket"), "{text}");
}

#[tokio::test]
async fn metrics_count_calls_per_caller_and_category_by_key_id() {
    let key = |id: &str, scopes: &[&str]| {
        let scopes = scopes.iter().map(|s| Scope::parse(s).unwrap()).collect();
        ApiKey::new(id.into(), digest(&format!("secret-{id}")), scopes, vec![], vec![])
    };
    let app = TestApp::spawn_with(&common::core_specs(), |config| {
        config.security.keys = vec![key("agent-a", &["tools:call"]), key("ops", &["metrics"])];
    })
    .await;
    let call = |name: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}});
    for name in ["ping", "ping", "made_up_2"] {
        let response =
            app.mcp(None, &call(name)).header("authorization", "Bearer secret-agent-a").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app.get("/metrics").header("authorization", "Bearer secret-ops").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"gateway_caller_calls_total{caller="agent-a",category="system",outcome="ok"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"gateway_caller_calls_total{caller="agent-a",category="(none)",outcome="unknown_tool"} 1"#),
        "{text}"
    );
    assert!(!text.contains("secret-"), "{text}");
}

#[tokio::test]
async fn metrics_label_unknown_tools_without_their_name() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "made_up_1"}});
    app.mcp(None, &body).send().await.unwrap();
    let text = app.metrics().await;
    assert!(text.contains(r#"gateway_tool_calls_total{tool="(unknown)",outcome="unknown_tool"} 1"#), "{text}");
    assert!(!text.contains("made_up_1"), "{text}");
}

#[tokio::test]
async fn ready_is_503_when_the_data_dir_cannot_be_written() {
    // The stores open at start (an unusable data dir fails start-up); here it breaks while the gateway runs:
    // the folder is replaced by a file.
    let parent = tempfile::tempdir().expect("a temp dir");
    let path = parent.path().join("data");
    std::fs::create_dir(&path).expect("create the data dir");
    let data_dir = path.clone();
    let app = TestApp::spawn_with(&common::core_specs(), move |config| {
        config.audit.enabled = false;
        config.data_dir = data_dir;
    })
    .await;
    std::fs::remove_dir_all(&path).expect("remove the data dir");
    std::fs::write(&path, b"not a folder").expect("put a file in its place");
    let response = app.get("/ready").send().await.expect("GET /ready");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["data_dir"]["writable"], false);
    assert!(body["data_dir"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
}

#[tokio::test]
async fn ready_names_the_settings_tools_need_and_the_tools_that_lack_them() {
    let specs = tempfile::tempdir().expect("a temp dir");
    let spec = json!({
        "name": "inventory", "description": "Needs a base URL",
        "binding": {"kind": "http", "url": "{{env.GATEWAY_TEST_INVENTORY_URL_UNSET}}/items",
                    "headers": {"X-Opt": "{{env.GATEWAY_TEST_OPTIONAL ?? \"none\"}}"}}
    });
    common::write_spec(specs.path(), "inventory.json", &spec.to_string());
    let app = TestApp::spawn_with(specs.path(), |c| {
        c.template_env = mcp_gateway::config::TemplateEnv::new(&["GATEWAY_TEST_*"]);
    })
    .await;
    let body: Value = app.get("/ready").send().await.expect("GET /ready").json().await.expect("a JSON body");
    assert_eq!(body["status"], "ready", "a missing setting does not make the gateway unready: {body}");
    assert_eq!(body["settings"], json!({"GATEWAY_TEST_INVENTORY_URL_UNSET": false}));
    assert_eq!(body["unconfigured_tools"], json!(["inventory"]));
}
