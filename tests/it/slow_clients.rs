//! Clients that hold connections without finishing a request: the server loop the binary uses
//! (`http::server::serve`) closes a connection whose request head stalls past `header_read_timeout`, and a
//! keep-alive connection with nothing in flight past `idle_timeout`, while a request that takes longer than
//! both (and the clients behaving normally beside the slow ones) goes on. Waits are bounded by a generous
//! guard so a regression fails instead of hanging; nothing here asserts how fast anything is.
//! The tests run on paused tokio time (`start_paused`): the server's watchdog, the tool's progress and the
//! guard all read the test's clock, which jumps to the next timer whenever every task waits, so the seconds-long
//! timeouts take no real time; loopback I/O between the client and the server still happens for real.

use crate::common;

use std::time::Duration;

use common::{TestApp, copy_of_core_specs, write_spec};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than either timeout under test: reaching it means the connection was never closed.
const HANG_GUARD: Duration = Duration::from_secs(20);

async fn app() -> (TestApp, tempfile::TempDir) {
    let specs = copy_of_core_specs();
    // A call that runs longer than both connection timeouts.
    let slow = json!({"name": "slow_progress", "description": "Takes a few seconds", "binding": {
        "kind": "builtin", "name": "progress", "options": {"steps": 2, "total": 1, "interval_ms": 2500}}});
    write_spec(specs.path(), "slow_progress.json", &slow.to_string());
    let app = TestApp::spawn_with(specs.path(), |config| {
        config.limits.header_read_timeout = Duration::from_secs(1);
        config.limits.idle_timeout = Duration::from_secs(1);
        // Event streams send their keep-alive comment only after the idle timeout has passed.
        config.limits.sse_keepalive = Duration::from_secs(3);
    })
    .await;
    (app, specs)
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect to the gateway")
}

/// Read until the server closes the connection; everything it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was never closed; it sent: {}", String::from_utf8_lossy(&received));
    String::from_utf8_lossy(&received).into_owned()
}

/// `/health` answers 200 on a connection of its own (a pooled one may have been closed as idle meanwhile: with
/// a one-second idle timeout, reusing it would race the server's close, as it does with any keep-alive server).
async fn assert_served_on_a_new_connection(app: &TestApp) {
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap();
    let response = client.get(app.url("/health")).timeout(HANG_GUARD).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_request_head_that_never_completes_is_closed_while_other_clients_are_served() {
    let (app, _specs) = app().await;
    let mut stalled = connect(&app).await;
    stalled.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app").await.unwrap();
    // Beside it, a normal client is served.
    assert_served_on_a_new_connection(&app).await;
    let sent = read_until_closed(&mut stalled).await;
    assert!(!sent.contains("200 OK"), "nothing was answered on the stalled connection: {sent}");
    assert_served_on_a_new_connection(&app).await;
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_sends_anything_is_closed() {
    let (app, _specs) = app().await;
    let mut silent = connect(&app).await;
    assert_eq!(read_until_closed(&mut silent).await, "");
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_after_its_last_answer() {
    let (app, _specs) = app().await;
    let mut stream = connect(&app).await;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let sent = read_until_closed(&mut stream).await;
    assert!(sent.starts_with("HTTP/1.1 200 OK"), "the request was answered first: {sent}");
    assert!(sent.contains("\"status\":\"ok\""), "{sent}");
}

#[tokio::test(start_paused = true)]
async fn a_call_longer_than_both_timeouts_keeps_its_connection_and_gets_its_answer() {
    let (app, _specs) = app().await;
    let mut stream = connect(&app).await;
    let body = json!({"tool_name": "slow_progress", "params": {}}).to_string();
    let request = format!(
        "POST /mcp/tools/call HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let sent = read_until_closed(&mut stream).await;
    assert!(sent.starts_with("HTTP/1.1 200 OK"), "{sent}");
    assert!(sent.contains("\"success\":true"), "{sent}");
}

#[tokio::test(start_paused = true)]
async fn an_open_event_stream_outlives_the_idle_timeout() {
    let (app, _specs) = app().await;
    let session = app.initialize("2025-06-18").await;
    let response = app
        .get("/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    // The keep-alive comment comes 3 s in, two seconds after the idle timeout: the stream must still be open.
    let comment = tokio::time::timeout(HANG_GUARD, async {
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { return false };
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.lines().any(|line| line.starts_with(':')) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(comment, Ok(true), "the stream closed before its keep-alive comment; it sent: {seen}");
}
