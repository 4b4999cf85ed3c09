//! The two Narrations pipelines (seed 004) as shipped workflows over the media tools, against the fake
//! ElevenLabs and Higgsfield: the video is made from the generated image's own URL, audio parts run in
//! parallel (or one after the other when asked) and only those asked for, media links reach MCP clients, and a
//! failed image stops the pipeline.

use crate::common;
use crate::media_fakes;

use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use common::{TestApp, eventually, shipped_tool_specs};
use media_fakes::{FakeElevenLabs, FakeHiggsfield, MP3, MP4, PNG, action, configure, fetch_asset, rest_call};
use serde_json::{Value, json};

async fn app(elevenlabs: Option<&str>, higgsfield: Option<&str>) -> TestApp {
    let (elevenlabs, higgsfield) = (elevenlabs.map(str::to_owned), higgsfield.map(str::to_owned));
    TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        configure(config, elevenlabs.as_deref(), higgsfield.as_deref());
    })
    .await
}

#[tokio::test]
async fn image_to_video_feeds_the_generated_image_to_the_video_model_and_stores_both() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = app(None, Some(&base)).await;
    let payload = json!({
        "prompt": "A lighthouse at dusk",
        "video_prompt": "Slow zoom on the lighthouse",
        "image_params": {"aspect_ratio": "16:9"},
        "video_params": {"duration": 5, "fps": 24},
        "wait_for_completion": true
    });
    let (status, envelope) = action(&app, "pipeline_image_to_video", payload, json!({"project": "phare"})).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!(envelope["status"], "ok", "{envelope}");
    let data = &envelope["data"];
    assert_eq!(data["status"], "completed", "{data}");

    let submits = fake.submits();
    assert_eq!(submits.len(), 2, "one image and one video submission: {submits:?}");
    assert_eq!(submits[0].path, "/higgsfield-ai/soul/standard");
    assert_eq!(submits[0].body["aspect_ratio"], "16:9");
    assert_eq!(submits[1].path, "/higgsfield-ai/dop/standard");
    assert_eq!(submits[1].body["prompt"], "Slow zoom on the lighthouse");
    assert_eq!(submits[1].body["fps"], 24);
    let image_source = data["image"]["asset"]["source_url"].as_str().unwrap();
    assert_eq!(submits[1].body["image_url"], image_source, "the video starts from the generated image");

    let (code, content_type, bytes) = fetch_asset(&app, data["image"]["url"].as_str().unwrap()).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "image/png", PNG));
    let (code, content_type, bytes) = fetch_asset(&app, data["video"]["url"].as_str().unwrap()).await;
    assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "video/mp4", MP4));
    assert!(data["video"]["url"].as_str().unwrap().contains("/assets/phare/video/"), "{data}");
}

#[tokio::test]
async fn audio_stack_generates_only_the_parts_asked_for_and_links_each_for_mcp_clients() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(Some(&base), None).await;
    let result = app
        .call_tool(
            None,
            "pipeline_audio_stack",
            json!({
                "voice": {"text": "Bienvenue à notre présentation", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
                "soundfx": {"prompt": "Applause", "duration": 3},
                "wait_for_completion": true
            }),
        )
        .await;
    assert_eq!(result["isError"], false, "{result}");
    let value = &result["structuredContent"];
    assert_eq!(value["voice"]["status"], "completed", "{value}");
    assert_eq!(value["soundfx"]["status"], "completed", "{value}");
    assert!(value.get("music").is_none(), "music was not asked for: {value}");

    let paths: Vec<String> = fake.seen().iter().map(|s| s.path.clone()).collect();
    assert!(paths.contains(&"/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM".to_owned()), "{paths:?}");
    assert!(paths.contains(&"/v1/sound-generation".to_owned()), "{paths:?}");
    assert!(!paths.contains(&"/v1/music".to_owned()), "{paths:?}");
    let soundfx = fake.seen().into_iter().find(|s| s.path == "/v1/sound-generation").unwrap();
    assert_eq!(soundfx.body["duration_seconds"], 3);

    let links: Vec<&Value> =
        result["content"].as_array().unwrap().iter().filter(|b| b["type"] == "resource_link").collect();
    assert_eq!(links.len(), 2, "one link per generated file: {result}");
    for link in links {
        let (code, content_type, bytes) = fetch_asset(&app, link["uri"].as_str().unwrap()).await;
        assert_eq!((code, content_type.as_str(), bytes.as_slice()), (200, "audio/mpeg", MP3));
    }
}

/// All three audio parts, each with `text` as its text or prompt, waiting for the results.
fn three_parts(text: &str) -> Value {
    json!({
        "voice": {"text": text, "voice_id": "21m00Tcm4TlvDq8ikWAM"},
        "music": {"prompt": text, "duration": 10},
        "soundfx": {"prompt": text, "duration": 3},
        "wait_for_completion": true
    })
}

