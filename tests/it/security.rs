//! Security and admission over the real app: the auth matrix (every scope against every endpoint family),
//! where keys may be presented, tool patterns, session ownership, rate limits, the concurrency cap, call
//! deadlines and the audit log.

use crate::common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::{TestApp, api_key, bearer, eventually, header, write_spec};
use mcp_gateway::auth::ApiKey;
use mcp_gateway::config::{Config, Rate, TemplateEnv};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn key(id: &str, scopes: &[&str]) -> ApiKey {
    api_key(id, scopes, &[], &[])
}

fn with_keys(keys: Vec<ApiKey>) -> impl FnOnce(&mut Config) {
    move |config: &mut Config| config.security.keys = keys
}

/// One endpoint family, as a request that needs exactly that family's permission.
#[derive(Clone, Copy, Debug)]
enum Family {
    McpList,
    McpCall,
    RestList,
    RestSchema,
    RestCall,
    DragonflyList,
    DragonflyExecute,
    AdminAudit,
    AdminActivity,
    Metrics,
    Health,
}

impl Family {
    const ALL: [Self; 11] = [
        Self::McpList,
        Self::McpCall,
        Self::RestList,
        Self::RestSchema,
        Self::RestCall,
        Self::DragonflyList,
        Self::DragonflyExecute,
        Self::AdminAudit,
        Self::AdminActivity,
        Self::Metrics,
        Self::Health,
    ];

    async fn status(self, app: &TestApp, key: Option<&str>) -> StatusCode {
        let rpc = |method: &str, params: Value| json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let request = match self {
            Self::McpList => app.mcp(None, &rpc("tools/list", json!({}))),
            Self::McpCall => app.mcp(None, &rpc("tools/call", json!({"name": "ping", "arguments": {}}))),
            Self::RestList => app.get("/mcp/tools/list"),
            Self::RestSchema => app.get("/mcp/tools/ping/schema"),
            Self::RestCall => app.post("/mcp/tools/call").json(&json!({"tool_name": "ping", "params": {}})),
            Self::DragonflyList => app.get("/tools"),
            Self::DragonflyExecute => app.post("/execute").json(&json!({"tool": "ping", "params": {}})),
            Self::AdminAudit => app.get("/admin/audit"),
            Self::AdminActivity => app.get("/admin/activity"),
            Self::Metrics => app.get("/metrics"),
            Self::Health => app.get("/health"),
        };
        let request = match key {
            Some(id) => request.header("authorization", bearer(id)),
            None => request,
        };
        request.send().await.expect("the request is answered").status()
    }
}

#[tokio::test]
async fn every_scope_meets_every_endpoint_family_as_documented() {
    let scopes =
        ["admin", "tools:list", "tools:call", "tools:call:system", "tools:call:read", "proxy", "workers", "metrics"];
    let keys = scopes.iter().map(|s| key(&s.replace(':', "-"), &[s])).collect();
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(keys)).await;
    use Family::*;
    // Which families each scope opens (ping is a `system` tool). Everything else must be 403 (or, for an
    // MCP call of a tool the key may not call, the tool does not exist for it: -32602 inside a 200).
    let opens = |scope: &str, family: Family| -> bool {
        matches!(
            (scope, family),
            (_, Health)
                | ("admin", _)
                | ("tools:list", McpList | RestList | RestSchema | DragonflyList)
                | ("tools:call" | "tools:call:system", McpCall | RestCall | DragonflyExecute)
                | ("metrics", Metrics)
        )
    };
    let mut table = Vec::new();
    for scope in scopes {
        for family in Family::ALL {
            let status = family.status(&app, Some(&scope.replace(':', "-"))).await;
            let expected = if opens(scope, family) {
                StatusCode::OK
            } else if matches!((scope, family), ("tools:call:read", RestCall | DragonflyExecute)) {
                // A call scope for another category: the pipeline answers that `ping` does not exist.
                StatusCode::NOT_FOUND
            } else if matches!((scope, family), ("tools:call:read", McpCall)) {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            table.push(format!("{scope:<18} {family:?}: {status}"));
            assert_eq!(status, expected, "{scope} on {family:?}\n{}", table.join("\n"));
        }
    }
    for family in Family::ALL {
        let expected = if matches!(family, Health) { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
        assert_eq!(family.status(&app, None).await, expected, "no key on {family:?}");
    }
}

#[tokio::test]
async fn missing_and_invalid_keys_get_401_with_www_authenticate_in_the_callers_format() {
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(vec![key("ops", &["admin"])])).await;
    let response = app.get("/mcp/tools/list").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate").unwrap(), r#"Bearer realm="mcp-gateway""#);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    let rpc = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
    let response = app.mcp(None, &rpc).header("authorization", "Bearer wrong").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&response, "www-authenticate").unwrap().contains(r#"error="invalid_token""#));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["data"]["code"], "unauthorized");
    assert_eq!(body["error"]["code"], mcp_gateway::error::ACCESS_REFUSED, "a server-defined code, not -32603: {body}");

    let envelope = json!({"action": "ping", "payload": {}, "request_id": "req-9"});
    let response = app.post("/mcp").json(&envelope).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["request_id"], "req-9");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn a_key_is_accepted_from_each_documented_place() {
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(vec![key("ops", &["tools:list"])])).await;
    for (name, value) in
        [("authorization", "Bearer secret-ops"), ("x-proxy-key", "secret-ops"), ("x-api-key", "secret-ops")]
    {
        let status = app.get("/mcp/tools/list").header(name, value).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{name}");
    }
    let status = app.get("/mcp/tools/list?key=secret-ops").send().await.unwrap().status();
    assert_eq!(status, StatusCode::OK, "?key=");
}

