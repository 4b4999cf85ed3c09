//! The LLM provider, the `llm` binding and the shipped `llm_chat` tool against an in-process OpenAI-compatible
//! fake that follows reference/providers.md: the request the server receives, base URLs with and without `/v1`,
//! key or no key, and every failure mapped to a typed error that never carries the key.

use crate::common;

use std::time::Duration;

use common::fake_llm::{FakeLlm, Reply, error, text};
use common::{TestApp, shipped_tool_specs, write_spec};
use mcp_gateway::config::{Config, LlmSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "sk-test-4b1d9e7c0a2f";

fn llm(base: &str, key: Option<&str>, model: Option<&str>) -> LlmSettings {
    LlmSettings {
        base_url: Some(base.to_owned()),
        api_key: key.map(Into::into),
        model: model.map(str::to_owned),
        timeout: Duration::from_secs(30),
        max_rounds: 5,
    }
}

async fn shipped(settings: LlmSettings) -> TestApp {
    shipped_with(move |config| config.llm = settings).await
}

async fn shipped_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(&shipped_tool_specs(), configure).await
}

/// OpenAI's 429, asking to wait `retry_after` seconds.
fn rate_limited(retry_after: &'static str) -> Reply {
    let body = json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
    Reply::Json(429, body, vec![("retry-after", retry_after)])
}

fn error_of(result: &Value) -> &Value {
    &result["_meta"]["mcp-gateway/error"]
}

/// The call failed with `code`, and nothing the caller sees holds the key.
fn assert_failed(result: &Value, code: &str) {
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(error_of(result)["code"], code, "{result}");
    assert!(!result.to_string().contains(KEY), "the key leaked: {result}");
    assert!(!result.to_string().contains("sk-te"), "part of the key leaked: {result}");
}

#[tokio::test]
async fn llm_chat_sends_the_whole_conversation_and_returns_the_answer() {
    let (fake, base) = FakeLlm::serve(vec![text("Bonjour !")]).await;
    let app = shipped(llm(&format!("{base}/v1"), Some(KEY), Some("default-model"))).await;
    let result = app
        .call_tool(
            None,
            "llm_chat",
            json!({"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
                   "prompt": "Say hello in French", "model": "llama3.1", "temperature": 0.2, "max_tokens": 64}),
        )
        .await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["content"][0]["text"], "Bonjour !");
    assert_eq!(result["structuredContent"]["answer"], "Bonjour !");
    assert_eq!(result["structuredContent"]["model"], "fake-model");
    assert_eq!(result["structuredContent"]["usage"]["total_tokens"], 15);

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(
        seen[0].body,
        json!({"model": "llama3.1", "temperature": 0.2, "max_tokens": 64, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Say hello in French"},
        ]})
    );
}

