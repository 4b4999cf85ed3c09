//! `GET /workers/{id}/realtime/config` against an in-process fake of the OpenAI Realtime client-secrets endpoint
//! (reference/providers.md): `POST /v1/realtime/client_secrets` with the long-lived key as bearer and
//! `{expires_after, session}`, answering `{value, expires_at, session}`, or OpenAI's error shape. The browser
//! must get the ephemeral value and never the long-lived key.

use crate::common;
use crate::workers_fixture;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{TestApp, core_specs};
use serde_json::{Value, json};
use tempfile::TempDir;
use workers_fixture::write_worker;

const LONG_LIVED_KEY: &str = "sk-proj-longlived-7f3a9c2e41d8";
const EPHEMERAL: &str = "ek_68af2c1e9b_ephemeral";
const EXPIRES_AT: i64 = 1_795_000_000;

/// One request the fake received: its `Authorization` header and its JSON body.
type Received = (Option<String>, Value);

/// A fake Realtime provider that records what it received.
#[derive(Clone, Default)]
struct FakeRealtime {
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeRealtime {
    async fn serve(self) -> String {
        let app = Router::new().route("/v1/realtime/client_secrets", post(client_secrets)).with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn client_secrets(State(fake): State<FakeRealtime>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    fake.received.lock().unwrap().push((authorization.clone(), body.0.clone()));
    let presented = authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    if presented != LONG_LIVED_KEY {
        // OpenAI names the key it was given in the message; the gateway must not pass that on.
        let error = json!({"error": {
            "message": format!("Incorrect API key provided: {presented}. You can find your API key at https://platform.openai.com/account/api-keys."),
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    let session = json!({"type": "realtime", "object": "realtime.session", "model": body.0["session"]["model"]});
    axum::Json(json!({"value": EPHEMERAL, "expires_at": EXPIRES_AT, "session": session})).into_response()
}

const META: &[(&str, &str)] = &[
    ("worker_name", "Camille"),
    ("voice", "coral"),
    ("job", "assistante commerciale"),
    ("employeur", "Maison Lefèvre"),
    ("persona", "Je suis Camille, je connais tous nos clients."),
    ("bio", "Je suis le portefeuille Rhône-Alpes."),
    ("turn_detection_json", r#"{"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 700}"#),
];

const SCHEMA: &str = "CREATE TABLE clients (id INTEGER PRIMARY KEY, nom TEXT, ville TEXT);
                      CREATE TABLE commandes (id INTEGER PRIMARY KEY, client_id INTEGER, montant REAL);";

async fn app_with(dir: &TempDir, base_url: Option<String>, key: Option<&str>) -> TestApp {
    let workers_dir = dir.path().to_path_buf();
    let key = key.map(str::to_owned);
    TestApp::spawn_with(&core_specs(), move |config| {
        config.voice_workers.dir = workers_dir;
        if let Some(base) = base_url {
            config.realtime.base_url = base;
        }
        config.realtime.api_key = key.map(Into::into);
        config.realtime.model = "gpt-realtime-test".into();
    })
    .await
}

/// Camille's database, a fake provider, and the gateway pointed at it with `key`.
struct Setup {
    _dir: TempDir,
    fake: FakeRealtime,
    base: String,
    app: TestApp,
}

async fn camille_with_key(key: Option<&str>) -> Setup {
    let dir = TempDir::new().unwrap();
    write_worker(dir.path(), "camille", META, SCHEMA);
    let fake = FakeRealtime::default();
    let base = fake.clone().serve().await;
    let app = app_with(&dir, Some(base.clone()), key).await;
    Setup { _dir: dir, fake, base, app }
}

/// Every header value and the body, as one text, to search for leaked secrets.
async fn everything(response: reqwest::Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let headers: Vec<String> =
        response.headers().iter().map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or_default())).collect();
    let body = response.text().await.unwrap();
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, format!("{}\n{body}", headers.join("\n")), json)
}

#[tokio::test]
async fn the_config_carries_the_session_and_an_ephemeral_secret_but_never_the_key() {
    let Setup { _dir, fake, base, app } = camille_with_key(Some(LONG_LIVED_KEY)).await;

    let response = app.get("/workers/camille/realtime/config").send().await.unwrap();
    let (status, raw, config) = everything(response).await;
    assert_eq!(status, StatusCode::OK, "{raw}");
    assert!(!raw.contains(LONG_LIVED_KEY), "the long-lived key leaked: {raw}");

    assert_eq!(config["worker_id"], "camille");
    assert_eq!(config["persona"], "Je suis Camille, je connais tous nos clients.");
    assert_eq!(config["voice"], "coral");
    assert_eq!(config["model"], "gpt-realtime-test");
    assert_eq!(config["token"], EPHEMERAL);
    assert_eq!(config["client_secret"], json!({"value": EPHEMERAL, "expires_at": EXPIRES_AT}));
    assert_eq!(config["calls_url"], format!("{base}/v1/realtime/calls"));
    assert_eq!(config["realtime_base_url"], base);
    assert_eq!(config["query_url"], "/workers/camille/query");
    assert_eq!(config["turn_detection"], json!({"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 700}));
    let tool = &config["tools"][0];
    assert_eq!(tool["type"], "function");
    assert_eq!(tool["name"], "worker_query");
    assert_eq!(tool["parameters"]["required"], json!(["query"]));
    assert!(tool["description"].as_str().unwrap().contains("SELECT"));
    let instructions = config["instructions"].as_str().unwrap();
    for expected in [
        "Camille",
        "Je suis Camille, je connais tous nos clients.",
        "Je suis le portefeuille Rhône-Alpes.",
        "worker_query",
        "- clients(id INTEGER, nom TEXT, ville TEXT)",
        "- commandes(id INTEGER, client_id INTEGER, montant REAL)",
    ] {
        assert!(instructions.contains(expected), "instructions lack `{expected}`:\n{instructions}");
    }
    assert!(!instructions.contains("job_meta"), "metadata is not part of the schema:\n{instructions}");

    let received = fake.received();
    assert_eq!(received.len(), 1);
    let (authorization, body) = &received[0];
    assert_eq!(authorization.as_deref(), Some(format!("Bearer {LONG_LIVED_KEY}").as_str()));
    assert_eq!(body["expires_after"], json!({"anchor": "created_at", "seconds": 600}));
    let session = &body["session"];
    assert_eq!(session["type"], "realtime");
    assert_eq!(session["model"], "gpt-realtime-test");
    assert_eq!(session["instructions"], config["instructions"]);
    assert_eq!(session["audio"]["output"]["voice"], "coral");
    assert_eq!(session["audio"]["input"]["turn_detection"], config["turn_detection"]);
    assert_eq!(session["audio"]["input"]["transcription"]["model"], "gpt-4o-mini-transcribe");
    assert_eq!(session["tools"], config["tools"]);
}

#[tokio::test]
async fn turn_detection_defaults_to_server_vad_and_persona_to_the_job() {
    let dir = TempDir::new().unwrap();
    write_worker(
        dir.path(),
        "julien",
        &[("worker_name", "Julien"), ("job", "assistant RH")],
        "CREATE TABLE conges (id INTEGER)",
    );
    let fake = FakeRealtime::default();
    let base = fake.clone().serve().await;
    let app = app_with(&dir, Some(base), Some(LONG_LIVED_KEY)).await;
    let config: Value = app.get("/workers/julien/realtime/config").send().await.unwrap().json().await.unwrap();
    assert_eq!(config["turn_detection"]["type"], "server_vad", "{config}");
    assert_eq!(config["voice"], "alloy");
    assert_eq!(config["persona"], "Je suis Julien, assistant RH.");
}

#[tokio::test]
async fn without_a_key_the_config_is_503_not_configured_naming_the_setting() {
    let Setup { _dir, fake, app, .. } = camille_with_key(None).await;
    let response = app.get("/workers/camille/realtime/config").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(body["error"]["message"].as_str().unwrap().contains("OPENAI_API_KEY"), "{body}");
    assert_eq!(body["error"]["details"]["missing"], "OPENAI_API_KEY");
    assert!(fake.received().is_empty(), "nothing is sent without a key");
}

#[tokio::test]
async fn a_refused_key_is_a_typed_upstream_error_that_does_not_repeat_the_key() {
    let wrong_key = "sk-proj-revoked-0b1c2d3e4f";
    let Setup { _dir, fake, app, .. } = camille_with_key(Some(wrong_key)).await;
    let response = app.get("/workers/camille/realtime/config").send().await.unwrap();
    let (status, raw, body) = everything(response).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{raw}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert_eq!(body["error"]["retryable"], false);
    assert_eq!(body["error"]["details"]["upstream_status"], 401);
    assert_eq!(body["error"]["details"]["upstream"]["error"]["code"], "invalid_api_key");
    assert!(body["error"]["message"].as_str().unwrap().contains("Incorrect API key provided"), "{body}");
    assert!(!raw.contains(wrong_key), "the key leaked through the upstream's message: {raw}");
    assert!(raw.contains("[redacted]"), "{raw}");
    assert_eq!(fake.received().len(), 1, "a refused key is not retried");
}

#[tokio::test]
async fn an_unknown_worker_is_404_before_any_secret_is_minted() {
    let dir = TempDir::new().unwrap();
    let fake = FakeRealtime::default();
    let base = fake.clone().serve().await;
    let app = app_with(&dir, Some(base), Some(LONG_LIVED_KEY)).await;
    let response = app.get("/workers/nobody/realtime/config").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app.get("/workers/..%2Fx/realtime/config").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(fake.received().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_provider_is_upstream_unavailable() {
    let dir = TempDir::new().unwrap();
    write_worker(dir.path(), "camille", META, SCHEMA);
    let (_held, port) = common::closed_port();
    let closed = format!("http://127.0.0.1:{port}");
    let app = app_with(&dir, Some(closed), Some(LONG_LIVED_KEY)).await;
    let response = app.get("/workers/camille/realtime/config").send().await.unwrap();
    let (status, raw, body) = everything(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{raw}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(!raw.contains(LONG_LIVED_KEY));
}
