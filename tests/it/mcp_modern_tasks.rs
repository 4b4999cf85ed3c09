//! The tasks extension of 2026-07-28 (`io.modelcontextprotocol/tasks`) over the media jobs, against the fake
//! Higgsfield: a job tool called by a request that opts in answers a task, which `tasks/get` follows to its
//! result; cancellation; what a request without the opt-in gets; a provider's failure and an internal one; and
//! another key's task looking like an unknown id. Then tool calls run as tasks (tools declaring
//! `execution.taskSupport`, the conformance fixtures): their lifecycle, cancellation stopping the call, questions
//! inside a task answered with `tasks/update`, a tool that asks over the request before it becomes a task, a
//! task-required tool without the opt-in, another key's tool task, and a task a restart cut.

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use mcp_gateway::jobs::{JobRecord, JobStatus, MediaKind, TaskRecord, TaskStatus};
use serde_json::{Value, json};

use crate::common::{
    TestApp, api_key, assert_answers_alike, bearer, eventually, fixture_specs, poll_until, shipped_tool_specs,
};
use crate::mcp_modern::{message, meta, modern, modern_with, result};
use crate::media_fakes::{FakeHiggsfield, configure, owners_app};

const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// `_meta` of a request that opts in to the tasks extension.
pub(crate) fn opted_in() -> Value {
    meta(json!({"elicitation": {}, "extensions": {EXTENSION: {}}}))
}

async fn media_app(fake_base: String) -> TestApp {
    TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, None, Some(&fake_base))).await
}

/// `tools/call` of `higgsfield_image` with `prompt`, opted in: the `CreateTaskResult`.
async fn create(app: &TestApp, prompt: &str) -> Value {
    let params = json!({"name": "higgsfield_image", "arguments": {"prompt": prompt}, "_meta": opted_in()});
    result(app, "tools/call", params).await
}

/// A tasks method, opted in, with `Mcp-Name` naming the task.
pub(crate) async fn on_task(app: &TestApp, method: &str, task_id: &str, extra: Value) -> Value {
    let mut params = json!({"taskId": task_id, "_meta": opted_in()});
    if let Value::Object(extra) = extra {
        params.as_object_mut().unwrap().extend(extra);
    }
    result(app, method, params).await
}

pub(crate) async fn until_status(app: &TestApp, task_id: &str, status: &str) -> Value {
    poll_until(&format!("the task is {status}"), || async {
        let task = on_task(app, "tasks/get", task_id, json!({})).await;
        (task["status"] == status).then_some(task)
    })
    .await
}

fn assert_no_keys(value: &Value, keys: &[&str]) {
    for key in keys {
        assert!(value.get(key).is_none(), "`{key}` must not be there: {value}");
    }
}

