//! What travels back to the client while a Streamable HTTP call runs: progress notifications, cancellation,
//! and server-to-client requests (sampling), all over the real SSE response.

use crate::common;

use common::{JSON_AND_SSE, SESSION_HEADER, SseStream, TestApp, assert_content_type};
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

fn call(id: i64, name: &str, arguments: Value, progress_token: Option<&str>) -> Value {
    let mut params = json!({"name": name, "arguments": arguments});
    if let Some(token) = progress_token {
        params["_meta"] = json!({"progressToken": token});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// A specs folder with `slow_job`: two progress steps ten minutes apart, so the first report arrives at once
/// and the call ends early only if something stops it.
fn slow_specs() -> tempfile::TempDir {
    let specs = tempfile::tempdir().unwrap();
    let slow = json!({
        "name": "slow_job",
        "description": "Reports progress, then waits a long time",
        "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 2, "interval_ms": 600_000}},
    });
    common::write_spec(specs.path(), "slow_job.json", &slow.to_string());
    specs
}

#[tokio::test]
async fn progress_token_with_event_stream_accept_streams_progress_then_the_result() {
    let app = TestApp::fixtures().await;
    let session = app.initialize("2025-11-25").await;
    let body = call(41, "test_tool_with_progress", json!({}), Some("progress-41"));
    let response = app.mcp(Some(&session), &body).send().await.unwrap();
    let mut stream = SseStream::new(response);

    let priming = stream.next_event().await;
    assert!(priming.data.is_empty() && priming.id.is_some(), "2025-11-25 streams start with a priming event");

    let mut progress = Vec::new();
    for _ in 0..3 {
        let note = stream.next_message().await;
        assert_eq!(note["method"], "notifications/progress", "{note}");
        assert_eq!(note["params"]["progressToken"], "progress-41");
        assert_eq!(note["params"]["total"], 100.0);
        progress.push(note["params"]["progress"].as_f64().unwrap());
    }
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "progress increases: {progress:?}");
    assert_eq!(progress.last(), Some(&100.0));

    let final_message = stream.next_message().await;
    assert_eq!(final_message["id"], 41);
    assert_eq!(final_message["result"]["isError"], false);
    assert_eq!(final_message["result"]["content"][0]["text"], "Progress test completed");
}

#[tokio::test]
async fn progress_token_with_json_only_accept_returns_plain_json() {
    let app = TestApp::fixtures().await;
    let session = app.initialize("2025-06-18").await;
    let body = call(42, "test_tool_with_progress", json!({}), Some("progress-42"));
    let response = app
        .post("/mcp")
        .header(ACCEPT, "application/json")
        .header(SESSION_HEADER, &session)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_content_type(&response, "application/json");
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["id"], 42);
    assert_eq!(message["result"]["content"][0]["text"], "Progress test completed");
}

#[tokio::test]
async fn notifications_cancelled_stops_a_running_call_with_a_cancelled_error_result() {
    let specs = slow_specs();
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let session = app.initialize("2025-06-18").await;

    let response = app.mcp(Some(&session), &call(77, "slow_job", json!({}), Some("slow"))).send().await.unwrap();
    let mut stream = SseStream::new(response);
    let first = stream.next_message().await;
    assert_eq!(first["method"], "notifications/progress", "the call is running: {first}");

    let cancel = json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 77, "reason": "user pressed stop"},
    });
    let accepted = app.mcp(Some(&session), &cancel).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);

    let end = stream.next_message().await;
    assert_eq!(end["id"], 77, "{end}");
    assert_eq!(end["result"]["isError"], true, "{end}");
    assert_eq!(end["result"]["_meta"]["mcp-gateway/error"]["code"], "cancelled", "{end}");
    assert!(end["result"]["content"][0]["text"].as_str().unwrap().contains("cancelled"));
}

#[tokio::test]
async fn cancelling_an_unknown_request_is_accepted_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let session = app.initialize("2025-06-18").await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}});
    assert_eq!(app.mcp(Some(&session), &cancel).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let result = app.call_tool(Some(&session), "ping", json!({})).await;
    assert_eq!(result["structuredContent"]["pong"], true);
}

#[tokio::test]
async fn sampling_request_round_trips_through_the_client() {
    let app = TestApp::fixtures().await;
    let session = app.initialize_with("2025-06-18", json!({"sampling": {}})).await;
    let body = call(5, "test_sampling", json!({"prompt": "What is 2+2?"}), None);
    let response = app.post("/mcp").header(ACCEPT, JSON_AND_SSE).header(SESSION_HEADER, &session).json(&body);
    let mut stream = SseStream::new(response.send().await.unwrap());

    let request = stream.next_message().await;
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    assert_eq!(request["params"]["messages"][0]["content"]["text"], "What is 2+2?");
    assert_eq!(request["params"]["maxTokens"], 100);
    let answer = json!({
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {
            "role": "assistant",
            "content": {"type": "text", "text": "The answer is 4"},
            "model": "test-model",
            "stopReason": "endTurn",
        },
    });
    let posted = app.mcp(Some(&session), &answer).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);

    let result = stream.next_message().await;
    assert_eq!(result["id"], 5, "{result}");
    assert_eq!(result["result"]["isError"], false);
    assert_eq!(result["result"]["content"][0]["text"], "LLM response: The answer is 4");
    assert_eq!(result["result"]["structuredContent"]["model"], "test-model");
}