/// The steps of the result's `order`, as they started.
fn order_of(value: &Value) -> Vec<&str> {
    value["order"].as_array().expect("an order").iter().map(|o| o["step"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn audio_stack_in_sequential_mode_starts_each_generation_after_the_previous_one_was_answered() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(Some(&base), None).await;
    let mut args = three_parts("linger");
    args["sequential"] = json!(true);
    let result = app.call_tool(None, "pipeline_audio_stack", args).await;
    assert_eq!(result["isError"], false, "{result}");
    let value = &result["structuredContent"];
    assert_eq!(value["mode"], "sequential", "{value}");
    assert_eq!(order_of(value), ["voice", "music", "soundfx"], "{value}");
    for entry in value["order"].as_array().unwrap() {
        assert_eq!(value[entry["step"].as_str().unwrap()]["status"], "completed", "{value}");
        let (started, finished) = (entry["started_at"].as_str().unwrap(), entry["finished_at"].as_str().unwrap());
        assert!(started <= finished, "{entry}");
    }

    // Judged by the fake's own clock: each generation arrived only once the previous one had been answered.
    let seen = fake.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM", "/v1/music", "/v1/sound-generation"]);
    for pair in seen.windows(2) {
        let answered = pair[0].answered.expect("every generation was answered");
        assert!(pair[1].arrived >= answered, "{} arrived before {} was answered", pair[1].path, pair[0].path);
    }
}

#[tokio::test]
async fn audio_stack_runs_its_parts_at_once_by_default_and_says_so() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(Some(&base), None).await;
    // The fake holds every `hold` generation until released: only overlapping calls can all be in flight.
    let call = app.call_tool(None, "pipeline_audio_stack", three_parts("hold"));
    let release = async {
        eventually("the three generations are in flight at once", || async { fake.in_flight() == 3 }).await;
        fake.release.store(true, Ordering::SeqCst);
    };
    let (result, ()) = tokio::join!(call, release);
    assert_eq!(result["isError"], false, "{result}");
    let value = &result["structuredContent"];
    assert_eq!(value["mode"], "parallel", "{value}");
    let mut order = order_of(value);
    order.sort_unstable();
    assert_eq!(order, ["music", "soundfx", "voice"], "{value}");
    let seen = fake.seen();
    let first_answer = seen.iter().filter_map(|s| s.answered).min().expect("answers");
    assert!(seen.iter().all(|s| s.arrived < first_answer), "every generation arrived before any was answered");
}

#[tokio::test]
async fn sequential_audio_stack_without_waiting_is_refused_before_any_generation() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(Some(&base), None).await;
    let args = json!({"voice": {"text": "Bonjour"}, "music": {"prompt": "Piano"}, "sequential": true});
    let (status, body) = rest_call(&app, "pipeline_audio_stack", args).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(body["detail"].as_str().unwrap().contains("wait_for_completion"), "{body}");
    assert!(fake.seen().is_empty(), "nothing was generated");
}

#[tokio::test]
async fn audio_stack_without_any_part_is_refused_before_any_generation() {
    let (fake, base) = FakeElevenLabs::start().await;
    let app = app(Some(&base), None).await;
    let (status, body) = rest_call(&app, "pipeline_audio_stack", json!({"wait_for_completion": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(fake.seen().is_empty(), "nothing was generated");
}

#[tokio::test]
async fn a_failed_image_stops_the_pipeline_before_the_video_and_names_the_step() {
    let (fake, base) = FakeHiggsfield::start(1).await;
    let app = app(None, Some(&base)).await;
    let (status, body) =
        rest_call(&app, "pipeline_image_to_video", json!({"prompt": "fail", "wait_for_completion": true})).await;
    assert_ne!(status, StatusCode::OK, "{body}");
    assert_eq!(body["error"]["details"]["failed_step"], "image", "{body}");
    assert_eq!(body["error"]["details"]["not_started"], json!(["video"]));
    assert_eq!(fake.submits().len(), 1, "no video was submitted");
}

#[tokio::test]
async fn both_pipelines_answer_over_rest_and_over_mcp() {
    let (_eleven, eleven_base) = FakeElevenLabs::start().await;
    let (_higgs, higgs_base) = FakeHiggsfield::start(1).await;
    let app = app(Some(&eleven_base), Some(&higgs_base)).await;
    let cases = [
        ("pipeline_image_to_video", json!({"prompt": "A harbour at dawn", "wait_for_completion": true}), "video"),
        (
            "pipeline_audio_stack",
            json!({"music": {"prompt": "Calm piano", "duration": 10}, "wait_for_completion": true}),
            "music",
        ),
    ];
    for (tool, args, part) in cases {
        let (status, body) = rest_call(&app, tool, args.clone()).await;
        assert_eq!(status, StatusCode::OK, "{tool} over REST: {body}");
        assert_eq!(body["result"][part]["status"], "completed", "{tool}: {body}");
        let mcp = app.call_tool(None, tool, args).await;
        assert_eq!(mcp["isError"], false, "{tool} over MCP: {mcp}");
        assert_eq!(mcp["structuredContent"][part]["status"], "completed", "{tool}: {mcp}");
        assert!(
            mcp["content"].as_array().unwrap().iter().any(|b| b["type"] == "resource_link"),
            "{tool}: MCP callers get a link to the file: {mcp}"
        );
    }
}