#[tokio::test]
async fn a_media_job_called_with_the_opt_in_is_a_task_that_tasks_get_follows_to_its_result() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    fake.hold.store(true, Ordering::SeqCst);
    let app = media_app(base).await;
    let discovered = result(&app, "server/discover", json!({})).await;
    assert_eq!(discovered["capabilities"]["extensions"][EXTENSION], json!({}), "{discovered}");
    assert!(discovered["capabilities"].get("tasks").is_none(), "the extension, not a core capability");

    let created = create(&app, "A lighthouse").await;
    assert_eq!(created["resultType"], "task", "{created}");
    assert_eq!(created["status"], "working");
    assert_no_keys(&created, &["task", "result", "error", "inputRequests", "requestState", "ttl", "pollInterval"]);
    assert!(created["ttlMs"].is_null(), "jobs are kept without expiry: {created}");
    assert!(created["pollIntervalMs"].as_u64().is_some_and(|ms| ms > 0), "{created}");
    let created_at = created["createdAt"].as_str().unwrap();
    assert!(created_at.len() >= 19 && created_at.as_bytes()[10] == b'T', "ISO-8601: {created_at}");
    let task_id = created["taskId"].as_str().unwrap().to_owned();
    assert_eq!(fake.submits().len(), 1);

    let working = on_task(&app, "tasks/get", &task_id, json!({})).await;
    assert_eq!((working["resultType"].as_str(), working["status"].as_str()), (Some("complete"), Some("working")));
    assert_eq!(working["taskId"], task_id.as_str());
    assert_no_keys(&working, &["result", "error", "inputRequests", "requestState"]);
    // Media jobs ask nothing: every answer is one nobody asked for, and the ack says nothing about the task.
    let ack =
        on_task(&app, "tasks/update", &task_id, json!({"inputResponses": {"unknown-key": {"ignored": true}}})).await;
    assert_eq!(ack["resultType"], "complete", "{ack}");
    assert_no_keys(&ack, &["taskId", "status", "result", "error", "inputRequests"]);

    fake.hold.store(false, Ordering::SeqCst);
    let done = until_status(&app, &task_id, "completed").await;
    let outcome = &done["result"];
    assert_eq!(outcome["resultType"], "complete", "{done}");
    assert_eq!(outcome["isError"], false);
    assert_eq!(outcome["structuredContent"]["status"], "completed");
    assert_eq!(outcome["structuredContent"]["job_id"], task_id.as_str(), "the task is the job");
    assert!(outcome["content"].as_array().unwrap().iter().any(|b| b["type"] == "resource_link"), "{outcome}");
    assert!(outcome.pointer("/_meta/io.modelcontextprotocol~1related-task").is_none(), "{outcome}");
    assert_no_keys(&done, &["error", "inputRequests", "requestState"]);
    assert_ne!(done["lastUpdatedAt"], Value::Null);

    // Cancelling an ended task is acknowledged and changes nothing.
    let ack = on_task(&app, "tasks/cancel", &task_id, json!({})).await;
    assert_eq!(ack["resultType"], "complete", "{ack}");
    assert_no_keys(&ack, &["taskId", "status"]);
    assert_eq!(on_task(&app, "tasks/get", &task_id, json!({})).await["status"], "completed");
    assert!(fake.cancels.lock().unwrap().is_empty());
    // Mcp-Name, when sent on a tasks method, names the task.
    let params = json!({"taskId": task_id, "_meta": opted_in()});
    let mismatch = modern_with(&app, "tasks/get", params, &[("mcp-name", "another-task")]);
    assert_eq!(message(mismatch, StatusCode::BAD_REQUEST).await["error"]["code"], -32020);
}

#[tokio::test]
async fn cancelling_a_task_cancels_its_queued_job_and_a_second_cancel_is_acknowledged() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = media_app(base).await;
    let task_id = create(&app, "queued forever").await["taskId"].as_str().unwrap().to_owned();
    let ack = on_task(&app, "tasks/cancel", &task_id, json!({})).await;
    assert_eq!(ack["resultType"], "complete", "{ack}");
    let cancelled = until_status(&app, &task_id, "cancelled").await;
    assert_no_keys(&cancelled, &["result", "error"]);
    assert_eq!(fake.cancels.lock().unwrap().len(), 1, "the queued request was cancelled at Higgsfield");
    let again = on_task(&app, "tasks/cancel", &task_id, json!({})).await;
    assert_eq!(again["resultType"], "complete", "{again}");
    assert_eq!(fake.cancels.lock().unwrap().len(), 1, "nothing more reached Higgsfield");
    assert_eq!(on_task(&app, "tasks/get", &task_id, json!({})).await["status"], "cancelled");
}

#[tokio::test]
async fn a_provider_failure_completes_with_the_tool_error_and_only_an_internal_one_fails() {
    let (_fake, base) = FakeHiggsfield::start(1).await;
    let app = media_app(base).await;
    let task_id = create(&app, "fail").await["taskId"].as_str().unwrap().to_owned();
    let ended = until_status(&app, &task_id, "completed").await;
    assert_eq!(ended["result"]["isError"], true, "what the call answers synchronously: {ended}");
    assert_eq!(ended["result"]["_meta"]["mcp-gateway/error"]["code"], "upstream_error", "{ended}");
    assert!(ended["statusMessage"].as_str().unwrap().contains("generation crashed"), "{ended}");
    assert_no_keys(&ended, &["error"]);

    // A job that failed inside the gateway is `failed`, with a JSON-RPC error and no result.
    let jobs = app.state.engine.jobs();
    let mut record =
        JobRecord::new("anonymous", "higgsfield", "higgsfield_image", None, MediaKind::Image, "p".into(), json!({}));
    jobs.save(&record).await.unwrap();
    let err = mcp_gateway::error::GatewayError::new(mcp_gateway::error::ErrorCode::Internal, "lost its request");
    jobs.fail(&mut record, &err).await;
    let failed = on_task(&app, "tasks/get", &record.job_id, json!({})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], -32603);
    assert_eq!(failed["error"]["message"], "lost its request");
    assert_no_keys(&failed, &["result"]);

    // A call that fails before its job exists answers as it would synchronously: no task.
    let refused = create(&app, "credits").await;
    assert_eq!(refused["resultType"], "complete", "{refused}");
    assert_eq!(refused["isError"], true);
    assert_no_keys(&refused, &["taskId"]);
    assert_eq!(
        jobs.get(&record.job_id, mcp_gateway::jobs::Reader::Anyone).await.unwrap().unwrap().status,
        JobStatus::Failed
    );
}

