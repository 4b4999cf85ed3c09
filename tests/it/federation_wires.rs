//! Federation over the stdio and legacy HTTP+SSE transports, against the official Python SDK
//! (`tests/fixtures/upstream/stdio_echo.py`, run by the project's venv `.cache/venv`, which scripts/test.sh
//! makes): the real binary supervising a child process (tools served, stderr in the gateway's log, a killed
//! child restarted, its environment only the spec's `env` and PATH), the app serving a legacy SSE server
//! (progress relayed) and a legacy-only one (initialized after `server/discover` fails), and hostile upstreams
//! (an endpoint on another origin, a 10 MB stdout line, lines that are not JSON).

use crate::common;
use crate::process::Gateway;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{JSON_AND_SSE, SseStream, TestApp, poll_until, write_spec};
use mcp_gateway::federation::link::State;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

/// The venv's Python, which has the MCP SDK; a clear failure when it is missing, never a silent skip.
fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python");
    assert!(
        python.exists(),
        "the federation tests run the MCP Python SDK from {}, which is missing: run scripts/test.sh once (it \
         makes .cache/venv from tests/interop/requirements.txt)",
        python.display()
    );
    python
}

fn echo_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream/stdio_echo.py").display().to_string()
}

/// A folder with one stdio upstream spec running the echo server (`extra` arguments after the script).
fn stdio_specs(extra: &[&str], env: Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![echo_script()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let spec = json!({"kind": "upstream", "name": "echo", "prefix": "echo_", "transport": "stdio",
                      "command": python().display().to_string(), "args": args, "env": env, "timeout_secs": 20});
    write_spec(dir.path(), "echo.json", &spec.to_string());
    dir
}

/// One stateless JSON-RPC request to a gateway at `base`.
async fn rpc(client: &reqwest::Client, base: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let response = client.post(format!("{base}/mcp")).header(ACCEPT, JSON_AND_SSE).json(&body).send().await.unwrap();
    response.json().await.expect("a JSON answer")
}

async fn tool_names(client: &reqwest::Client, base: &str) -> Vec<String> {
    let listed = rpc(client, base, "tools/list", json!({})).await;
    listed["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

/// Wait (bounded) until the gateway serves `tool`.
async fn until_served(client: &reqwest::Client, base: &str, tool: &str) {
    poll_until(&format!("the gateway serves {tool}"), || async {
        tool_names(client, base).await.iter().any(|n| n == tool).then_some(())
    })
    .await;
}

/// `/ready` names the upstream `echo` ready (by name to an admin, as a count otherwise).
async fn echo_ready(client: &reqwest::Client, base: &str) -> bool {
    let ready: Value = client.get(format!("{base}/ready")).send().await.unwrap().json().await.unwrap();
    let upstreams = &ready["upstreams"];
    upstreams["echo"] == "ready" || (upstreams["ready"] == 1 && upstreams["total"] == 1)
}

/// The text of a call's first content block.
fn text_of(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("a text answer: {result}")).to_owned()
}

async fn call(client: &reqwest::Client, base: &str, tool: &str, arguments: Value) -> Value {
    let answer = rpc(client, base, "tools/call", json!({"name": tool, "arguments": arguments})).await;
    assert!(answer.get("error").is_none(), "{tool}: {answer}");
    answer["result"].clone()
}

const CHILD_TOKEN: &str = "child-token-5d1e0c";
const GATEWAY_SECRET: &str = "gateway-secret-9b77";

#[tokio::test]
async fn a_stdio_upstream_is_served_logged_restarted_and_sees_only_its_env() {
    let specs = stdio_specs(&[], json!({"ECHO_TOKEN": CHILD_TOKEN}));
    let mut gateway = Gateway::start(specs.path(), &[("SECRET_X", GATEWAY_SECRET)]);
    let client = reqwest::Client::new();
    until_served(&client, &gateway.base, "echo_echo").await;
    poll_until("/ready names the upstream ready", || async { echo_ready(&client, &gateway.base).await.then_some(()) })
        .await;

    let names = tool_names(&client, &gateway.base).await;
    for tool in ["echo_echo", "echo_pid", "echo_env_keys", "echo_count"] {
        assert!(names.iter().any(|n| n == tool), "{tool} in {names:?}");
    }
    let answer = call(&client, &gateway.base, "echo_echo", json!({"text": "hi"})).await;
    assert_eq!(text_of(&answer), "echo: hi", "{answer}");

    // The child's stderr is in the gateway's log, the env value masked.
    let logged = gateway.wait_for_line("the child's stderr line is logged", |l| l.contains("stdio-echo starting"));
    assert!(logged.contains("upstream stderr") && logged.contains("\"upstream\":\"echo\""), "{logged}");
    assert!(!logged.contains(CHILD_TOKEN) && logged.contains("token ***"), "{logged}");

    // Its environment: the spec's env and PATH (and LC_CTYPE, which Python sets itself under the C locale).
    let keys = call(&client, &gateway.base, "echo_env_keys", json!({})).await;
    let keys: Vec<String> = serde_json::from_value(keys["structuredContent"]["result"].clone())
        .unwrap_or_else(|e| panic!("a list of names ({e}): {keys}"));
    let keys: Vec<&str> = keys.iter().map(String::as_str).filter(|k| *k != "LC_CTYPE").collect();
    assert_eq!(keys, ["ECHO_TOKEN", "PATH"], "the child sees no gateway setting such as SECRET_X");

    // SIGKILL the child: the link starts a new one, whose tools answer.
    let first = call(&client, &gateway.base, "echo_pid", json!({})).await;
    let first = text_of(&first);
    let killed = Command::new("kill").args(["-KILL", &first]).status().unwrap();
    assert!(killed.success(), "kill -KILL {first}");
    let second = poll_until("a new child answers", || async {
        let answer = rpc(&client, &gateway.base, "tools/call", json!({"name": "echo_pid", "arguments": {}})).await;
        let pid = answer["result"]["content"][0]["text"].as_str().map(str::to_owned);
        pid.filter(|p| *p != first && answer["result"]["isError"] != true)
    })
    .await;
    assert_ne!(second, first);
    poll_until("/ready names the upstream ready again", || async {
        echo_ready(&client, &gateway.base).await.then_some(())
    })
    .await;
    let again = call(&client, &gateway.base, "echo_echo", json!({"text": "again"})).await;
    assert_eq!(text_of(&again), "echo: again");
    let exited =
        gateway.wait_for_line("the gateway logs why the child ended", |l| l.contains("upstream process ended"));
    assert!(exited.contains("signal: 9"), "{exited}");
    // The gateway reaped the killed child: no zombie of it is left.
    assert!(!Path::new(&format!("/proc/{first}")).exists(), "the killed child {first} is still in the process table");

    // Shutdown stops the child it runs now.
    gateway.terminate();
    let (code, _) = gateway.wait_exit();
    assert_eq!(code, Some(0));
    poll_until("the child ends with the gateway", || async {
        (!Path::new(&format!("/proc/{second}")).exists()).then_some(())
    })
    .await;
}

/// The echo server on the legacy SSE transport, on a free port; killed when dropped.
struct SseServer {
    child: Child,
    port: u16,
}

impl SseServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(python())
            .args([echo_script(), "--sse".into(), port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Python SSE server");
        let server = Self { child, port };
        poll_until("the Python SSE server listens", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
        server
    }
}

impl Drop for SseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sse_specs(url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({"kind": "upstream", "name": "legacy", "prefix": "legacy_", "transport": "sse", "url": url,
                      "headers": {"X-Test": "legacy"}, "timeout_secs": 20});
    write_spec(dir.path(), "legacy.json", &spec.to_string());
    dir
}

#[tokio::test]
async fn a_legacy_sse_upstream_is_served_with_its_progress() {
    let server = SseServer::start().await;
    let specs = sse_specs(&format!("http://127.0.0.1:{}/sse", server.port));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    until_served(&app.client, &app.base, "legacy_echo").await;
    let answer = app.call_tool(None, "legacy_echo", json!({"text": "over sse"})).await;
    assert_eq!(text_of(&answer), "echo: over sse", "{answer}");

    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "legacy_count", "arguments": {"steps": 3}, "_meta": {"progressToken": "p"}}});
    let response = app.mcp(None, &call).send().await.unwrap();
    let mut stream = SseStream::new(response);
    let mut progress = Vec::new();
    let result = loop {
        let message = stream.next_message().await;
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "p", "{message}");
            progress.push(message["params"]["progress"].as_f64().unwrap());
            continue;
        }
        break message;
    };
    assert_eq!(progress, [1.0, 2.0, 3.0], "each step's progress is relayed");
    assert_eq!(text_of(&result["result"]), "counted to 3", "{result}");
    let statuses = app.state.federation.as_ref().unwrap().statuses();
    assert_eq!(statuses[0].1.state, State::Ready);
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

