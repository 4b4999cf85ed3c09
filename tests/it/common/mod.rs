//! The integration-test harness: [`TestApp`] runs the real application (`build_app` over a real
//! `AppState`) on `127.0.0.1:0` and talks to it over real HTTP with reqwest; [`SseStream`] reads Server-Sent
//! Events from a response; [`eventually`] polls a condition with a bound instead of sleeping.
//!

pub mod fake_llm;
pub mod redis;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use mcp_gateway::auth::{ApiKey, NamePattern, Scope, digest};
use mcp_gateway::config::Config;
use mcp_gateway::http::server::{self, ConnectionLimits};
use mcp_gateway::{AppState, build_app};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const VERSION_HEADER: &str = "mcp-protocol-version";
pub const JSON_AND_SSE: &str = "application/json, text/event-stream";

/// How long any single wait (an SSE event, a polled condition) may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// The core fixture: the two builtin tools the gateway ships (`ping`, `list_tools`) and nothing else, so core
/// tests see a stable tool list whatever else `tool_specs/` ships.
#[must_use]
pub fn core_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/core")
}

/// The real `tool_specs/` folder, with everything the gateway ships.
#[must_use]
pub fn shipped_tool_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tool_specs")
}

/// The conformance fixture profile: static tools, the client-link builtins, resources and prompts.
#[must_use]
pub fn fixture_specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/conformance/specs")
}

/// The real application, served on an ephemeral loopback port for the lifetime of the test.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    next_id: AtomicI64,
    _data: TempDir,
}

impl TestApp {
    /// The app over the core specs (`ping`, `list_tools`).
    pub async fn spawn() -> Self {
        Self::spawn_with(&core_specs(), |_| {}).await
    }

    /// The app over the conformance fixture profile.
    pub async fn fixtures() -> Self {
        Self::spawn_with(&fixture_specs(), |_| {}).await
    }

    /// The app over `specs`, with test defaults adjusted by `configure`.
    pub async fn spawn_with(specs: &Path, configure: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().expect("create a temp data dir");
        let mut config = Config::for_tests(specs, data.path());
        configure(&mut config);
        let state = AppState::new(config).unwrap_or_else(|e| panic!("the app must build: {e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("the listener has an address");
        let app = build_app(state.clone());
        let limits = ConnectionLimits::of(&state.config);
        // The server loop the binary uses; it stops with the runtime at the end of the test.
        tokio::spawn(server::serve(listener, app, limits, CancellationToken::new()));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build the reqwest client");
        Self { base: format!("http://{address}"), client, state, next_id: AtomicI64::new(1), _data: data }
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    /// A fresh JSON-RPC id.
    pub fn id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// `POST /mcp` with a JSON body as a Streamable HTTP client sends it (both media types accepted).
    pub fn mcp(&self, session: Option<&str>, body: &Value) -> RequestBuilder {
        let request = self.post("/mcp").header(ACCEPT, JSON_AND_SSE).json(body);
        match session {
            Some(id) => request.header(SESSION_HEADER, id),
            None => request,
        }
    }

    /// Send one JSON-RPC request and return the whole response message, which must be plain JSON with 200.
    pub async fn rpc(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": self.id(), "method": method, "params": params});
        let response = self.mcp(session, &body).send().await.expect("POST /mcp");
        assert_eq!(response.status(), StatusCode::OK, "{method} answered {}", response.status());
        assert_content_type(&response, "application/json");
        let message: Value = response.json().await.expect("a JSON body");
        assert_eq!(message["jsonrpc"], "2.0", "{message}");
        assert_eq!(message["id"], body["id"], "{message}");
        message
    }

    /// One stateless JSON-RPC request presenting the key `key` (see [`api_key`]): the whole response message,
    /// which must come with 200.
    pub async fn rpc_as(&self, key: &str, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": self.id(), "method": method, "params": params});
        let response = self.mcp(None, &body).header("authorization", bearer(key)).send().await.expect("POST /mcp");
        assert_eq!(response.status(), StatusCode::OK, "{method} as {key}");
        response.json().await.expect("a JSON body")
    }

    /// `tools/call` in a session (or statelessly), returning the `result` object (failing on a JSON-RPC error).
    pub async fn call_tool(&self, session: Option<&str>, name: &str, arguments: Value) -> Value {
        let message = self.rpc(session, "tools/call", json!({"name": name, "arguments": arguments})).await;
        assert!(message.get("error").is_none(), "tools/call {name} failed: {message}");
        message["result"].clone()
    }

    /// Initialize a session with `version` and no client capabilities; returns the session id.
    pub async fn initialize(&self, version: &str) -> String {
        self.initialize_with(version, json!({})).await
    }

    /// Initialize a session (then send `notifications/initialized`); returns the session id.
    pub async fn initialize_with(&self, version: &str, capabilities: Value) -> String {
        let (session, result) = self.initialize_raw(version, capabilities).await;
        assert_eq!(result["protocolVersion"], version, "{result}");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self.mcp(Some(&session), &initialized).send().await.expect("POST initialized");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        session
    }

    /// Send `initialize` asking for `version`; returns the session id and the `result`.
    pub async fn initialize_raw(&self, version: &str, capabilities: Value) -> (String, Value) {
        let body = json!({
            "jsonrpc": "2.0",
            "id": self.id(),
            "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": capabilities,
                "clientInfo": {"name": "integration-tests", "version": "1.0.0"},
            },
        });
        let response = self.mcp(None, &body).send().await.expect("POST initialize");
        assert_eq!(response.status(), StatusCode::OK);
        let session = header(&response, SESSION_HEADER).expect("initialize returns Mcp-Session-Id");
        let message: Value = response.json().await.expect("a JSON body");
        (session, message["result"].clone())
    }

    /// The server still answers `/health` with 200.
    pub async fn assert_healthy(&self) {
        let response = self.get("/health").send().await.expect("GET /health after the previous request");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["status"], "ok");
    }

    /// The Prometheus text from `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.get("/metrics").send().await.expect("GET /metrics");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("metrics text")
    }