#[tokio::test]
async fn without_the_opt_in_tasks_methods_need_the_extension_and_job_tools_answer_at_once() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = media_app(base).await;
    let task_id = create(&app, "queued forever").await["taskId"].as_str().unwrap().to_owned();
    for (method, id) in [("tasks/get", task_id.as_str()), ("tasks/update", "no-such-task"), ("tasks/cancel", &task_id)]
    {
        let params = json!({"taskId": id, "inputResponses": {}, "_meta": meta(json!({"elicitation": {}}))});
        let answer = message(modern(&app, method, params), StatusCode::BAD_REQUEST).await;
        assert_eq!(answer["error"]["code"], -32021, "{method}: {answer}");
        assert_eq!(answer["error"]["data"], json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}}));
    }
    assert!(fake.cancels.lock().unwrap().is_empty(), "the refused cancel cancelled nothing");
    assert_eq!(on_task(&app, "tasks/get", &task_id, json!({})).await["status"], "working");

    // The tool runs as it always does (the job record at once), a legacy `task` field changing nothing.
    let params = json!({"name": "higgsfield_image", "arguments": {"prompt": "A lighthouse"}, "task": {"ttl": 60000},
                        "_meta": meta(json!({}))});
    let sync = result(&app, "tools/call", params).await;
    assert_eq!(sync["resultType"], "complete", "{sync}");
    assert_eq!(sync["structuredContent"]["provider"], "higgsfield", "{sync}");
    assert_no_keys(&sync, &["taskId", "task"]);
    // Opted in, a tool that is not a job runs synchronously too.
    let ping = result(&app, "tools/call", json!({"name": "ping", "arguments": {}, "_meta": opted_in()})).await;
    assert_eq!(ping["resultType"], "complete", "{ping}");
    assert_no_keys(&ping, &["taskId"]);

    // tasks/result and tasks/list are not part of the extension; an unknown id is invalid params in-band.
    for removed in ["tasks/result", "tasks/list"] {
        let params = json!({"taskId": task_id, "_meta": opted_in()});
        let answer = message(modern(&app, removed, params), StatusCode::NOT_FOUND).await;
        assert_eq!(answer["error"]["code"], -32601, "{removed}: {answer}");
    }
    let params = json!({"taskId": "no-such-task", "_meta": opted_in()});
    let unknown = message(modern(&app, "tasks/get", params), StatusCode::OK).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[tokio::test]
async fn another_keys_task_answers_what_an_unknown_id_answers_and_is_left_alone() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = owners_app(base).await;
    let as_key = |key: &str, method: &str, params: Value| {
        let request = modern(&app, method, params).header("authorization", bearer(key));
        message(request, StatusCode::OK)
    };
    let params = json!({"name": "higgsfield_image", "arguments": {"prompt": "queued forever"}, "_meta": opted_in()});
    let created = as_key("alice", "tools/call", params).await;
    let task_id = created["result"]["taskId"].as_str().unwrap_or_else(|| panic!("a task: {created}")).to_owned();

    let unknown = "00000000-0000-4000-8000-000000000000";
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let as_bob = as_key("bob", method, json!({"taskId": task_id, "_meta": opted_in()})).await;
        let for_unknown = as_key("bob", method, json!({"taskId": unknown, "_meta": opted_in()})).await;
        assert_eq!(as_bob["error"]["code"], -32602, "{method}: {as_bob}");
        assert_answers_alike(&as_bob, &task_id, &for_unknown, unknown);
    }
    assert!(fake.cancels.lock().unwrap().is_empty(), "bob's cancel reached Higgsfield");
    let own = as_key("alice", "tasks/get", json!({"taskId": task_id, "_meta": opted_in()})).await;
    assert_eq!(own["result"]["status"], "working", "{own}");
    let admin = as_key("ops", "tasks/get", json!({"taskId": task_id, "_meta": opted_in()})).await;
    assert_eq!(admin["result"]["taskId"], task_id.as_str(), "an admin key reaches every task: {admin}");
}