async fn serve(router: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused_and_gets_nothing() {
    let seen = Seen::default();
    let recorder = seen.clone();
    let elsewhere = serve(Router::new().fallback(move |request: axum::extract::Request| {
        let recorder = recorder.clone();
        async move {
            recorder.0.lock().unwrap().push(format!("{:?}", request.headers()));
            axum::http::StatusCode::ACCEPTED
        }
    }))
    .await;
    let endpoint = format!("http://127.0.0.1:{elsewhere}/messages");
    let hostile = serve(
        Router::new()
            .route(
                "/sse",
                get(move || {
                    let event = format!("event: endpoint\ndata: {endpoint}\n\n");
                    async move { ([("content-type", "text/event-stream")], event).into_response() }
                }),
            )
            .route("/messages", post(|| async { axum::http::StatusCode::ACCEPTED })),
    )
    .await;
    let specs = sse_specs(&format!("http://127.0.0.1:{hostile}/sse"));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    let federation = app.state.federation.clone().unwrap();
    let error = poll_until("the upstream is failed", || {
        let status = federation.statuses()[0].1.clone();
        async move { (status.state == State::Failed).then_some(status.error.unwrap_or_default()) }
    })
    .await;
    assert!(error.contains("another origin"), "{error}");
    assert!(seen.0.lock().unwrap().is_empty(), "the other origin got a request: {:?}", seen.0.lock().unwrap());
}

/// The peak resident memory of this test process (`VmHWM`), in bytes.
fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test]
async fn a_10_mb_stdout_line_closes_the_wire_without_taking_the_memory() {
    let specs = stdio_specs(&["--raw"], json!({}));
    let app = TestApp::spawn_with(specs.path(), |config| config.limits.upstream_max_answer_bytes = 1 << 20).await;
    until_served(&app.client, &app.base, "echo_flood").await;
    let before = peak_memory();
    let answer = app.rpc(None, "tools/call", json!({"name": "echo_flood", "arguments": {"megabytes": 10}})).await;
    let grown = peak_memory().saturating_sub(before);
    let result = &answer["result"];
    assert_eq!(result["isError"], true, "{answer}");
    let error = &result["_meta"]["mcp-gateway/error"];
    assert_eq!(error["code"], "upstream_unavailable", "{answer}");
    assert_eq!(error["retryable"], true, "{answer}");
    assert!(answer.to_string().contains("longer than 1048576 bytes"), "{answer}");
    // Measured: about 1.2 MB (the 1 MiB bound and the read buffer), where holding the line would take 10 MB.
    assert!(grown < 4 << 20, "reading the 10 MB line grew the peak memory by {grown} bytes");
    // The link starts a new process, which answers.
    let echoed = poll_until("a new process answers", || async {
        let answer = app.rpc(None, "tools/call", json!({"name": "echo_echo", "arguments": {"text": "ok"}})).await;
        (answer["result"]["isError"] != true).then_some(answer)
    })
    .await;
    assert_eq!(text_of(&echoed["result"]), "echo: ok");
}