    /// The names `tools/list` returns (first page).
    pub async fn tool_names(&self) -> Vec<String> {
        let message = self.rpc(None, "tools/list", json!({})).await;
        message["result"]["tools"]
            .as_array()
            .expect("tools is an array")
            .iter()
            .map(|t| t["name"].as_str().expect("a tool has a name").to_owned())
            .collect()
    }
}

/// A key `id` whose secret is `secret-{id}` (see [`bearer`]), with scopes and `allow` / `deny` patterns.
#[must_use]
pub fn api_key(id: &str, scopes: &[&str], allow: &[&str], deny: &[&str]) -> ApiKey {
    ApiKey::new(
        id.into(),
        digest(&format!("secret-{id}")),
        scopes.iter().map(|s| Scope::parse(s).expect("a known scope")).collect(),
        allow.iter().map(|p| NamePattern::new(p)).collect(),
        deny.iter().map(|p| NamePattern::new(p)).collect(),
    )
}

/// The `Authorization` value presenting the key made by [`api_key`] with `id`.
#[must_use]
pub fn bearer(id: &str) -> String {
    format!("Bearer secret-{id}")
}

/// Assert that `answer`, given for `name`, is the answer given for `unknown_name`: the same JSON once both names
/// read `NAME` and the fields that differ between any two requests (ids, times) are removed. For "a caller
/// cannot tell a hidden item from one that does not exist".
pub fn assert_answers_alike(answer: &Value, name: &str, unknown: &Value, unknown_name: &str) {
    fn normalized(answer: &Value, name: &str) -> Value {
        fn strip(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    for volatile in ["id", "request_id", "received_at", "completed_at"] {
                        map.remove(volatile);
                    }
                    map.values_mut().for_each(strip);
                }
                Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut value: Value =
            serde_json::from_str(&answer.to_string().replace(name, "NAME")).expect("JSON stays JSON");
        strip(&mut value);
        value
    }
    assert_eq!(
        normalized(answer, name),
        normalized(unknown, unknown_name),
        "for {name}: {answer}\nfor {unknown_name}: {unknown}"
    );
}

/// A response header as text.
#[must_use]
pub fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).map(|v| v.to_str().expect("a visible-ASCII header").to_owned())
}

