//! One visibility rule for every listing: a key allowed only a few tools, prompts and resources sees and reaches
//! only those on every path that lists, describes, completes or calls them, and a hidden item answers exactly
//! like an unknown name. An admin key over the same specs sees everything, so every hidden item is known to
//! exist.

use crate::common;

use std::time::Duration;

use common::fake_llm::{FakeLlm, text};
use common::{TestApp, api_key, assert_answers_alike, bearer, copy_of_core_specs, shipped_tool_specs, write_spec};
use mcp_gateway::config::LlmSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

const NARROW: &str = "narrow";
const ADMIN: &str = "ops";
/// What the narrow key may see of the tools, sorted.
const NARROW_TOOLS: [&str; 4] = ["call_llm", "list_tools", "open_note", "ping"];
/// The hidden tool's answer, which must never reach the narrow key.
const SECRET_TEXT: &str = "classified-payroll-figures";

struct Setup {
    app: TestApp,
    fake: FakeLlm,
    _specs: tempfile::TempDir,
}

fn note(name: &str, content: &str) -> String {
    json!({"name": name, "description": format!("{name}: a note"), "category": "read",
           "inputSchema": {"type": "object", "properties": {}},
           "binding": {"kind": "static", "content": [{"type": "text", "text": content}]}})
    .to_string()
}

fn prompt(name: &str) -> String {
    json!({"kind": "prompt", "name": name, "description": format!("{name}: a prompt"),
           "arguments": [{"name": "topic", "required": true, "completions": ["alpha", "beta"]}],
           "messages": [{"role": "user", "content": {"type": "text", "text": "Tell me about {{topic}}"}}]})
    .to_string()
}

/// The core tools, `call_llm`, an open and a secret note, prompt, resource and resource template.
fn specs() -> tempfile::TempDir {
    let dir = copy_of_core_specs();
    let shipped = std::fs::read_to_string(shipped_tool_specs().join("llm/call_llm.json")).unwrap();
    write_spec(dir.path(), "call_llm.json", &shipped);
    write_spec(dir.path(), "open_note.json", &note("open_note", "an open note"));
    write_spec(dir.path(), "secret_note.json", &note("secret_note", SECRET_TEXT));
    write_spec(dir.path(), "open_prompt.json", &prompt("open_prompt"));
    write_spec(dir.path(), "secret_prompt.json", &prompt("secret_prompt"));
    for (file, area) in [("open_readme.json", "open"), ("secret_plan.json", "secret")] {
        let resource =
            json!({"kind": "resource", "uri": format!("docs://{area}/readme"), "text": format!("{area} text")});
        write_spec(dir.path(), file, &resource.to_string());
    }
    for (file, area) in [("open_items.json", "open"), ("secret_items.json", "secret")] {
        let template = json!({"kind": "resource_template", "uriTemplate": format!("docs://{area}/items/{{id}}"),
                              "text": format!("{area} item {{id}}"), "completions": {"id": ["7", "8"]}});
        write_spec(dir.path(), file, &template.to_string());
    }
    dir
}

/// The app with the narrow key (tools `ping`, `list_tools`, `call_llm`, `open_*`, resources `docs://open/*`) and
/// an admin key, and `call_llm` talking to a fake LLM that answers `done`.
async fn setup() -> Setup {
    let (fake, base) = FakeLlm::serve(vec![text("done")]).await;
    let specs = specs();
    let app = TestApp::spawn_with(specs.path(), move |config| {
        config.security.keys = vec![
            api_key(
                NARROW,
                &["tools:list", "tools:call"],
                &["ping", "list_tools", "call_llm", "open_*", "docs://open/*"],
                &[],
            ),
            api_key(ADMIN, &["admin"], &[], &[]),
        ];
        config.llm = LlmSettings {
            base_url: Some(format!("{base}/v1")),
            api_key: None,
            model: Some("fake-model".into()),
            timeout: Duration::from_secs(30),
            max_rounds: 3,
        };
    })
    .await;
    Setup { app, fake, _specs: specs }
}

