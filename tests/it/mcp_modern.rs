//! MCP 2026-07-28 on `/mcp`, beside the handshake era: discovery, the per-request `_meta` and mirrored headers,
//! the error ladder, multi-round-trip requests with a sealed `requestState` (and what an attacker does to it),
//! `subscriptions/listen`, and the handshake era left as it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::common::{self, SseStream, TestApp, api_key, bearer, header, write_spec};

pub(crate) const VERSION: &str = "2026-07-28";

pub(crate) fn meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": "it", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    })
}

pub(crate) fn all_capabilities() -> Value {
    json!({"elicitation": {}, "sampling": {}, "roots": {}})
}

/// A 2026 request as a conforming client sends it: `_meta` in the params, the mirrored headers.
pub(crate) fn modern(app: &TestApp, method: &str, params: Value) -> RequestBuilder {
    modern_with(app, method, params, &[])
}

/// [`modern`] with some of its headers replaced (a header named here is sent with this value only).
pub(crate) fn modern_with(app: &TestApp, method: &str, mut params: Value, replaced: &[(&str, &str)]) -> RequestBuilder {
    if params.get("_meta").is_none() {
        params["_meta"] = meta(all_capabilities());
    }
    let name =
        ["name", "uri", "taskId"].iter().find_map(|key| params.get(*key)).and_then(Value::as_str).map(str::to_owned);
    let body = json!({"jsonrpc": "2.0", "id": app.id(), "method": method, "params": params});
    let mut headers = vec![("mcp-protocol-version", VERSION.to_owned()), ("mcp-method", method.to_owned())];
    headers.extend(name.map(|name| ("mcp-name", name)));
    let mut request = app.mcp(None, &body);
    for (key, value) in headers {
        let value = replaced.iter().find(|(k, _)| *k == key).map_or(value, |(_, v)| (*v).to_owned());
        request = request.header(key, value);
    }
    request
}

pub(crate) async fn message(request: RequestBuilder, status: StatusCode) -> Value {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), status);
    assert!(header(&response, "mcp-session-id").is_none(), "no sessions in 2026-07-28");
    response.json().await.unwrap()
}

pub(crate) async fn result(app: &TestApp, method: &str, params: Value) -> Value {
    let message = message(modern(app, method, params), StatusCode::OK).await;
    assert!(message.get("error").is_none(), "{method}: {message}");
    message["result"].clone()
}

#[tokio::test]
async fn discovery_says_what_the_gateway_speaks_and_results_carry_type_and_caching_hints() {
    let app = TestApp::fixtures().await;
    let discovered = result(&app, "server/discover", json!({})).await;
    assert_eq!(discovered["supportedVersions"], json!([VERSION]));
    assert_eq!(discovered["resultType"], "complete");
    assert_eq!(discovered["capabilities"]["tools"]["listChanged"], true);
    assert_eq!(discovered["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcp-gateway");
    let tools = result(&app, "tools/list", json!({})).await;
    assert_eq!(tools["resultType"], "complete");
    assert_eq!(tools["cacheScope"], "private", "what a caller sees depends on its key");
    assert!(tools["ttlMs"].as_u64().is_some(), "{tools}");
    assert!(tools["tools"].as_array().unwrap().iter().any(|t| t["name"] == "test_simple_text"));
    let called = result(&app, "tools/call", json!({"name": "test_simple_text", "arguments": {}})).await;
    assert_eq!(called["resultType"], "complete");
    assert!(called.get("ttlMs").is_none(), "a call result is not cacheable");
    assert_eq!(called["content"][0]["text"], "This is a simple text response for testing.");
}

#[tokio::test]
async fn a_request_without_its_meta_keys_is_invalid_params_with_its_id() {
    let app = TestApp::fixtures().await;
    let body = json!({"jsonrpc": "2.0", "id": "no-meta", "method": "tools/list", "params": {}});
    let request = app.mcp(None, &body).header("mcp-protocol-version", VERSION).header("mcp-method", "tools/list");
    let answer = message(request, StatusCode::BAD_REQUEST).await;
    assert_eq!(answer["id"], "no-meta");
    assert_eq!(answer["error"]["code"], -32602);
    assert!(answer["error"]["message"].as_str().unwrap().contains("clientCapabilities"), "{answer}");
}

#[tokio::test]
async fn headers_that_do_not_mirror_the_body_are_a_header_mismatch() {
    let app = TestApp::fixtures().await;
    let call = json!({"name": "test_simple_text", "arguments": {}});
    let cases = [
        ("mcp-method", "prompts/list"),
        ("mcp-method", "TOOLS/CALL"),
        ("mcp-name", "another_tool"),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    for (name, value) in cases {
        let answer =
            message(modern_with(&app, "tools/call", call.clone(), &[(name, value)]), StatusCode::BAD_REQUEST).await;
        assert_eq!(answer["error"]["code"], -32020, "{name}: {value}: {answer}");
    }
    // A missing Mcp-Name is a mismatch too.
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                      "params": {"name": "test_simple_text", "arguments": {}, "_meta": meta(json!({}))}});
    let request = app.mcp(None, &body).header("mcp-protocol-version", VERSION).header("mcp-method", "tools/call");
    assert_eq!(message(request, StatusCode::BAD_REQUEST).await["error"]["code"], -32020);
    // A tool's x-mcp-header argument must arrive as its Mcp-Param header, with the same value.
    let custom = json!({"name": "test_custom_header", "arguments": {"region": "eu-west"}});
    let missing = message(modern(&app, "tools/call", custom.clone()), StatusCode::BAD_REQUEST).await;
    assert_eq!(missing["error"]["code"], -32020, "{missing}");
    let wrong = modern(&app, "tools/call", custom.clone()).header("mcp-param-region", "us-east");
    assert_eq!(message(wrong, StatusCode::BAD_REQUEST).await["error"]["code"], -32020);
    let right = modern(&app, "tools/call", custom).header("mcp-param-region", "=?base64?ZXUtd2VzdA==?=");
    assert_eq!(message(right, StatusCode::OK).await["result"]["content"][0]["text"], "region noted");
}