#[tokio::test]
async fn sampling_without_the_client_capability_is_an_error_result() {
    let app = TestApp::fixtures().await;
    let session = app.initialize("2025-06-18").await;
    let result = app.call_tool(Some(&session), "test_sampling", json!({"prompt": "hi"})).await;
    assert_eq!(result["isError"], true, "{result}");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("sampling"), "{result}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "unsupported");
}

#[tokio::test]
async fn client_response_without_a_session_is_rejected() {
    let app = TestApp::spawn().await;
    let answer = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
    let response = app.mcp(None, &answer).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["error"]["code"], -32600);
}

// MCP: disconnection SHOULD NOT be interpreted as cancellation; the call runs to its end.
#[tokio::test]
async fn a_streamed_call_whose_client_disconnects_still_runs_to_completion() {
    let specs = common::short_job_specs();
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let session = app.initialize("2025-06-18").await;
    let response = app.mcp(Some(&session), &call(78, "slow_job", json!({}), Some("slow"))).send().await.unwrap();
    let mut stream = SseStream::new(response);
    assert_eq!(stream.next_message().await["method"], "notifications/progress");
    drop(stream);
    common::eventually("the call completes although its client left", || async {
        app.metrics().await.contains(r#"gateway_tool_calls_total{tool="slow_job",outcome="ok"} 1"#)
    })
    .await;
    assert!(!app.metrics().await.contains(r#"outcome="cancelled""#));
}

#[tokio::test]
async fn a_json_call_whose_client_disconnects_still_runs_to_completion() {
    let specs = common::short_job_specs();
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let session = app.initialize("2025-06-18").await;
    let body = call(79, "slow_job", json!({}), None).to_string();
    let address = app.base.trim_start_matches("http://");
    // A raw connection: send the whole request, then hang up without waiting for the answer.
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nAccept: application/json\r\n\
         Mcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, request.as_bytes()).await.unwrap();
    drop(socket);
    common::eventually("the call completes although its client left", || async {
        app.metrics().await.contains(r#"gateway_tool_calls_total{tool="slow_job",outcome="ok"} 1"#)
    })
    .await;
    assert!(!app.metrics().await.contains(r#"outcome="cancelled""#));
}

#[tokio::test]
async fn deleting_the_session_cancels_its_running_call() {
    let specs = slow_specs();
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let session = app.initialize("2025-06-18").await;
    let response = app.mcp(Some(&session), &call(80, "slow_job", json!({}), Some("slow"))).send().await.unwrap();
    let mut stream = SseStream::new(response);
    assert_eq!(stream.next_message().await["method"], "notifications/progress");

    let deleted = app.client.delete(app.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let end = stream.next_message().await;
    assert_eq!(end["id"], 80, "{end}");
    assert_eq!(end["result"]["_meta"]["mcp-gateway/error"]["code"], "cancelled", "{end}");
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_spec_timeout_ends_with_a_timeout_error_result() {
    let specs = tempfile::tempdir().unwrap();
    let stuck = json!({
        "name": "stuck",
        "description": "Never finishes within its timeout",
        "timeout_secs": 0.2,
        "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 2, "interval_ms": 600_000}},
    });
    common::write_spec(specs.path(), "stuck.json", &stuck.to_string());
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let result = app.call_tool(None, "stuck", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "timeout", "{result}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["retryable"], true, "{result}");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("stuck"), "{result}");
}

#[tokio::test]
async fn elicitation_request_round_trips_through_the_client() {
    let app = TestApp::fixtures().await;
    let session = app.initialize_with("2025-06-18", json!({"elicitation": {}})).await;
    let body = call(6, "test_elicitation", json!({"message": "Who are you?"}), None);
    let mut stream = SseStream::new(app.mcp(Some(&session), &body).send().await.unwrap());

    let request = stream.next_message().await;
    assert_eq!(request["method"], "elicitation/create", "{request}");
    assert_eq!(request["params"]["message"], "Who are you?");
    assert_eq!(request["params"]["requestedSchema"]["required"], json!(["username", "email"]));
    let answer = json!({
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}},
    });
    assert_eq!(app.mcp(Some(&session), &answer).send().await.unwrap().status(), StatusCode::ACCEPTED);

    let result = stream.next_message().await;
    assert_eq!(result["id"], 6, "{result}");
    assert_eq!(result["result"]["structuredContent"]["action"], "accept");
    assert_eq!(result["result"]["structuredContent"]["content"]["username"], "ada");
    assert!(result["result"]["content"][0]["text"].as_str().unwrap().contains("action=accept"), "{result}");
}