/// A GET or POST as the key `id`: status and JSON body.
async fn send_as(id: &str, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.header("authorization", bearer(id)).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// The `field` of every item of an array (names of tools, URIs of resources).
fn names(items: &Value, field: &str) -> Vec<String> {
    let items = items.as_array().unwrap_or_else(|| panic!("an array: {items}"));
    items.iter().map(|i| i[field].as_str().unwrap_or_else(|| panic!("`{field}` in {i}")).to_owned()).collect()
}

fn assert_like_unknown(hidden: &Value, hidden_name: &str, unknown: &Value, unknown_name: &str) {
    assert_answers_alike(hidden, hidden_name, unknown, unknown_name);
    assert!(!hidden.to_string().contains(SECRET_TEXT), "{hidden}");
}

#[tokio::test]
async fn mcp_tools_list_shows_a_narrow_key_only_its_tools() {
    let s = setup().await;
    let narrow = s.app.rpc_as(NARROW, "tools/list", json!({})).await;
    assert_eq!(names(&narrow["result"]["tools"], "name"), NARROW_TOOLS);
    let admin = s.app.rpc_as(ADMIN, "tools/list", json!({})).await;
    assert!(names(&admin["result"]["tools"], "name").contains(&"secret_note".to_owned()), "{admin}");
}

#[tokio::test]
async fn the_list_tools_builtin_lists_only_what_the_key_may_see_over_mcp_and_rest() {
    let s = setup().await;
    let mcp = s.app.rpc_as(NARROW, "tools/call", json!({"name": "list_tools", "arguments": {}})).await;
    assert_eq!(names(&mcp["result"]["structuredContent"]["tools"], "name"), NARROW_TOOLS, "{mcp}");
    assert_eq!(mcp["result"]["structuredContent"]["total"], NARROW_TOOLS.len());

    let flowchat = s.app.post("/mcp/tools/call").json(&json!({"tool_name": "list_tools", "params": {}}));
    let (status, body) = send_as(NARROW, flowchat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body["result"]["tools"], "name"), NARROW_TOOLS);

    let dragonfly = s.app.post("/execute").json(&json!({"tool": "list_tools", "params": {"category": "read"}}));
    let (status, body) = send_as(NARROW, dragonfly).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body["result"]["tools"], "name"), ["open_note"], "the category filter keeps the rule");

    let admin = s.app.post("/execute").json(&json!({"tool": "list_tools", "params": {"category": "read"}}));
    let (_, body) = send_as(ADMIN, admin).await;
    assert_eq!(names(&body["result"]["tools"], "name"), ["open_note", "secret_note"]);
}

#[tokio::test]
async fn the_action_envelope_list_tools_lists_only_what_the_key_may_see() {
    let s = setup().await;
    let envelope = s.app.post("/mcp").json(&json!({"action": "list_tools", "payload": {}, "request_id": "r1"}));
    let (status, body) = send_as(NARROW, envelope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(names(&body["data"]["tools"], "name"), NARROW_TOOLS);
}

#[tokio::test]
async fn get_tools_lists_only_what_the_key_may_see() {
    let s = setup().await;
    let (status, body) = send_as(NARROW, s.app.get("/tools")).await;
    assert_eq!(status, StatusCode::OK);
    let functions: Vec<Value> = body["tools"].as_array().unwrap().iter().map(|t| t["function"].clone()).collect();
    assert_eq!(names(&Value::Array(functions), "name"), NARROW_TOOLS, "{body}");
    assert_eq!(body["count"], NARROW_TOOLS.len());
}

#[tokio::test]
async fn get_mcp_tools_list_lists_only_what_the_key_may_see() {
    let s = setup().await;
    let (status, body) = send_as(NARROW, s.app.get("/mcp/tools/list")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body["tools"], "name"), NARROW_TOOLS);
    assert_eq!(body["total"], NARROW_TOOLS.len());
}

