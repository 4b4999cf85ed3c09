//! Upstreams that misbehave as an attacker's or a broken proxy's would: a redirect to another host (which must
//! never receive the gateway's credentials), an answer far larger than any JSON API sends (refused at the cap
//! while it streams), an HTML page with status 200, and an answer that stalls. Each ends the call with a typed
//! error naming what happened, in the caller's format.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use common::{TestApp, write_spec};
use futures_util::stream;
use mcp_gateway::config::SupabaseSettings;
use serde_json::{Value, json};

const KEY: &str = "service-role-secret-7c21";
const TOKEN: &str = "inventory-token-55e0";

/// A host the gateway was never configured for: it records every request's headers.
#[derive(Clone, Default)]
struct Elsewhere {
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

async fn record(State(elsewhere): State<Elsewhere>, headers: HeaderMap) -> Response {
    elsewhere.seen.lock().unwrap().push(headers);
    axum::Json(json!({"stolen": true})).into_response()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// How many bytes of the endless answer went out before the gateway stopped reading.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<u64>>);

/// The hostile upstream: PostgREST paths and plain REST paths that misbehave, each in one way.
async fn hostile(elsewhere: &str, sent: Sent) -> String {
    let to = format!("{elsewhere}/steal");
    let redirect = move || {
        let to = to.clone();
        async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response() }
    };
    let endless = move || {
        let sent = sent.clone();
        async move {
            // 64 KiB chunks without a declared length, far past any cap: ~1 GiB if nobody stopped reading.
            let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
            let body = stream::iter((0..16_384).map(move |_| {
                *sent.0.lock().unwrap() += chunk.len() as u64;
                Ok::<_, std::io::Error>(chunk.clone())
            }));
            ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response()
        }
    };
    let declared = || async {
        // Declares a gigabyte up front: refused before a byte of it is read.
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, (1u64 << 30).to_string())
            .body(Body::from_stream(stream::pending::<Result<bytes::Bytes, std::io::Error>>()))
            .unwrap()
    };
    let html = || async {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<html><body><h1>502 Bad Gateway</h1></body></html>")
    };
    let stall = || async {
        let body = stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response()
    };
    let app = Router::new()
        .route("/rest/v1/rpc/moved", post(redirect.clone()))
        .route("/rest/v1/rpc/endless", post(endless))
        .route("/rest/v1/rpc/declared", post(declared))
        .route("/rest/v1/rpc/html", post(html))
        .route("/rest/v1/rpc/stall", post(stall))
        .route("/items/moved", any(redirect));
    serve(app).await
}

struct Setup {
    app: TestApp,
    elsewhere: Elsewhere,
    sent: Sent,
    _specs: tempfile::TempDir,
}

async fn setup() -> Setup {
    let elsewhere = Elsewhere::default();
    let elsewhere_url = serve(Router::new().route("/steal", any(record)).with_state(elsewhere.clone())).await;
    let sent = Sent::default();
    let upstream = hostile(&elsewhere_url, sent.clone()).await;
    let specs = tempfile::tempdir().unwrap();
    for function in ["moved", "endless", "declared", "html", "stall"] {
        let spec = json!({"name": format!("rpc_{function}"), "description": "a read", "category": "read",
            "inputSchema": {"type": "object", "properties": {}},
            "binding": {"kind": "supabase_rpc", "function": function, "args": {},
                        "idempotent": function != "stall", "timeout_secs": 2}});
        write_spec(specs.path(), &format!("rpc_{function}.json"), &spec.to_string());
    }
    let http = json!({"name": "inventory_moved", "description": "GET an item", "category": "read",
        "inputSchema": {"type": "object", "properties": {}},
        "binding": {"kind": "http", "method": "GET", "url": format!("{upstream}/items/moved"),
                    "headers": {"Authorization": format!("Bearer {TOKEN}"), "X-Inventory-Key": TOKEN}}});
    write_spec(specs.path(), "inventory_moved.json", &http.to_string());
    let app = TestApp::spawn_with(specs.path(), move |config| {
        config.supabase = SupabaseSettings { url: Some(upstream), api_key: Some(KEY.into()) };
        config.limits.upstream_max_answer_bytes = 256 * 1024;
    })
    .await;
    Setup { app, elsewhere, sent, _specs: specs }
}

async fn rest_call(app: &TestApp, tool: &str) -> (StatusCode, Value) {
    let response = app.post("/mcp/tools/call").json(&json!({"tool_name": tool, "params": {}})).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_redirect_to_another_host_is_an_upstream_error_and_the_credentials_never_leave() {
    let s = setup().await;
    let (status, body) = rest_call(&s.app, "rpc_moved").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert_eq!(body["error"]["retryable"], false);
    let host = body["error"]["details"]["redirect_host"].as_str().unwrap();
    assert!(host.starts_with("127.0.0.1:"), "the error names where the redirect pointed: {body}");
    assert!(body["detail"].as_str().unwrap().contains("redirect (307)"), "{body}");

    // The same over MCP, for a templated credential header of an `http` binding.
    let result = s.app.call_tool(None, "inventory_moved", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "upstream_error");

    assert!(s.elsewhere.seen.lock().unwrap().is_empty(), "the other host received a request");
    assert!(!body.to_string().contains(KEY) && !result.to_string().contains(TOKEN));
}

#[tokio::test]
async fn an_endless_answer_is_cut_at_the_cap_with_a_typed_non_retryable_error() {
    let s = setup().await;
    let (status, body) = rest_call(&s.app, "rpc_endless").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert_eq!(body["error"]["retryable"], false);
    assert_eq!(body["error"]["details"]["limit_bytes"], 256 * 1024);
    assert!(body["detail"].as_str().unwrap().contains("more than 262144 bytes"), "{body}");
    // The gateway stopped reading: the upstream could not push its gigabyte (socket buffers hold a few MiB).
    common::eventually("the upstream stops sending", || async { *s.sent.0.lock().unwrap() < 64 * 1024 * 1024 }).await;
    s.app.assert_healthy().await;
}

#[tokio::test]
async fn an_answer_declaring_more_than_the_cap_is_refused_before_it_is_read() {
    let s = setup().await;
    let (status, body) = rest_call(&s.app, "rpc_declared").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["details"]["limit_bytes"], 256 * 1024, "{body}");
}

#[tokio::test]
async fn an_html_page_with_status_200_is_not_a_success() {
    let s = setup().await;
    let (status, body) = rest_call(&s.app, "rpc_html").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["success"], Value::Null, "no success envelope: {body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert_eq!(body["error"]["details"]["content_type"], "text/html");
    assert!(body["error"]["details"]["body_start"].as_str().unwrap().starts_with("<html>"), "{body}");
    let result = s.app.call_tool(None, "rpc_html", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_stalls_ends_at_the_binding_timeout() {
    let s = setup().await;
    let (status, body) = rest_call(&s.app, "rpc_stall").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert!(body["error"]["request_id"].is_string(), "{body}");
}

#[tokio::test]
async fn upstream_answers_over_the_cap_are_counted_in_the_metrics() {
    let s = setup().await;
    let _ = rest_call(&s.app, "rpc_endless").await;
    let metrics = s.app.metrics().await;
    assert!(
        metrics.lines().any(|l| l.contains("provider=\"supabase\"") && l.contains("too_large")),
        "an upstream_requests line for the refused answer: {metrics}"
    );
}