#[tokio::test]
async fn allow_and_deny_patterns_decide_what_a_key_sees_and_calls() {
    let keys = vec![api_key("narrow", &["tools:list", "tools:call"], &["*"], &["list_*"])];
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(keys)).await;
    let listed: Value = app
        .get("/mcp/tools/list")
        .header("authorization", bearer("narrow"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ping"]);
    let rpc =
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tools", "arguments": {}}});
    let body: Value =
        app.mcp(None, &rpc).header("authorization", bearer("narrow")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["code"], -32602, "a denied tool does not exist for the key: {body}");
}

#[tokio::test]
async fn a_session_belongs_to_the_key_that_created_it() {
    let keys = vec![key("alice", &["tools:list", "tools:call"]), key("bob", &["tools:list", "tools:call"])];
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(keys)).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = app.mcp(None, &init).header("authorization", bearer("alice")).send().await.unwrap();
    let session = header(&response, "mcp-session-id").unwrap();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let as_alice = app.mcp(Some(&session), &list).header("authorization", bearer("alice")).send().await.unwrap();
    assert_eq!(as_alice.status(), StatusCode::OK);
    let as_bob = app.mcp(Some(&session), &list).header("authorization", bearer("bob")).send().await.unwrap();
    assert_eq!(as_bob.status(), StatusCode::NOT_FOUND, "another key cannot use the session");
}

