//! The floor for `bench/upstream.sh`: a bare axum server that relays the FlowChat REST call of the READ tool to
//! PostgREST with one pooled reqwest client, as any Rust gateway built on these crates must. `POST
//! /mcp/tools/call` `{"tool_name","params"}` becomes `POST {SUPABASE_URL}/rest/v1/rpc/{tool_name}` with each
//! parameter named `p_{name}`, the headers the gateway sends (`apikey`, `Authorization: Bearer`, its
//! `User-Agent`, the caller's `X-Request-ID` or a new UUID v7), and the rows come back as `{"success": true,
//! "tool_name", "result"}`. No auth, spec, template, validation, retry, cap, metrics or audit: what the relay
//! itself costs (HTTP in, JSON in, an upstream request, JSON out).
//!
//! Usage: `SUPABASE_URL=http://127.0.0.1:9400 SUPABASE_API_KEY=dev cargo run --release --example bare_passthrough
//! -- 127.0.0.1:9300`

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::serve::ListenerExt;
use serde_json::{Map, Value, json};

struct Relay {
    client: reqwest::Client,
    base: String,
    key: String,
}

async fn call(State(relay): State<Arc<Relay>>, headers: HeaderMap, body: Bytes) -> (StatusCode, Json<Value>) {
    let failure = |status, message: String| (status, Json(json!({"success": false, "error": message})));
    let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(&body) else {
        return failure(StatusCode::BAD_REQUEST, "the body must be a JSON object".into());
    };
    let Some(Value::String(tool)) = request.remove("tool_name") else {
        return failure(StatusCode::BAD_REQUEST, "tool_name is missing".into());
    };
    let params = match request.remove("params") {
        Some(Value::Object(params)) => params,
        _ => Map::new(),
    };
    let args: Map<String, Value> = params.into_iter().map(|(name, value)| (format!("p_{name}"), value)).collect();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let sent = relay
        .client
        .post(format!("{}/rest/v1/rpc/{tool}", relay.base))
        .header("apikey", &relay.key)
        .bearer_auth(&relay.key)
        .header("x-request-id", request_id)
        .json(&args)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) if answer.status().is_success() => answer.json::<Value>().await,
        Ok(answer) => return failure(StatusCode::BAD_GATEWAY, format!("upstream answered {}", answer.status())),
        Err(e) => return failure(StatusCode::BAD_GATEWAY, format!("upstream unreachable: {e}")),
    };
    match answer {
        Ok(rows) => (StatusCode::OK, Json(json!({"success": true, "tool_name": tool, "result": rows}))),
        Err(e) => failure(StatusCode::BAD_GATEWAY, format!("upstream answer is not JSON: {e}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9300".to_owned());
    let base = std::env::var("SUPABASE_URL").map_err(|_| "set SUPABASE_URL")?;
    let key = std::env::var("SUPABASE_API_KEY").map_err(|_| "set SUPABASE_API_KEY")?;
    // The gateway's client settings that matter per request: its User-Agent, no redirects followed.
    let client = reqwest::Client::builder()
        .user_agent(concat!("mcp-gateway/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let relay = Arc::new(Relay { client, base: base.trim_end_matches('/').to_owned(), key });
    // TCP_NODELAY, as the gateway's accept loop sets it.
    let listener = tokio::net::TcpListener::bind(&address).await?.tap_io(|tcp| drop(tcp.set_nodelay(true)));
    let app = axum::Router::new().route("/mcp/tools/call", post(call)).with_state(relay);
    axum::serve(listener, app).await?;
    Ok(())
}
