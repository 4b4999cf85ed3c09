//! The Supabase MCP passthrough (seed 002) against an in-process fake of Supabase's MCP server that records
//! every request: what crosses (method, path tail, query, the MCP headers, the gateway's token) and what never
//! does (the caller's key, cookies), SSE streamed without buffering, and the failures.

use crate::common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{SseStream, TestApp, core_specs};
use futures_util::StreamExt;
use mcp_gateway::auth::{ApiKey, NamePattern, Scope, digest};
use mcp_gateway::config::SupabaseMcpSettings;
use serde_json::{Value, json};
use tokio::sync::Notify;

const PAT: &str = "sbp_4f9a0c2d7e1b_personal_token";
const PROXY_KEY: &str = "px-caller-key-77";

/// A request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct FakeSupabaseMcp {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The SSE stream sends its second event only once this is notified.
    release: Arc<Notify>,
}

impl FakeSupabaseMcp {
    async fn serve(&self) -> String {
        let app = Router::new().fallback(handle).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/mcp")
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(fake): State<FakeSupabaseMcp>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts.uri.path().to_owned();
    fake.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    match path.as_str() {
        "/mcp/sse" => {
            let release = fake.release.clone();
            let first = futures_util::stream::once(async {
                Ok::<_, Infallible>(Bytes::from("event: endpoint\ndata: first\n\n"))
            });
            let second = futures_util::stream::once(async move {
                release.notified().await;
                Ok::<_, Infallible>(Bytes::from("data: second\n\n"))
            });
            (
                [("content-type", "text/event-stream"), ("cache-control", "no-cache")],
                Body::from_stream(first.chain(second)),
            )
                .into_response()
        }
        "/mcp/stall" => std::future::pending().await,
        "/mcp/refuse" => (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Unauthorized"}))).into_response(),
        _ => {
            let received: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut response =
                axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {"received": received}})).into_response();
            let headers = response.headers_mut();
            headers.insert("mcp-session-id", "upstream-session-1".parse().unwrap());
            headers.insert("set-cookie", "tracking=1".parse().unwrap());
            headers.insert("x-upstream-internal", "node-7".parse().unwrap());
            response
        }
    }
}

fn key(id: &str, secret: &str, scopes: &[&str]) -> ApiKey {
    ApiKey::new(
        id.into(),
        digest(secret),
        scopes.iter().map(|s| Scope::parse(s).unwrap()).collect(),
        Vec::<NamePattern>::new(),
        Vec::new(),
    )
}

fn settings(url: &str, pat: Option<&str>) -> SupabaseMcpSettings {
    SupabaseMcpSettings {
        url: url.to_owned(),
        pat: pat.map(Into::into),
        project_ref: Some("proj123".into()),
        read_only: true,
        features: Vec::new(),
    }
}

