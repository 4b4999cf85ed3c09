//! Long media jobs: records that survive a restart (Higgsfield polling resumes, an interrupted ElevenLabs job is
//! marked failed with the reason), progress notifications over Streamable HTTP while a call waits, a cancelled
//! call cancelling its queued Higgsfield request, a call at its deadline handing the job to the background, the
//! maximum job age, and jobs and MCP tasks belonging to the key that started them.

use crate::common;
use crate::media_fakes;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    SseStream, TestApp, assert_answers_alike, bearer, eventually, poll_until, shipped_tool_specs, write_spec,
};
use mcp_gateway::jobs::{JobRecord, JobStatus, MediaKind, Reader};
use media_fakes::{FakeElevenLabs, FakeHiggsfield, PNG, configure, fetch_asset, owners_app, rest_call};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn job_status(app: &TestApp, job_id: &str) -> Value {
    let (_, body) = rest_call(app, "check_job_status", json!({"job_id": job_id})).await;
    body["result"].clone()
}

fn call(id: i64, name: &str, arguments: Value, progress_token: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments, "_meta": {"progressToken": progress_token}}})
}

#[tokio::test]
async fn jobs_survive_a_restart_higgsfield_resumes_and_elevenlabs_is_marked_failed() {
    let data = tempfile::tempdir().unwrap();
    let (higgsfield, hf_base) = FakeHiggsfield::start(1).await;
    let (elevenlabs, el_base) = FakeElevenLabs::start().await;
    higgsfield.hold.store(true, Ordering::SeqCst);
    let spawn = || {
        let (data_dir, hf_base, el_base) = (data.path().to_path_buf(), hf_base.clone(), el_base.clone());
        async move {
            TestApp::spawn_with(&shipped_tool_specs(), move |config| {
                configure(config, Some(&el_base), Some(&hf_base));
                config.data_dir = data_dir;
            })
            .await
        }
    };

    let first = spawn().await;
    let (_, body) = rest_call(&first, "higgsfield_image", json!({"prompt": "Across restarts"})).await;
    let job_id = body["result"]["job_id"].as_str().expect("a job record").to_owned();
    let provider_id = body["result"]["provider_request_id"].as_str().unwrap().to_owned();
    let (_, body) = rest_call(&first, "elevenlabs_voice", json!({"text": "hold"})).await;
    let voice_job = body["result"]["job_id"].as_str().unwrap().to_owned();
    eventually("the first gateway polls the job", || async { higgsfield.polls_of(&provider_id) >= 1 }).await;
    first.state.begin_shutdown();
    let polls_before_restart = higgsfield.polls_of(&provider_id);

    let second = spawn().await;
    let voice = poll_until("the interrupted ElevenLabs job is marked failed", || {
        let (second, voice_job) = (&second, voice_job.clone());
        async move {
            let record = job_status(second, &voice_job).await;
            (record["status"] == "failed").then_some(record)
        }
    })
    .await;
    assert!(voice["error"]["message"].as_str().unwrap().contains("restarted"), "{voice}");
    assert_eq!(voice["error"]["retryable"], true);

    higgsfield.hold.store(false, Ordering::SeqCst);
    let done = poll_until("the resumed Higgsfield job completes", || {
        let (second, job_id) = (&second, job_id.clone());
        async move {
            let record = job_status(second, &job_id).await;
            (record["status"] == "completed").then_some(record)
        }
    })
    .await;
    assert!(higgsfield.polls_of(&provider_id) > polls_before_restart, "the second gateway polled it");
    assert_eq!(higgsfield.submits().len(), 1, "resuming never submits again");
    let (code, _, bytes) = fetch_asset(&second, done["url"].as_str().unwrap()).await;
    assert_eq!((code, bytes.as_slice()), (200, PNG));
    elevenlabs.release.store(true, Ordering::SeqCst);
}

#[tokio::test]
async fn a_waiting_call_sends_progress_notifications_over_streamable_http() {
    let (_fake, base) = FakeHiggsfield::start(4).await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, None, Some(&base))).await;
    let session = app.initialize("2025-11-25").await;
    let body = call(9, "higgsfield_image", json!({"prompt": "Progress", "wait_for_completion": true}), "img-9");
    let mut stream = SseStream::new(app.mcp(Some(&session), &body).send().await.unwrap());
    let mut progress = Vec::new();
    let last = loop {
        let message = stream.next_message().await;
        if message.get("id").is_some() {
            break message;
        }
        assert_eq!(message["method"], "notifications/progress", "{message}");
        assert_eq!(message["params"]["progressToken"], "img-9");
        progress.push(message["params"]["progress"].as_f64().unwrap());
        assert!(message["params"]["message"].as_str().unwrap().contains("job "), "{message}");
    };
    assert!(progress.len() >= 4, "a report per poll: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "progress increases: {progress:?}");
    assert_eq!(last["id"], 9);
    assert_eq!(last["result"]["isError"], false, "{last}");
    assert_eq!(last["result"]["structuredContent"]["status"], "completed");
}