#[tokio::test]
async fn the_schema_of_a_hidden_tool_is_a_404_like_an_unknown_tool() {
    let s = setup().await;
    let (hidden_status, hidden) = send_as(NARROW, s.app.get("/mcp/tools/secret_note/schema")).await;
    let (unknown_status, unknown) = send_as(NARROW, s.app.get("/mcp/tools/no_such_note/schema")).await;
    assert_eq!((hidden_status, unknown_status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_like_unknown(&hidden, "secret_note", &unknown, "no_such_note");
    let (status, open) = send_as(NARROW, s.app.get("/mcp/tools/open_note/schema")).await;
    assert_eq!((status, &open["name"]), (StatusCode::OK, &json!("open_note")));
    let (status, _) = send_as(ADMIN, s.app.get("/mcp/tools/secret_note/schema")).await;
    assert_eq!(status, StatusCode::OK, "the tool exists");
}

#[tokio::test]
async fn calling_a_hidden_tool_answers_like_an_unknown_tool_on_every_call_path() {
    let s = setup().await;
    let app = &s.app;
    let (hidden_name, unknown_name) = ("secret_note", "no_such_note");
    for path in ["mcp", "mcp task", "/mcp/tools/call", "/execute", "action"] {
        let answer = |name: &str| {
            let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}});
            let mut task = call.clone();
            task["params"]["task"] = json!({});
            let request = match path {
                "mcp" => app.mcp(None, &call),
                "mcp task" => app.mcp(None, &task),
                "/mcp/tools/call" => app.post(path).json(&json!({"tool_name": name, "params": {}})),
                "/execute" => app.post(path).json(&json!({"tool": name, "params": {}})),
                _ => app.post("/mcp").json(&json!({"action": name, "payload": {}})),
            };
            send_as(NARROW, request)
        };
        let (hidden_status, hidden) = answer(hidden_name).await;
        let (unknown_status, unknown) = answer(unknown_name).await;
        assert_eq!(hidden_status, unknown_status, "{path}");
        assert_like_unknown(&hidden, hidden_name, &unknown, unknown_name);
        let code = &hidden["error"]["code"];
        assert!(*code == json!("unknown_tool") || *code == json!(-32602), "{path}: {hidden}");
    }
    let result = app.rpc_as(ADMIN, "tools/call", json!({"name": "secret_note", "arguments": {}})).await;
    assert_eq!(result["result"]["content"][0]["text"], SECRET_TEXT, "the admin key may call it");
}

#[tokio::test]
async fn call_llm_offers_the_model_only_tools_the_key_may_call() {
    let s = setup().await;
    let call = |tool_names: Value| {
        s.app.rpc_as(
            NARROW,
            "tools/call",
            json!({"name": "call_llm", "arguments": {"message": "hi", "tool_names": tool_names}}),
        )
    };
    let answered = call(json!(["open_note", "ping"])).await;
    assert_eq!(answered["result"]["structuredContent"]["answer"], "done", "{answered}");
    let offered: Vec<Value> =
        s.fake.seen()[0].body["tools"].as_array().unwrap().iter().map(|t| t["function"].clone()).collect();
    assert_eq!(names(&Value::Array(offered), "name"), ["open_note", "ping"]);

    let hidden = call(json!(["open_note", "secret_note"])).await;
    let unknown = call(json!(["open_note", "no_such_note"])).await;
    assert_like_unknown(&hidden, "secret_note", &unknown, "no_such_note");
    assert_eq!(hidden["result"]["_meta"]["mcp-gateway/error"]["code"], "invalid_params", "{hidden}");
    assert_eq!(s.fake.count(), 1, "no model request offers a hidden tool");
}

