//! The `http` binding against an in-process fake upstream: templating, request-id forwarding, the retry
//! policy (reads retried, writes never sent twice), `Retry-After`, deadlines against a slow upstream, refused
//! connections, malformed answers and missing settings.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{TestApp, write_spec};
use mcp_gateway::config::TemplateEnv;
use serde_json::{Value, json};

/// A fake upstream that counts requests per route and records the last request id it saw.
#[derive(Clone, Default)]
struct Fake {
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    last_request_id: Arc<std::sync::Mutex<Option<String>>>,
    flaky: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Fake {
    fn hit(&self, route: &str) -> usize {
        let mut hits = self.hits.lock().unwrap();
        let n = hits.entry(route.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn hits(&self, route: &str) -> usize {
        self.hits.lock().unwrap().get(route).copied().unwrap_or(0)
    }

    async fn serve(self) -> String {
        let app = Router::new()
            .route("/items/{id}", get(item))
            .route("/flaky", get(flaky_read).post(flaky_write))
            .route("/busy", get(busy))
            .route("/slow", get(slow))
            .route("/garbage", get(|| async { "<html>not json</html>" }))
            .route("/gauge", get(gauge))
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }
}

async fn item(
    State(fake): State<Fake>,
    Path(id): Path<u32>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.hit("item");
    *fake.last_request_id.lock().unwrap() =
        headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    axum::Json(json!({"data": {"id": id, "limit": q.get("limit"), "tenant": headers.get("x-tenant").and_then(|v| v.to_str().ok())}})).into_response()
}

async fn flaky_read(State(fake): State<Fake>) -> Response {
    if fake.hit("flaky_read") == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, "warming up").into_response();
    }
    axum::Json(json!({"ok": true})).into_response()
}

async fn flaky_write(State(fake): State<Fake>) -> Response {
    fake.hit("flaky_write");
    fake.flaky.fetch_add(1, Ordering::Relaxed);
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"message": "try later"}))).into_response()
}

async fn busy(State(fake): State<Fake>) -> Response {
    if fake.hit("busy") == 1 {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], axum::Json(json!({"detail": "slow down"})))
            .into_response();
    }
    axum::Json(json!({"ok": "after waiting"})).into_response()
}

async fn slow(State(fake): State<Fake>) -> Response {
    fake.hit("slow");
    tokio::time::sleep(Duration::from_secs(30)).await;
    axum::Json(json!({"late": true})).into_response()
}

/// Holds each request a moment and records how many were in flight at once.
async fn gauge(State(fake): State<Fake>) -> Response {
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.most_in_flight.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.in_flight.fetch_sub(1, Ordering::SeqCst);
    axum::Json(json!({"ok": true})).into_response()
}

