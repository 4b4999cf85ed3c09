//! Streamable HTTP on `/mcp`: the handshake and version negotiation, sessions, tools, pagination, protocol
//! errors, the modern-version probe and batches.

use crate::common;

use common::{JSON_AND_SSE, SESSION_HEADER, SseStream, TestApp, VERSION_HEADER, assert_content_type, header};
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

#[tokio::test]
async fn initialize_negotiates_each_supported_version_and_returns_a_session_id() {
    let app = TestApp::spawn().await;
    let mut sessions = Vec::new();
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let (session, result) = app.initialize_raw(version, json!({})).await;
        assert_eq!(result["protocolVersion"], version, "{result}");
        assert_eq!(result["serverInfo"]["name"], "mcp-gateway");
        assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
        assert!(!session.is_empty() && session.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{session}");
        sessions.push(session);
    }
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 3, "every initialize starts its own session");
}

#[tokio::test]
async fn initialize_with_an_unknown_version_offers_the_latest() {
    let app = TestApp::spawn().await;
    let (_, result) = app.initialize_raw("1999-01-01", json!({})).await;
    assert_eq!(result["protocolVersion"], "2025-11-25");
}

#[tokio::test]
async fn initialized_notification_is_accepted_with_202_and_no_body() {
    let app = TestApp::spawn().await;
    let (session, _) = app.initialize_raw("2025-06-18", json!({})).await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = app.mcp(Some(&session), &note).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn tools_list_describes_the_shipped_tools() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let message = app.rpc(Some(&session), "tools/list", json!({})).await;
    let tools = message["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["list_tools", "ping"]);
    let ping = &tools[1];
    assert_eq!(ping["inputSchema"]["type"], "object");
    assert_eq!(ping["annotations"]["readOnlyHint"], true);
    assert!(ping["description"].as_str().unwrap().contains("pong"));
    assert!(message["result"].get("nextCursor").is_none(), "one page holds everything");
}

#[tokio::test]
async fn tools_call_ping_returns_text_content_and_structured_content() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-11-25").await;
    let result = app.call_tool(Some(&session), "ping", json!({})).await;
    assert_eq!(result["isError"], false);
    assert_eq!(result["content"][0]["type"], "text");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["pong"], true);
    assert_eq!(result["structuredContent"]["pong"], true);
    assert_eq!(result["structuredContent"]["server"], "mcp-gateway");
    assert_eq!(result["structuredContent"]["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn tools_call_without_a_session_is_served_statelessly() {
    let app = TestApp::spawn().await;
    let result = app.call_tool(None, "ping", json!({})).await;
    assert_eq!(result["structuredContent"]["pong"], true);
}

#[tokio::test]
async fn tools_list_pages_follow_next_cursor_to_the_end() {
    let app = TestApp::spawn_with(&common::fixture_specs(), |c| c.page_size = 4).await;
    let total = app.state.engine.registry().snapshot().tools().len();
    assert!(total > 8, "the fixture profile has enough tools for several pages");
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = cursor.as_ref().map_or_else(|| json!({}), |c| json!({"cursor": c}));
        let result = app.rpc(None, "tools/list", params).await["result"].clone();
        let page = result["tools"].as_array().unwrap();
        assert!(page.len() <= 4 && !page.is_empty(), "page {pages} has {} tools", page.len());
        names.extend(page.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        pages += 1;
        match result.get("nextCursor") {
            Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
            None => break,
        }
        assert!(pages < 100, "pagination never ends");
    }
    assert_eq!(pages, total.div_ceil(4));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), total, "every tool exactly once: {names:?}");
}

#[tokio::test]
async fn tools_list_with_a_bad_cursor_returns_invalid_params() {
    let app = TestApp::spawn().await;
    let message = app.rpc(None, "tools/list", json!({"cursor": "not-a-cursor"})).await;
    assert_eq!(message["error"]["code"], -32602, "{message}");
    assert!(message["error"]["message"].as_str().unwrap().contains("cursor"));
}

#[tokio::test]
async fn tools_call_with_unknown_tool_returns_invalid_params() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "nope", "arguments": {}}});
    let message: Value = app.mcp(None, &body).send().await.unwrap().json().await.unwrap();
    assert_eq!(message["id"], 9);
    assert_eq!(message["error"]["code"], -32602, "{message}");
    assert!(message["error"]["message"].as_str().unwrap().contains("nope"));
    assert_eq!(message["error"]["data"]["code"], "unknown_tool");
}

#[tokio::test]
async fn tools_call_with_invalid_arguments_returns_an_error_result_naming_the_field() {
    let app = TestApp::spawn().await;
    let result = app.call_tool(None, "list_tools", json!({"category": 5})).await;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("`category`"), "{text}");
    assert!(text.contains("string"), "{text}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "invalid_params");
}

#[tokio::test]
async fn unknown_method_returns_method_not_found() {
    let app = TestApp::spawn().await;
    let message = app.rpc(None, "tools/frobnicate", json!({})).await;
    assert_eq!(message["error"]["code"], -32601, "{message}");
}

#[tokio::test]
async fn request_with_an_unknown_session_id_is_404() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let response = app.mcp(Some("0123456789abcdef0123456789abcdef"), &body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let message: Value = response.json().await.unwrap();
    assert!(message["error"]["message"].as_str().unwrap().contains("initialize"), "{message}");
}