/// `tools/call` of a fixture tool, opted in: the result (a `CreateTaskResult` for a task tool).
pub(crate) async fn call_opted_in(app: &TestApp, name: &str, arguments: Value) -> Value {
    result(app, "tools/call", json!({"name": name, "arguments": arguments, "_meta": opted_in()})).await
}

/// The task id of a `CreateTaskResult`.
pub(crate) fn task_id_of(created: &Value) -> String {
    assert_eq!(created["resultType"], "task", "a task: {created}");
    created["taskId"].as_str().unwrap().to_owned()
}

/// The first text block of a task's result.
pub(crate) fn result_text(task: &Value) -> &str {
    task.pointer("/result/content/0/text").and_then(Value::as_str).unwrap_or_else(|| panic!("a text result: {task}"))
}

#[tokio::test]
async fn a_tool_call_run_as_a_task_answers_at_once_and_tasks_get_follows_it_to_its_end() {
    let app = TestApp::fixtures().await;
    let listed = result(&app, "tools/list", json!({})).await;
    let support = |name: &str| {
        let tool = listed["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
        tool.pointer("/execution/taskSupport").cloned()
    };
    assert_eq!(support("slow_compute"), Some(json!("optional")));
    assert_eq!(support("failing_job"), Some(json!("required")));
    assert_eq!(support("greet"), None, "a synchronous tool declares nothing");

    let created = call_opted_in(&app, "slow_compute", json!({"seconds": 0.3, "label": "it"})).await;
    let task_id = task_id_of(&created);
    assert_eq!(created["status"], "working");
    assert_eq!(created["ttlMs"], 3_600_000, "kept an hour: {created}");
    assert!(created["pollIntervalMs"].as_u64().is_some_and(|ms| ms > 0), "{created}");
    assert_no_keys(&created, &["task", "result", "error", "inputRequests", "requestState"]);
    let working = on_task(&app, "tasks/get", &task_id, json!({})).await;
    assert_eq!((working["resultType"].as_str(), working["status"].as_str()), (Some("complete"), Some("working")));
    assert_no_keys(&working, &["result", "error", "inputRequests"]);
    let done = until_status(&app, &task_id, "completed").await;
    assert_eq!(result_text(&done), "slow_compute finished", "{done}");
    assert_eq!(done["result"]["isError"], false);
    assert_eq!(done["result"]["resultType"], "complete");
    assert_no_keys(&done, &["error", "inputRequests", "requestState"]);

    // A tool error completes the task with the error result; a protocol error fails it with a JSON-RPC error.
    let failing = task_id_of(&call_opted_in(&app, "failing_job", json!({})).await);
    let failed_tool = until_status(&app, &failing, "completed").await;
    assert_eq!(failed_tool["result"]["isError"], true, "{failed_tool}");
    assert_eq!(result_text(&failed_tool), "failing_job failed on purpose");
    assert_no_keys(&failed_tool, &["error"]);
    let protocol = task_id_of(&call_opted_in(&app, "protocol_error_job", json!({})).await);
    let failed = until_status(&app, &protocol, "failed").await;
    assert_eq!(failed["error"]["code"], -32021, "the client declared no roots: {failed}");
    assert_eq!(failed["error"]["data"]["requiredCapabilities"]["roots"], json!({}));
    assert!(failed["statusMessage"].as_str().unwrap().contains("roots"), "{failed}");
    assert_no_keys(&failed, &["result"]);

    // A synchronous tool stays synchronous, opted in or not, and a legacy `task` field changes nothing.
    let params = json!({"name": "greet", "arguments": {"name": "Ada"}, "task": {"ttl": 1000}, "_meta": opted_in()});
    let greeted = result(&app, "tools/call", params).await;
    assert_eq!(greeted["resultType"], "complete", "{greeted}");
    assert_eq!(greeted["content"], json!([{"type": "text", "text": "Hello, Ada!"}]));
    assert_no_keys(&greeted, &["taskId"]);
}

#[tokio::test]
async fn cancelling_a_tool_task_stops_its_call_and_a_second_cancel_is_acknowledged() {
    let app = TestApp::fixtures().await;
    let task_id = task_id_of(&call_opted_in(&app, "slow_compute", json!({"seconds": 60})).await);
    let ack = on_task(&app, "tasks/cancel", &task_id, json!({})).await;
    assert_eq!(ack["resultType"], "complete", "{ack}");
    assert_no_keys(&ack, &["taskId", "status"]);
    let cancelled = on_task(&app, "tasks/get", &task_id, json!({})).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_no_keys(&cancelled, &["result", "error"]);
    // The call itself ended as cancelled (its metrics say so), long before its 60 s.
    eventually("the call was cancelled", || async {
        let metrics = app.get("/metrics").send().await.unwrap().text().await.unwrap();
        metrics.contains(r#"gateway_tool_calls_total{tool="slow_compute",outcome="cancelled"} 1"#)
    })
    .await;
    let again = on_task(&app, "tasks/cancel", &task_id, json!({})).await;
    assert_eq!(again["resultType"], "complete", "{again}");
    assert_eq!(on_task(&app, "tasks/get", &task_id, json!({})).await["status"], "cancelled");
}

#[tokio::test]
async fn a_question_inside_a_task_is_input_required_until_tasks_update_answers_it() {
    let app = TestApp::fixtures().await;
    let task_id = task_id_of(&call_opted_in(&app, "confirm_delete", json!({"filename": "a.txt"})).await);
    let waiting = until_status(&app, &task_id, "input_required").await;
    let requests = waiting["inputRequests"].as_object().unwrap();
    assert_eq!(requests.keys().collect::<Vec<_>>(), ["confirm"], "{waiting}");
    assert_eq!(requests["confirm"]["method"], "elicitation/create");
    assert_no_keys(&waiting, &["result", "error", "requestState"]);
    // Keys nobody asked and malformed answers are ignored; the question stays.
    let junk = json!({"inputResponses": {"unknown-key": {"ignored": true}, "confirm": 42}});
    let ack = on_task(&app, "tasks/update", &task_id, junk).await;
    assert_eq!(ack["resultType"], "complete", "{ack}");
    assert_no_keys(&ack, &["taskId", "status", "result", "error", "inputRequests"]);
    assert_eq!(on_task(&app, "tasks/get", &task_id, json!({})).await["status"], "input_required");

    let answer = json!({"inputResponses": {"confirm": {"action": "accept", "content": {"confirm": true}}}});
    on_task(&app, "tasks/update", &task_id, answer).await;
    let done = until_status(&app, &task_id, "completed").await;
    assert_eq!(result_text(&done), "Deletion answered: true", "{done}");
    assert_no_keys(&done, &["inputRequests"]);

    // Two questions at once: a partial answer leaves only the other pending.
    let task_id = task_id_of(&call_opted_in(&app, "multi_input", json!({})).await);
    let both = until_status(&app, &task_id, "input_required").await;
    assert_eq!(both["inputRequests"].as_object().unwrap().len(), 2, "{both}");
    let first = json!({"inputResponses": {"first": {"action": "accept", "content": {"name": "one"}}}});
    on_task(&app, "tasks/update", &task_id, first).await;
    let partial = on_task(&app, "tasks/get", &task_id, json!({})).await;
    assert_eq!(partial["status"], "input_required", "{partial}");
    assert_eq!(partial["inputRequests"].as_object().unwrap().keys().collect::<Vec<_>>(), ["second"]);
    let second = json!({"inputResponses": {"second": {"action": "accept", "content": {"name": "two"}}}});
    on_task(&app, "tasks/update", &task_id, second).await;
    let done = until_status(&app, &task_id, "completed").await;
    assert_eq!(result_text(&done), "first: one; second: two", "{done}");
}

#[tokio::test]
async fn a_tool_that_asks_first_answers_input_required_then_its_retry_becomes_a_task() {
    let app = TestApp::fixtures().await;
    let first = call_opted_in(&app, "test_tool_with_task", json!({})).await;
    assert_eq!(first["resultType"], "input_required", "{first}");
    assert_eq!(first["inputRequests"]["user_name"]["method"], "elicitation/create");
    assert_no_keys(&first, &["taskId"]);
    let params = json!({
        "name": "test_tool_with_task", "arguments": {}, "_meta": opted_in(),
        "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Alice"}}},
        "requestState": first["requestState"],
    });
    let created = result(&app, "tools/call", params).await;
    let task_id = task_id_of(&created);
    assert_no_keys(&created, &["requestState", "inputRequests"]);
    let done = until_status(&app, &task_id, "completed").await;
    assert_eq!(result_text(&done), "Hello, Alice!", "{done}");
}