#[tokio::test]
async fn cancelling_a_waiting_call_cancels_the_queued_higgsfield_request() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, None, Some(&base))).await;
    let session = app.initialize("2025-06-18").await;
    let body = call(21, "higgsfield_image", json!({"prompt": "queued forever", "wait_for_completion": true}), "c");
    let mut stream = SseStream::new(app.mcp(Some(&session), &body).send().await.unwrap());
    let first = stream.next_message().await;
    let text = first["params"]["message"].as_str().unwrap().to_owned();
    let job_id = text.trim_start_matches("job ").split(':').next().unwrap().to_owned();

    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 21}});
    assert_eq!(app.mcp(Some(&session), &cancel).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let end = loop {
        let message = stream.next_message().await;
        if message.get("id").is_some() {
            break message;
        }
        assert_eq!(message["method"], "notifications/progress", "{message}");
    };
    assert_eq!(end["result"]["_meta"]["mcp-gateway/error"]["code"], "cancelled", "{end}");

    eventually("Higgsfield receives the cancel", || async { !fake.cancels.lock().unwrap().is_empty() }).await;
    let record = poll_until("the job is recorded as canceled", || {
        let (app, job_id) = (&app, job_id.clone());
        async move {
            let record = job_status(app, &job_id).await;
            (record["status"] == "canceled").then_some(record)
        }
    })
    .await;
    assert_eq!(record["error"]["code"], "cancelled", "{record}");
}

#[tokio::test]
async fn a_call_at_its_deadline_returns_the_running_job_which_completes_in_the_background() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    fake.hold.store(true, Ordering::SeqCst);
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "short_wait", "description": "Higgsfield image with a two-second deadline",
                      "timeout_secs": 2,
                      "inputSchema": {"type": "object", "properties": {"prompt": {"type": "string"},
                                      "wait_for_completion": {"type": "boolean"}}},
                      "binding": {"kind": "higgsfield", "media": "image", "model": "higgsfield-ai/soul/standard",
                                  "body": {"prompt": "{{args.prompt}}"}}});
    write_spec(specs.path(), "short_wait.json", &spec.to_string());
    write_spec(
        specs.path(),
        "check_job_status.json",
        &std::fs::read_to_string(shipped_tool_specs().join("narrations/check_job_status.json")).unwrap(),
    );
    let app = TestApp::spawn_with(specs.path(), move |config| configure(config, None, Some(&base))).await;
    let (status, body) =
        rest_call(&app, "short_wait", json!({"prompt": "takes long", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["status"], "in_progress", "{body}");
    let job_id = body["result"]["job_id"].as_str().unwrap().to_owned();
    fake.hold.store(false, Ordering::SeqCst);
    eventually("the handed-over job completes", || {
        let (app, job_id) = (&app, job_id.clone());
        async move { job_status(app, &job_id).await["status"] == "completed" }
    })
    .await;
}

#[tokio::test]
async fn a_job_older_than_the_maximum_age_is_marked_failed() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    fake.hold.store(true, Ordering::SeqCst);
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        configure(config, None, Some(&base));
        config.jobs.max_age = Duration::from_millis(300);
    })
    .await;
    let (_, body) = rest_call(&app, "higgsfield_image", json!({"prompt": "forever"})).await;
    let job_id = body["result"]["job_id"].as_str().unwrap().to_owned();
    let record = poll_until("the job ages out", || {
        let (app, job_id) = (&app, job_id.clone());
        async move {
            let record = job_status(app, &job_id).await;
            (record["status"] == "failed").then_some(record)
        }
    })
    .await;
    assert_eq!(record["error"]["code"], "timeout", "{record}");
}