#[tokio::test]
async fn over_the_rate_limit_callers_get_429_with_retry_after_in_their_format() {
    let app = TestApp::spawn_with(&common::core_specs(), |config| {
        config.security.keys = vec![key("ops", &["admin"])];
        config.security.rate_limit = Some(Rate { count: NonZeroU32::new(2).unwrap(), period: Duration::from_secs(60) });
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.get("/mcp/tools/list").header("authorization", bearer("ops")).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let rest = app.get("/mcp/tools/list").header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&rest, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = rest.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["retryable"], true);

    let rpc = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let mcp = app.mcp(None, &rpc).header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(mcp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&mcp, "retry-after").is_some());
    let body: Value = mcp.json().await.unwrap();
    assert_eq!(body["error"]["data"]["code"], "rate_limited", "{body}");
    // An unauthenticated caller has a bucket of its own (its address), counted without the address.
    for _ in 0..2 {
        assert_eq!(app.mcp(None, &rpc).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.mcp(None, &rpc).send().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // /metrics is rate limited too, so its counts are read through the state the test owns.
    let metrics = app.state.metrics.render();
    assert!(metrics.contains(r#"status="429""#));
    assert!(
        metrics.contains(r#"gateway_rate_limited_total{limit="requests",category="(none)",caller="ops"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"gateway_rate_limited_total{limit="requests",category="(none)",caller="(unauthenticated)"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("127.0.0.1"), "no address in a label: {metrics}");
}

#[tokio::test]
async fn a_category_rate_limit_fails_the_call_as_a_retryable_tool_error() {
    let app = TestApp::spawn_with(&common::core_specs(), |config| {
        config.security.category_rate_limits =
            vec![("system".into(), Rate { count: NonZeroU32::new(1).unwrap(), period: Duration::from_secs(3600) })];
    })
    .await;
    assert_eq!(app.call_tool(None, "ping", json!({})).await["isError"], false);
    let limited = app.call_tool(None, "ping", json!({})).await;
    assert_eq!(limited["isError"], true);
    assert_eq!(limited["_meta"]["mcp-gateway/error"]["code"], "rate_limited");
    assert_eq!(limited["_meta"]["mcp-gateway/error"]["retryable"], true);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gateway_rate_limited_total{limit="category",category="system",caller="anonymous"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"gateway_caller_calls_total{caller="anonymous",category="system",outcome="rate_limited"} 1"#),
        "{metrics}"
    );
}

fn slow_tool_specs(interval_ms: u64, timeout_secs: Option<f64>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = json!({
        "name": "slow", "description": "Takes a while", "category": "system",
        "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 3, "interval_ms": interval_ms}}
    });
    if let Some(secs) = timeout_secs {
        spec["timeout_secs"] = json!(secs);
    }
    write_spec(dir.path(), "slow.json", &spec.to_string());
    dir
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_deadline_ends_as_a_timeout_error() {
    let specs = slow_tool_specs(10_000, Some(0.2));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let result = app.call_tool(None, "slow", json!({})).await;
    assert_eq!(result["isError"], true);
    assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "timeout");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("did not finish within 0.2 s"));
}

#[tokio::test(start_paused = true)]
async fn beyond_the_concurrency_cap_and_queue_calls_are_refused_with_503() {
    let specs = slow_tool_specs(2_000, None);
    let app = TestApp::spawn_with(specs.path(), |config| {
        config.limits.max_concurrent_calls = 1;
        config.limits.call_queue = 0;
    })
    .await;
    let busy = {
        let client = app.client.clone();
        let url = app.url("/mcp/tools/call");
        tokio::spawn(async move { client.post(url).json(&json!({"tool_name": "slow", "params": {}})).send().await })
    };
    // Poll until the slow call holds the only slot: then a second call must be refused at once.
    let refused = common::poll_until("a second call refused while the first runs", || async {
        let response =
            app.post("/mcp/tools/call").json(&json!({"tool_name": "slow", "params": {}})).send().await.ok()?;
        (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(response)
    })
    .await;
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(busy.await.unwrap().unwrap().status(), StatusCode::OK, "the running call still completes");
}

#[tokio::test]
async fn every_call_is_audited_with_its_key_and_an_argument_hash() {
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(vec![key("ops", &["admin"])])).await;
    let response = app
        .post("/mcp/tools/call")
        .header("authorization", bearer("ops"))
        .json(&json!({"tool_name": "list_tools", "params": {"category": "system"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rid = header(&response, "x-request-id").unwrap();
    let entries = common::poll_until("the audit entry is written", || async {
        let body: Value = app
            .get("/admin/audit?tool=list_tools&key=ops&outcome=ok")
            .header("authorization", bearer("ops"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["entries"].as_array().filter(|e| !e.is_empty()).cloned()
    })
    .await;
    let entry = &entries[0];
    assert_eq!(entry["request_id"], rid.as_str());
    assert_eq!(entry["category"], "system");
    assert_eq!(entry["args_hash"].as_str().unwrap().len(), 64);
    assert!(entry["args"].is_null(), "arguments are not stored unless configured");
    let bad = app.get("/admin/audit?since=yesterday").header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    eventually("unknown filters give an empty list", || async {
        let body: Value = app
            .get("/admin/audit?tool=nope")
            .header("authorization", bearer("ops"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["count"] == 0
    })
    .await;
}

#[tokio::test]
async fn methods_outside_the_table_are_unknown_and_scopes_decide_the_rest() {
    let keys = vec![key("lister", &["tools:list"]), key("caller", &["tools:call"])];
    let app = TestApp::spawn_with(&common::core_specs(), with_keys(keys)).await;
    let rpc = |method: &str| json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": {}});
    for method in ["tools/delete", "admin/anything", "sampling/createMessage", "tasks/list"] {
        let response = app.mcp(None, &rpc(method)).header("authorization", bearer("caller")).send().await.unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32601, "{method} is not a method the gateway answers: {body}");
    }
    let response = app.mcp(None, &rpc("tools/call")).header("authorization", bearer("lister")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], mcp_gateway::error::ACCESS_REFUSED, "{body}");
    assert_eq!(body["error"]["data"]["code"], "forbidden");
    let response =
        app.mcp(None, &rpc("resources/read")).header("authorization", bearer("caller")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "reads need tools:list");
}

#[tokio::test]
async fn ready_shows_paths_errors_and_setting_names_to_admins_only() {
    let specs = common::copy_of_core_specs();
    let http = json!({"name": "inventory", "description": "needs a setting", "binding": {"kind": "http",
        "url": "{{env.GATEWAY_TEST_READY_INVENTORY_URL}}/items"}});
    write_spec(specs.path(), "inventory.json", &http.to_string());
    let keys = vec![key("ops", &["admin"]), key("reader", &["tools:list", "tools:call"])];
    let app = TestApp::spawn_with(specs.path(), |config| {
        config.security.keys = keys;
        config.template_env = TemplateEnv::new(&["GATEWAY_TEST_*"]);
    })
    .await;
    // The data dir becomes unusable: its error names the absolute path and the OS error.
    let data_dir = app.state.config.data_dir.clone();
    std::fs::remove_dir_all(&data_dir).unwrap();
    std::fs::write(&data_dir, b"not a folder").unwrap();

    for who in [None, Some("reader"), Some("wrong")] {
        let mut request = app.get("/ready");
        if let Some(id) = who {
            request = request.header("authorization", bearer(id));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "unavailable", "{text}");
        assert_eq!(body["data_dir"], json!({"writable": false}), "{text}");
        assert_eq!(body["unconfigured_tools"], 1, "a count only: {text}");
        assert!(body.get("settings").is_none(), "{text}");
        let shown = data_dir.display().to_string();
        assert!(!text.contains(&shown) && !text.contains("GATEWAY_TEST_READY"), "{who:?} sees only counts: {text}");
    }

    let body: Value =
        app.get("/ready").header("authorization", bearer("ops")).send().await.unwrap().json().await.unwrap();
    assert!(body["data_dir"]["error"].as_str().unwrap().contains(&data_dir.display().to_string()), "{body}");
    assert_eq!(body["settings"]["GATEWAY_TEST_READY_INVENTORY_URL"], false, "{body}");
    assert_eq!(body["unconfigured_tools"], json!(["inventory"]), "{body}");
}
