//! Federation: upstream MCP servers' tools served as the gateway's own. A second gateway federates the first
//! (the real application on both sides, over real HTTP): tools listed with the prefix and the spec's rules,
//! calls answered in both eras, progress relayed, a 2026 upstream's `input_required` rounds carried to the
//! client and back, fixed arguments set by the gateway, the audit log recording the call. Then hostile
//! upstreams (in-process fakes): HTML for JSON, a hang, a tool list past the bound, a tool named like one of
//! ours, a stream that ends before its answer, an upstream that dies: each fails only its own tools, typed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

use crate::common::{JSON_AND_SSE, SseStream, TestApp, poll_until, write_spec};
use crate::mcp_modern::{meta, modern, result};

/// A specs folder holding the core tools and `upstream` (an upstream spec's JSON).
fn specs_with(upstream: &Value) -> tempfile::TempDir {
    let dir = crate::common::copy_of_core_specs();
    write_spec(dir.path(), "upstream.json", &upstream.to_string());
    dir
}

/// The gateway federating `url` under `name` / `prefix` (more spec fields in `extra`), once its tools are in.
async fn federating(url: &str, extra: Value, expect: &str) -> (TestApp, tempfile::TempDir) {
    let mut spec = json!({"kind": "upstream", "name": "a", "prefix": "a_", "transport": "streamable_http", "url": url});
    for (key, value) in extra.as_object().into_iter().flatten() {
        spec[key] = value.clone();
    }
    let specs = specs_with(&spec);
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let expect = expect.to_owned();
    poll_until("the upstream's tools are served", || {
        let app = &app;
        let expect = expect.clone();
        async move { app.tool_names().await.contains(&expect).then_some(()) }
    })
    .await;
    (app, specs)
}

async fn upstream_view(app: &TestApp) -> Value {
    let listed: Value = app.get("/admin/upstreams").send().await.unwrap().json().await.unwrap();
    listed["upstreams"][0].clone()
}

