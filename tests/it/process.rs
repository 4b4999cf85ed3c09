//! The real binary as a process: graceful shutdown with a call in flight, and secrets kept out of its logs.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use common::{SseStream, write_spec};
use serde_json::{Value, json};

/// The gateway binary, started on an ephemeral port with JSON logs; stderr lines arrive on a channel.
pub(crate) struct Gateway {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    base: String,
}

impl Gateway {
    pub(crate) fn start(specs: &std::path::Path, envs: &[(&str, &str)]) -> Self {
        let data = std::env::temp_dir().join(format!("gateway-process-{}", uuid::Uuid::new_v4().simple()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEWAY_BIND", "127.0.0.1:0")
            .env("GATEWAY_TOOL_SPECS", specs)
            .env("GATEWAY_DATA_DIR", &data)
            .env("LOG_FORMAT", "json")
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the gateway binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut gateway = Self { child, lines, seen: Vec::new(), base: String::new() };
        let listening =
            gateway.wait_for_line("the gateway announces its address", |l| l.contains("mcp-gateway listening"));
        let log: Value = serde_json::from_str(&listening).expect("JSON log lines");
        gateway.base = format!("http://{}", log["fields"]["address"].as_str().expect("an address field"));
        gateway
    }

    /// Read stderr until a line matches (bounded), keeping every line seen.
    pub(crate) fn wait_for_line(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(15)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("timed out waiting until {what}; log so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    pub(crate) fn terminate(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Wait for the process to exit (bounded) and return its code with every remaining log line.
    pub(crate) fn wait_exit(mut self) -> (Option<i32>, String) {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                self.seen.extend(self.lines.try_iter());
                return (status.code(), self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the gateway did not exit within 15 s after SIGTERM; log:\n{}", self.seen.join("\n"));
    }
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish_and_exits_zero() {
    let specs = tempfile::tempdir().unwrap();
    let spec = json!({"name": "slow", "description": "Three steps", "category": "system",
                      "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 3, "interval_ms": 400, "text": "finished"}}});
    write_spec(specs.path(), "slow.json", &spec.to_string());
    let gateway = Gateway::start(specs.path(), &[]);
    let client = reqwest::Client::new();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "slow", "arguments": {}, "_meta": {"progressToken": "p"}}});
    let response = client
        .post(format!("{}/mcp", gateway.base))
        .header("accept", "application/json, text/event-stream")
        .json(&call)
        .send()
        .await
        .unwrap();
    let mut stream = SseStream::new(response);
    let first = stream.next_message().await;
    assert_eq!(first["method"], "notifications/progress", "the call is in flight: {first}");

    gateway.terminate();
    let mut result = stream.next_message().await;
    while result.get("method").is_some() {
        result = stream.next_message().await;
    }
    assert_eq!(result["id"], 1);
    assert_eq!(result["result"]["isError"], false, "{result}");
    assert_eq!(result["result"]["content"][0]["text"], "finished");

    let (code, log) = tokio::task::spawn_blocking(move || gateway.wait_exit()).await.unwrap();
    assert_eq!(code, Some(0), "log:\n{log}");
    assert!(log.contains("shutdown signal received"), "{log}");
}

#[tokio::test]
async fn a_key_given_in_the_query_string_never_reaches_the_logs() {
    let secret = "qs-secret-7f3a9c1e5b";
    let wrong = "qs-wrong-2d8e6a4c0f";
    let mut gateway = Gateway::start(&common::core_specs(), &[("FLOWCHAT_MCP_KEY", secret), ("LOG_LEVEL", "trace")]);
    let client = reqwest::Client::new();
    for key in [secret, wrong] {
        let _ = client.get(format!("{}/mcp/tools/list?key={key}", gateway.base)).send().await.unwrap();
        let rpc =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ping", "arguments": {}}});
        let status = client.post(format!("{}/mcp?key={key}", gateway.base)).json(&rpc).send().await.unwrap().status();
        assert_eq!(status.as_u16(), if key == secret { 200 } else { 401 });
    }
    let ok = client.get(format!("{}/mcp/tools/list", gateway.base)).header("x-api-key", secret).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    gateway.wait_for_line("the last request is logged", |l| {
        l.contains("request finished") && l.contains("/mcp/tools/list")
    });
    gateway.terminate();
    let (_, log) = tokio::task::spawn_blocking(move || gateway.wait_exit()).await.unwrap();
    assert!(log.contains("tool call"), "the log was captured at trace level:\n{log}");
    assert!(!log.contains(secret), "the valid key leaked into the log");
    assert!(!log.contains(wrong), "the invalid key leaked into the log");
}

#[tokio::test]
async fn an_internal_error_names_its_cause_in_the_access_log_and_never_in_the_body() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let mut gateway = Gateway::start(&common::core_specs(), &[("GATEWAY_DATA_DIR", data_dir)]);
    // The audit log's table disappears under the running gateway: reading it is an internal fault.
    let audit = rusqlite::Connection::open(data.path().join("audit.db")).unwrap();
    audit.execute_batch("ALTER TABLE audit RENAME TO audit_elsewhere").unwrap();

    let response = reqwest::Client::new()
        .get(format!("{}/admin/audit", gateway.base))
        .header("x-request-id", "internal-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["detail"], "internal error while reading the audit log", "{body}");
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["request_id"], "internal-7");
    assert!(!text.contains("no such table"), "the cause leaked into the body: {text}");

    let line = gateway.wait_for_line("the failed request is logged", |l| {
        l.contains("request finished") && l.contains("/admin/audit")
    });
    let log: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(log["level"], "WARN", "{log}");
    assert_eq!(log["span"]["id"], "internal-7", "{log}");
    assert_eq!(log["fields"]["status"], 500, "{log}");
    assert_eq!(log["fields"]["route"], "/admin/audit", "{log}");
    assert_eq!(log["fields"]["error"], "internal", "{log}");
    let cause = log["fields"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("no such table: audit"), "the access log names the cause: {log}");
    gateway.terminate();
    let (code, _) = tokio::task::spawn_blocking(move || gateway.wait_exit()).await.unwrap();
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn a_refusal_names_its_code_in_the_access_log() {
    let mut gateway = Gateway::start(&common::core_specs(), &[("FLOWCHAT_MCP_KEY", "refusal-test-key")]);
    let response = reqwest::Client::new().get(format!("{}/mcp/tools/list", gateway.base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let line = gateway.wait_for_line("the refused request is logged", |l| {
        l.contains("request finished") && l.contains("/mcp/tools/list")
    });
    let log: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(log["level"], "INFO", "{log}");
    assert_eq!(log["fields"]["status"], 401, "{log}");
    assert_eq!(log["fields"]["error"], "unauthorized", "{log}");
    assert!(log["fields"].get("cause").is_none(), "a refusal has no inner cause: {log}");
    gateway.terminate();
    let (code, _) = tokio::task::spawn_blocking(move || gateway.wait_exit()).await.unwrap();
    assert_eq!(code, Some(0));
}
