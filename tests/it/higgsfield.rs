//! The shipped Higgsfield tools (seed 004) against a fake Higgsfield that follows reference/providers.md:
//! submit `POST /{model}`, poll `GET /requests/{id}/status`, outputs downloaded and served, every documented
//! error, a submit never sent twice, a poll retried after a 5xx, a timeout, a malformed status body.

use crate::common;
use crate::media_fakes;

use axum::http::StatusCode;
use base64::Engine as _;
use common::{TestApp, poll_until, shipped_tool_specs, write_spec};
use media_fakes::{FakeHiggsfield, HF_SECRET, MP4, PNG, action, configure, fetch_asset, rest_call};
use serde_json::{Value, json};

async fn app(base: &str) -> TestApp {
    let base = base.to_owned();
    TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, None, Some(&base))).await
}

#[tokio::test]
async fn higgsfield_image_waits_downloads_and_serves_the_image_over_rest_mcp_and_the_action_envelope() {
    let (fake, base) = FakeHiggsfield::start(2).await;
    let app = app(&base).await;

    let (status, body) =
        rest_call(&app, "higgsfield_image", json!({"prompt": "A sunset", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["result"];
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["provider"], "higgsfield");
    assert_eq!(result["model"], "higgsfield-ai/soul/standard");
    assert_eq!(result["media_type"], "image");
    assert_eq!(result["params"], json!({"prompt": "A sunset", "aspect_ratio": "1:1", "resolution": "720p"}));
    let submit = fake.submits().last().cloned().unwrap();
    assert_eq!(submit.path, "/higgsfield-ai/soul/standard");
    assert_eq!(submit.body, result["params"]);
    let provider_id = result["provider_request_id"].as_str().unwrap();
    assert_eq!(fake.polls_of(provider_id), 2, "polled until completed");
    let url = result["url"].as_str().unwrap();
    assert!(url.contains("/assets/default/image/") && url.ends_with(".png"), "{url}");
    assert!(result["asset"]["source_url"].as_str().unwrap().starts_with(&base), "the provider's URL is kept");
    let (code, content_type, bytes) = fetch_asset(&app, url).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "image/png", PNG));

    let mcp = app.call_tool(None, "higgsfield_image", json!({"prompt": "A cat", "wait_for_completion": true})).await;
    assert_eq!(mcp["isError"], false, "{mcp}");
    let blocks = mcp["content"].as_array().unwrap();
    assert!(blocks.iter().any(|b| b["type"] == "resource_link" && b["mimeType"] == "image/png"), "{mcp}");
    let image = blocks.iter().find(|b| b["type"] == "image").expect("small images are inlined");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(image["data"].as_str().unwrap()).unwrap(), PNG);

    let (status, envelope) = action(
        &app,
        "higgsfield_image",
        json!({"prompt": "A boat", "width": 1024, "height": 1024, "wait_for_completion": true, "project_name": "ads"}),
        json!({"project": "ignored-when-payload-names-one"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!(envelope["data"]["project"], "ads");
    assert!(envelope["data"]["links"][0].as_str().unwrap().contains("/assets/ads/image/"));
    assert_eq!(fake.submits().last().unwrap().body["width"], 1024);
}

#[tokio::test]
async fn higgsfield_video_from_an_image_stores_an_mp4() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = app(&base).await;
    let params =
        json!({"image_url": "https://example.com/still.png", "prompt": "Slow zoom", "wait_for_completion": true});
    let (status, body) = rest_call(&app, "higgsfield_video", params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["media_type"], "video");
    let submit = fake.submits().last().cloned().unwrap();
    assert_eq!(submit.path, "/higgsfield-ai/dop/standard");
    assert_eq!(
        submit.body,
        json!({"prompt": "Slow zoom", "image_url": "https://example.com/still.png", "duration": 5})
    );
    let (code, content_type, bytes) = fetch_asset(&app, body["result"]["url"].as_str().unwrap()).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "video/mp4", MP4));

    let (status, body) = rest_call(&app, "higgsfield_video", json!({"duration": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a prompt or an image is required: {body}");
}

#[tokio::test]
async fn without_waiting_the_queued_job_comes_back_and_is_polled_in_the_background() {
    let (_fake, base) = FakeHiggsfield::start(3).await;
    let app = app(&base).await;
    let (status, body) = rest_call(&app, "higgsfield_image", json!({"prompt": "Later"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["status"], "queued");
    assert_eq!(body["result"]["links"], json!([]));
    let job_id = body["result"]["job_id"].as_str().unwrap().to_owned();
    let done = poll_until("the job completes", || {
        let (app, job_id) = (&app, job_id.clone());
        async move {
            let result = app.call_tool(None, "check_job_status", json!({"job_id": job_id})).await;
            (result["structuredContent"]["status"] == "completed").then_some(result)
        }
    })
    .await;
    assert!(done["content"].as_array().unwrap().iter().any(|b| b["type"] == "resource_link"), "{done}");
    let (code, _, bytes) = fetch_asset(&app, done["structuredContent"]["url"].as_str().unwrap()).await;
    assert_eq!((code, bytes.as_slice()), (200, PNG));
    let metrics = app.metrics().await;
    for status in ["queued", "in_progress", "completed"] {
        let line = format!(r#"gateway_jobs_total{{provider="higgsfield",status="{status}"}} 1"#);
        assert!(metrics.contains(&line), "the job entered {status} once: {metrics}");
    }
}

async fn failing(app: &TestApp, prompt: &str) -> (StatusCode, Value) {
    rest_call(app, "higgsfield_image", json!({"prompt": prompt, "wait_for_completion": true})).await
}

#[tokio::test]
async fn submit_errors_are_typed_and_a_submit_is_never_sent_twice() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = app(&base).await;

    let (status, body) = failing(&app, "credits").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("credits"), "{body}");
    assert_eq!(body["error"]["details"]["upstream_status"], 403);

    let (status, body) = failing(&app, "bad").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(body["error"]["message"].as_str().unwrap().contains("body.aspect_ratio: unsupported aspect ratio"));

    let (status, body) = failing(&app, "refused").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("Prompt rejected"), "{body}");

    let (status, body) = failing(&app, "down").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["retryable"], true);
    let down = fake.submits().iter().filter(|s| s.body["prompt"] == "down").count();
    assert_eq!(down, 1, "a submit that may have arrived is not sent again");

    let (status, body) = failing(&app, "no id").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("request_id"), "{body}");

    let wrong = TestApp::spawn_with(&shipped_tool_specs(), {
        let base = base.clone();
        move |config| {
            configure(config, None, Some(&base));
            config.higgsfield.key_secret = Some("not-the-secret".into());
        }
    })
    .await;
    let (status, body) = failing(&wrong, "x").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["details"]["upstream_status"], 401);
    assert!(!body.to_string().contains("not-the-secret") && !body.to_string().contains(HF_SECRET));
}