/// The response's media type starts with `expected`.
pub fn assert_content_type(response: &Response, expected: &str) {
    let actual = header(response, CONTENT_TYPE.as_str()).unwrap_or_default();
    assert!(actual.starts_with(expected), "Content-Type is `{actual}`, expected {expected}");
}

/// Poll `condition` every 50 ms until it holds; fail naming `what` after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until(what, || {
        let check = condition();
        async move { check.await.then_some(()) }
    })
    .await;
}

/// Poll `probe` every 50 ms until it yields a value; fail naming `what` after [`WAIT`].
pub async fn poll_until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {} s waiting until {what}", WAIT.as_secs());
}

/// Write a spec file atomically (a hidden temp file, then a rename), so a watcher never reads half a file.
pub fn write_spec(dir: &Path, file: &str, content: &str) {
    let temp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&temp, content).expect("write the temp spec");
    std::fs::rename(&temp, dir.join(file)).expect("rename the spec into place");
}

/// A specs folder with `slow_job`, a job that takes about half a second: long enough to hang up during it, short
/// enough to wait for.
pub fn short_job_specs() -> TempDir {
    let specs = tempfile::tempdir().unwrap();
    let job = json!({
        "name": "slow_job",
        "description": "Reports progress twice, 300 ms apart",
        "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 2, "interval_ms": 300}},
    });
    write_spec(specs.path(), "slow_job.json", &job.to_string());
    specs
}

/// A minimal valid tool spec answering like `ping`.
#[must_use]
pub fn ping_like_tool(name: &str) -> String {
    json!({
        "name": name,
        "description": format!("{name}: answers like ping"),
        "category": "system",
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
        "binding": {"kind": "builtin", "name": "ping"},
    })
    .to_string()
}

/// A temp specs folder holding a copy of the core specs.
#[must_use]
pub fn copy_of_core_specs() -> TempDir {
    let dir = tempfile::tempdir().expect("create a temp specs dir");
    for entry in std::fs::read_dir(core_specs()).expect("list the core specs") {
        let path = entry.expect("a dir entry").path();
        let name = path.file_name().expect("a file name").to_owned();
        std::fs::copy(&path, dir.path().join(name)).expect("copy a core spec");
    }
    dir
}

/// One Server-Sent Event.
#[derive(Debug, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

/// Reads events from a `text/event-stream` response.
pub struct SseStream {
    response: Response,
    buffer: Vec<u8>,
}

impl SseStream {
    /// Wrap a response, which must be a 200 event stream.
    #[must_use]
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK, "an event stream answers 200");
        assert_content_type(&response, "text/event-stream");
        Self { response, buffer: Vec::new() }
    }

    /// The next event (comment-only blocks such as keep-alives are skipped).
    pub async fn next_event(&mut self) -> SseEvent {
        loop {
            if let Some(event) = self.take_event() {
                return event;
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no SSE event within {} s", WAIT.as_secs()))
                .expect("the event stream is readable")
                .expect("the event stream ended before the next event");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The next JSON-RPC message (`event: message`), skipping priming events, which carry no data.
    pub async fn next_message(&mut self) -> Value {
        loop {
            let event = self.next_event().await;
            if event.data.is_empty() {
                continue;
            }
            assert_eq!(event.event.as_deref(), Some("message"), "{event:?}");
            return serde_json::from_str(&event.data)
                .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {event:?}"));
        }
    }

    /// The server closes the stream (after any events still buffered, which are ignored).
    pub async fn expect_end(&mut self) {
        loop {
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("the event stream was still open after {} s", WAIT.as_secs()));
            match chunk {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn take_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buffer.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8(block).expect("SSE is UTF-8");
            let mut event = SseEvent::default();
            let mut has_field = false;
            for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with(':')) {
                has_field = true;
                let (field, value) =
                    line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                match field {
                    "event" => event.event = Some(value.to_owned()),
                    "id" => event.id = Some(value.to_owned()),
                    "data" => {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(value);
                    }
                    _ => {}
                }
            }
            if has_field {
                return Some(event);
            }
        }
    }
}

/// A loopback port nothing listens on, held for as long as the socket lives: bound but never listening, so a
/// connection is refused, and no server started meanwhile by another test can take the port (a port that was
/// merely free a moment ago can be).
pub fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}
