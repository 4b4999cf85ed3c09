//! The legacy HTTP+SSE transport (2024-11-05): `GET /sse` names the POST endpoint, POSTs answer 202 and the
//! responses travel on the stream.

use crate::common;

use common::{SseStream, TestApp};
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

/// Open `GET /sse` and read its `endpoint` event; returns the stream and the POST path.
async fn open(app: &TestApp) -> (SseStream, String) {
    let response = app.get("/sse").header(ACCEPT, "text/event-stream").send().await.unwrap();
    let mut stream = SseStream::new(response);
    let endpoint = stream.next_event().await;
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"), "{endpoint:?}");
    (stream, endpoint.data)
}

#[tokio::test]
async fn sse_stream_starts_with_the_messages_endpoint() {
    let app = TestApp::spawn().await;
    let (_stream, endpoint) = open(&app).await;
    let session = endpoint.strip_prefix("/messages?sessionId=").unwrap_or_else(|| panic!("endpoint: {endpoint}"));
    assert!(!session.is_empty());
}

#[tokio::test]
async fn initialize_and_tools_call_answer_202_and_arrive_on_the_stream() {
    let app = TestApp::spawn().await;
    let (mut stream, endpoint) = open(&app).await;

    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "legacy", "version": "1"}},
    });
    let posted = app.post(&endpoint).json(&initialize).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");

    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(app.post(&endpoint).json(&initialized).send().await.unwrap().status(), StatusCode::ACCEPTED);

    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ping", "arguments": {}}});
    let posted = app.post(&endpoint).json(&call).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::ACCEPTED);
    assert!(posted.bytes().await.unwrap().is_empty(), "the answer travels on the stream, not in the POST");
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["pong"], true);
}

#[tokio::test]
async fn progress_notifications_travel_on_the_legacy_stream_before_the_result() {
    let app = TestApp::fixtures().await;
    let (mut stream, endpoint) = open(&app).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                      "params": {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": 9}}});
    assert_eq!(app.post(&endpoint).json(&call).send().await.unwrap().status(), StatusCode::ACCEPTED);
    for expected in [0.0, 50.0, 100.0] {
        let note = stream.next_message().await;
        assert_eq!(note["method"], "notifications/progress", "{note}");
        assert_eq!(note["params"]["progressToken"], 9);
        assert_eq!(note["params"]["progress"], expected);
    }
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], 3, "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "Progress test completed");
}

#[tokio::test]
async fn legacy_errors_arrive_on_the_stream_as_json_rpc_errors() {
    let app = TestApp::spawn().await;
    let (mut stream, endpoint) = open(&app).await;
    let call = json!({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {"name": "nope"}});
    assert_eq!(app.post(&endpoint).json(&call).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], "x");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
}

#[tokio::test]
async fn messages_without_session_id_is_400() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let response = app.post("/messages").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message: Value = response.json().await.unwrap();
    assert!(message["error"]["message"].as_str().unwrap().contains("sessionId"), "{message}");
}

#[tokio::test]
async fn messages_with_an_unknown_session_id_is_404() {
    let app = TestApp::spawn().await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let response = app.post("/messages?sessionId=doesnotexist").json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn closing_the_stream_ends_the_legacy_session() {
    let app = TestApp::spawn().await;
    let (stream, endpoint) = open(&app).await;
    drop(stream);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    common::eventually("the legacy session ends after its stream closed", || async {
        app.post(&endpoint).json(&body).send().await.unwrap().status() == StatusCode::NOT_FOUND
    })
    .await;
}