#[tokio::test]
async fn mcp_tasks_run_media_tools_as_jobs_and_answer_get_result_and_cancel() {
    let (fake, base) = FakeHiggsfield::start(3).await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, None, Some(&base))).await;
    let (session, init) = app.initialize_raw("2025-11-25", json!({})).await;
    assert!(init["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(), "{init}");
    let tools = app.rpc(Some(&session), "tools/list", json!({})).await;
    let support = |name: &str| {
        let tool = tools["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
        tool["execution"]["taskSupport"].clone()
    };
    assert_eq!(support("higgsfield_image"), "optional");
    assert_eq!(support("ping"), Value::Null);

    let created = app
        .rpc(
            Some(&session),
            "tools/call",
            json!({"name": "higgsfield_image", "arguments": {"prompt": "As a task"}, "task": {"ttl": 60000}}),
        )
        .await;
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working", "{created}");
    let task_id = task["taskId"].as_str().unwrap().to_owned();
    let got = app.rpc(Some(&session), "tasks/get", json!({"taskId": task_id})).await;
    assert_eq!(got["result"]["taskId"], task_id.as_str());
    let result = app.rpc(Some(&session), "tasks/result", json!({"taskId": task_id})).await;
    let result = &result["result"];
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["status"], "completed");
    assert_eq!(result["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], task_id.as_str());
    let done = app.rpc(Some(&session), "tasks/get", json!({"taskId": task_id})).await;
    assert_eq!(done["result"]["status"], "completed");

    let queued = app
        .rpc(
            Some(&session),
            "tools/call",
            json!({"name": "higgsfield_image", "arguments": {"prompt": "queued forever"}, "task": {}}),
        )
        .await;
    let queued_id = queued["result"]["task"]["taskId"].as_str().unwrap().to_owned();
    let cancelled = app.rpc(Some(&session), "tasks/cancel", json!({"taskId": queued_id})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    assert_eq!(fake.cancels.lock().unwrap().len(), 1, "the queued request was cancelled at Higgsfield");
    let again = app.rpc(Some(&session), "tasks/cancel", json!({"taskId": queued_id})).await;
    assert_eq!(again["error"]["code"], -32602, "{again}");
    let missing = app.rpc(Some(&session), "tasks/get", json!({"taskId": "no-such-task"})).await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let not_a_job = app.rpc(Some(&session), "tools/call", json!({"name": "ping", "task": {}})).await;
    assert_eq!(not_a_job["error"]["code"], -32601, "{not_a_job}");
}

#[tokio::test]
async fn cancelling_a_waiting_elevenlabs_call_marks_its_job_failed_instead_of_leaving_it_running() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, Some(&base), None)).await;
    let session = app.initialize("2025-06-18").await;
    let body = json!({"jsonrpc": "2.0", "id": 31, "method": "tools/call",
                      "params": {"name": "elevenlabs_voice", "arguments": {"text": "hold", "wait_for_completion": true}}});
    let call = async { app.mcp(Some(&session), &body).send().await.unwrap().text().await.unwrap() };
    let cancel = async {
        eventually("the generation reaches ElevenLabs", || async { fake.count("hold") == 1 }).await;
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 31}});
        app.mcp(Some(&session), &cancel).send().await.unwrap().status()
    };
    let (answer, cancelled) = tokio::join!(call, cancel);
    assert_eq!(cancelled, StatusCode::ACCEPTED);
    assert!(answer.contains("cancelled"), "{answer}");
    assert_eq!(fake.seen().len(), 1, "sent once");
    let record = poll_until("the abandoned job is marked failed in jobs.db", || {
        let app = &app;
        async move {
            let conn = rusqlite::Connection::open(app.state.config.data_dir.join("jobs.db")).ok()?;
            let (status, record): (String, String) =
                conn.query_row("SELECT status, record FROM jobs", [], |row| Ok((row.get(0)?, row.get(1)?))).ok()?;
            (status == "failed").then(|| serde_json::from_str::<Value>(&record).unwrap())
        }
    })
    .await;
    assert_eq!(record["error"]["code"], "cancelled", "{record}");
    assert!(record["error"]["message"].as_str().unwrap().contains("before the provider answered"), "{record}");
    fake.release.store(true, Ordering::SeqCst);
}

