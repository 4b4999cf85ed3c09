//! Media jobs shared by replicas through a real Redis server (Debian's `redis-server`): a job started on one
//! replica is read through another (and stays its owner's), a job whose replica is killed mid-poll is taken over
//! and finished by another once its lease lapses (a generation that cannot be resumed is failed, not sent again), and with Redis gone job reads answer a typed, retryable 503.

use crate::common;
use crate::media_fakes;
use crate::process::Gateway;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use common::redis::RedisServer;
use common::{TestApp, bearer, poll_until, shipped_tool_specs};
use mcp_gateway::config::Config;
use media_fakes::{FakeElevenLabs, FakeHiggsfield, HF_ID, HF_SECRET, PNG, XI_KEY, fetch_asset, owners_app_with};
use serde_json::{Value, json};

/// A replica in this process over the shipped specs, the fake Higgsfield at `base` and `redis`, with a one-second
/// lease and the keys `alice` and `bob` (callers) and `ops` (admin).
async fn replica(redis: &RedisServer, base: &str) -> TestApp {
    let url = redis.url();
    owners_app_with(base.to_owned(), move |config: &mut Config| {
        config.redis_url = Some(url);
        config.jobs.lease = Duration::from_secs(1);
    })
    .await
}

/// The Prometheus text of `app`, read with the admin key.
async fn metrics(app: &TestApp) -> String {
    let response = app.get("/metrics").header("authorization", bearer("ops")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// `check_job_status` through `app` as `key`: the REST status and body.
async fn job_status(app: &TestApp, key: &str, job_id: &str) -> (StatusCode, Value) {
    let response = app
        .post("/mcp/tools/call")
        .header("authorization", bearer(key))
        .json(&json!({"tool_name": "check_job_status", "params": {"job_id": job_id}}))
        .send()
        .await
        .unwrap();
    (StatusCode::from_u16(response.status().as_u16()).unwrap(), response.json().await.unwrap())
}

/// Call `tool` as `alice` on the gateway at `base`; the result.
async fn call(client: &reqwest::Client, base: &str, tool: &str, params: Value) -> Value {
    let response = client
        .post(format!("{base}/mcp/tools/call"))
        .header("authorization", bearer("alice"))
        .json(&json!({"tool_name": tool, "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["result"].clone()
}

/// Start a Higgsfield image job as `alice` without waiting: the gateway's job id and Higgsfield's request id.
async fn start_job(client: &reqwest::Client, base: &str) -> (String, String) {
    let result = call(client, base, "higgsfield_image", json!({"prompt": "Later", "wait_for_completion": false})).await;
    let id = |field: &str| result[field].as_str().unwrap_or_else(|| panic!("{field}: {result}")).to_owned();
    (id("job_id"), id("provider_request_id"))
}

#[tokio::test]
async fn a_job_started_on_one_replica_is_read_through_another_and_stays_its_owners() {
    let redis = RedisServer::start().await;
    let (_fake, base) = FakeHiggsfield::start(2).await;
    let (a, b) = (replica(&redis, &base).await, replica(&redis, &base).await);
    let (job_id, _) = start_job(&a.client, &a.base).await;

    let done = poll_until("the job completes, read through the other replica", || {
        let (b, job_id) = (&b, job_id.clone());
        async move {
            let (status, body) = job_status(b, "alice", &job_id).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["result"]["status"] == "completed").then_some(body)
        }
    })
    .await;
    assert_eq!(done["result"]["job_id"], job_id.as_str());
    // The replica that ran the job stored the image; every replica's record names it.
    let (code, _, bytes) = fetch_asset(&a, done["result"]["url"].as_str().unwrap()).await;
    assert_eq!((code, bytes.as_slice()), (200, PNG));

    let (status, body) = job_status(&b, "bob", &job_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another key's job does not exist for it: {body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let ran = metrics(&a).await;
    assert!(ran.contains(r#"gateway_jobs_total{provider="higgsfield",status="completed"} 1"#), "{ran}");
    assert!(!metrics(&b).await.contains(r#"status="completed"} 1"#), "only the replica that ran it completed it");
}

#[tokio::test]
async fn a_job_whose_replica_is_killed_mid_poll_is_finished_by_another() {
    let redis = RedisServer::start().await;
    let (fake, base) = FakeHiggsfield::start(0).await;
    let (eleven, eleven_base) = FakeElevenLabs::start().await;
    fake.hold.store(true, Ordering::SeqCst);
    let redis_url = redis.url().expose().to_owned();
    let keys = r#"[{id="alice",key="secret-alice",scopes=["tools:list","tools:call"]}]"#;
    let mut doomed = Gateway::start(
        &shipped_tool_specs(),
        &[
            ("GATEWAY_REDIS_URL", redis_url.as_str()),
            ("GATEWAY_KEYS", keys),
            ("HIGGSFIELD_BASE_URL", base.as_str()),
            ("ELEVENLABS_BASE_URL", eleven_base.as_str()),
            ("ELEVENLABS_API_KEY", XI_KEY),
            ("HIGGSFIELD_API_KEY", HF_ID),
            ("HIGGSFIELD_API_SECRET", HF_SECRET),
            ("GATEWAY_JOB_POLL_INITIAL_MS", "20"),
            ("GATEWAY_JOB_POLL_MAX_MS", "80"),
            ("GATEWAY_JOB_LEASE_SECS", "1"),
        ],
    );
    let survivor = replica(&redis, &base).await;
    let (job_id, provider_id) = start_job(&survivor.client, &doomed.base).await;
    // A voice generation the doomed replica holds open: it dies with it, and cannot be sent again.
    let voice = call(&survivor.client, &doomed.base, "elevenlabs_voice", json!({"text": "hold"})).await;
    let voice_job = voice["job_id"].as_str().unwrap_or_else(|| panic!("a voice job: {voice}")).to_owned();
    poll_until("the first replica polls the job", || {
        let polls = fake.polls_of(&provider_id);
        async move { (polls >= 2).then_some(()) }
    })
    .await;

    doomed.kill();
    let polls_at_death = fake.polls_of(&provider_id);
    fake.hold.store(false, Ordering::SeqCst);
    // Nothing asks the survivor about the job: it finds the orphan by its sweep, polls it and downloads the image.
    poll_until("the survivor takes the job over and completes it", || {
        let text = metrics(&survivor);
        async move {
            text.await.contains(r#"gateway_jobs_total{provider="higgsfield",status="completed"} 1"#).then_some(())
        }
    })
    .await;
    assert!(fake.polls_of(&provider_id) > polls_at_death, "the survivor polled the job itself");
    assert_eq!(fake.submits().len(), 1, "taking a job over never submits it again");
    let (status, body) = job_status(&survivor, "alice", &job_id).await;
    assert_eq!((status, &body["result"]["status"]), (StatusCode::OK, &json!("completed")), "{body}");
    let (code, _, bytes) = fetch_asset(&survivor, body["result"]["url"].as_str().unwrap()).await;
    assert_eq!((code, bytes.as_slice()), (200, PNG), "the survivor stored the image it downloaded");

    let (status, body) = job_status(&survivor, "alice", &voice_job).await;
    assert_eq!((status, &body["result"]["status"]), (StatusCode::OK, &json!("failed")), "{body}");
    assert!(body["result"]["error"]["message"].as_str().unwrap().contains("call the tool again"), "{body}");
    assert_eq!(eleven.seen.lock().unwrap().len(), 1, "the generation was not sent again");
}

#[tokio::test]
async fn with_redis_gone_a_job_read_is_a_typed_retryable_503_and_recovers() {
    let redis = RedisServer::start().await;
    let (_fake, base) = FakeHiggsfield::start(0).await;
    let app = replica(&redis, &base).await;
    let (job_id, _) = start_job(&app.client, &app.base).await;
    let port = redis.stop();

    let (status, body) = job_status(&app, "alice", &job_id).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("shared state store"), "{body}");
    let response = app
        .post("/mcp/tools/call")
        .header("authorization", bearer("alice"))
        .json(&json!({"tool_name": "higgsfield_image", "params": {"prompt": "Later", "wait_for_completion": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "no job starts without its record: {}", response.text().await.unwrap());

    // Redis (without persistence) comes back empty: the job is gone, and new jobs work again.
    let _redis = RedisServer::start_on(port).await;
    let body = poll_until("job reads work again", || {
        let (app, job_id) = (&app, job_id.clone());
        async move {
            let (status, body) = job_status(app, "alice", &job_id).await;
            (status != StatusCode::SERVICE_UNAVAILABLE).then_some(body)
        }
    })
    .await;
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    start_job(&app.client, &app.base).await;
}

#[tokio::test]
async fn a_tool_task_running_on_one_replica_is_followed_through_another_and_answered_where_it_runs() {
    use crate::mcp_modern::{message, modern};
    use crate::mcp_modern_tasks::{call_opted_in, on_task, opted_in, result_text, task_id_of, until_status};

    let redis = RedisServer::start().await;
    let (url, specs) = (redis.url(), common::fixture_specs());
    let spawn = || {
        let url = url.clone();
        TestApp::spawn_with(&specs, move |config: &mut Config| config.redis_url = Some(url))
    };
    let (a, b) = (spawn().await, spawn().await);
    let task_id = task_id_of(&call_opted_in(&a, "confirm_delete", json!({"filename": "a.txt"})).await);
    until_status(&a, &task_id, "input_required").await;
    // The record is shared: B finds the task, still working (the question waits in A's memory).
    assert_eq!(on_task(&b, "tasks/get", &task_id, json!({})).await["status"], "working");

    let answer = json!({"confirm": {"action": "accept", "content": {"confirm": true}}});
    let params = json!({"taskId": task_id, "_meta": opted_in(), "inputResponses": answer});
    let refused = message(modern(&b, "tasks/update", params.clone()), StatusCode::OK).await;
    assert_eq!(refused["error"]["data"]["code"], "upstream_unavailable", "{refused}");
    assert_eq!(refused["error"]["data"]["retryable"], true, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("another replica"), "{refused}");
    assert_eq!(on_task(&a, "tasks/get", &task_id, json!({})).await["status"], "input_required", "nothing was lost");

    on_task(&a, "tasks/update", &task_id, json!({"inputResponses": answer})).await;
    let done = until_status(&b, &task_id, "completed").await;
    assert_eq!(result_text(&done), "Deletion answered: true", "{done}");
}

#[tokio::test]
async fn a_runner_keeps_its_generation_through_a_redis_stall_longer_than_its_lease() {
    let redis = RedisServer::start().await;
    let (_higgsfield, base) = FakeHiggsfield::start(0).await;
    let (eleven, eleven_base) = FakeElevenLabs::start().await;
    let url = redis.url();
    let voice_replica = || {
        let (url, eleven_base) = (url.clone(), eleven_base.clone());
        owners_app_with(base.clone(), move |config: &mut Config| {
            media_fakes::configure(config, Some(&eleven_base), None);
            config.redis_url = Some(url);
            config.jobs.lease = Duration::from_secs(1);
        })
    };
    let (runner, other) = (voice_replica().await, voice_replica().await);
    let voice = call(&runner.client, &runner.base, "elevenlabs_voice", json!({"text": "hold"})).await;
    let job_id = voice["job_id"].as_str().unwrap_or_else(|| panic!("a voice job: {voice}")).to_owned();
    poll_until("the generation is in flight", || {
        let sent = eleven.seen.lock().unwrap().len();
        async move { (sent == 1).then_some(()) }
    })
    .await;

    // Redis stops answering for twice the lease: the runner's lease expires meanwhile. When Redis answers again,
    // the runner takes it back on its next renewal, before the other replica's sweeps (which need to find it free
    // twice) can take the job over and fail it.
    redis.stall(2).await;
    eleven.release.store(true, Ordering::SeqCst);
    let done = poll_until("the generation ends", || {
        let (other, job_id) = (&other, job_id.clone());
        async move {
            let (status, body) = job_status(other, "alice", &job_id).await;
            let running = ["queued", "in_progress"].iter().any(|s| body["result"]["status"] == *s);
            (status == StatusCode::OK && !running).then_some(body)
        }
    })
    .await;
    assert_eq!(done["result"]["status"], "completed", "the runner finished its own generation: {done}");
    assert_eq!(eleven.seen.lock().unwrap().len(), 1, "sent once");
}

#[tokio::test]
async fn an_unreadable_record_in_redis_does_not_stop_the_others_from_being_taken_over() {
    use mcp_gateway::jobs::record_redis::RedisRecords;
    use mcp_gateway::jobs::{JobRecord, MediaKind};
    use mcp_gateway::redis_link::RedisLink;

    let redis = RedisServer::start().await;
    let records = RedisRecords::new(RedisLink::new(&redis.url()).unwrap());
    let good = JobRecord::new("alice", "higgsfield", "t", None, MediaKind::Image, "default".into(), json!({}));
    records.save(&good).await.unwrap();
    // A record another version (or a hand) wrote that this one cannot read, listed as unfinished before it.
    for command in [
        vec!["HSET", "mcp-gateway:job:garbled", "record", "not json", "status", "in_progress", "owner", "alice"],
        vec!["ZADD", "mcp-gateway:jobs:open", "0", "garbled"],
    ] {
        let status = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port().to_string()])
            .args(command)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let unfinished = records.unfinished().await.unwrap();
    assert_eq!(unfinished.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(), [good.job_id.as_str()]);
}