#[tokio::test]
async fn completion_for_a_hidden_prompt_or_template_answers_like_an_unknown_one() {
    let s = setup().await;
    let complete = |reference: Value| {
        s.app.rpc_as(
            NARROW,
            "completion/complete",
            json!({"ref": reference, "argument": {"name": "topic", "value": ""}}),
        )
    };
    let open = complete(json!({"type": "ref/prompt", "name": "open_prompt"})).await;
    assert_eq!(open["result"]["completion"]["values"], json!(["alpha", "beta"]), "{open}");
    let hidden = complete(json!({"type": "ref/prompt", "name": "secret_prompt"})).await;
    let unknown = complete(json!({"type": "ref/prompt", "name": "no_such_prompt"})).await;
    assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
    assert_like_unknown(&hidden, "secret_prompt", &unknown, "no_such_prompt");

    let complete_id = |uri: &str| {
        let reference = json!({"type": "ref/resource", "uri": uri});
        s.app.rpc_as(NARROW, "completion/complete", json!({"ref": reference, "argument": {"name": "id", "value": "7"}}))
    };
    let open = complete_id("docs://open/items/{id}").await;
    assert_eq!(open["result"]["completion"]["values"], json!(["7"]), "{open}");
    let hidden = complete_id("docs://secret/items/{id}").await;
    let unknown = complete_id("docs://nowhere/items/{id}").await;
    assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
    assert_like_unknown(&hidden, "docs://secret", &unknown, "docs://nowhere");

    let reference = json!({"type": "ref/prompt", "name": "secret_prompt"});
    let params = json!({"ref": reference, "argument": {"name": "topic", "value": "b"}});
    let admin = s.app.rpc_as(ADMIN, "completion/complete", params).await;
    assert_eq!(admin["result"]["completion"]["values"], json!(["beta"]), "the prompt exists: {admin}");
}

#[tokio::test]
async fn resources_and_prompts_show_a_narrow_key_only_what_its_patterns_admit() {
    let s = setup().await;
    let listing = |id: &'static str, method: &'static str| s.app.rpc_as(id, method, json!({}));
    let resources = listing(NARROW, "resources/list").await;
    assert_eq!(names(&resources["result"]["resources"], "uri"), ["docs://open/readme"]);
    let templates = listing(NARROW, "resources/templates/list").await;
    assert_eq!(names(&templates["result"]["resourceTemplates"], "uriTemplate"), ["docs://open/items/{id}"]);
    let prompts = listing(NARROW, "prompts/list").await;
    assert_eq!(names(&prompts["result"]["prompts"], "name"), ["open_prompt"]);
    let everything = listing(ADMIN, "resources/list").await;
    assert_eq!(names(&everything["result"]["resources"], "uri"), ["docs://open/readme", "docs://secret/readme"]);
    assert_eq!(
        names(&listing(ADMIN, "prompts/list").await["result"]["prompts"], "name"),
        ["open_prompt", "secret_prompt"]
    );

    let get = |name: &str| s.app.rpc_as(NARROW, "prompts/get", json!({"name": name, "arguments": {"topic": "x"}}));
    assert!(get("open_prompt").await["result"]["messages"].is_array());
    assert_like_unknown(&get("secret_prompt").await, "secret_prompt", &get("no_such_prompt").await, "no_such_prompt");

    let read = |uri: &str| s.app.rpc_as(NARROW, "resources/read", json!({"uri": uri}));
    assert_eq!(read("docs://open/items/7").await["result"]["contents"][0]["text"], "open item 7");
    let unknown = read("docs://nowhere/readme").await;
    assert_eq!(unknown["error"]["code"], -32002, "{unknown}");
    assert_like_unknown(&read("docs://secret/readme").await, "docs://secret", &unknown, "docs://nowhere");
    let through_template = read("docs://secret/items/7").await;
    assert_like_unknown(
        &through_template,
        "docs://secret/items/7",
        &read("docs://nowhere/items/7").await,
        "docs://nowhere/items/7",
    );
    let admin = s.app.rpc_as(ADMIN, "resources/read", json!({"uri": "docs://secret/items/7"})).await;
    assert_eq!(admin["result"]["contents"][0]["text"], "secret item 7");
}