#[tokio::test]
async fn a_gateway_serves_another_gateways_tools_under_its_rules() {
    let upstream = TestApp::fixtures().await;
    let rules = json!({"tools": {"include": ["test_*", "greet"], "exclude": ["test_error_*"],
        "rename": {"test_simple_text": "simple"}, "descriptions": {"simple": "Says a simple thing."},
        "fixed": {"greet": {"name": "Ada"}}}});
    let (gateway, _specs) = federating(&format!("{}/mcp", upstream.base), rules, "a_simple").await;
    let names = gateway.tool_names().await;
    assert!(names.contains(&"a_test_tool_with_progress".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("a_test_error")), "excluded: {names:?}");
    assert!(!names.contains(&"a_test_simple_text".to_owned()), "renamed: {names:?}");
    assert!(names.contains(&"ping".to_owned()), "the gateway's own tools stay: {names:?}");

    let view = upstream_view(&gateway).await;
    assert_eq!((view["state"].as_str(), view["era"].as_str()), (Some("ready"), Some("2026-07-28")), "{view}");

    // Handshake-era client of the federating gateway; 2026 between the gateways.
    let session = gateway.initialize("2025-11-25").await;
    let listed = gateway.rpc(Some(&session), "tools/list", json!({})).await;
    let simple =
        listed["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "a_simple").unwrap().clone();
    assert_eq!(simple["description"], "Says a simple thing.");
    let direct = upstream.call_tool(None, "test_simple_text", json!({})).await;
    let federated = gateway.call_tool(Some(&session), "a_simple", json!({})).await;
    assert_eq!(federated["content"], direct["content"], "{federated}");
    assert_eq!(federated["content"][0]["type"], "text", "{federated}");

    // A fixed argument is gone from the schema and set by the gateway, whatever the caller sends.
    let greet = listed["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "a_greet").unwrap().clone();
    assert!(greet["inputSchema"]["properties"].get("name").is_none(), "{greet}");
    let greeted = gateway.call_tool(Some(&session), "a_greet", json!({"name": "Mallory"})).await;
    let text = greeted["content"][0]["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("Ada") && !text.contains("Mallory"), "{greeted}");

    // REST callers reach upstream tools too, through the same pipeline (audit included).
    let rest: Value = gateway
        .post("/mcp/tools/call")
        .json(&json!({"tool_name": "a_simple", "params": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["success"], true, "{rest}");
    let audit = poll_until("the federated calls are in the audit log", || {
        let gateway = &gateway;
        async move {
            let audit: Value = gateway.get("/admin/audit?tool=a_simple").send().await.ok()?.json().await.ok()?;
            (audit["entries"].as_array()?.len() >= 2).then_some(audit)
        }
    })
    .await;
    assert_eq!(audit["entries"][0]["outcome"], "ok", "{audit}");
}

#[tokio::test]
async fn progress_and_input_rounds_are_relayed_between_client_and_upstream() {
    let upstream = TestApp::fixtures().await;
    let (gateway, _specs) = federating(&format!("{}/mcp", upstream.base), json!({}), "a_test_tool_with_progress").await;

    // Progress of the upstream's call reaches the gateway's client on the request's stream.
    let mut params = json!({"name": "a_test_tool_with_progress", "arguments": {}});
    let mut with_token = meta(json!({}));
    with_token["progressToken"] = json!("p-1");
    params["_meta"] = with_token;
    let response = modern(&gateway, "tools/call", params).header(ACCEPT, JSON_AND_SSE).send().await.unwrap();
    let mut stream = SseStream::new(response);
    let mut progress = Vec::new();
    let answer = loop {
        let event = stream.next_event().await;
        if event.data.is_empty() {
            continue;
        }
        let message: Value = serde_json::from_str(&event.data).unwrap();
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "p-1", "the client's own token: {message}");
            progress.push(message["params"]["progress"].as_f64().unwrap());
        } else {
            break message;
        }
    };
    assert_eq!(answer["result"]["content"][0]["text"], "Progress test completed", "{answer}");
    assert!(progress.len() >= 3 && progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");

    // The upstream asks for input (2026 input_required): the gateway asks its own client, then carries the
    // answer back with the upstream's request state.
    let asked =
        result(&gateway, "tools/call", json!({"name": "a_test_input_required_result_elicitation", "arguments": {}}))
            .await;
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    let (key, question) = asked["inputRequests"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(question["method"], "elicitation/create", "{asked}");
    assert_eq!(question["params"]["message"], "What is your name?");
    let mut answers = serde_json::Map::new();
    answers.insert(key.clone(), json!({"action": "accept", "content": {"name": "Grace"}}));
    let done = result(
        &gateway,
        "tools/call",
        json!({"name": "a_test_input_required_result_elicitation", "arguments": {},
               "inputResponses": answers, "requestState": asked["requestState"]}),
    )
    .await;
    assert_eq!(done["content"][0]["text"], "Hello, Grace!", "{done}");
}

/// What the fake upstream does wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answers every request with an HTML page and status 200.
    Html,
    /// Never answers.
    Hang,
    /// Lists 5,000 tools.
    HugeList,
    /// Lists a tool the gateway's prefix turns into a declared tool's name, and a good one.
    NameClash,
    /// `tools/call` answers an event stream that ends before the answer.
    StreamEnds,
}

#[derive(Clone)]
struct Fake {
    fault: Fault,
    down: Arc<AtomicBool>,
}

/// A handshake-era MCP server over Streamable HTTP (JSON answers) with one fault.
async fn fake(State(fake): State<Fake>, body: Bytes) -> Response {
    if fake.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    match fake.fault {
        Fault::Html => {
            return ([(header::CONTENT_TYPE, "text/html")], "<html><body>Sign in</body></html>").into_response();
        }
        Fault::Hang => std::future::pending::<()>().await,
        _ => {}
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["id"].clone();
    let answer = |result: Value| axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response();
    match request["method"].as_str().unwrap_or_default() {
        "initialize" => answer(json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                      "serverInfo": {"name": "fake", "version": "1"}})),
        "tools/list" => {
            let tool = |name: String| json!({"name": name, "inputSchema": {"type": "object"}});
            let tools: Vec<Value> = match fake.fault {
                Fault::HugeList => (0..5000).map(|i| tool(format!("t{i}"))).collect(),
                _ => vec![tool("ping".into()), tool("fine".into())],
            };
            answer(json!({"tools": tools}))
        }
        "tools/call" if fake.fault == Fault::StreamEnds => Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from(": the answer never comes\n\n"))
            .unwrap(),
        "tools/call" => answer(json!({"content": [{"type": "text", "text": "fine"}]})),
        method if request.get("id").is_none() => {
            let _ = method;
            StatusCode::ACCEPTED.into_response()
        }
        other => axum::Json(json!({"jsonrpc": "2.0", "id": id,
                                   "error": {"code": -32601, "message": format!("no method {other}")}}))
        .into_response(),
    }
}

async fn serve_fake(fault: Fault) -> (String, Arc<AtomicBool>) {
    let down = Arc::new(AtomicBool::new(false));
    let app = Router::new().route("/mcp", post(fake)).with_state(Fake { fault, down: down.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), down)
}

/// The gateway over a faulty upstream, with the upstream's link given time to fail.
async fn over_faulty(fault: Fault, extra: Value) -> (TestApp, tempfile::TempDir) {
    let (url, _down) = serve_fake(fault).await;
    let mut spec = json!({"kind": "upstream", "name": "a", "prefix": "a_", "transport": "streamable_http", "url": url,
                          "timeout_secs": 1});
    for (key, value) in extra.as_object().into_iter().flatten() {
        spec[key] = value.clone();
    }
    let specs = specs_with(&spec);
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    (app, specs)
}

async fn failed_with(app: &TestApp) -> String {
    poll_until("the upstream is marked failed", || async {
        let view = upstream_view(app).await;
        (view["state"] == "failed").then(|| view["error"].as_str().unwrap_or_default().to_owned())
    })
    .await
}

#[tokio::test]
async fn an_upstream_answering_html_or_nothing_fails_alone_and_typed() {
    for (fault, expected) in [(Fault::Html, "text/html"), (Fault::Hang, "in time"), (Fault::HugeList, "more than 1000")]
    {
        let (app, _specs) = over_faulty(fault, json!({})).await;
        let error = failed_with(&app).await;
        assert!(error.contains(expected), "{error}");
        let ping = app.call_tool(None, "ping", json!({})).await;
        assert_eq!(ping["structuredContent"]["pong"], true, "the gateway's own tools keep working: {ping}");
        let ready = app.get("/ready").send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK, "a failed upstream does not make the gateway unready");
        let ready: Value = ready.json().await.unwrap();
        assert_eq!((ready["status"].as_str(), ready["upstreams"]["a"].as_str()), (Some("degraded"), Some("failed")));
        assert!(!app.tool_names().await.iter().any(|n| n.starts_with("a_")));
    }
}

#[tokio::test]
async fn a_tool_named_like_ours_is_refused_and_the_rest_served() {
    // The upstream lists `ping` and `fine`; with the prefix `x_`, `ping` would be the declared tool `x_ping`.
    let (url, _down) = serve_fake(Fault::NameClash).await;
    let specs = specs_with(&json!({"kind": "upstream", "name": "a", "prefix": "x_", "transport": "streamable_http",
                                    "url": url}));
    write_spec(specs.path(), "x_ping.json", &crate::common::ping_like_tool("x_ping"));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    poll_until("the good tool is served", || async {
        app.tool_names().await.contains(&"x_fine".to_owned()).then_some(())
    })
    .await;
    let view = upstream_view(&app).await;
    assert_eq!(view["tools"], 1, "{view}");
    assert!(view["problems"][0].as_str().unwrap().contains("x_ping"), "{view}");
    let called = app.call_tool(None, "x_ping", json!({})).await;
    assert_eq!(called["structuredContent"]["pong"], true, "ours answers: {called}");
}

#[tokio::test]
async fn a_call_whose_stream_ends_or_whose_upstream_dies_is_a_retryable_error_at_once() {
    let (url, down) = serve_fake(Fault::StreamEnds).await;
    let specs = specs_with(&json!({"kind": "upstream", "name": "a", "prefix": "a_", "transport": "streamable_http",
                                    "url": url, "timeout_secs": 30}));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    poll_until("the tools are served", || async {
        app.tool_names().await.contains(&"a_fine".to_owned()).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    let rest = app.post("/mcp/tools/call").json(&json!({"tool_name": "a_fine", "params": {}})).send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = rest.json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["retryable"].as_bool()),
        (Some("upstream_unavailable"), Some(true))
    );
    assert!(started.elapsed() < Duration::from_secs(25), "not held to the 30 s deadline");

    down.store(true, Ordering::SeqCst);
    let rest = app.post("/mcp/tools/call").json(&json!({"tool_name": "a_fine", "params": {}})).send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::SERVICE_UNAVAILABLE, "{:?}", rest.text().await);
}

