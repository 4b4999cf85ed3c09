//! Handshake-era sessions shared by replicas through a real Redis server (Debian's `redis-server`, started per
//! test on a free loopback port): two gateways with the same `GATEWAY_REDIS_URL` serve one session between them,
//! whichever one a request reaches, with no affinity. Cancellation, answers to server→client requests, GET-stream
//! notifications and legacy SSE messages reach the replica holding what they are for; a session survives a
//! gateway restart; with Redis gone, session requests get a typed retryable 503 (not a 404).

use crate::common;

use common::redis::RedisServer;
use common::{JSON_AND_SSE, SESSION_HEADER, SseStream, TestApp, api_key, assert_content_type, bearer, poll_until};
use mcp_gateway::config::Config;
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Specs for these tests: `ping`, a slow call, one that logs, one that elicits.
fn specs() -> TempDir {
    let specs = tempfile::tempdir().unwrap();
    let slow = json!({
        "name": "slow_job",
        "description": "Reports progress, then waits a long time",
        "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 2, "interval_ms": 600_000}},
    });
    common::write_spec(specs.path(), "slow_job.json", &slow.to_string());
    common::write_spec(specs.path(), "ping.json", &common::ping_like_tool("ping"));
    let fixtures = common::fixture_specs().join("tools");
    for name in ["test_tool_with_logging", "test_elicitation"] {
        let spec = std::fs::read_to_string(fixtures.join(format!("{name}.json"))).unwrap();
        common::write_spec(specs.path(), &format!("{name}.json"), &spec);
    }
    specs
}

/// A gateway over `specs` sharing `redis`, with `configure`'s settings.
async fn replica(specs: &TempDir, redis: &RedisServer, configure: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(specs.path(), |config| {
        config.redis_url = Some(redis.url());
        configure(config);
    })
    .await
}

/// Two replicas sharing `redis`, both listening to session events.
async fn replicas(specs: &TempDir, redis: &RedisServer) -> (TestApp, TestApp) {
    let a = replica(specs, redis, |_| {}).await;
    let b = replica(specs, redis, |_| {}).await;
    listening(redis, 2).await;
    (a, b)
}

async fn listening(redis: &RedisServer, replicas: u64) {
    poll_until("every replica listens to session events", || async {
        (redis.subscribers("mcp-gateway:events").await? >= replicas).then_some(())
    })
    .await;
}

fn call(id: i64, name: &str, arguments: Value, progress_token: Option<&str>) -> Value {
    let mut params = json!({"name": name, "arguments": arguments});
    if let Some(token) = progress_token {
        params["_meta"] = json!({"progressToken": token});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[tokio::test]
async fn a_session_made_on_one_replica_serves_the_other_and_a_delete_on_either_ends_it_everywhere() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let session = a.initialize("2025-06-18").await;

    let tools = b.rpc(Some(&session), "tools/list", json!({})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"ping") && names.contains(&"slow_job"), "{tools}");
    let pong = b.call_tool(Some(&session), "ping", json!({})).await;
    assert_eq!(pong["structuredContent"]["pong"], true, "{pong}");
    // The version negotiated on A governs on B: 2025-06-18 has no batches.
    let batch = json!([rpc(1, "ping", json!({}))]);
    assert_eq!(b.mcp(Some(&session), &batch).send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    let deleted = b.client.delete(b.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for replica in [&a, &b] {
        let gone = replica.mcp(Some(&session), &rpc(2, "tools/list", json!({}))).send().await.unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND, "ended on every replica");
        let body: Value = gone.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32001, "{body}");
    }
}