#[tokio::test]
async fn lines_that_are_not_json_are_skipped() {
    // The SDK's server after a banner on stdout.
    let specs = stdio_specs(&["--banner"], json!({}));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    until_served(&app.client, &app.base, "echo_echo").await;
    let answer = app.call_tool(None, "echo_echo", json!({"text": "after the banner"})).await;
    assert_eq!(text_of(&answer), "echo: after the banner", "{answer}");

    // A server writing a line that is not JSON before each answer.
    let specs = stdio_specs(&["--raw"], json!({}));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    until_served(&app.client, &app.base, "echo_echo").await;
    for text in ["one", "two"] {
        let answer = app.call_tool(None, "echo_echo", json!({"text": text})).await;
        assert_eq!(text_of(&answer), format!("echo: {text}"), "{answer}");
    }
}

/// Where the legacy-only server writes its stream's events.
type Events = tokio::sync::mpsc::Sender<Result<String, std::convert::Infallible>>;

/// A legacy-only HTTP+SSE server (protocol 2024-11-05, no `server/discover`), answering on its stream.
#[derive(Clone, Default)]
struct LegacyOnly {
    stream: Arc<Mutex<Option<Events>>>,
    methods: Arc<Mutex<Vec<String>>>,
}

impl LegacyOnly {
    async fn open(&self) -> axum::response::Response {
        let (sender, events) = tokio::sync::mpsc::channel(16);
        sender.send(Ok("event: endpoint\ndata: /messages?session_id=1\n\n".to_owned())).await.unwrap();
        *self.stream.lock().unwrap() = Some(sender);
        let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(events));
        ([("content-type", "text/event-stream")], body).into_response()
    }

    async fn message(&self, request: Value) -> axum::http::StatusCode {
        let Some(method) = request["method"].as_str() else { return axum::http::StatusCode::ACCEPTED };
        self.methods.lock().unwrap().push(method.to_owned());
        let id = request["id"].clone();
        if id.is_null() {
            return axum::http::StatusCode::ACCEPTED;
        }
        let answer = match method {
            "initialize" => json!({"result": {"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                                              "serverInfo": {"name": "legacy-only", "version": "1"}}}),
            "tools/list" => json!({"result": {"tools": [{"name": "hello", "inputSchema": {"type": "object"}}]}}),
            "tools/call" => json!({"result": {"content": [{"type": "text", "text": "hello from legacy"}]}}),
            other => json!({"error": {"code": -32601, "message": format!("no method {other}")}}),
        };
        let mut message = json!({"jsonrpc": "2.0", "id": id});
        message.as_object_mut().unwrap().extend(answer.as_object().unwrap().clone());
        let sender = self.stream.lock().unwrap().clone().unwrap();
        sender.send(Ok(format!("event: message\ndata: {message}\n\n"))).await.unwrap();
        axum::http::StatusCode::ACCEPTED
    }
}

#[tokio::test]
async fn a_legacy_only_sse_server_is_initialized_after_discover_fails() {
    let legacy = LegacyOnly::default();
    let (opener, poster) = (legacy.clone(), legacy.clone());
    let port = serve(Router::new().route("/sse", get(move || async move { opener.open().await })).route(
        "/messages",
        post(move |axum::Json(request): axum::Json<Value>| async move { poster.message(request).await }),
    ))
    .await;
    let specs = sse_specs(&format!("http://127.0.0.1:{port}/sse"));
    let app = TestApp::spawn_with(specs.path(), |_| {}).await;
    until_served(&app.client, &app.base, "legacy_hello").await;
    let answer = app.call_tool(None, "legacy_hello", json!({})).await;
    assert_eq!(text_of(&answer), "hello from legacy", "{answer}");
    let status = app.state.federation.as_ref().unwrap().statuses()[0].1.clone();
    assert_eq!(status.era.as_deref(), Some("2024-11-05"), "{status:?}");
    let methods = legacy.methods.lock().unwrap().clone();
    assert_eq!(methods[..3], ["server/discover", "initialize", "notifications/initialized"], "{methods:?}");
}
