//! In-process fakes of ElevenLabs and Higgsfield that follow reference/providers.md: paths, headers, bodies,
//! statuses and error shapes. Scenarios are chosen by the text or prompt a test sends, and every request is
//! counted so tests can check what reached the provider (a submit sent once, a poll retried). ElevenLabs
//! generations also keep when they arrived and when they were answered, by the fake's own clock, so tests can
//! tell generations that overlapped from generations that ran one after the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const XI_KEY: &str = "xi-test-key-5e1d";
pub const HF_ID: &str = "hf-id-77";
pub const HF_SECRET: &str = "hf-secret-93ab";

/// Bytes that start like an MP3 frame.
pub const MP3: &[u8] = b"\xff\xfb\x90\x64fake-mp3-audio-frames-0123456789";
/// Bytes that start like a PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\nfake-png-image-data-0123456789abcdef";
/// Bytes standing in for an MP4.
pub const MP4: &[u8] = b"\x00\x00\x00\x18ftypmp42fake-mp4-video";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: Value,
    /// When the request arrived.
    pub arrived: Instant,
    /// When its answer was ready (ElevenLabs generations only).
    pub answered: Option<Instant>,
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn eleven_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"detail": {"status": code, "message": message}}))).into_response()
}

/// The fake ElevenLabs.
#[derive(Clone, Default)]
pub struct FakeElevenLabs {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Released by tests that hold a generation open (text `hold`).
    pub release: Arc<AtomicBool>,
}

impl FakeElevenLabs {
    pub async fn start() -> (Self, String) {
        let fake = Self::default();
        let app = Router::new()
            .route("/v1/text-to-speech/{voice_id}", post(eleven_generate))
            .route("/v1/sound-generation", post(eleven_generate))
            .route("/v1/music", post(eleven_generate))
            .route("/v1/voices", get(eleven_voices))
            .with_state(fake.clone());
        (fake.clone(), serve(app).await)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests whose body `text`/`prompt` is `text`.
    pub fn count(&self, text: &str) -> usize {
        self.seen().iter().filter(|s| s.body["text"] == text || s.body["prompt"] == text).count()
    }

    /// Record a request; its index in [`Self::seen`].
    fn record(&self, method: &str, path: String, query: HashMap<String, String>, body: Value) -> usize {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Seen { method: method.into(), path, query, body, arrived: Instant::now(), answered: None });
        seen.len() - 1
    }

    /// Generations that arrived and have not been answered yet.
    pub fn in_flight(&self) -> usize {
        self.seen().iter().filter(|s| s.method == "POST" && s.answered.is_none()).count()
    }
}

fn eleven_authorized(headers: &HeaderMap) -> bool {
    headers.get("xi-api-key").and_then(|v| v.to_str().ok()) == Some(XI_KEY)
}

async fn eleven_generate(
    State(fake): State<FakeElevenLabs>,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !eleven_authorized(&headers) {
        return eleven_error(StatusCode::UNAUTHORIZED, "invalid_api_key", "Invalid API key");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"detail": [{"loc": ["body"], "msg": "invalid json", "type": "json_invalid"}]})),
        )
            .into_response();
    };
    let path = uri.path().to_owned();
    let index = fake.record("POST", path.clone(), query, body.clone());
    let response = eleven_answer(&fake, &path, &body).await;
    fake.seen.lock().unwrap()[index].answered = Some(Instant::now());
    response
}

/// The answer to a generation, chosen by its text or prompt.
async fn eleven_answer(fake: &FakeElevenLabs, path: &str, body: &Value) -> Response {
    let text = body.get("text").or_else(|| body.get("prompt")).and_then(Value::as_str).unwrap_or_default().to_owned();
    let tries = fake.count(&text);
    match text.as_str() {
        "invalid" => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]})),
            )
                .into_response();
        }
        "quota" => return eleven_error(StatusCode::UNAUTHORIZED, "quota_exceeded", "This request exceeds your quota"),
        "busy" if tries == 1 => {
            let mut response = eleven_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_concurrent_requests",
                "Too many concurrent requests",
            );
            response.headers_mut().insert("retry-after", "1".parse().unwrap());
            return response;
        }
        "always busy" => return eleven_error(StatusCode::TOO_MANY_REQUESTS, "system_busy", "System busy"),
        "down" => return eleven_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "down"),
        "garbage" => return axum::Json(json!({"unexpected": true})).into_response(),
        "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
        "hold" => {
            while !fake.release.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // A generation that lasts until another one is in flight (half a second at most), so that requests sent
        // together overlap in the record whatever the machine's speed, and requests sent in turn never do.
        "linger" => {
            let until = Instant::now() + Duration::from_millis(500);
            while fake.in_flight() < 2 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        _ => {}
    }
    let mut response = ([(header::CONTENT_TYPE, "audio/mpeg")], MP3).into_response();
    let headers = response.headers_mut();
    headers.insert("request-id", "el-req-123".parse().unwrap());
    headers.insert("character-cost", text.len().to_string().parse().unwrap());
    if path == "/v1/music" {
        headers.insert("song-id", "song-42".parse().unwrap());
    }
    response
}