#[tokio::test]
async fn another_key_gets_on_any_replica_what_an_unknown_session_gets() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let keys = |c: &mut Config| {
        c.security.keys = vec![api_key("ada", &["tools:list"], &[], &[]), api_key("bob", &["tools:list"], &[], &[])]
    };
    let a = replica(&specs, &redis, keys).await;
    let b = replica(&specs, &redis, keys).await;
    let init = rpc(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}}));
    let made = a.mcp(None, &init).header("authorization", bearer("ada")).send().await.unwrap();
    let session = common::header(&made, SESSION_HEADER).unwrap();
    let list = rpc(2, "tools/list", json!({}));
    let own = b.mcp(Some(&session), &list).header("authorization", bearer("ada")).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let other = b.mcp(Some(&session), &list).header("authorization", bearer("bob")).send().await.unwrap();
    let unknown = b.mcp(Some("0123456789abcdef"), &list).header("authorization", bearer("bob")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(other.json::<Value>().await.unwrap(), unknown.json::<Value>().await.unwrap());
    let delete = b.client.delete(b.url("/mcp")).header(SESSION_HEADER, &session).header("authorization", bearer("bob"));
    assert_eq!(delete.send().await.unwrap().status(), StatusCode::NOT_FOUND, "bob cannot end ada's session");
    let still = a.mcp(Some(&session), &list).header("authorization", bearer("ada")).send().await.unwrap();
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_survives_a_gateway_restart() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let first = replica(&specs, &redis, |_| {}).await;
    let session = first.initialize("2025-11-25").await;
    first.state.begin_shutdown();
    drop(first);
    let restarted = replica(&specs, &redis, |_| {}).await;
    let pong = restarted.call_tool(Some(&session), "ping", json!({})).await;
    assert_eq!(pong["structuredContent"]["pong"], true, "{pong}");
}

#[tokio::test]
async fn a_log_level_set_on_one_replica_applies_to_calls_on_the_other() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let session = a.initialize("2025-06-18").await;
    let logged = a.mcp(Some(&session), &call(1, "test_tool_with_logging", json!({}), None)).send().await.unwrap();
    assert_content_type(&logged, "text/event-stream");
    let mut stream = SseStream::new(logged);
    let line = stream.next_message().await;
    assert_eq!(line["method"], "notifications/message", "info lines come at the default level: {line}");

    let set = b.rpc(Some(&session), "logging/setLevel", json!({"level": "error"})).await;
    assert_eq!(set["result"], json!({}), "{set}");
    let quiet = a.mcp(Some(&session), &call(2, "test_tool_with_logging", json!({}), None)).send().await.unwrap();
    assert_content_type(&quiet, "application/json");
    let answer: Value = quiet.json().await.unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "Logging test completed", "no info line passes: {answer}");
}

#[tokio::test]
async fn a_call_on_one_replica_is_cancelled_through_the_other() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let session = a.initialize("2025-06-18").await;
    let response = a.mcp(Some(&session), &call(77, "slow_job", json!({}), Some("slow"))).send().await.unwrap();
    let mut stream = SseStream::new(response);
    assert_eq!(stream.next_message().await["method"], "notifications/progress", "the call runs on A");

    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 77}});
    assert_eq!(b.mcp(Some(&session), &cancel).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let end = stream.next_message().await;
    assert_eq!(end["id"], 77, "{end}");
    assert_eq!(end["result"]["_meta"]["mcp-gateway/error"]["code"], "cancelled", "{end}");
}

#[tokio::test]
async fn an_elicitation_raised_on_one_replica_is_answered_through_the_other() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let session = a.initialize_with("2025-06-18", json!({"elicitation": {}})).await;
    let body = call(6, "test_elicitation", json!({"message": "Who are you?"}), None);
    let mut stream = SseStream::new(a.mcp(Some(&session), &body).send().await.unwrap());
    let request = stream.next_message().await;
    assert_eq!(request["method"], "elicitation/create", "{request}");
    assert!(request["id"].is_string(), "server request ids carry the replica's id: {request}");

    let answer = json!({
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {"action": "accept", "content": {"username": "ada", "email": "ada@example.com"}},
    });
    assert_eq!(b.mcp(Some(&session), &answer).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let result = stream.next_message().await;
    assert_eq!(result["id"], 6, "{result}");
    assert_eq!(result["result"]["structuredContent"]["content"]["username"], "ada", "{result}");
}

#[tokio::test]
async fn a_get_stream_on_one_replica_carries_log_lines_of_a_call_on_the_other() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let session = a.initialize("2025-06-18").await;
    let get = a.get("/mcp").header(ACCEPT, "text/event-stream").header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let mut notifications = SseStream::new(get);

    // On B, a call whose client takes JSON only: its log lines go to the session's GET stream, held by A.
    let json_only = b.post("/mcp").header(ACCEPT, "application/json").header(SESSION_HEADER, &session);
    let answer: Value =
        json_only.json(&call(3, "test_tool_with_logging", json!({}), None)).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "Logging test completed", "{answer}");
    let line = notifications.next_message().await;
    assert_eq!(line["method"], "notifications/message", "{line}");
    assert_eq!(line["params"]["data"], "Tool execution started", "{line}");

    let deleted = b.client.delete(b.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    notifications.expect_end().await;
}

