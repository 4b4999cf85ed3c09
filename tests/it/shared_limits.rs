//! Rate-limit budgets shared by replicas through a real Redis server (Debian's `redis-server`, which
//! scripts/test.sh installs), started by each test on a free loopback port: two gateways with the same
//! `GATEWAY_REDIS_URL` admit one budget between them, per key and per tool category; with Redis gone, calls get a
//! typed, retryable 503 and `/ready` says not ready (never a silent per-replica budget), and both recover when
//! Redis returns.

use crate::common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::redis::RedisServer;
use common::{TestApp, api_key, bearer, header, poll_until};
use mcp_gateway::config::{Config, Rate, Secret};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn per_minute(count: u32) -> Rate {
    Rate { count: NonZeroU32::new(count).unwrap(), period: Duration::from_secs(60) }
}

/// Two replicas sharing `redis`, with one key and `configure`'s limits.
async fn replicas(redis: &RedisServer, configure: impl Fn(&mut Config) + Copy) -> (TestApp, TestApp) {
    let setup = move |config: &mut Config| {
        config.security.keys = vec![api_key("ops", &["admin"], &[], &[])];
        config.redis_url = Some(redis.url());
        configure(config);
    };
    (TestApp::spawn_with(&common::core_specs(), setup).await, TestApp::spawn_with(&common::core_specs(), setup).await)
}

async fn list_tools(app: &TestApp) -> reqwest::Response {
    app.get("/mcp/tools/list").header("authorization", bearer("ops")).send().await.unwrap()
}

#[tokio::test]
async fn two_replicas_admit_one_budget_per_key_between_them() {
    let redis = RedisServer::start().await;
    let (a, b) = replicas(&redis, |c| c.security.rate_limit = Some(per_minute(5))).await;
    let mut passed = 0;
    for i in 0..10 {
        let replica = if i % 2 == 0 { &a } else { &b };
        match list_tools(replica).await.status() {
            StatusCode::OK => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(passed, 5, "5 per minute across both replicas, not 5 each");
    let refused = list_tools(&b).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Another caller (here: no key, so its address) has a budget of its own.
    assert_eq!(a.get("/mcp/tools/list").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_category_budget_is_shared_too() {
    let redis = RedisServer::start().await;
    let (a, b) = replicas(&redis, |c| c.security.category_rate_limits = vec![("system".into(), per_minute(3))]).await;
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let replica = if i % 2 == 0 { &a } else { &b };
        let answer = replica.rpc_as("ops", "tools/call", json!({"name": "ping", "arguments": {}})).await;
        outcomes.push(answer["result"]["isError"] == false);
    }
    assert_eq!(outcomes, [true, true, true, false, false, false], "3 system calls per minute across replicas");
    let refused = b.rpc_as("ops", "tools/call", json!({"name": "ping", "arguments": {}})).await;
    assert_eq!(refused["result"]["_meta"]["mcp-gateway/error"]["code"], "rate_limited", "{refused}");
}

#[tokio::test]
async fn without_redis_calls_get_a_typed_503_and_ready_says_so_until_it_returns() {
    let redis = RedisServer::start().await;
    let (a, _b) = replicas(&redis, |c| c.security.rate_limit = Some(per_minute(100))).await;
    assert_eq!(list_tools(&a).await.status(), StatusCode::OK);
    let ready: Value =
        a.get("/ready").header("authorization", bearer("ops")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["redis"]["reachable"], true, "{ready}");

    let port = redis.stop();
    let refused = list_tools(&a).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let request_id = header(&refused, "x-request-id").unwrap();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    assert_eq!(body["error"]["request_id"], request_id.as_str(), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Redis"), "{body}");
    let rpc = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
    let mcp = a.mcp(None, &rpc).header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(mcp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = mcp.json().await.unwrap();
    assert_eq!(body["error"]["data"]["code"], "upstream_unavailable", "{body}");
    let not_ready = a.get("/ready").header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = not_ready.json().await.unwrap();
    assert_eq!(body["redis"]["reachable"], false, "{body}");
    assert!(body["redis"]["error"].is_string(), "an operator sees why: {body}");

    let _back = RedisServer::start_on(port).await;
    poll_until("the replica is ready again", || async {
        let ready = a.get("/ready").header("authorization", bearer("ops")).send().await.ok()?;
        (ready.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(list_tools(&a).await.status(), StatusCode::OK, "calls pass again once Redis is back");
}

#[tokio::test]
async fn a_gateway_started_while_redis_is_away_answers_503_not_its_own_budget() {
    let (_held, port) = common::closed_port();
    let app = TestApp::spawn_with(&common::core_specs(), |c| {
        c.security.keys = vec![api_key("ops", &["admin"], &[], &[])];
        c.security.rate_limit = Some(per_minute(100));
        c.redis_url = Secret::from_setting(Some(format!("redis://127.0.0.1:{port}/")));
    })
    .await;
    let refused = list_tools(&app).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    let ready = app.get("/ready").header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}