async fn eleven_voices(State(fake): State<FakeElevenLabs>, headers: HeaderMap) -> Response {
    if !eleven_authorized(&headers) {
        return eleven_error(StatusCode::UNAUTHORIZED, "invalid_api_key", "Invalid API key");
    }
    let first = !fake.seen().iter().any(|s| s.path == "/v1/voices");
    fake.record("GET", "/v1/voices".into(), HashMap::new(), Value::Null);
    if first {
        return eleven_error(StatusCode::SERVICE_UNAVAILABLE, "system_busy", "warming up");
    }
    axum::Json(json!({"voices": [{"voice_id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "category": "premade", "labels": {}, "preview_url": "https://x/p.mp3"}]}))
        .into_response()
}

/// One Higgsfield request in the fake.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub model: String,
    pub body: Value,
    pub status: String,
    pub polls: usize,
}

/// The fake Higgsfield.
#[derive(Clone)]
pub struct FakeHiggsfield {
    pub base: Arc<Mutex<String>>,
    pub requests: Arc<Mutex<HashMap<String, FakeRequest>>>,
    pub submits: Arc<Mutex<Vec<Seen>>>,
    pub cancels: Arc<Mutex<Vec<String>>>,
    /// Polls answered `in_progress` before `completed`.
    pub polls_to_complete: usize,
    /// While held, every poll answers `in_progress`.
    pub hold: Arc<AtomicBool>,
    /// Poll requests received, per request id.
    pub poll_log: Arc<Mutex<Vec<String>>>,
}

impl FakeHiggsfield {
    pub async fn start(polls_to_complete: usize) -> (Self, String) {
        let fake = Self {
            base: Arc::default(),
            requests: Arc::default(),
            submits: Arc::default(),
            cancels: Arc::default(),
            polls_to_complete,
            hold: Arc::default(),
            poll_log: Arc::default(),
        };
        let app = Router::new()
            .route("/requests/{id}/status", get(hf_status))
            .route("/requests/{id}/cancel", post(hf_cancel))
            .route("/files/{file}", get(hf_file))
            .route("/cdn/{file}", get(hf_cdn))
            .route("/{*model}", post(hf_submit))
            .with_state(fake.clone());
        let base = serve(app).await;
        *fake.base.lock().unwrap() = base.clone();
        (fake, base)
    }

    pub fn submits(&self) -> Vec<Seen> {
        self.submits.lock().unwrap().clone()
    }

    pub fn polls_of(&self, id: &str) -> usize {
        self.poll_log.lock().unwrap().iter().filter(|p| *p == id).count()
    }
}

fn hf_authorized(headers: &HeaderMap) -> bool {
    let expected = format!("Key {HF_ID}:{HF_SECRET}");
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn hf_unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(json!({"detail": "Invalid credentials"}))).into_response()
}

async fn hf_submit(
    State(fake): State<FakeHiggsfield>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !hf_authorized(&headers) {
        return hf_unauthorized();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.submits.lock().unwrap().push(Seen {
        method: "POST".into(),
        path: format!("/{model}"),
        query: HashMap::new(),
        body: body.clone(),
        arrived: Instant::now(),
        answered: None,
    });
    match body["prompt"].as_str().unwrap_or_default() {
        "credits" => {
            return (StatusCode::FORBIDDEN, axum::Json(json!({"detail": "Not enough credits"}))).into_response();
        }
        "bad" => {
            return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"detail": [{"loc": ["body", "aspect_ratio"], "msg": "unsupported aspect ratio", "type": "value_error"}]}))).into_response();
        }
        "refused" => {
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"detail": "Prompt rejected"}))).into_response();
        }
        "down" => {
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"detail": "maintenance"}))).into_response();
        }
        "no id" => return axum::Json(json!({"status": "queued"})).into_response(),
        "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    let id = uuid::Uuid::new_v4().to_string();
    fake.requests
        .lock()
        .unwrap()
        .insert(id.clone(), FakeRequest { model: model.clone(), body, status: "queued".into(), polls: 0 });
    let base = fake.base.lock().unwrap().clone();
    axum::Json(json!({
        "status": "queued",
        "request_id": id,
        "status_url": format!("{base}/requests/{id}/status"),
        "cancel_url": format!("{base}/requests/{id}/cancel"),
    }))
    .into_response()
}