#[tokio::test]
async fn delete_ends_the_session_and_later_requests_get_404() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let deleted = app.client.delete(app.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(app.mcp(Some(&session), &body).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let again = app.client.delete(app.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn get_stream_without_a_session_is_400() {
    let app = TestApp::spawn().await;
    let response = app.get("/mcp").header(ACCEPT, "text/event-stream").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["error"]["code"], -32600);
}

#[tokio::test]
async fn get_stream_without_accepting_event_stream_is_406() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let response =
        app.get("/mcp").header(ACCEPT, "application/json").header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn get_stream_with_an_unknown_session_is_404() {
    let app = TestApp::spawn().await;
    let response =
        app.get("/mcp").header(ACCEPT, "text/event-stream").header(SESSION_HEADER, "feedface").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn get_stream_of_a_2025_11_25_session_primes_and_ends_when_the_session_is_deleted() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-11-25").await;
    let response =
        app.get("/mcp").header(ACCEPT, "text/event-stream").header(SESSION_HEADER, &session).send().await.unwrap();
    let mut stream = SseStream::new(response);
    let priming = stream.next_event().await;
    assert!(priming.id.is_some() && priming.data.is_empty(), "{priming:?}");
    let deleted = app.client.delete(app.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    stream.expect_end().await;
}

#[tokio::test]
async fn delete_without_a_session_header_is_400() {
    let app = TestApp::spawn().await;
    let response = app.client.delete(app.url("/mcp")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn initialize_beyond_the_session_limit_is_503_with_a_json_rpc_error() {
    let app = TestApp::spawn_with(&common::core_specs(), |c| c.limits.max_sessions = 1).await;
    let _first = app.initialize("2025-06-18").await;
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "initialize",
                      "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = app.mcp(None, &body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&response, SESSION_HEADER).is_none());
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["id"], 2);
    assert!(message["error"]["message"].as_str().unwrap().contains("session limit"), "{message}");
}

#[tokio::test]
async fn unsupported_protocol_version_header_is_400() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let response = app.mcp(Some(&session), &body).header(VERSION_HEADER, "1999-01-01").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["error"]["code"], -32600);
    assert!(message["error"]["message"].as_str().unwrap().contains("1999-01-01"), "{message}");
}

fn two_pings() -> Value {
    json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ping", "arguments": {}}},
    ])
}

#[tokio::test]
async fn batches_are_answered_in_a_2025_03_26_session() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-03-26").await;
    let response = app.mcp(Some(&session), &two_pings()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answers: Vec<Value> = response.json().await.unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[0]["result"], json!({}));
    assert_eq!(answers[1]["id"], 2);
    assert_eq!(answers[1]["result"]["structuredContent"]["pong"], true);
}

#[tokio::test]
async fn batches_are_answered_statelessly_without_a_version_header() {
    let app = TestApp::spawn().await;
    let response = app.mcp(None, &two_pings()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answers: Vec<Value> = response.json().await.unwrap();
    assert_eq!(answers.iter().map(|a| a["id"].clone()).collect::<Vec<_>>(), [json!(1), json!(2)]);
}

#[tokio::test]
async fn batch_items_are_answered_one_by_one_and_notifications_get_no_answer() {
    let app = TestApp::spawn().await;
    let batch = json!([
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
        {"jsonrpc": "1.0", "id": "b", "method": "ping"},
        {"jsonrpc": "2.0", "id": "c", "method": "initialize", "params": {}},
        {"jsonrpc": "2.0", "id": "d", "method": "nope/nope"},
    ]);
    let answers: Vec<Value> = app.mcp(None, &batch).send().await.unwrap().json().await.unwrap();
    let by_id = |id: &str| answers.iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no answer {id}"));
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(by_id("a")["result"]["tools"].as_array().unwrap().len(), 2);
    assert_eq!(by_id("b")["error"]["code"], -32600);
    assert_eq!(by_id("c")["error"]["code"], -32600);
    assert_eq!(by_id("d")["error"]["code"], -32601);
    let only_notifications = json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}]);
    assert_eq!(app.mcp(None, &only_notifications).send().await.unwrap().status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn batches_are_rejected_in_a_2025_06_18_session() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let response = app.mcp(Some(&session), &two_pings()).header(VERSION_HEADER, "2025-06-18").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["error"]["code"], -32600, "{message}");
    assert!(message["error"]["message"].as_str().unwrap().contains("2025-06-18"));
}

#[tokio::test]
async fn logging_set_level_returns_an_empty_result() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let message = app.rpc(Some(&session), "logging/setLevel", json!({"level": "debug"})).await;
    assert_eq!(message["result"], json!({}), "{message}");
    let bad = app.rpc(Some(&session), "logging/setLevel", json!({"level": "loud"})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[tokio::test]
async fn plain_requests_stay_json_even_when_the_client_accepts_event_streams() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
    let response = app.post("/mcp").header(ACCEPT, JSON_AND_SSE).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_content_type(&response, "application/json");
    assert!(header(&response, SESSION_HEADER).is_none(), "only initialize creates a session");
}