#[tokio::test]
async fn a_local_server_without_v1_or_key_gets_no_authorization_and_the_default_model() {
    let (fake, base) = FakeLlm::serve(vec![text("ok")]).await;
    let app = shipped(llm(&base, None, Some("qwen2.5:7b"))).await;
    let response = app
        .post("/mcp/tools/call")
        .json(&json!({"tool_name": "llm_chat", "params": {"prompt": "ping?"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["answer"], "ok", "{body}");
    let seen = fake.seen();
    assert_eq!(seen[0].authorization, None, "no key, no Authorization header");
    assert_eq!(seen[0].body, json!({"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "ping?"}]}));
}

#[tokio::test]
async fn a_refused_key_is_a_typed_error_that_never_shows_the_key() {
    let refusal = error(
        401,
        &format!("Incorrect API key provided: {}****0a2f.", &KEY[..5]),
        "invalid_request_error",
        Some("invalid_api_key"),
    );
    let (fake, base) = FakeLlm::serve(vec![refusal]).await;
    let app = shipped(llm(&base, Some(KEY), Some("m"))).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_failed(&result, "upstream_error");
    assert_eq!(error_of(&result)["details"]["provider_code"], "invalid_api_key");
    assert_eq!(error_of(&result)["details"]["upstream_status"], 401);
    assert_eq!(error_of(&result)["retryable"], false);
    assert_eq!(fake.count(), 1, "a refused key is not retried");
}

#[tokio::test]
async fn an_error_echoing_the_key_is_scrubbed_and_keeps_the_provider_code() {
    let echo = error(
        400,
        &format!("model `gpt-x` does not exist for key {KEY}"),
        "invalid_request_error",
        Some("model_not_found"),
    );
    let (_fake, base) = FakeLlm::serve(vec![echo]).await;
    let app = shipped(llm(&base, Some(KEY), Some("gpt-x"))).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_failed(&result, "invalid_params");
    assert_eq!(error_of(&result)["details"]["provider_code"], "model_not_found");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("does not exist"), "{result}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_then_answers() {
    let busy = rate_limited("0");
    let (fake, base) = FakeLlm::serve(vec![busy, text("after the wait")]).await;
    let app = shipped(llm(&base, Some(KEY), Some("m"))).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_eq!(result["structuredContent"]["answer"], "after the wait", "{result}");
    assert_eq!(fake.count(), 2);
}

#[tokio::test]
async fn a_429_asking_to_wait_past_the_deadline_is_rate_limited_with_the_wait() {
    let busy = rate_limited("120");
    let (fake, base) = FakeLlm::serve(vec![busy]).await;
    let settings = llm(&base, Some(KEY), Some("m"));
    let app = shipped_with(move |config| {
        config.llm = settings;
        config.limits.call_timeout = Duration::from_secs(20);
    })
    .await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_failed(&result, "rate_limited");
    assert_eq!(error_of(&result)["retryable"], true);
    assert_eq!(error_of(&result)["details"]["retry_after_secs"], 120);
    assert_eq!(error_of(&result)["details"]["provider_code"], "rate_limit_exceeded");
    assert_eq!(fake.count(), 1, "a wait past the deadline is not attempted");
}

#[tokio::test(start_paused = true)]
async fn a_500_is_retried_and_a_persistent_one_is_a_retryable_upstream_error() {
    let failure = error(500, "The server had an error while processing your request.", "server_error", None);
    let (fake, base) = FakeLlm::serve(vec![failure.clone(), text("recovered")]).await;
    let app = shipped(llm(&base, Some(KEY), Some("m"))).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_eq!(result["structuredContent"]["answer"], "recovered", "{result}");
    assert_eq!(fake.count(), 2);

    let (fake, base) = FakeLlm::serve(vec![failure]).await;
    let app = shipped(llm(&base, Some(KEY), Some("m"))).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_failed(&result, "upstream_error");
    assert_eq!(error_of(&result)["retryable"], true);
    assert_eq!(error_of(&result)["details"]["provider_code"], "server_error");
    assert_eq!(fake.count(), 3, "three attempts in all");
}

#[tokio::test]
async fn a_body_that_is_not_a_chat_completion_is_an_upstream_error() {
    for reply in [
        Reply::Raw(200, "<html>proxy login</html>"),
        Reply::Json(200, json!({"object": "list", "data": []}), Vec::new()),
    ] {
        let (_fake, base) = FakeLlm::serve(vec![reply]).await;
        let app = shipped(llm(&base, Some(KEY), Some("m"))).await;
        let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
        assert_failed(&result, "upstream_error");
        assert!(result["content"][0]["text"].as_str().unwrap().contains("the LLM answered 200"), "{result}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_times_out() {
    let (fake, base) = FakeLlm::serve(vec![Reply::Hang]).await;
    let settings = LlmSettings { timeout: Duration::from_millis(200), ..llm(&base, Some(KEY), Some("m")) };
    let app = shipped(settings).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_failed(&result, "upstream_timeout");
    assert_eq!(error_of(&result)["retryable"], true);
    assert_eq!(fake.count(), 3, "a completion has no side effect, so timeouts are retried");
}

#[tokio::test]
async fn unconfigured_llm_tools_are_listed_and_answer_not_configured() {
    let app = shipped_with(|_| {}).await;
    let names = app.tool_names().await;
    assert!(names.contains(&"llm_chat".to_owned()) && names.contains(&"call_llm".to_owned()), "{names:?}");
    for (tool, args) in [("llm_chat", json!({"prompt": "hi"})), ("call_llm", json!({"message": "hi"}))] {
        let result = app.call_tool(None, tool, args).await;
        assert_failed(&result, "not_configured");
        assert!(result["content"][0]["text"].as_str().unwrap().contains("LLM_BASE_URL"), "{result}");
    }
    let ready: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["settings"]["LLM_BASE_URL"], false);
    let unconfigured = ready["unconfigured_tools"].as_array().unwrap();
    assert!(unconfigured.contains(&json!("llm_chat")) && unconfigured.contains(&json!("call_llm")), "{ready}");

    let (fake, base) = FakeLlm::serve(vec![text("unused")]).await;
    let app = shipped(llm(&base, None, None)).await;
    let result = app.call_tool(None, "llm_chat", json!({"prompt": "hi"})).await;
    assert_failed(&result, "not_configured");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("LLM_MODEL"), "{result}");
    assert_eq!(fake.count(), 0);
}

fn classify_spec() -> Value {
    json!({
        "name": "classify", "description": "Classify a message", "category": "read",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        "binding": {"kind": "llm", "system": "You label messages.", "prompt": "Label this: {{args.text}}",
                    "model": "labeller", "temperature": 0, "output": "json", "response_format": {"type": "json_object"}},
    })
}

#[tokio::test]
async fn an_llm_binding_renders_its_templates_and_parses_a_json_answer() {
    let (fake, base) =
        FakeLlm::serve(vec![text("```json\n{\"label\": \"spam\"}\n```"), text("I think it is spam")]).await;
    let specs = tempfile::tempdir().unwrap();
    write_spec(specs.path(), "classify.json", &classify_spec().to_string());
    let settings = llm(&base, None, None);
    let app = TestApp::spawn_with(specs.path(), move |config| config.llm = settings).await;

    let result = app.call_tool(None, "classify", json!({"text": "WIN A PRIZE"})).await;
    assert_eq!(result["structuredContent"]["answer"], json!({"label": "spam"}), "{result}");
    assert_eq!(
        fake.seen()[0].body,
        json!({"model": "labeller", "temperature": 0.0, "response_format": {"type": "json_object"}, "messages": [
            {"role": "system", "content": "You label messages."},
            {"role": "user", "content": "Label this: WIN A PRIZE"},
        ]})
    );

    let result = app.call_tool(None, "classify", json!({"text": "again"})).await;
    assert_eq!(error_of(&result)["code"], "upstream_error", "{result}");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("not the JSON"), "{result}");
}

#[tokio::test]
async fn a_broken_llm_spec_is_refused_with_its_file_and_json_path() {
    let specs = tempfile::tempdir().unwrap();
    let mut spec = classify_spec();
    spec["binding"]["prompt"] = json!("Label this: {{args.txt}}");
    write_spec(specs.path(), "classify.json", &spec.to_string());
    let problems = mcp_gateway::tools::Registry::load(specs.path(), &Default::default()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].file.as_str(), problems[0].path.as_str()), ("classify.json", "$.binding.prompt"));
    assert!(problems[0].message.contains("txt"), "{problems:?}");
}