async fn gateway(settings: SupabaseMcpSettings) -> TestApp {
    TestApp::spawn_with(&core_specs(), move |config| {
        config.supabase_mcp = settings;
        config.security.keys = vec![
            key("proxy", PROXY_KEY, &["proxy"]),
            key("flowchat", "fc-key", &["tools:list", "tools:call"]),
            key("both", "both-key", &["proxy", "tools:list"]),
        ];
        config.limits.request_timeout = Duration::from_secs(5);
    })
    .await
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Nothing the fake received holds the caller's key.
fn assert_no_caller_key(fake: &FakeSupabaseMcp) {
    for seen in fake.seen() {
        let everything = format!("{:?} {:?} {:?}", seen.query, seen.headers, seen.body);
        assert!(!everything.contains(PROXY_KEY), "the caller's key reached the upstream: {everything}");
        assert!(header(&seen, "x-proxy-key").is_none() && header(&seen, "cookie").is_none(), "{seen:?}");
    }
}

#[tokio::test]
async fn a_json_post_round_trips_with_the_gateways_token_and_never_the_callers_key() {
    let fake = FakeSupabaseMcp::default();
    let app = gateway(settings(&fake.serve().await, Some(PAT))).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let response = app
        .post("/mcp/")
        .header("x-proxy-key", PROXY_KEY)
        .header("cookie", "session=abc")
        .header("mcp-session-id", "s-1")
        .header("mcp-protocol-version", "2025-06-18")
        .header("accept", "application/json, text/event-stream")
        .header("connection", "keep-alive")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(common::header(&response, "mcp-session-id").as_deref(), Some("upstream-session-1"));
    assert!(common::header(&response, "set-cookie").is_none(), "upstream cookies stay upstream");
    assert!(common::header(&response, "x-upstream-internal").is_none());
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["result"]["received"], body);

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let up = &seen[0];
    assert_eq!((up.method.as_str(), up.path.as_str()), ("POST", "/mcp"));
    assert_eq!(up.query.as_deref(), Some("project_ref=proj123&read_only=true"));
    assert_eq!(header(up, "authorization"), Some(format!("Bearer {PAT}").as_str()));
    assert_eq!(header(up, "mcp-session-id"), Some("s-1"));
    assert_eq!(header(up, "mcp-protocol-version"), Some("2025-06-18"));
    assert_eq!(header(up, "content-type"), Some("application/json"));
    assert_eq!(header(up, "accept"), Some("application/json, text/event-stream"));
    assert!(header(up, "x-request-id").is_some());
    assert_no_caller_key(&fake);
    let health: Value = app.get("/health").send().await.unwrap().json().await.unwrap();
    assert!(
        health["features"].as_array().unwrap().contains(&json!("supabase_proxy")),
        "as seed 002 listed it: {health}"
    );
}

#[tokio::test]
async fn a_query_key_works_and_is_not_forwarded_nor_can_the_caller_lift_read_only() {
    let fake = FakeSupabaseMcp::default();
    let app = gateway(settings(&fake.serve().await, Some(PAT))).await;
    let url = format!("/mcp/rest/v1/rpc/stats?key={PROXY_KEY}&limit=5&read_only=false");
    let response = app.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/mcp/rest/v1/rpc/stats");
    assert_eq!(seen[0].query.as_deref(), Some("limit=5&project_ref=proj123&read_only=true"));
    assert_eq!(header(&seen[0], "authorization"), Some(format!("Bearer {PAT}").as_str()));
    assert_no_caller_key(&fake);
}

#[tokio::test]
async fn server_sent_events_stream_through_before_the_upstream_ends() {
    let fake = FakeSupabaseMcp::default();
    let app = gateway(settings(&fake.serve().await, Some(PAT))).await;
    let response =
        app.get(&format!("/mcp/sse?key={PROXY_KEY}")).header("accept", "text/event-stream").send().await.unwrap();
    let mut stream = SseStream::new(response);
    let first = stream.next_event().await;
    assert_eq!((first.event.as_deref(), first.data.as_str()), (Some("endpoint"), "first"));
    // The upstream is still holding its stream open: the first event got here unbuffered.
    fake.release.notify_one();
    assert_eq!(stream.next_event().await.data, "second");
    stream.expect_end().await;
    assert_eq!(header(&fake.seen()[0], "accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn without_a_token_the_passthrough_answers_503_not_configured() {
    let app = gateway(settings("https://mcp.supabase.com/mcp", None)).await;
    let response = app.get("/mcp/sse").header("x-proxy-key", PROXY_KEY).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(body["detail"].as_str().unwrap().contains("SUPABASE_PAT"), "{body}");
    assert!(body["error"]["request_id"].is_string());
    let health: Value = app.get("/health").send().await.unwrap().json().await.unwrap();
    assert!(!health["features"].as_array().unwrap().contains(&json!("supabase_proxy")), "{health}");
}

#[tokio::test]
async fn the_gateways_own_routes_under_mcp_are_not_proxied() {
    let fake = FakeSupabaseMcp::default();
    let app = gateway(settings(&fake.serve().await, Some(PAT))).await;
    let response = app.get("/mcp/tools/list").header("x-api-key", "both-key").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["tools"].as_array().unwrap().iter().any(|t| t["name"] == "ping"), "{body}");
    let schema = app.get("/mcp/tools/ping/schema").header("x-api-key", "both-key").send().await.unwrap();
    assert_eq!(schema.status(), StatusCode::OK);
    let refused = app.get("/mcp/tools/list").header("x-proxy-key", PROXY_KEY).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a proxy-only key cannot list through the owned route");
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());
}