#[tokio::test]
async fn upstream_resources_templates_and_prompts_join_the_gateways_own() {
    let upstream = TestApp::fixtures().await;
    let (gateway, _specs) = federating(&format!("{}/mcp", upstream.base), json!({}), "a_test_simple_text").await;
    let session = gateway.initialize("2025-11-25").await;

    let resources = gateway.rpc(Some(&session), "resources/list", json!({})).await;
    let uris: Vec<&str> =
        resources["result"]["resources"].as_array().unwrap().iter().filter_map(|r| r["uri"].as_str()).collect();
    assert!(uris.contains(&"test://static-text"), "{resources}");
    let read = gateway.rpc(Some(&session), "resources/read", json!({"uri": "test://static-text"})).await;
    assert_eq!(read["result"]["contents"][0]["text"], "This is the content of the static text resource.", "{read}");
    let templated = gateway.rpc(Some(&session), "resources/read", json!({"uri": "test://template/42/data"})).await;
    let text = templated["result"]["contents"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("Data for ID: 42"), "read through the upstream's template: {templated}");
    let missing = gateway.rpc(Some(&session), "resources/read", json!({"uri": "nothing://here"})).await;
    assert!(missing.get("error").is_some(), "{missing}");

    let prompts = gateway.rpc(Some(&session), "prompts/list", json!({})).await;
    let names: Vec<&str> =
        prompts["result"]["prompts"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"a_test_prompt_with_arguments"), "prompts are prefixed: {names:?}");
    let got = gateway
        .rpc(
            Some(&session),
            "prompts/get",
            json!({"name": "a_test_prompt_with_arguments", "arguments": {"arg1": "x", "arg2": "y"}}),
        )
        .await;
    assert_eq!(got["result"]["messages"][0]["content"]["text"], "Prompt with arguments: arg1='x', arg2='y'", "{got}");

    // The 2026 era reads and gets through the same paths.
    let read = result(&gateway, "resources/read", json!({"uri": "test://static-text"})).await;
    assert_eq!(read["contents"][0]["text"], "This is the content of the static text resource.", "{read}");
    let got = result(&gateway, "prompts/get", json!({"name": "a_test_simple_prompt", "arguments": {}})).await;
    assert!(got["messages"].as_array().is_some_and(|m| !m.is_empty()), "{got}");
}

