//! `call_llm` (seed 000): the model calls gateway tools through the same pipeline, in bounded rounds, against
//! the fake LLM (tests/common/fake_llm.rs) and a fake inventory service behind an `http` tool, which counts the
//! requests it really received.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::fake_llm::{FakeLlm, Reply, text, tool_call};
use common::{JSON_AND_SSE, SESSION_HEADER, SseStream, TestApp, eventually, shipped_tool_specs, write_spec};
use mcp_gateway::auth::{ApiKey, NamePattern, Scope, digest};
use mcp_gateway::config::{Config, LlmSettings};
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

/// A fake inventory: `GET /items/7` is a hammer, other ids are 404; `GET /secret` is the forbidden tool's.
#[derive(Clone, Default)]
struct Inventory {
    hits: Arc<Mutex<Vec<String>>>,
}

impl Inventory {
    async fn serve(&self) -> String {
        let app = Router::new().route("/items/{id}", get(item)).route("/secret", get(secret)).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

async fn item(State(inventory): State<Inventory>, UrlPath(id): UrlPath<String>) -> Response {
    inventory.hits.lock().unwrap().push(format!("/items/{id}"));
    if id == "7" {
        axum::Json(json!({"id": 7, "name": "hammer", "stock": 3})).into_response()
    } else {
        (StatusCode::NOT_FOUND, axum::Json(json!({"message": format!("no item {id}")}))).into_response()
    }
}

async fn secret(State(inventory): State<Inventory>) -> Response {
    inventory.hits.lock().unwrap().push("/secret".into());
    axum::Json(json!({"payroll": "confidential"})).into_response()
}

/// `call_llm` as shipped, `get_item` and `secret_dump` over the fake inventory, `ping`, and `slow`.
fn specs(inventory: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(shipped_tool_specs().join("llm/call_llm.json")).unwrap();
    write_spec(dir.path(), "call_llm.json", &shipped);
    let get_item = json!({
        "name": "get_item", "description": "Fetch an inventory item by id", "category": "read",
        "inputSchema": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        "binding": {"kind": "http", "method": "GET", "url": format!("{inventory}/items/{{{{args.id}}}}")},
    });
    write_spec(dir.path(), "get_item.json", &get_item.to_string());
    let secret = json!({
        "name": "secret_dump", "description": "Dump confidential data", "category": "read",
        "inputSchema": {"type": "object", "properties": {}},
        "binding": {"kind": "http", "method": "GET", "url": format!("{inventory}/secret")},
    });
    write_spec(dir.path(), "secret_dump.json", &secret.to_string());
    write_spec(dir.path(), "ping.json", &common::ping_like_tool("ping"));
    let slow = json!({
        "name": "slow", "description": "Works for ten minutes", "inputSchema": {"type": "object", "properties": {}},
        "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 2, "interval_ms": 600_000}},
    });
    write_spec(dir.path(), "slow.json", &slow.to_string());
    dir
}

fn llm(base: &str, max_rounds: u32) -> LlmSettings {
    LlmSettings {
        base_url: Some(format!("{base}/v1")),
        api_key: None,
        model: Some("agent-model".into()),
        timeout: Duration::from_secs(30),
        max_rounds,
    }
}

struct Setup {
    app: TestApp,
    fake: FakeLlm,
    inventory: Inventory,
    _specs: tempfile::TempDir,
}

async fn setup(script: Vec<Reply>, max_rounds: u32, configure: impl FnOnce(&mut Config)) -> Setup {
    let (fake, base) = FakeLlm::serve(script).await;
    let inventory = Inventory::default();
    let specs = specs(&inventory.serve().await);
    let settings = llm(&base, max_rounds);
    let app = TestApp::spawn_with(specs.path(), move |config| {
        config.llm = settings;
        configure(config);
    })
    .await;
    Setup { app, fake, inventory, _specs: specs }
}

fn error_of(result: &Value) -> &Value {
    &result["_meta"]["mcp-gateway/error"]
}

fn key(id: &str, scopes: &[&str], deny: &[&str]) -> ApiKey {
    ApiKey::new(
        id.into(),
        digest(&format!("secret-{id}")),
        scopes.iter().map(|s| Scope::parse(s).unwrap()).collect(),
        Vec::new(),
        deny.iter().map(|p| NamePattern::new(p)).collect(),
    )
}

/// `tools/call` as the key `id`, returning the result.
async fn call_as(app: &TestApp, id: &str, name: &str, arguments: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": app.id(), "method": "tools/call", "params": {"name": name, "arguments": arguments}});
    let response = app.mcp(None, &body).header("authorization", format!("Bearer secret-{id}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let message: Value = response.json().await.unwrap();
    message["result"].clone()
}

#[tokio::test]
async fn the_model_calls_a_gateway_tool_and_gets_its_result_back() {
    let script = vec![tool_call("call_abc", "get_item", &json!({"id": 7})), text("Item 7 is a hammer; 3 in stock.")];
    let s = setup(script, 5, |config| {
        config.security.keys = vec![key("agent", &["tools:call"], &[]), key("ops", &["admin"], &[])]
    })
    .await;
    let result = call_as(
        &s.app,
        "agent",
        "call_llm",
        json!({"message": "What is item 7?", "promptSystem": "You run a shop.", "tool_names": ["get_item"]}),
    )
    .await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["content"][0]["text"], "Item 7 is a hammer; 3 in stock.");
    let value = &result["structuredContent"];
    assert_eq!(value["rounds"], 2);
    assert_eq!(value["usage"]["total_tokens"], 27 + 15, "usage is summed over the rounds");
    assert_eq!(
        value["tool_calls"],
        json!([{"id": "call_abc", "name": "get_item", "arguments": {"id": 7}, "ok": true,
                "result": {"id": 7, "name": "hammer", "stock": 3}, "round": 1}])
    );
    assert_eq!(s.inventory.hits(), ["/items/7"], "the tool really ran, once");

    let seen = s.fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body["tools"],
        json!([{"type": "function", "function": {"name": "get_item", "description": "Fetch an inventory item by id",
                "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}}}])
    );
    assert_eq!(
        seen[0].body["messages"],
        json!([
        {"role": "system", "content": "You run a shop."}, {"role": "user", "content": "What is item 7?"}])
    );
    let round_two = seen[1].body["messages"].as_array().unwrap();
    assert_eq!(round_two.len(), 4, "{round_two:?}");
    assert_eq!(round_two[2]["role"], "assistant");
    assert_eq!(round_two[2]["tool_calls"][0]["id"], "call_abc");
    assert_eq!(round_two[3]["role"], "tool");
    assert_eq!(round_two[3]["tool_call_id"], "call_abc");
    let content: Value = serde_json::from_str(round_two[3]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"id": 7, "name": "hammer", "stock": 3}));

    // The nested call went through the pipeline: audited as the caller, under the same request id.
    let audit = |tool: &'static str| {
        let app = &s.app;
        async move {
            let response = app.get(&format!("/admin/audit?tool={tool}")).header("authorization", "Bearer secret-ops");
            let body: Value = response.send().await.unwrap().json().await.unwrap();
            body["entries"].as_array().cloned().unwrap_or_default()
        }
    };
    eventually("both calls are audited", || async {
        audit("get_item").await.len() == 1 && audit("call_llm").await.len() == 1
    })
    .await;
    let (inner, outer) = (audit("get_item").await.remove(0), audit("call_llm").await.remove(0));
    assert_eq!(inner["key_id"], "agent");
    assert_eq!(inner["request_id"], outer["request_id"]);
}

#[tokio::test]
async fn a_failing_tool_sends_its_typed_error_to_the_model_not_a_crash() {
    let script = vec![tool_call("call_1", "get_item", &json!({"id": 9})), text("There is no item 9.")];
    let s = setup(script, 5, |_| {}).await;
    let result = s.app.call_tool(None, "call_llm", json!({"message": "Item 9?", "tool_names": ["get_item"]})).await;
    assert_eq!(result["structuredContent"]["answer"], "There is no item 9.", "{result}");
    let record = &result["structuredContent"]["tool_calls"][0];
    assert_eq!(record["ok"], false);
    assert_eq!(record["error"]["code"], "not_found");
    let sent = &s.fake.seen()[1].body["messages"][2];
    assert_eq!(sent["role"], "tool");
    assert_eq!(sent["tool_call_id"], "call_1");
    let content: Value = serde_json::from_str(sent["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["error"]["code"], "not_found", "{content}");
    assert!(content["error"]["message"].as_str().unwrap().contains("no item 9"), "{content}");
}

#[tokio::test]
async fn a_model_that_keeps_calling_tools_hits_the_round_bound_with_a_typed_error() {
    let s = setup(vec![tool_call("again", "ping", &json!({}))], 3, |_| {}).await;
    let result = s.app.call_tool(None, "call_llm", json!({"message": "loop", "tool_names": ["ping"]})).await;
    assert_eq!(result["isError"], true, "{result}");
    let error = error_of(&result);
    assert_eq!(error["code"], "tool_error");
    assert!(error["message"].as_str().unwrap().contains("after 3 rounds"), "{error}");
    assert_eq!(error["details"]["tool_calls"].as_array().unwrap().len(), 2, "rounds 1 and 2 ran their tool");
    assert_eq!(error["details"]["unanswered_tool_calls"], json!(["ping"]));
    assert_eq!(s.fake.count(), 3, "exactly max_rounds requests");
}

#[tokio::test]
async fn unknown_tool_names_are_rejected_before_any_llm_request() {
    let s = setup(vec![text("unused")], 5, |_| {}).await;
    let result =
        s.app.call_tool(None, "call_llm", json!({"message": "hi", "tool_names": ["get_item", "no_such_tool"]})).await;
    assert_eq!(error_of(&result)["code"], "invalid_params", "{result}");
    assert_eq!(error_of(&result)["details"]["unknown_tools"], json!(["no_such_tool"]));
    assert_eq!(s.fake.count(), 0);
}

#[tokio::test]
async fn a_scoped_key_can_neither_offer_nor_run_a_tool_it_may_not_call() {
    let script = vec![tool_call("sneaky", "secret_dump", &json!({})), text("I could not read it.")];
    let s = setup(script, 5, |config| {
        config.security.keys = vec![key("agent", &["tools:list", "tools:call"], &["secret_*"])]
    })
    .await;

    let refused = call_as(&s.app, "agent", "call_llm", json!({"message": "hi", "tool_names": ["secret_dump"]})).await;
    assert_eq!(error_of(&refused)["code"], "invalid_params", "{refused}");
    assert_eq!(s.fake.count(), 0, "no request when a listed tool is not the caller's");

    // The model asks for the forbidden tool anyway: it is not run, and the model is told so.
    let result = call_as(&s.app, "agent", "call_llm", json!({"message": "hi", "tool_names": ["ping"]})).await;
    assert_eq!(result["structuredContent"]["answer"], "I could not read it.", "{result}");
    let seen = s.fake.seen();
    let offered: Vec<&str> =
        seen[0].body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(offered, ["ping"]);
    assert!(s.inventory.hits().is_empty(), "secret_dump never ran: {:?}", s.inventory.hits());
    assert_eq!(result["structuredContent"]["tool_calls"][0]["error"]["code"], "unknown_tool");
    let told = s.fake.seen()[1].body["messages"][2]["content"].as_str().unwrap().to_owned();
    assert!(told.contains("unknown_tool") && !told.contains("confidential"), "{told}");
}

#[tokio::test]
async fn progress_is_reported_after_each_round() {
    let script = vec![tool_call("c1", "ping", &json!({})), text("pong received")];
    let s = setup(script, 4, |_| {}).await;
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "call_llm", "arguments": {"message": "ping it", "tool_names": ["ping"]}, "_meta": {"progressToken": "p-5"}}});
    let response = s.app.post("/mcp").header(ACCEPT, JSON_AND_SSE).json(&body).send().await.unwrap();
    let mut stream = SseStream::new(response);
    let mut notes = Vec::new();
    let result = loop {
        let message = stream.next_message().await;
        if message.get("method").is_some() {
            notes.push(message["params"].clone());
        } else {
            break message["result"].clone();
        }
    };
    assert_eq!(result["structuredContent"]["answer"], "pong received", "{result}");
    let progress: Vec<(f64, f64)> =
        notes.iter().map(|n| (n["progress"].as_f64().unwrap(), n["total"].as_f64().unwrap())).collect();
    assert_eq!(progress, [(1.0, 4.0), (2.0, 4.0)], "{notes:?}");
    assert!(notes[0]["message"].as_str().unwrap().contains("called ping"), "{notes:?}");
    assert!(notes.iter().all(|n| n["progressToken"] == "p-5"));
}

#[tokio::test]
async fn the_gateway_tool_a_model_calls_keeps_its_own_category_rate_limit() {
    use std::num::NonZeroU32;
    let script = vec![
        tool_call("c1", "get_item", &json!({"id": 7})),
        tool_call("c2", "get_item", &json!({"id": 7})),
        text("done"),
    ];
    let s = setup(script, 5, |config| {
        let rate = mcp_gateway::config::Rate { count: NonZeroU32::new(1).unwrap(), period: Duration::from_secs(3600) };
        config.security.category_rate_limits = vec![("read".into(), rate)];
    })
    .await;
    let result = s.app.call_tool(None, "call_llm", json!({"message": "twice", "tool_names": ["get_item"]})).await;
    let calls = result["structuredContent"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls[0]["ok"], true, "{result}");
    assert_eq!(calls[1]["error"]["code"], "rate_limited", "{result}");
    assert_eq!(s.inventory.hits().len(), 1);
}

#[tokio::test]
async fn cancelling_stops_the_rounds() {
    let script = vec![tool_call("c1", "slow", &json!({})), text("never asked for")];
    let s = setup(script, 5, |_| {}).await;
    let session = s.app.initialize("2025-06-18").await;
    let body = json!({"jsonrpc": "2.0", "id": 77, "method": "tools/call", "params": {
        "name": "call_llm", "arguments": {"message": "take your time", "tool_names": ["slow"]}, "_meta": {"progressToken": "p"}}});
    let response = s
        .app
        .post("/mcp")
        .header(ACCEPT, JSON_AND_SSE)
        .header(SESSION_HEADER, &session)
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut stream = SseStream::new(response);
    let round = stream.next_message().await;
    assert!(round["params"]["message"].as_str().unwrap().contains("called slow"), "{round}");

    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 77}});
    assert_eq!(s.app.mcp(Some(&session), &cancel).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let end = stream.next_message().await;
    assert_eq!(end["id"], 77, "{end}");
    assert_eq!(end["result"]["_meta"]["mcp-gateway/error"]["code"], "cancelled", "{end}");
    assert_eq!(s.fake.count(), 1, "no round after the cancellation");
}

#[tokio::test]
async fn a_tool_the_model_calls_runs_in_its_callers_slot_of_the_call_gate() {
    let script = vec![tool_call("c1", "ping", &json!({})), text("done")];
    let s = setup(script, 5, |config| {
        config.limits.max_concurrent_calls = 1;
        config.limits.call_queue = 0;
    })
    .await;
    let result = s.app.call_tool(None, "call_llm", json!({"message": "ping", "tool_names": ["ping"]})).await;
    assert_eq!(
        result["structuredContent"]["tool_calls"][0]["ok"], true,
        "the nested call needs no second slot: {result}"
    );
}