#[tokio::test]
async fn an_unsupported_version_lists_what_is_spoken_and_removed_methods_are_404() {
    let app = TestApp::fixtures().await;
    let mut params = json!({"_meta": meta(json!({}))});
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let request = modern_with(&app, "server/discover", params, &[("mcp-protocol-version", "2099-01-01")]);
    let answer = message(request, StatusCode::BAD_REQUEST).await;
    assert_eq!(answer["error"]["code"], -32022);
    assert_eq!(answer["error"]["data"], json!({"supported": [VERSION], "requested": "2099-01-01"}));
    for removed in ["initialize", "ping", "logging/setLevel", "resources/subscribe", "tasks/list", "nope/nothing"] {
        let answer = message(modern(&app, removed, json!({})), StatusCode::NOT_FOUND).await;
        assert_eq!(answer["error"]["code"], -32601, "{removed}: {answer}");
    }
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = app
            .client
            .request(method.clone(), app.url("/mcp"))
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", VERSION)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&response, "allow").as_deref(), Some("POST"));
    }
}

#[tokio::test]
async fn a_2026_request_carrying_a_session_id_is_served_statelessly() {
    let app = TestApp::fixtures().await;
    let session = app.initialize("2025-11-25").await;
    for id in [session.as_str(), "not-a-session"] {
        let request = modern(&app, "tools/list", json!({})).header("mcp-session-id", id);
        let answer = message(request, StatusCode::OK).await;
        assert!(answer["result"]["tools"].is_array(), "{answer}");
    }
    // The handshake-era session is untouched by it.
    let listed = app.rpc(Some(&session), "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array());
    assert!(listed["result"].get("resultType").is_none(), "handshake-era results are as they were");
}

/// Ask, answer, and come back: the elicitation tool over two requests.
#[tokio::test]
async fn a_question_is_input_required_and_the_retry_with_its_answer_completes() {
    let app = TestApp::fixtures().await;
    let call = json!({"name": "test_input_required_result_elicitation", "arguments": {}});
    let first = result(&app, "tools/call", call.clone()).await;
    assert_eq!(first["resultType"], "input_required", "{first}");
    assert_eq!(first["inputRequests"]["user_name"]["method"], "elicitation/create");
    assert!(first["inputRequests"]["user_name"]["params"]["requestedSchema"].is_object());
    let state = first["requestState"].as_str().unwrap().to_owned();
    let mut retry = call.clone();
    retry["inputResponses"] = json!({"user_name": {"action": "accept", "content": {"name": "Alice"}}});
    retry["requestState"] = json!(state);
    let done = result(&app, "tools/call", retry).await;
    assert_eq!(done["resultType"], "complete", "{done}");
    assert_eq!(done["content"][0]["text"], "Hello, Alice!");
    // Two rounds: the second question comes with a new state holding the first answer.
    let call = json!({"name": "test_input_required_result_multi_round", "arguments": {}});
    let one = result(&app, "tools/call", call.clone()).await;
    let mut two = call.clone();
    two["inputResponses"] = json!({"step1": {"action": "accept", "content": {"name": "Alice"}}});
    two["requestState"] = one["requestState"].clone();
    let two_answer = result(&app, "tools/call", two).await;
    assert_eq!(two_answer["resultType"], "input_required");
    assert!(two_answer["inputRequests"].get("step2").is_some() && two_answer["inputRequests"].get("step1").is_none());
    assert_ne!(two_answer["requestState"], one["requestState"]);
    let mut three = call;
    three["inputResponses"] = json!({"step2": {"action": "accept", "content": {"color": "blue"}}});
    three["requestState"] = two_answer["requestState"].clone();
    assert_eq!(result(&app, "tools/call", three).await["content"][0]["text"], "Alice likes blue");
}

#[tokio::test]
async fn a_tampered_or_replayed_request_state_is_refused() {
    let app = TestApp::spawn_with(&common::fixture_specs(), |c| {
        c.security.keys = vec![
            api_key("alice", &["tools:list", "tools:call"], &[], &[]),
            api_key("bob", &["tools:list", "tools:call"], &[], &[]),
        ];
    })
    .await;
    let call = json!({"name": "test_input_required_result_multi_round", "arguments": {}});
    let as_alice = |params: Value| modern(&app, "tools/call", params).header("authorization", bearer("alice"));
    let first = message(as_alice(call.clone()), StatusCode::OK).await["result"].clone();
    let state = first["requestState"].as_str().unwrap().to_owned();
    let answers = json!({"step1": {"action": "accept", "content": {"name": "Mallory"}}});
    let with = |state: &str, name: &str| json!({"name": name, "arguments": {}, "inputResponses": answers, "requestState": state});
    let mut flipped = state.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let refusals = [
        ("tampered", as_alice(with(&format!("{state}-TAMPERED"), "test_input_required_result_multi_round"))),
        (
            "a flipped byte",
            as_alice(with(&String::from_utf8(flipped).unwrap(), "test_input_required_result_multi_round")),
        ),
        ("another tool", as_alice(with(&state, "test_input_required_result_elicitation"))),
        (
            "another caller",
            modern(&app, "tools/call", with(&state, "test_input_required_result_multi_round"))
                .header("authorization", bearer("bob")),
        ),
    ];
    for (what, request) in refusals {
        let answer = message(request, StatusCode::OK).await;
        assert_eq!(answer["error"]["code"], -32602, "{what}: {answer}");
        assert!(answer.get("result").is_none(), "{what}");
    }
    let mut other_args = with(&state, "test_input_required_result_multi_round");
    other_args["arguments"] = json!({"extra": 1});
    let answer = message(as_alice(other_args), StatusCode::OK).await;
    assert_eq!(answer["error"]["code"], -32602, "other arguments: {answer}");
    // The genuine retry still works.
    let answer = message(as_alice(with(&state, "test_input_required_result_multi_round")), StatusCode::OK).await;
    assert_eq!(answer["result"]["resultType"], "input_required", "{answer}");
}

#[tokio::test]
async fn questions_the_client_cannot_answer_are_not_asked() {
    let app = TestApp::fixtures().await;
    let call = json!({"name": "test_input_required_result_capabilities", "arguments": {},
                      "_meta": meta(json!({"sampling": {}}))});
    let first = result(&app, "tools/call", call).await;
    let asked: Vec<&str> =
        first["inputRequests"].as_object().unwrap().values().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(asked, vec!["sampling/createMessage"], "{first}");
    let needs = json!({"name": "test_missing_capability", "arguments": {}, "_meta": meta(json!({}))});
    let answer = message(modern(&app, "tools/call", needs), StatusCode::BAD_REQUEST).await;
    assert_eq!(answer["error"]["code"], -32021);
    assert_eq!(answer["error"]["data"]["requiredCapabilities"], json!({"sampling": {}}));
}

#[tokio::test]
async fn malformed_answers_are_asked_again_or_refused() {
    let app = TestApp::fixtures().await;
    let mut call = json!({"name": "test_input_required_result_elicitation", "arguments": {}});
    call["inputResponses"] = json!({"user_name": 12345});
    assert_eq!(result(&app, "tools/call", call.clone()).await["resultType"], "input_required");
    call["inputResponses"] = Value::Null;
    let answer = message(modern(&app, "tools/call", call), StatusCode::OK).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

/// A workflow whose first step writes and whose second asks: the write happens once across both rounds.
#[tokio::test]
async fn a_workflow_step_that_ran_before_a_question_is_not_run_again_on_the_retry() {
    let writes = Arc::new(AtomicUsize::new(0));
    let counter = writes.clone();
    let upstream = axum::Router::new().route(
        "/orders",
        axum::routing::post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move { axum::Json(json!({"order": n})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let specs = common::copy_of_core_specs();
    let confirm = json!({"name": "confirm_order", "description": "Asks the user to confirm",
        "binding": {"kind": "builtin", "name": "elicit", "options": {"key": "confirm", "message": "Ship it?",
            "requested_schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}});
    let order = json!({"name": "place_order", "description": "Creates an order, then asks to ship it",
        "binding": {"kind": "workflow", "steps": [
            {"id": "create", "binding": {"kind": "http", "method": "POST", "url": format!("http://{address}/orders")}},
            {"id": "ship", "tool": "confirm_order", "after": ["create"]}]}});
    write_spec(specs.path(), "confirm_order.json", &confirm.to_string());
    write_spec(specs.path(), "place_order.json", &order.to_string());
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let call = json!({"name": "place_order", "arguments": {}});
    let first = result(&app, "tools/call", call.clone()).await;
    assert_eq!(first["resultType"], "input_required", "{first}");
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    let mut retry = call;
    retry["inputResponses"] = json!({"confirm": {"action": "accept", "content": {"ok": true}}});
    retry["requestState"] = first["requestState"].clone();
    let done = result(&app, "tools/call", retry).await;
    assert_eq!(done["isError"], false, "{done}");
    assert_eq!(done["structuredContent"]["create"]["order"], 1, "the first round's order: {done}");
    assert_eq!(writes.load(Ordering::SeqCst), 1, "the order was not placed twice");
}

#[tokio::test]
async fn a_listener_is_acknowledged_then_told_when_a_reload_changes_the_lists() {
    let app = TestApp::fixtures().await;
    let listen = modern(
        &app,
        "subscriptions/listen",
        json!({"notifications": {
        "toolsListChanged": true, "resourceSubscriptions": ["test://static-text", "test://not-there"]}}),
    );
    let mut stream = SseStream::new(listen.send().await.unwrap());
    let ack = next_data(&mut stream).await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "resourceSubscriptions": ["test://static-text"]}),
        "only what exists is honoured"
    );
    let subscription = ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"].clone();
    assert!(!subscription.is_null());
    let reloaded = result(&app, "tools/call", json!({"name": "test_trigger_tool_change", "arguments": {}})).await;
    assert_eq!(reloaded["structuredContent"]["reloaded"], true, "{reloaded}");
    let changed = next_data(&mut stream).await;
    assert_eq!(changed["method"], "notifications/tools/list_changed");
    assert_eq!(changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], subscription);
}

/// The next event's JSON (2026 streams send plain `data:` events).
async fn next_data(stream: &mut SseStream) -> Value {
    let event = stream.next_event().await;
    assert!(event.id.is_none(), "2026-07-28 streams are not resumable: {event:?}");
    serde_json::from_str(&event.data).unwrap()
}

#[tokio::test]
async fn progress_streams_on_the_request_and_log_lines_only_when_a_level_is_chosen() {
    let app = TestApp::fixtures().await;
    let mut params = json!({"name": "test_tool_with_progress", "arguments": {}});
    params["_meta"] = meta(json!({}));
    params["_meta"]["progressToken"] = json!("p1");
    let mut stream = SseStream::new(modern(&app, "tools/call", params).send().await.unwrap());
    let first = next_data(&mut stream).await;
    assert_eq!(first["method"], "notifications/progress");
    assert_eq!(first["params"]["progressToken"], "p1");
    let mut last = first;
    while last.get("result").is_none() {
        last = next_data(&mut stream).await;
    }
    assert_eq!(last["result"]["resultType"], "complete");
    let quiet = result(&app, "tools/call", json!({"name": "test_logging_tool", "arguments": {}})).await;
    assert_eq!(quiet["content"][0]["text"], "Logging test completed", "no level chosen: plain JSON, no log lines");
    let mut params = json!({"name": "test_logging_tool", "arguments": {}});
    params["_meta"] = meta(json!({}));
    params["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    let mut stream = SseStream::new(modern(&app, "tools/call", params).send().await.unwrap());
    assert_eq!(next_data(&mut stream).await["method"], "notifications/message");
}

#[tokio::test]
async fn a_prompt_that_asks_first_is_input_required_then_rendered_with_the_answer() {
    let app = TestApp::fixtures().await;
    let get = json!({"name": "test_input_required_result_prompt"});
    let first = result(&app, "prompts/get", get.clone()).await;
    assert_eq!(first["resultType"], "input_required", "{first}");
    assert_eq!(first["inputRequests"]["user_context"]["method"], "elicitation/create");
    let mut retry = get;
    retry["inputResponses"] = json!({"user_context": {"action": "accept", "content": {"context": "tea"}}});
    retry["requestState"] = first["requestState"].clone();
    let done = result(&app, "prompts/get", retry).await;
    assert_eq!(done["messages"][0]["content"]["text"], "Use this context: tea", "{done}");
    // The handshake era asks through a session's stream; a stateless request cannot be asked.
    let stateless = app.rpc(None, "prompts/get", json!({"name": "test_input_required_result_prompt"})).await;
    assert_eq!(stateless["error"]["data"]["code"], "unsupported", "{stateless}");
}