#[tokio::test]
async fn the_passthrough_needs_the_proxy_scope() {
    let fake = FakeSupabaseMcp::default();
    let app = gateway(settings(&fake.serve().await, Some(PAT))).await;
    let missing = app.get("/mcp/sse").send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let wrong_scope = app.get("/mcp/sse").header("x-proxy-key", "fc-key").send().await.unwrap();
    assert_eq!(wrong_scope.status(), StatusCode::FORBIDDEN);
    let body: Value = wrong_scope.json().await.unwrap();
    assert_eq!(body["error"]["details"]["required_scope"], "proxy");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn an_unreachable_upstream_is_502_and_a_refused_token_is_not_the_callers_401() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let app = gateway(settings(&format!("http://{closed}/mcp"), Some(PAT))).await;
    let response = app.get("/mcp/sse").header("x-proxy-key", PROXY_KEY).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(body["error"]["retryable"], true);

    let fake = FakeSupabaseMcp::default();
    let app = gateway(settings(&fake.serve().await, Some(PAT))).await;
    let response = app.post("/mcp/refuse").header("x-proxy-key", PROXY_KEY).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get("www-authenticate").is_none());
    let text = response.text().await.unwrap();
    assert!(text.contains("SUPABASE_PAT") && !text.contains(PAT), "{text}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_whether_or_not_it_declares_its_length() {
    let fake = FakeSupabaseMcp::default();
    let url = fake.serve().await;
    let app = TestApp::spawn_with(&core_specs(), move |config| {
        config.supabase_mcp = settings(&url, Some(PAT));
        config.limits.max_body_bytes = 1024;
    })
    .await;
    let big = vec![b'x'; 4096];
    let declared = app.post("/mcp/").body(big.clone()).send().await.unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(fake.seen().is_empty(), "refused before any upstream request");

    let chunks = futures_util::stream::iter(
        big.chunks(512).map(|c| Ok::<_, Infallible>(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
    );
    let streamed = app.post("/mcp/").body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = streamed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn an_open_event_stream_counts_under_max_streams() {
    let fake = FakeSupabaseMcp::default();
    let url = fake.serve().await;
    let app = TestApp::spawn_with(&core_specs(), move |config| {
        config.supabase_mcp = settings(&url, Some(PAT));
        config.limits.max_streams = 1;
    })
    .await;
    let mut first = SseStream::new(app.get("/mcp/sse").header("accept", "text/event-stream").send().await.unwrap());
    assert_eq!(first.next_event().await.data, "first");
    let second = app.get("/mcp/sse").header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    let json_post = app.post("/mcp/").json(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).send().await.unwrap();
    assert_eq!(json_post.status(), StatusCode::OK, "plain JSON answers hold no stream place");
    fake.release.notify_one();
    assert_eq!(first.next_event().await.data, "second");
    first.expect_end().await;
}

#[tokio::test(start_paused = true)]
async fn an_upstream_that_never_starts_answering_is_504() {
    let fake = FakeSupabaseMcp::default();
    let url = fake.serve().await;
    let app = TestApp::spawn_with(&core_specs(), move |config| {
        config.supabase_mcp = settings(&url, Some(PAT));
        config.limits.request_timeout = Duration::from_millis(300);
    })
    .await;
    let response = app.get("/mcp/stall").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert_eq!(body["error"]["retryable"], true);
}