#[tokio::test]
async fn a_legacy_stream_on_one_replica_carries_the_answers_to_posts_on_the_other() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let response = a.get("/sse").header(ACCEPT, "text/event-stream").send().await.unwrap();
    let mut stream = SseStream::new(response);
    let endpoint = stream.next_event().await.data;

    let initialize =
        rpc(1, "initialize", json!({"protocolVersion": "2024-11-05", "capabilities": {"elicitation": {}}}));
    assert_eq!(b.post(&endpoint).json(&initialize).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");

    assert_eq!(
        b.post(&endpoint).json(&call(2, "ping", json!({}), None)).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["pong"], true, "{answer}");

    // A question raised by a call running on B travels down A's stream; its answer, POSTed to A, reaches B.
    let ask = call(3, "test_elicitation", json!({"message": "Who are you?"}), None);
    assert_eq!(b.post(&endpoint).json(&ask).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let request = stream.next_message().await;
    assert_eq!(request["method"], "elicitation/create", "{request}");
    let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"action": "decline"}});
    assert_eq!(a.post(&endpoint).json(&reply).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let result = stream.next_message().await;
    assert_eq!(result["id"], 3, "{result}");
    assert_eq!(result["result"]["structuredContent"]["action"], "decline", "{result}");
}

#[tokio::test]
async fn without_redis_a_session_request_gets_a_typed_503_not_a_404_and_sessions_work_again_once_it_returns() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let (a, b) = replicas(&specs, &redis).await;
    let session = a.initialize("2025-06-18").await;
    let port = redis.stop();

    let refused = a.mcp(Some(&session), &rpc(1, "tools/list", json!({}))).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "the session may exist: not a 404");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["data"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(body["error"]["data"]["retryable"], true, "{body}");
    let init = rpc(2, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}}));
    assert_eq!(a.mcp(None, &init).send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    let get = a.get("/mcp").header(ACCEPT, JSON_AND_SSE).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::SERVICE_UNAVAILABLE);
    let delete = a.client.delete(a.url("/mcp")).header(SESSION_HEADER, &session).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.get("/ready").send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);

    // This Redis keeps nothing on disk: the old session is gone with it, and a new one works across replicas,
    // events included (both replicas reopened their event connections).
    let back = RedisServer::start_on(port).await;
    for replica in [&a, &b] {
        poll_until("each replica is ready again", || async {
            let ready = replica.get("/ready").send().await.ok()?;
            (ready.status() == StatusCode::OK).then_some(())
        })
        .await;
    }
    let renewed = a.initialize("2025-06-18").await;
    assert_eq!(b.call_tool(Some(&renewed), "ping", json!({})).await["structuredContent"]["pong"], true);
    listening(&back, 2).await;
    let response = a.mcp(Some(&renewed), &call(9, "slow_job", json!({}), Some("slow"))).send().await.unwrap();
    let mut stream = SseStream::new(response);
    assert_eq!(stream.next_message().await["method"], "notifications/progress");
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}});
    assert_eq!(b.mcp(Some(&renewed), &cancel).send().await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(stream.next_message().await["result"]["_meta"]["mcp-gateway/error"]["code"], "cancelled");
}

#[tokio::test]
async fn a_get_stream_of_a_session_that_expired_in_redis_is_closed_by_housekeeping() {
    let (specs, redis) = (specs(), RedisServer::start().await);
    let a = replica(&specs, &redis, |c| c.limits.session_idle = std::time::Duration::from_secs(1)).await;
    let session = a.initialize("2025-06-18").await;
    let get = a.get("/mcp").header(ACCEPT, "text/event-stream").header(SESSION_HEADER, &session).send().await.unwrap();
    let mut notifications = SseStream::new(get);
    // Nobody uses the session: its record expires after a second, and the next sweep ends the stream held here.
    poll_until("the sweep ends the vanished session", || async {
        (a.state.mcp.sessions.end_vanished().await > 0).then_some(())
    })
    .await;
    notifications.expect_end().await;
    let gone = a.mcp(Some(&session), &rpc(1, "tools/list", json!({}))).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}