#[tokio::test]
async fn a_client_that_cancels_or_goes_away_cancels_the_call_upstream() {
    // A 2026 upstream learns of a closed stream at its next write: keep-alives come often here.
    let upstream = TestApp::spawn_with(&crate::common::fixture_specs(), |c| {
        c.limits.sse_keepalive = Duration::from_millis(200);
    })
    .await;
    let (gateway, _specs) = federating(&format!("{}/mcp", upstream.base), json!({}), "a_slow_compute").await;
    let cancelled_upstream = |count: usize| {
        let upstream = &upstream;
        async move {
            let audit: Value = upstream.get("/admin/audit?tool=slow_compute").send().await.ok()?.json().await.ok()?;
            let entries = audit["entries"].as_array()?;
            (entries.iter().filter(|e| e["outcome"] == "cancelled").count() >= count).then_some(())
        }
    };

    // A 2026 client closes its request's stream: the gateway cancels the call, and so the upstream's.
    let mut params = json!({"name": "a_slow_compute", "arguments": {"seconds": 60}});
    let mut with_token = meta(json!({}));
    with_token["progressToken"] = json!("p-2");
    params["_meta"] = with_token;
    let response = modern(&gateway, "tools/call", params).header(ACCEPT, JSON_AND_SSE).send().await.unwrap();
    let mut stream = SseStream::new(response);
    while !stream.next_event().await.data.contains("notifications/progress") {}
    drop(stream);
    poll_until("the upstream's call is cancelled", || cancelled_upstream(1)).await;

    // A handshake-era client sends notifications/cancelled: the same.
    let session = gateway.initialize("2025-11-25").await;
    let id = gateway.id();
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": "a_slow_compute", "arguments": {"seconds": 60}, "_meta": {"progressToken": 7}}});
    let response = gateway.mcp(Some(&session), &body).send().await.unwrap();
    let mut stream = SseStream::new(response);
    loop {
        let event = stream.next_event().await;
        if event.data.contains("notifications/progress") {
            break; // the call runs upstream now
        }
    }
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}});
    let sent = gateway.mcp(Some(&session), &cancel).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    poll_until("the upstream's call is cancelled", || cancelled_upstream(2)).await;
}