async fn hf_status(State(fake): State<FakeHiggsfield>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !hf_authorized(&headers) {
        return hf_unauthorized();
    }
    fake.poll_log.lock().unwrap().push(id.clone());
    let base = fake.base.lock().unwrap().clone();
    let mut requests = fake.requests.lock().unwrap();
    let Some(request) = requests.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Request not found"}))).into_response();
    };
    request.polls += 1;
    let prompt = request.body["prompt"].as_str().unwrap_or_default().to_owned();
    if prompt == "flaky" && request.polls == 1 {
        return (StatusCode::BAD_GATEWAY, axum::Json(json!({"detail": "bad gateway"}))).into_response();
    }
    if prompt == "queued forever" || request.status == "canceled" {
        let status = request.status.clone();
        return axum::Json(json!({"status": status, "request_id": id})).into_response();
    }
    if fake.hold.load(Ordering::SeqCst) || request.polls < fake.polls_to_complete {
        request.status = "in_progress".into();
        return axum::Json(json!({"status": "in_progress", "request_id": id})).into_response();
    }
    let answer = match prompt.as_str() {
        "fail" => json!({"status": "failed", "request_id": id, "error": "generation crashed"}),
        "nsfw" => json!({"status": "nsfw", "request_id": id}),
        "garbled" => return ([(header::CONTENT_TYPE, "application/json")], "{not json").into_response(),
        _ if request.model.contains("dop") => {
            json!({"status": "completed", "request_id": id, "video": {"url": format!("{base}/files/{id}.mp4")}})
        }
        // Outputs served by a CDN that redirects to the file.
        "via cdn" => {
            json!({"status": "completed", "request_id": id, "images": [{"url": format!("{base}/cdn/{id}.png")}]})
        }
        _ => json!({"status": "completed", "request_id": id, "images": [{"url": format!("{base}/files/{id}.png")}]}),
    };
    request.status = answer["status"].as_str().unwrap_or_default().to_owned();
    axum::Json(answer).into_response()
}

async fn hf_cancel(State(fake): State<FakeHiggsfield>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !hf_authorized(&headers) {
        return hf_unauthorized();
    }
    fake.cancels.lock().unwrap().push(id.clone());
    let mut requests = fake.requests.lock().unwrap();
    match requests.get_mut(&id) {
        Some(request) if request.status == "queued" => {
            request.status = "canceled".into();
            StatusCode::ACCEPTED.into_response()
        }
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"detail": "Request cannot be canceled"}))).into_response(),
    }
}

/// A CDN edge: a relative redirect to the stored file.
async fn hf_cdn(Path(file): Path<String>) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, format!("../files/{file}"))]).into_response()
}

async fn hf_file(Path(file): Path<String>) -> Response {
    if file.ends_with(".png") {
        ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
    } else if file.ends_with(".mp4") {
        ([(header::CONTENT_TYPE, "video/mp4")], MP4).into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Point the app at the fakes (either may be left unconfigured) and poll fast.
pub fn configure(config: &mut mcp_gateway::config::Config, elevenlabs: Option<&str>, higgsfield: Option<&str>) {
    if let Some(url) = elevenlabs {
        config.elevenlabs =
            mcp_gateway::config::ElevenLabsSettings { base_url: url.to_owned(), api_key: Some(XI_KEY.into()) };
    }
    if let Some(url) = higgsfield {
        config.higgsfield = mcp_gateway::config::HiggsfieldSettings {
            base_url: url.to_owned(),
            key_id: Some(HF_ID.into()),
            key_secret: Some(HF_SECRET.into()),
        };
    }
    config.jobs.poll_initial = Duration::from_millis(20);
    config.jobs.poll_max = Duration::from_millis(80);
}

/// The shipped specs against the fake Higgsfield at `higgsfield`, with three keys: `alice` and `bob` (list and call),
/// `ops` (`admin`), for whose-job-is-it tests.
pub async fn owners_app(higgsfield: String) -> crate::common::TestApp {
    owners_app_with(higgsfield, |_| {}).await
}

/// [`owners_app`], with more settings from `extra`.
pub async fn owners_app_with(
    higgsfield: String,
    extra: impl FnOnce(&mut mcp_gateway::config::Config),
) -> crate::common::TestApp {
    use crate::common::{TestApp, api_key, shipped_tool_specs};
    TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        extra(config);
        configure(config, None, Some(&higgsfield));
        let caller = ["tools:list", "tools:call"];
        config.security.keys = vec![
            api_key("alice", &caller, &[], &[]),
            api_key("bob", &caller, &[], &[]),
            api_key("ops", &["admin"], &[], &[]),
        ];
    })
    .await
}

/// `POST /mcp/tools/call {tool_name, params}`: the status and the body.
pub async fn rest_call(app: &crate::common::TestApp, tool: &str, params: Value) -> (StatusCode, Value) {
    let response =
        app.post("/mcp/tools/call").json(&json!({"tool_name": tool, "params": params})).send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap())
}

/// `POST /mcp {action, payload, trace}`: the status and the envelope.
pub async fn action(app: &crate::common::TestApp, name: &str, payload: Value, trace: Value) -> (StatusCode, Value) {
    let body = json!({"action": name, "payload": payload, "request_id": "req_narr_1", "trace": trace});
    let response = app.post("/mcp").json(&body).send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap())
}

/// The `/assets/...` part of an asset URL.
pub fn asset_path(url: &str) -> String {
    let start = url.find("/assets/").unwrap_or_else(|| panic!("{url} is not an asset URL"));
    url[start..].to_owned()
}

/// Fetch an asset from the app: status, content type and bytes.
pub async fn fetch_asset(app: &crate::common::TestApp, url: &str) -> (u16, String, Vec<u8>) {
    let response = app.get(&asset_path(url)).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.bytes().await.unwrap().to_vec())
}