async fn setup(upstream: &str, extra: &[(&str, Value)]) -> (TestApp, tempfile::TempDir) {
    let specs = tempfile::tempdir().unwrap();
    let mut tools = vec![
        (
            "get_item",
            json!({
                "name": "get_item", "description": "Fetch an item", "category": "read",
                "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}, "limit": {"type": "integer"}, "tenant": {"type": "string"}}, "required": ["id"]},
                "binding": {"kind": "http", "method": "GET", "url": format!("{upstream}/items/{{{{args.id}}}}"),
                            "headers": {"X-Tenant": "{{args.tenant}}"}, "query": {"limit": "{{args.limit ?? 10}}"}, "result": "/data"}
            }),
        ),
        (
            "flaky_read",
            json!({"name": "flaky_read", "description": "Read that fails once", "category": "read",
            "binding": {"kind": "http", "url": format!("{upstream}/flaky")}}),
        ),
        (
            "flaky_write",
            json!({"name": "flaky_write", "description": "Write to a failing upstream", "category": "write",
            "binding": {"kind": "http", "method": "POST", "url": format!("{upstream}/flaky"), "body": {"x": 1}}}),
        ),
        (
            "busy",
            json!({"name": "busy", "description": "Rate limited once", "binding": {"kind": "http", "url": format!("{upstream}/busy")}}),
        ),
        (
            "slow",
            json!({"name": "slow", "description": "Never answers in time", "timeout_secs": 0.5,
            "binding": {"kind": "http", "url": format!("{upstream}/slow")}}),
        ),
        (
            "garbage",
            json!({"name": "garbage", "description": "Answers HTML", "binding": {"kind": "http", "url": format!("{upstream}/garbage"), "result": "/data"}}),
        ),
        (
            "garbage_as_text",
            json!({"name": "garbage_as_text", "description": "Reads a text answer", "binding": {"kind": "http", "url": format!("{upstream}/garbage"), "response": "text"}}),
        ),
        (
            "refused",
            json!({"name": "refused", "description": "Nothing listens", "binding": {"kind": "http", "url": "http://127.0.0.1:9/x"}}),
        ),
        (
            "needs_setting",
            json!({"name": "needs_setting", "description": "Needs a base URL",
            "binding": {"kind": "http", "url": "{{env.GATEWAY_TEST_UNSET_BASE_URL}}/x"}}),
        ),
    ];
    tools.extend(extra.iter().map(|(n, v)| (*n, v.clone())));
    for (name, spec) in tools {
        write_spec(specs.path(), &format!("{name}.json"), &spec.to_string());
    }
    let app = TestApp::spawn_with(specs.path(), |c| c.template_env = TemplateEnv::new(&["GATEWAY_TEST_*"])).await;
    (app, specs)
}

fn error_code(result: &Value) -> &str {
    result["_meta"]["mcp-gateway/error"]["code"].as_str().unwrap_or("(none)")
}

