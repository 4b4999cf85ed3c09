//! The REST endpoints of the services the gateway replaces: FlowChat (`/mcp/tools/...`), Dragonfly (`/tools`,
//! `/execute`) and the Narrations action envelope on `POST /mcp`.

use crate::common;

use common::{TestApp, header};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

#[tokio::test]
async fn flowchat_tools_list_has_name_category_description_and_total() {
    let app = TestApp::spawn().await;
    let response = app.get("/mcp/tools/list").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], 2);
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    for tool in tools {
        let keys: Vec<&str> = tool.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 3, "{tool}");
        assert_eq!(tool["category"], "system");
        assert!(tool["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert!(tools.iter().any(|t| t["name"] == "ping"));
}

#[tokio::test]
async fn flowchat_schema_returns_the_input_schema() {
    let app = TestApp::spawn().await;
    let body: Value = app.get("/mcp/tools/list_tools/schema").send().await.unwrap().json().await.unwrap();
    assert_eq!(body["name"], "list_tools");
    assert_eq!(body["input_schema"]["properties"]["category"]["type"], "string");
    let ping = app.get("/mcp/tools/ping/schema").send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    let ping: Value = ping.json().await.unwrap();
    assert_eq!(ping["input_schema"]["type"], "object");
    assert!(ping["description"].as_str().unwrap().contains("pong"));
}

#[tokio::test]
async fn flowchat_schema_of_an_unknown_tool_is_404_with_detail() {
    let app = TestApp::spawn().await;
    let response = app.get("/mcp/tools/nope/schema").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("nope"), "{body}");
    assert_eq!(body["error"]["code"], "unknown_tool");
}

#[tokio::test]
async fn flowchat_call_returns_success_tool_name_and_result() {
    let app = TestApp::spawn().await;
    let response = app.post("/mcp/tools/call").json(&json!({"tool_name": "ping", "params": {}})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["tool_name"], "ping");
    assert_eq!(body["result"]["pong"], true);
}

#[tokio::test]
async fn flowchat_call_with_bad_params_is_400_with_detail_code_and_request_id() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/mcp/tools/call")
        .json(&json!({"tool_name": "list_tools", "params": {"category": 5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let request_id = header(&response, "x-request-id").unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("category"), "{body}");
    assert_eq!(body["error"]["code"], "invalid_params");
    assert_eq!(body["error"]["retryable"], false);
    assert_eq!(body["error"]["request_id"], request_id.as_str());
}

#[tokio::test]
async fn flowchat_call_accepts_json_sent_as_a_curl_form() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/mcp/tools/call")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(r#"{"tool_name": "ping", "params": {}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["pong"], true);
}

#[tokio::test]
async fn flowchat_call_without_tool_name_is_400() {
    let app = TestApp::spawn().await;
    let response = app.post("/mcp/tools/call").json(&json!({"params": {}})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("tool_name"), "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn dragonfly_tools_lists_function_shaped_tools() {
    let app = TestApp::spawn().await;
    let response = app.get("/tools").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["count"], 2);
    assert_eq!(body["reloaded"], false);
    let ping = body["tools"].as_array().unwrap().iter().find(|t| t["function"]["name"] == "ping").unwrap();
    assert_eq!(ping["type"], "function");
    assert_eq!(ping["function"]["displayName"], "Ping");
    assert_eq!(ping["function"]["parameters"]["type"], "object");
}

#[tokio::test]
async fn dragonfly_execute_runs_the_tool() {
    let app = TestApp::spawn().await;
    let response = app.post("/execute").json(&json!({"tool": "ping", "params": {}})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = header(&response, "x-request-id").unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tool"], "ping");
    assert_eq!(body["result"]["pong"], true);
    assert_eq!(body["request_id"], request_id.as_str());
}

#[tokio::test]
async fn dragonfly_execute_of_an_unknown_tool_is_404() {
    let app = TestApp::spawn().await;
    let response = app.post("/execute").json(&json!({"tool": "nope", "params": {}})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_tool");
}

/// `2026-01-02T03:04:05.678Z`-style UTC timestamps, as the seed wrote them.
fn is_rfc3339_utc(value: &Value) -> bool {
    let Some(s) = value.as_str() else { return false };
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    s.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
}

#[tokio::test]
async fn action_envelope_ping_returns_the_narrations_shape() {
    let app = TestApp::spawn().await;
    let response = app.post("/mcp").json(&json!({"action": "ping", "payload": {}})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let request_id = header(&response, "x-request-id").unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["action"], "ping");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(body["data"]["pong"], true);
    assert_eq!(body["error"], Value::Null);
    assert!(is_rfc3339_utc(&body["received_at"]), "{body}");
    assert!(is_rfc3339_utc(&body["completed_at"]), "{body}");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
}

#[tokio::test]
async fn action_envelope_with_an_unknown_action_is_an_error_with_404() {
    let app = TestApp::spawn().await;
    let response = app.post("/mcp").json(&json!({"action": "make_coffee", "payload": {}})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["action"], "make_coffee");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["error"]["code"], "unknown_tool");
    assert!(body["error"]["message"].as_str().unwrap().contains("make_coffee"));
    assert_eq!(body["error"]["retryable"], false);
}

#[tokio::test]
async fn action_envelope_echoes_the_callers_request_id() {
    let app = TestApp::spawn().await;
    let envelope = json!({"action": "list_tools", "payload": {}, "request_id": "caller-req-42"});
    let body: Value = app.post("/mcp").json(&envelope).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["request_id"], "caller-req-42");
    assert_eq!(body["data"]["total"], 2);
}

#[tokio::test]
async fn action_envelope_with_a_non_object_payload_is_invalid_params() {
    let app = TestApp::spawn().await;
    let response = app.post("/mcp").json(&json!({"action": "ping", "payload": [1, 2]})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"]["code"], "invalid_params");
}

/// Send the whole request on a raw connection, then hang up without reading the answer.
async fn post_and_hang_up(app: &TestApp, path: &str, body: &Value) {
    let address = app.base.trim_start_matches("http://");
    let body = body.to_string();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, request.as_bytes()).await.unwrap();
    drop(socket);
}

// A write is never abandoned half-done because its client hung up: the REST adapters (FlowChat, action envelope)
// run calls to their end, as the MCP transport does.
#[tokio::test]
async fn rest_calls_whose_client_hangs_up_still_run_to_completion() {
    let specs = common::short_job_specs();
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let calls = [
        ("/mcp/tools/call", json!({"tool_name": "slow_job", "params": {}})),
        ("/mcp", json!({"action": "slow_job", "payload": {}})),
    ];
    for (done, (path, body)) in calls.iter().enumerate() {
        post_and_hang_up(&app, path, body).await;
        let finished = format!(r#"gateway_tool_calls_total{{tool="slow_job",outcome="ok"}} {}"#, done + 1);
        common::eventually(&format!("the call through {path} completes although its client left"), || async {
            app.metrics().await.contains(&finished)
        })
        .await;
    }
}