#[tokio::test(start_paused = true)]
async fn failed_nsfw_and_unreadable_jobs_end_as_errors_naming_the_job_and_polls_survive_a_5xx() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = app(&base).await;

    let (status, body) = failing(&app, "fail").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("generation crashed"), "{body}");
    assert_eq!(body["error"]["details"]["status"], "failed");
    let job_id = body["error"]["details"]["job_id"].as_str().unwrap().to_owned();
    let (_, job) = rest_call(&app, "check_job_status", json!({"job_id": job_id})).await;
    assert_eq!(job["result"]["status"], "failed", "{job}");

    let (_, body) = failing(&app, "nsfw").await;
    assert_eq!(body["error"]["details"]["status"], "nsfw", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("NSFW"));

    let (status, body) = failing(&app, "garbled").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("unreadable"), "{body}");

    let (status, body) = failing(&app, "flaky").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["result"]["provider_request_id"].as_str().unwrap();
    assert!(fake.polls_of(id) >= 2, "the 502 poll was retried");
    assert_eq!(fake.submits().iter().filter(|s| s.body["prompt"] == "flaky").count(), 1);
}

#[tokio::test]
async fn missing_credentials_name_the_setting_and_downloads_can_be_turned_off() {
    let unconfigured = TestApp::spawn_with(&shipped_tool_specs(), |_| {}).await;
    let (status, body) = failing(&unconfigured, "x").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(body["error"]["message"].as_str().unwrap().contains("HIGGSFIELD_API_KEY"), "{body}");
    let half = TestApp::spawn_with(&shipped_tool_specs(), |config| {
        config.higgsfield.key_id = Some("only-the-id".into());
    })
    .await;
    let (_, body) = failing(&half, "x").await;
    assert_eq!(body["error"]["details"]["missing"], "HIGGSFIELD_API_SECRET", "{body}");

    let (_fake, base) = FakeHiggsfield::start(1).await;
    let remote = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        configure(config, None, Some(&base));
        config.media.download_enabled = false;
    })
    .await;
    let (status, body) = failing(&remote, "keep it there").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["result"]["url"].as_str().unwrap();
    assert!(!url.contains("/assets/") && url.ends_with(".png"), "the provider's URL: {url}");
    assert!(!remote.state.config.data_dir.join("Media").exists(), "nothing downloaded");
}