#[tokio::test]
async fn templated_get_keeps_types_forwards_the_request_id_and_selects_the_result() {
    let fake = Fake::default();
    let upstream = fake.clone().serve().await;
    let (app, _specs) = setup(&upstream, &[]).await;
    let response = app
        .post("/mcp/tools/call")
        .header("x-request-id", "trace-me-42")
        .json(&json!({"tool_name": "get_item", "params": {"id": 7, "tenant": "acme"}}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"], json!({"id": 7, "limit": "10", "tenant": "acme"}), "{body}");
    assert_eq!(fake.last_request_id.lock().unwrap().as_deref(), Some("trace-me-42"));
}

#[tokio::test(start_paused = true)]
async fn a_read_is_retried_after_a_503_and_succeeds() {
    let fake = Fake::default();
    let (app, _specs) = setup(&fake.clone().serve().await, &[]).await;
    let result = app.call_tool(None, "flaky_read", json!({})).await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(fake.hits("flaky_read"), 2);
    assert!(app.metrics().await.contains(r#"gateway_upstream_retries_total{provider="http"} 1"#));
}

#[tokio::test]
async fn a_write_is_never_sent_twice() {
    let fake = Fake::default();
    let (app, _specs) = setup(&fake.clone().serve().await, &[]).await;
    let result = app.call_tool(None, "flaky_write", json!({})).await;
    assert_eq!(result["isError"], true);
    assert_eq!(error_code(&result), "upstream_unavailable");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["details"]["upstream_status"], 503);
    assert!(result["content"][0]["text"].as_str().unwrap().contains("try later"));
    assert_eq!(fake.hits("flaky_write"), 1, "the write reached the upstream exactly once");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let fake = Fake::default();
    let (app, _specs) = setup(&fake.clone().serve().await, &[]).await;
    let result = app.call_tool(None, "busy", json!({})).await;
    assert_eq!(result["structuredContent"], json!({"ok": "after waiting"}), "{result}");
    assert_eq!(fake.hits("busy"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_slow_upstream_ends_at_the_call_deadline() {
    let fake = Fake::default();
    let (app, _specs) = setup(&fake.clone().serve().await, &[]).await;
    let result = app.call_tool(None, "slow", json!({})).await;
    assert_eq!(result["isError"], true);
    assert!(matches!(error_code(&result), "timeout" | "upstream_timeout"), "{result}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["retryable"], true);
    app.assert_healthy().await;
}

#[tokio::test(start_paused = true)]
async fn refused_connections_malformed_answers_and_missing_settings_are_typed_errors() {
    let fake = Fake::default();
    let (app, _specs) = setup(&fake.clone().serve().await, &[]).await;
    let refused = app.call_tool(None, "refused", json!({})).await;
    assert_eq!(error_code(&refused), "upstream_unavailable", "{refused}");
    let garbage = app.call_tool(None, "garbage", json!({})).await;
    assert_eq!(error_code(&garbage), "upstream_error", "{garbage}");
    // Not JSON, so not an answer: refused before the `result` pointer is even looked at.
    assert!(garbage["content"][0]["text"].as_str().unwrap().contains("not JSON"), "{garbage}");
    assert_eq!(garbage["_meta"]["mcp-gateway/error"]["details"]["content_type"], "text/plain", "{garbage}");
    let text = app.call_tool(None, "garbage_as_text", json!({})).await;
    assert_eq!(text["content"][0]["text"], "<html>not json</html>", "a spec may ask for text: {text}");
    assert_eq!(text["isError"], false);
    let unset = app.call_tool(None, "needs_setting", json!({})).await;
    assert_eq!(error_code(&unset), "not_configured");
    assert!(unset["content"][0]["text"].as_str().unwrap().contains("GATEWAY_TEST_UNSET_BASE_URL"));
}

#[tokio::test]
async fn allowed_environment_variables_reach_the_upstream_through_the_real_binary() {
    let fake = Fake::default();
    let upstream = fake.clone().serve().await;
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "get_stock", "description": "Read a stock line",
        "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        "binding": {"kind": "http", "url": "{{env.INVENTORY_URL}}/items/{{args.id}}",
                    "headers": {"X-Tenant": "{{env.INVENTORY_TENANT}}"}, "result": "/data"}});
    write_spec(specs.path(), "get_stock.json", &spec.to_string());
    let cwd = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
    command
        .env_clear()
        .current_dir(cwd.path())
        .args(["call", "get_stock", "--args", r#"{"id": 7}"#])
        .env("GATEWAY_TOOL_SPECS", specs.path())
        .env("GATEWAY_TEMPLATE_ENV", "INVENTORY_*")
        .env("INVENTORY_URL", &upstream)
        .env("INVENTORY_TENANT", "acme");
    // The fake upstream runs on this test's runtime; the binary is waited for on a blocking thread.
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("run mcp-gateway");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(
        result,
        json!({"id": 7, "limit": null, "tenant": "acme"}),
        "the URL and header came from the environment"
    );
    assert_eq!(fake.hits("item"), 1);
}

#[tokio::test]
async fn a_binding_that_names_an_unknown_argument_is_rejected_at_load() {
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "bad", "description": "d", "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
                      "binding": {"kind": "http", "url": "http://127.0.0.1:1/{{args.idd}}"}});
    write_spec(specs.path(), "bad.json", &spec.to_string());
    let data = tempfile::tempdir().unwrap();
    let err =
        mcp_gateway::AppState::new(mcp_gateway::config::Config::for_tests(specs.path(), data.path())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("bad.json: $.binding.url"), "{text}");
    assert!(text.contains("idd"), "{text}");
}

#[tokio::test]
async fn a_provider_concurrency_cap_bounds_requests_in_flight() {
    let fake = Fake::default();
    let upstream = fake.clone().serve().await;
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "gauge", "description": "Slow-ish read",
        "binding": {"kind": "http", "url": format!("{upstream}/gauge")}});
    write_spec(specs.path(), "gauge.json", &spec.to_string());
    let app = TestApp::spawn_with(specs.path(), |config| {
        config.limits.provider_concurrency_overrides.insert("http".into(), 1);
    })
    .await;
    let calls = (0..4).map(|_| app.call_tool(None, "gauge", json!({})));
    let results = futures_util::future::join_all(calls).await;
    for result in &results {
        assert_eq!(result["structuredContent"], json!({"ok": true}), "{result}");
    }
    assert_eq!(fake.most_in_flight.load(Ordering::SeqCst), 1, "the cap of 1 was exceeded");
}
