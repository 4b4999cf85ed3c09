//! The floor for `bench/run.sh`: a bare axum server on `POST /mcp` that parses the JSON-RPC body with serde_json
//! and answers a `tools/call` with the result shape the gateway's `ping` answers (`content` holding the value as
//! JSON text, `isError`, `structuredContent` with `pong`, `server`, `version` and an RFC 3339 `time`). No auth, no
//! validation, no audit, no middleware: what any Rust MCP server pays for HTTP, JSON in and JSON out.
//!
//! Usage: `cargo run --release --example bare_axum -- 127.0.0.1:9200`

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

async fn mcp(body: Bytes) -> Result<Json<Value>, StatusCode> {
    let request: Value = serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let time = time::OffsetDateTime::now_utc().format(&Rfc3339).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let value = json!({"pong": true, "server": "bare-axum", "version": env!("CARGO_PKG_VERSION"), "time": time});
    let content = json!([{"type": "text", "text": value.to_string()}]);
    let result = json!({"content": content, "isError": false, "structuredContent": value});
    Ok(Json(json!({"jsonrpc": "2.0", "id": request["id"], "result": result})))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9200".to_owned());
    // TCP_NODELAY, as the gateway's accept loop sets it.
    let listener = tokio::net::TcpListener::bind(&address).await?.tap_io(|tcp| drop(tcp.set_nodelay(true)));
    axum::serve(listener, axum::Router::new().route("/mcp", post(mcp))).await
}