#[tokio::test]
async fn a_task_required_tool_needs_the_opt_in_and_an_optional_one_runs_synchronously_without_it() {
    let app = TestApp::fixtures().await;
    let params = json!({"name": "failing_job", "arguments": {}, "_meta": meta(json!({}))});
    let refused = message(modern(&app, "tools/call", params), StatusCode::BAD_REQUEST).await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert_eq!(refused["error"]["data"], json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}}));
    let params = json!({"name": "slow_compute", "arguments": {"seconds": 0}, "_meta": meta(json!({}))});
    let sync = result(&app, "tools/call", params).await;
    assert_eq!(sync["resultType"], "complete", "{sync}");
    assert_eq!(sync["content"][0]["text"], "slow_compute finished");
    assert_no_keys(&sync, &["taskId"]);
}

#[tokio::test]
async fn another_keys_tool_task_answers_what_an_unknown_id_answers_and_is_left_alone() {
    let app = TestApp::spawn_with(&fixture_specs(), |config| {
        let caller = ["tools:list", "tools:call"];
        config.security.keys = vec![api_key("alice", &caller, &[], &[]), api_key("bob", &caller, &[], &[])];
    })
    .await;
    let as_key = |key: &str, method: &str, params: Value| {
        let request = modern(&app, method, params).header("authorization", bearer(key));
        message(request, StatusCode::OK)
    };
    let params = json!({"name": "confirm_delete", "arguments": {"filename": "x"}, "_meta": opted_in()});
    let created = as_key("alice", "tools/call", params).await;
    let task_id = task_id_of(&created["result"]);
    let unknown = "00000000-0000-4000-8000-000000000000";
    let answer = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    for method in ["tasks/get", "tasks/update", "tasks/cancel"] {
        let params = |id: &str| json!({"taskId": id, "inputResponses": answer, "_meta": opted_in()});
        let as_bob = as_key("bob", method, params(&task_id)).await;
        let for_unknown = as_key("bob", method, params(unknown)).await;
        assert_eq!(as_bob["error"]["code"], -32602, "{method}: {as_bob}");
        assert_answers_alike(&as_bob, &task_id, &for_unknown, unknown);
    }
    let own = poll_until("alice's task waits for her answer", || async {
        let own = as_key("alice", "tasks/get", json!({"taskId": task_id, "_meta": opted_in()})).await;
        (own["result"]["status"] == "input_required").then_some(own)
    })
    .await;
    assert!(own["result"]["inputRequests"]["confirm"].is_object(), "bob's answer was not taken: {own}");
}

#[tokio::test]
async fn a_tool_task_a_restart_cut_reads_failed_with_the_reason() {
    let app = TestApp::fixtures().await;
    let jobs = app.state.engine.jobs();
    let mut cut = TaskRecord::new("anonymous", "slow_compute", 3_600_000);
    cut.created_ms -= 60_000;
    jobs.save_task(&cut).await.unwrap();
    jobs.resume().await;
    let failed = on_task(&app, "tasks/get", &cut.task_id, json!({})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], -32603);
    assert!(failed["error"]["message"].as_str().unwrap().contains("restarted"), "{failed}");
    let stored = jobs.get_task(&cut.task_id, mcp_gateway::jobs::Reader::Anyone).await.unwrap().unwrap();
    assert_eq!(stored.status, TaskStatus::Failed);
}