#[tokio::test(start_paused = true)]
async fn a_slow_submit_times_out_without_being_sent_again() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "quick_image", "description": "Higgsfield with a short timeout",
                      "inputSchema": {"type": "object", "properties": {"prompt": {"type": "string"}}},
                      "binding": {"kind": "higgsfield", "media": "image", "model": "higgsfield-ai/soul/standard",
                                  "body": {"prompt": "{{args.prompt}}"}, "timeout_secs": 0.5}});
    write_spec(specs.path(), "quick_image.json", &spec.to_string());
    let app = TestApp::spawn_with(specs.path(), move |config| configure(config, None, Some(&base))).await;
    let (status, body) = rest_call(&app, "quick_image", json!({"prompt": "slow"})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert_eq!(fake.submits().len(), 1);
}

#[tokio::test]
async fn a_bad_media_spec_stops_start_up_naming_the_file_and_the_json_path() {
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "bad_image", "description": "broken",
                      "inputSchema": {"type": "object", "properties": {"prompt": {"type": "string"}}},
                      "binding": {"kind": "higgsfield", "media": "image", "model": "soul",
                                  "body": {"prompt": "{{args.promt}}"}}});
    write_spec(specs.path(), "bad_image.json", &spec.to_string());
    let data = tempfile::tempdir().unwrap();
    let config = mcp_gateway::config::Config::for_tests(specs.path(), data.path());
    let err = mcp_gateway::AppState::new(config).expect_err("a bad spec must stop start-up").to_string();
    assert!(err.contains("bad_image.json") && err.contains("$.binding.body.prompt"), "{err}");
    assert!(err.contains("promt"), "{err}");
}

#[tokio::test]
async fn an_output_over_the_download_cap_fails_the_job_and_leaves_no_file() {
    let (_fake, base) = FakeHiggsfield::start(1).await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        configure(config, None, Some(&base));
        config.media.max_download_bytes = 16;
    })
    .await;
    let (status, body) = failing(&app, "too big").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("16-byte limit"), "{body}");
    let folder = app.state.config.data_dir.join("Media/default/image");
    let left: Vec<_> = std::fs::read_dir(&folder).map(|d| d.filter_map(Result::ok).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing half-written stays behind: {left:?}");
}

#[tokio::test]
async fn a_download_follows_the_cdn_redirect_of_a_credential_free_output_url() {
    let (_fake, base) = FakeHiggsfield::start(1).await;
    let app = app(&base).await;
    let (status, body) =
        rest_call(&app, "higgsfield_image", json!({"prompt": "via cdn", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["result"];
    assert!(result["asset"]["source_url"].as_str().unwrap().contains("/cdn/"), "{result}");
    let (code, content_type, bytes) = fetch_asset(&app, result["url"].as_str().unwrap()).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "image/png", PNG));
}
