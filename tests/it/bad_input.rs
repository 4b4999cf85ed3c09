//! Hostile and broken requests: each gets a typed answer, and the server keeps answering afterwards.

use crate::common;

use common::{TestApp, header};
use reqwest::header::{CONTENT_TYPE, HOST, ORIGIN};
use reqwest::{Body, StatusCode};
use serde_json::{Value, json};

const PING: &str = r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#;

/// POST raw bytes to `/mcp` as JSON; returns the status and the JSON body.
async fn post_raw(app: &TestApp, body: impl Into<Body>) -> (StatusCode, Value) {
    let response = app.post("/mcp").header(CONTENT_TYPE, "application/json").body(body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.expect("errors are JSON"))
}

#[tokio::test]
async fn malformed_json_is_400_parse_error() {
    let app = TestApp::spawn().await;
    let (status, body) = post_raw(&app, r#"{"jsonrpc": "2.0", "id": 1, "method": "#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert_eq!(body["id"], Value::Null);
    app.assert_healthy().await;
}

#[tokio::test]
async fn text_plain_on_mcp_is_415() {
    let app = TestApp::spawn().await;
    let response = app.post("/mcp").header(CONTENT_TYPE, "text/plain").body(PING).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("text/plain"), "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = TestApp::spawn_with(&common::core_specs(), |c| c.limits.max_body_bytes = 1024).await;
    let padding = "x".repeat(4096);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": padding}}).to_string();
    let (status, body) = post_raw(&app, body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"]["message"].as_str().unwrap().contains("1024"), "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn streamed_body_over_the_limit_without_content_length_is_413() {
    let app = TestApp::spawn_with(&common::core_specs(), |c| c.limits.max_body_bytes = 1024).await;
    let chunks: Vec<Result<String, std::io::Error>> = (0..8).map(|_| Ok("[".repeat(512))).collect();
    let (status, _) = post_raw(&app, Body::wrap_stream(futures_util::stream::iter(chunks))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let rest = app
        .post("/mcp/tools/call")
        .body(Body::wrap_stream(futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>("x".repeat(512))))))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = rest.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    app.assert_healthy().await;
}

#[tokio::test]
async fn absurdly_nested_json_is_a_parse_error_not_a_crash() {
    let app = TestApp::spawn().await;
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let (status, body) = post_raw(&app, nested.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    let inside = format!(r#"{{"tool_name": "ping", "params": {{"deep": {nested}}}}}"#);
    let rest = app.post("/mcp/tools/call").body(inside).send().await.unwrap();
    assert_eq!(rest.status(), StatusCode::BAD_REQUEST);
    app.assert_healthy().await;
}

#[tokio::test]
async fn invalid_utf8_is_400() {
    let app = TestApp::spawn().await;
    let bytes: Vec<u8> =
        [&br#"{"jsonrpc": "2.0", "id": 1, "method": ""#[..], &[0xff, 0xfe, 0xfd], &br#""}"#[..]].concat();
    let (status, body) = post_raw(&app, bytes).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn empty_body_is_400_parse_error() {
    let app = TestApp::spawn().await;
    let (status, body) = post_raw(&app, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("empty"), "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn json_that_is_not_an_object_is_invalid_request() {
    let app = TestApp::spawn().await;
    for text in ["42", r#""ping""#, "null", "true"] {
        let (status, body) = post_raw(&app, text).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(body["error"]["code"], -32600, "{text}: {body}");
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn empty_batch_is_invalid_request() {
    let app = TestApp::spawn().await;
    let (status, body) = post_raw(&app, "[]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32600, "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn foreign_origin_is_403_on_mcp() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/mcp")
        .header(CONTENT_TYPE, "application/json")
        .header(ORIGIN, "http://evil.example.com")
        .body(PING)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("evil.example.com"), "{body}");
    let sse = app.get("/sse").header(ORIGIN, "http://evil.example.com").send().await.unwrap();
    assert_eq!(sse.status(), StatusCode::FORBIDDEN);
    app.assert_healthy().await;
}

#[tokio::test]
async fn foreign_host_header_is_403_on_mcp() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/mcp")
        .header(CONTENT_TYPE, "application/json")
        .header(HOST, "evil.example.com")
        .body(PING)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    app.assert_healthy().await;
}

#[tokio::test]
async fn foreign_origin_is_403_on_rest_tool_endpoints() {
    let app = TestApp::spawn().await;
    let call = json!({"tool": "ping", "params": {}});
    // A cross-site form post: a browser sends it without a preflight.
    let response = app
        .post("/execute")
        .header(CONTENT_TYPE, "text/plain")
        .header(ORIGIN, "http://evil.example.com")
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("evil.example.com"), "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let list = app.get("/mcp/tools/list").header(ORIGIN, "http://evil.example.com").send().await.unwrap();
    assert_eq!(list.status(), StatusCode::FORBIDDEN);
    let allowed = app.post("/execute").header(ORIGIN, "http://localhost:3000").json(&call).send().await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    app.assert_healthy().await;
}

#[tokio::test]
async fn foreign_host_header_is_403_on_rest_tool_endpoints() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/mcp/tools/call")
        .header(HOST, "evil.example.com")
        .json(&json!({"tool_name": "ping", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
}

#[tokio::test]
async fn localhost_origins_are_allowed() {
    let app = TestApp::spawn().await;
    for origin in ["http://localhost:3000", "http://127.0.0.1:6274", "http://[::1]:8080"] {
        let response = app
            .post("/mcp")
            .header(CONTENT_TYPE, "application/json")
            .header(ORIGIN, origin)
            .body(PING)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{origin}");
    }
}

#[tokio::test]
async fn huge_numbers_in_arguments_are_answered_not_crashed_on() {
    let app = TestApp::spawn().await;
    let big = r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_tools", "arguments": {"category": 123456789012345678901234567890123456789012345678901234567890}}}"#;
    let (status, body) = post_raw(&app, big).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert!(body["result"]["content"][0]["text"].as_str().unwrap().contains("category"), "{body}");

    let overflow = r#"{"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "ping", "arguments": {"n": 1e400}}}"#;
    let (status, body) = post_raw(&app, overflow).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    app.assert_healthy().await;
}

#[tokio::test]
async fn unknown_route_is_404_json_with_the_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/route").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let request_id = header(&response, "x-request-id").unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("/no/such/route"), "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], request_id.as_str());
}

#[tokio::test]
async fn rest_body_that_is_not_an_object_is_400() {
    let app = TestApp::spawn().await;
    let response = app.post("/execute").body("[1, 2, 3]").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    app.assert_healthy().await;
}