/// A handshake-era upstream with sessions that forgets them (as a restarted server does), and records the
/// `Authorization` header of every request.
#[derive(Clone, Default)]
struct Forgetful {
    state: Arc<std::sync::Mutex<Sessions>>,
}

#[derive(Default)]
struct Sessions {
    current: Option<String>,
    started: u32,
    forgot: bool,
    authorizations: Vec<String>,
}

async fn forgetful(State(fake): State<Forgetful>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["id"].clone();
    let mut state = fake.state.lock().unwrap();
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    state.authorizations.push(auth);
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    if method == "initialize" {
        state.started += 1;
        let session = format!("session-{}", state.started);
        state.current = Some(session.clone());
        let result = json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                            "serverInfo": {"name": "forgetful", "version": "1"}});
        return ([("mcp-session-id", session)], axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})))
            .into_response();
    }
    let sent = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if sent.is_none() || sent != state.current {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    }
    if method == "tools/call" && !state.forgot {
        state.forgot = true;
        state.current = None;
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    }
    match method.as_str() {
        "tools/list" => axum::Json(json!({"jsonrpc": "2.0", "id": id,
            "result": {"tools": [{"name": "hello", "inputSchema": {"type": "object"}}]}}))
        .into_response(),
        "tools/call" => axum::Json(json!({"jsonrpc": "2.0", "id": id,
            "result": {"content": [{"type": "text", "text": "hello again"}]}}))
        .into_response(),
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

#[tokio::test]
async fn a_forgotten_session_is_started_again_and_the_credentials_stay_on_the_server() {
    let fake = Forgetful::default();
    let app = Router::new().route("/mcp", post(forgetful)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let secret = "Bearer crm-secret-4d1f";
    let (gateway, _specs) =
        federating(&format!("http://{address}/mcp"), json!({"headers": {"Authorization": secret}}), "a_hello").await;

    let called = gateway.call_tool(None, "a_hello", json!({})).await;
    assert_eq!(called["content"][0]["text"], "hello again", "{called}");
    {
        let state = fake.state.lock().unwrap();
        assert_eq!(state.started, 2, "initialized again after the 404");
        assert!(state.authorizations.iter().all(|a| a == secret), "every request carried the spec's header");
    }
    let view = upstream_view(&gateway).await;
    assert_eq!((view["era"].as_str(), view["headers"][0].as_str()), (Some("2025-11-25"), Some("Authorization")));
    for path in ["/admin/upstreams", "/admin/config", "/ready"] {
        let text = gateway.get(path).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains("crm-secret-4d1f"), "{path} shows the header's value: {text}");
    }
}
