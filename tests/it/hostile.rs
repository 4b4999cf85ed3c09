//! A corpus of hostile requests (random bytes, huge numbers, deep nesting, long strings, header abuse) against
//! every endpoint family. The gateway must answer each with a documented status (never a 5xx, never a hang) and
//! keep serving afterwards.

use crate::common;

use common::TestApp;
use reqwest::Method;
use serde_json::json;

/// A small deterministic generator, so a failure names a reproducible case.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() & 0xff) as u8).collect()
    }
}

fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<(String, Vec<u8>)> = (0..24)
        .map(|i| {
            let len = 1 + (rng.next() % 2048) as usize;
            (format!("random bytes #{i}"), rng.bytes(len))
        })
        .collect();
    let rpc = |params: serde_json::Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).to_string()
    };
    out.extend([
        ("huge exponent".into(), br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{"n":1e999}}}"#.to_vec()),
        ("huge integer".into(), format!(r#"{{"jsonrpc":"2.0","id":{},"method":"ping"}}"#, "9".repeat(400)).into_bytes()),
        ("negative huge id".into(), br#"{"jsonrpc":"2.0","id":-1e400,"method":"ping"}"#.to_vec()),
        ("float id".into(), br#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#.to_vec()),
        ("deep arrays".into(), format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes()),
        ("deep objects".into(), format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000)).into_bytes()),
        ("deep arguments within serde's limit".into(), rpc(json!({"name": "list_tools", "arguments": nest(100)})).into_bytes()),
        ("long string".into(), rpc(json!({"name": "ping", "arguments": {"x": "a".repeat(1 << 20)}})).into_bytes()),
        ("many keys".into(), rpc(json!({"name": "list_tools", "arguments": (0..20_000).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>()})).into_bytes()),
        ("nul bytes".into(), b"{\"jsonrpc\":\"2.0\",\0\"id\":1}".to_vec()),
        ("invalid utf-8 in string".into(), b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec()),
        ("lone surrogate escape".into(), br#"{"jsonrpc":"2.0","id":1,"method":"\ud800"}"#.to_vec()),
        ("tool name with path tricks".into(), rpc(json!({"name": "../../etc/passwd", "arguments": {}})).into_bytes()),
        ("arguments as array".into(), rpc(json!({"name": "ping", "arguments": [1, 2]})).into_bytes()),
        ("empty".into(), Vec::new()),
        ("whitespace".into(), b"   \n\t  ".to_vec()),
        ("json null".into(), b"null".to_vec()),
        ("batch of garbage".into(), b"[1, \"x\", null, {}, []]".to_vec()),
        ("action with odd payload".into(), br#"{"action":"ping","payload":[1]}"#.to_vec()),
        ("action that is a number".into(), br#"{"action":7}"#.to_vec()),
    ]);
    out
}

fn nest(depth: usize) -> serde_json::Value {
    (0..depth).fold(json!(1), |inner, _| json!({"n": inner}))
}

fn routes() -> Vec<(Method, &'static str)> {
    vec![
        (Method::POST, "/mcp"),
        (Method::POST, "/messages?sessionId=nope"),
        (Method::POST, "/mcp/tools/call"),
        (Method::POST, "/execute"),
        (Method::GET, "/mcp/tools/list"),
    ]
}

/// Statuses the gateway documents for refusals; anything else (a 5xx above all) is a defect.
fn documented(status: u16) -> bool {
    matches!(status, 200 | 202 | 204 | 400 | 401 | 403 | 404 | 405 | 406 | 413 | 415 | 422 | 429 | 431)
}

#[tokio::test]
async fn hostile_bodies_get_documented_answers_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(&common::core_specs(), |config| config.limits.max_body_bytes = 512 * 1024).await;
    let mut failures = Vec::new();
    for (name, body) in bodies() {
        for (method, route) in routes() {
            let response = app
                .client
                .request(method.clone(), app.url(route))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.clone())
                .send()
                .await;
            match response {
                Ok(r) if documented(r.status().as_u16()) => {}
                Ok(r) => failures.push(format!("{name} -> {method} {route}: {}", r.status())),
                Err(e) => failures.push(format!("{name} -> {method} {route}: no answer ({e})")),
            }
        }
    }
    assert!(failures.is_empty(), "undocumented answers:\n{}", failures.join("\n"));
    app.assert_healthy().await;
}

#[tokio::test]
async fn header_abuse_gets_documented_answers_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("huge header value", vec![("x-filler".into(), "a".repeat(128 * 1024))]),
        ("many headers", (0..500).map(|i| (format!("x-h{i}"), "v".into())).collect()),
        ("bogus protocol version", vec![("mcp-protocol-version".into(), "1900-01-01".into())]),
        ("protocol version with junk", vec![("mcp-protocol-version".into(), "2025-06-18; drop table".into())]),
        ("long session id", vec![("mcp-session-id".into(), "s".repeat(8 * 1024))]),
        ("session id with spaces", vec![("mcp-session-id".into(), "a b c".into())]),
        ("garbage authorization", vec![("authorization".into(), "Bearer \u{7f}".replace('\u{7f}', "x").repeat(1000))]),
        ("odd content type", vec![("content-type".into(), "application/json; charset=klingon; boundary=\"".into())]),
        ("accept nothing we serve", vec![("accept".into(), "image/png".into())]),
        ("forged request id", vec![("x-request-id".into(), "\u{1}".replace('\u{1}', "x").repeat(4096))]),
        ("forwarded for garbage", vec![("x-forwarded-for".into(), "not-an-ip, 999.1.1.1, ::::".into())]),
        ("duplicate content length", vec![("content-length".into(), "5".into())]),
    ];
    let mut failures = Vec::new();
    for (name, headers) in cases {
        for route in ["/mcp", "/mcp/tools/call", "/health"] {
            let mut request = app.client.post(app.url(route)).json(&ping);
            for (header, value) in &headers {
                request = request.header(header.as_str(), value.as_str());
            }
            match request.send().await {
                Ok(r) if documented(r.status().as_u16()) => {}
                Ok(r) => failures.push(format!("{name} -> {route}: {}", r.status())),
                // The server may close the connection on a malformed request line; it must keep serving.
                Err(e) if e.is_request() || e.is_body() || e.is_connect() => {}
                Err(e) => failures.push(format!("{name} -> {route}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "undocumented answers:\n{}", failures.join("\n"));
    app.assert_healthy().await;
}
