//! The shipped ElevenLabs tools (seed 004) against a fake ElevenLabs that follows reference/providers.md:
//! audio stored and linked, every documented error mapped with the provider's code, 429 retried after
//! `retry-after`, writes never sent twice, reads retried, a timeout, a malformed answer, `not_configured`.

use crate::common;
use crate::media_fakes;

use axum::http::StatusCode;
use base64::Engine as _;
use common::{TestApp, poll_until, shipped_tool_specs, write_spec};
use media_fakes::{FakeElevenLabs, MP3, XI_KEY, action, configure, fetch_asset, rest_call};
use serde_json::{Value, json};

async fn app(base: &str) -> TestApp {
    let base = base.to_owned();
    TestApp::spawn_with(&shipped_tool_specs(), move |config| configure(config, Some(&base), None)).await
}

#[tokio::test]
async fn elevenlabs_voice_stores_and_links_the_audio_over_rest_mcp_and_the_action_envelope() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(&base).await;

    let params = json!({"text": "Bonjour", "voice_id": "VoiceA1", "wait_for_completion": true, "project_name": "demo"});
    let (status, body) = rest_call(&app, "elevenlabs_voice", params).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["result"];
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["provider"], "elevenlabs");
    assert_eq!(result["model"], "eleven_multilingual_v2");
    assert_eq!(result["params"]["text"], "Bonjour");
    assert_eq!(result["trace"]["request_id"], "el-req-123");
    assert_eq!(result["trace"]["character_cost"], "7");
    let url = result["url"].as_str().unwrap();
    assert!(url.contains("/assets/demo/audio/") && url.ends_with(".mp3"), "{url}");
    assert_eq!(result["links"][0], url);
    assert_eq!(result["asset_id"], result["asset"]["asset_id"]);
    let (code, content_type, bytes) = fetch_asset(&app, url).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "audio/mpeg", MP3));
    let sent = fake.seen().last().cloned().unwrap();
    assert_eq!(sent.path, "/v1/text-to-speech/VoiceA1");
    assert_eq!(sent.query.get("output_format").map(String::as_str), Some("mp3_44100_128"));
    assert_eq!(sent.body, json!({"text": "Bonjour", "model_id": "eleven_multilingual_v2"}));

    let mcp = app.call_tool(None, "elevenlabs_voice", json!({"text": "Salut", "wait_for_completion": true})).await;
    assert_eq!(mcp["isError"], false, "{mcp}");
    assert_eq!(mcp["structuredContent"]["status"], "completed");
    let blocks = mcp["content"].as_array().unwrap();
    let link = blocks.iter().find(|b| b["type"] == "resource_link").expect("a resource_link block");
    assert_eq!(link["mimeType"], "audio/mpeg");
    assert!(link["uri"].as_str().unwrap().contains("/assets/default/audio/"), "{link}");
    let audio = blocks.iter().find(|b| b["type"] == "audio").expect("small audio is inlined");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(audio["data"].as_str().unwrap()).unwrap(), MP3);
    assert_eq!(fake.seen().last().unwrap().path, "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM", "the default voice");

    let (status, envelope) = action(
        &app,
        "elevenlabs_voice",
        json!({"text": "Action", "wait_for_completion": true}),
        json!({"project": "Mon Film", "user": "u1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!(envelope["status"], "ok");
    assert_eq!(envelope["request_id"], "req_narr_1");
    assert_eq!(envelope["data"]["project"], "Mon_Film", "trace.project is the project, sanitised");
    let url = envelope["data"]["links"][0].as_str().unwrap();
    assert!(url.contains("/assets/Mon_Film/audio/"), "{url}");
    let file = envelope["data"]["asset"]["file"].as_str().unwrap();
    let on_disk = app.state.config.data_dir.join("Media/Mon_Film/audio").join(file);
    assert_eq!(std::fs::read(on_disk).unwrap(), MP3);
}

#[tokio::test]
async fn music_and_sound_effects_send_the_documented_bodies_and_keep_song_id() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(&base).await;
    let (_, body) =
        rest_call(&app, "elevenlabs_music", json!({"prompt": "Upbeat", "duration": 30, "wait_for_completion": true}))
            .await;
    assert_eq!(body["result"]["status"], "completed", "{body}");
    assert_eq!(body["result"]["trace"]["song_id"], "song-42");
    assert_eq!(body["result"]["model"], "music_v1");
    let sent = fake.seen().last().cloned().unwrap();
    assert_eq!(sent.path, "/v1/music");
    assert_eq!(sent.body, json!({"prompt": "Upbeat", "model_id": "music_v1", "music_length_ms": 30000}));

    let (_, body) = rest_call(
        &app,
        "elevenlabs_soundfx",
        json!({"prompt": "Applause", "duration": 3, "wait_for_completion": true}),
    )
    .await;
    assert_eq!(body["result"]["status"], "completed", "{body}");
    let sent = fake.seen().last().cloned().unwrap();
    assert_eq!(sent.path, "/v1/sound-generation");
    assert_eq!(sent.body, json!({"text": "Applause", "duration_seconds": 3, "prompt_influence": 0.3}));
}

#[tokio::test]
async fn without_waiting_the_job_record_comes_back_at_once_and_completes_in_the_background() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(&base).await;
    let (status, body) = rest_call(&app, "elevenlabs_voice", json!({"text": "hold"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let job = &body["result"];
    assert!(matches!(job["status"].as_str(), Some("queued" | "in_progress")), "{job}");
    assert_eq!(job["links"], json!([]));
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let (_, running) = rest_call(&app, "check_job_status", json!({"job_id": job_id})).await;
    assert_ne!(running["result"]["status"], "completed", "{running}");

    fake.release.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = poll_until("the background job completes", || {
        let (app, job_id) = (&app, job_id.clone());
        async move {
            let (_, body) =
                rest_call(app, "check_job_status", json!({"job_id": job_id, "provider": "elevenlabs"})).await;
            (body["result"]["status"] == "completed").then_some(body)
        }
    })
    .await;
    let (code, _, bytes) = fetch_asset(&app, done["result"]["url"].as_str().unwrap()).await;
    assert_eq!((code, bytes.as_slice()), (200, MP3));
    assert_eq!(fake.count("hold"), 1);

    let (status, wrong) =
        rest_call(&app, "check_job_status", json!({"job_id": job_id, "provider": "higgsfield"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    let (status, missing) = rest_call(&app, "check_job_status", json!({"job_id": "no-such-job"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(missing["error"]["code"], "not_found");
}

fn error_of(body: &Value) -> &Value {
    &body["error"]
}

#[tokio::test]
async fn documented_errors_are_typed_keep_the_provider_code_and_never_show_the_key() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(&base).await;
    let call = |text: &'static str| {
        let app = &app;
        async move { rest_call(app, "elevenlabs_voice", json!({"text": text, "wait_for_completion": true})).await }
    };

    let (status, body) = call("quota").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let err = error_of(&body);
    assert_eq!(err["code"], "upstream_error");
    assert_eq!(err["details"]["provider_code"], "quota_exceeded");
    assert_eq!(err["details"]["upstream_status"], 401);
    assert_eq!(err["retryable"], false);
    assert!(err["message"].as_str().unwrap().contains("quota"), "{err}");
    let job_id = err["details"]["job_id"].as_str().expect("the failed job is named").to_owned();
    let (_, job) = rest_call(&app, "check_job_status", json!({"job_id": job_id})).await;
    assert_eq!(job["result"]["status"], "failed");
    assert_eq!(job["result"]["error"]["details"]["provider_code"], "quota_exceeded");

    let (status, body) = call("invalid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_of(&body)["code"], "invalid_params");
    assert!(error_of(&body)["message"].as_str().unwrap().contains("body.text: field required"), "{body}");

    let (status, body) = call("garbage").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(error_of(&body)["message"].as_str().unwrap().contains("instead of audio"), "{body}");

    let (status, body) = call("down").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(error_of(&body)["code"], "upstream_unavailable");
    assert_eq!(fake.count("down"), 1, "a generation is a write: a 503 is not sent again");

    for (_, body) in [call("quota").await, call("invalid").await, call("down").await] {
        assert!(!body.to_string().contains(XI_KEY), "the key leaked: {body}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_is_sent_again_after_retry_after_and_persistent_busy_is_rate_limited() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(&base).await;
    let (status, body) =
        rest_call(&app, "elevenlabs_voice", json!({"text": "busy", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["status"], "completed");
    assert_eq!(fake.count("busy"), 2, "refused once with 429, then accepted");

    let (status, body) =
        rest_call(&app, "elevenlabs_voice", json!({"text": "always busy", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(body["error"]["details"]["provider_code"], "system_busy");
    assert_eq!(fake.count("always busy"), 3, "three attempts, then the error");
}

#[tokio::test]
async fn a_wrong_key_and_a_missing_key_are_told_apart() {
    let (fake, base) = FakeElevenLabs::start().await;
    let wrong = TestApp::spawn_with(&shipped_tool_specs(), {
        let base = base.clone();
        move |config| {
            configure(config, Some(&base), None);
            config.elevenlabs.api_key = Some("wrong-key-xyz".into());
        }
    })
    .await;
    let (status, body) =
        rest_call(&wrong, "elevenlabs_voice", json!({"text": "hi", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["details"]["provider_code"], "invalid_api_key");
    assert!(!body.to_string().contains("wrong-key-xyz"));

    let unconfigured = TestApp::spawn_with(&shipped_tool_specs(), |_| {}).await;
    assert!(unconfigured.tool_names().await.contains(&"elevenlabs_voice".to_owned()), "still listed");
    let before = fake.seen().len();
    let result = unconfigured.call_tool(None, "elevenlabs_music", json!({"prompt": "x"})).await;
    assert_eq!(result["isError"], true);
    let err = &result["_meta"]["mcp-gateway/error"];
    assert_eq!(err["code"], "not_configured");
    assert!(err["message"].as_str().unwrap().contains("ELEVENLABS_API_KEY"), "{err}");
    assert_eq!(fake.seen().len(), before, "nothing was sent");
    let ready: Value = unconfigured.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["settings"]["ELEVENLABS_API_KEY"], false, "{ready}");
    assert!(ready["unconfigured_tools"].as_array().unwrap().contains(&json!("elevenlabs_voice")));
}

#[tokio::test(start_paused = true)]
async fn a_slow_generation_times_out_once_and_voices_are_a_retried_read() {
    let (fake, base) = FakeElevenLabs::start().await;
    let specs = tempfile::tempdir().unwrap();
    let tool = |name: &str, binding: Value| {
        json!({"name": name, "description": format!("{name} test tool"),
               "inputSchema": {"type": "object", "properties": {"text": {"type": "string"},
                               "wait_for_completion": {"type": "boolean"}}},
               "binding": binding})
        .to_string()
    };
    write_spec(
        specs.path(),
        "quick_tts.json",
        &tool(
            "quick_tts",
            json!({"kind": "elevenlabs", "path": "/v1/text-to-speech/v1", "body": {"text": "{{args.text}}"},
                   "timeout_secs": 0.5}),
        ),
    );
    write_spec(
        specs.path(),
        "voices.json",
        &tool("voices", json!({"kind": "elevenlabs", "method": "GET", "path": "/v1/voices", "output": "json"})),
    );
    let app = TestApp::spawn_with(specs.path(), move |config| configure(config, Some(&base), None)).await;

    let (status, body) = rest_call(&app, "quick_tts", json!({"text": "slow", "wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert_eq!(fake.count("slow"), 1, "a write that may have arrived is not sent again");

    let (status, body) = rest_call(&app, "voices", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["voices"][0]["voice_id"], "21m00Tcm4TlvDq8ikWAM");
    assert_eq!(fake.seen().iter().filter(|s| s.path == "/v1/voices").count(), 2, "503 then success");
}