#[tokio::test]
async fn a_save_after_a_final_status_changes_nothing_and_is_not_counted() {
    let app = TestApp::spawn_with(&shipped_tool_specs(), |_| {}).await;
    let jobs = app.state.engine.jobs();
    let mut record =
        JobRecord::new("anonymous", "higgsfield", "higgsfield_image", None, MediaKind::Image, "p".into(), json!({}));
    jobs.save(&record).await.unwrap();
    record.status = JobStatus::Canceled;
    jobs.save(&record).await.unwrap();
    // A poll that finishes after the cancellation comes too late.
    record.status = JobStatus::Completed;
    jobs.save(&record).await.unwrap();
    assert_eq!(jobs.get(&record.job_id, Reader::Anyone).await.unwrap().unwrap().status, JobStatus::Canceled);
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"gateway_jobs_total{provider="higgsfield",status="queued"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"gateway_jobs_total{provider="higgsfield",status="canceled"} 1"#), "{metrics}");
    assert!(!metrics.contains(r#"status="completed""#), "{metrics}");
}

#[tokio::test]
async fn a_task_and_its_job_belong_to_the_key_that_started_them() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = owners_app(base).await;
    let start = |prompt: &str| {
        let params = json!({"name": "higgsfield_image", "arguments": {"prompt": prompt}, "task": {}});
        let app = &app;
        async move {
            let created = app.rpc_as("alice", "tools/call", params).await;
            created["result"]["task"]["taskId"].as_str().unwrap_or_else(|| panic!("a task: {created}")).to_owned()
        }
    };
    let queued = start("queued forever").await;
    let finishing = start("A lighthouse").await;

    // Bob gets, for Alice's tasks and jobs, exactly what an unknown id gets, on every path.
    let unknown = "00000000-0000-4000-8000-000000000000";
    for (method, task) in [("tasks/get", &queued), ("tasks/result", &finishing), ("tasks/cancel", &queued)] {
        let as_bob = app.rpc_as("bob", method, json!({"taskId": task})).await;
        let for_unknown = app.rpc_as("bob", method, json!({"taskId": unknown})).await;
        assert_eq!(as_bob["error"]["code"], -32602, "{method}: {as_bob}");
        assert_answers_alike(&as_bob, task, &for_unknown, unknown);
    }
    let check = |key: &'static str, job_id: &str| {
        let params = json!({"name": "check_job_status", "arguments": {"job_id": job_id}});
        app.rpc_as(key, "tools/call", params)
    };
    let as_bob = check("bob", &queued).await;
    assert_eq!(as_bob["result"]["_meta"]["mcp-gateway/error"]["code"], "not_found", "{as_bob}");
    assert_answers_alike(&as_bob, &queued, &check("bob", unknown).await, unknown);
    let rest = |key: &str, job_id: &str| {
        let body = json!({"tool_name": "check_job_status", "params": {"job_id": job_id}});
        let request = app.post("/mcp/tools/call").header("authorization", bearer(key)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, as_bob) = rest("bob", &queued).await;
    let (unknown_status, for_unknown) = rest("bob", unknown).await;
    assert_eq!((status, unknown_status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND), "{as_bob}");
    assert_answers_alike(&as_bob, &queued, &for_unknown, unknown);

    // Bob's cancel changed nothing: the job is still queued, and Higgsfield heard no cancel.
    assert!(fake.cancels.lock().unwrap().is_empty(), "bob's cancel reached Higgsfield");
    let got = app.rpc_as("alice", "tasks/get", json!({"taskId": queued})).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
    assert_eq!(check("alice", &queued).await["result"]["structuredContent"]["status"], "queued");
    let (status, own) = rest("alice", &queued).await;
    assert_eq!((status, &own["result"]["job_id"]), (StatusCode::OK, &json!(queued)), "{own}");

    // Alice's own calls work; an admin key reaches every job.
    let result = app.rpc_as("alice", "tasks/result", json!({"taskId": finishing})).await;
    assert_eq!(result["result"]["structuredContent"]["status"], "completed", "{result}");
    let seen_by_admin = app.rpc_as("ops", "tasks/get", json!({"taskId": queued})).await;
    assert_eq!(seen_by_admin["result"]["taskId"], json!(queued), "{seen_by_admin}");
    let cancelled = app.rpc_as("alice", "tasks/cancel", json!({"taskId": queued})).await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
    assert_eq!(fake.cancels.lock().unwrap().len(), 1, "alice's cancel reached Higgsfield");
}

#[tokio::test]
async fn resuming_after_a_restart_leaves_the_jobs_this_process_started_alone() {
    let app = TestApp::spawn_with(&shipped_tool_specs(), |_| {}).await;
    let jobs = app.state.engine.jobs();
    let record =
        JobRecord::new("anonymous", "elevenlabs", "elevenlabs_tts", None, MediaKind::Audio, "p".into(), json!({}));
    jobs.save(&record).await.unwrap();
    // The start-up resume may run after a call arrived: the call's fresh job is not a restart's leftover.
    jobs.resume().await;
    assert_eq!(jobs.get(&record.job_id, Reader::Anyone).await.unwrap().unwrap().status, JobStatus::Queued);
}
