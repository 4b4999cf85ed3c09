//! A deliberately unreliable upstream for soak tests (`bench/soak.sh`): `GET /item` answers 200 with JSON most of
//! the time, 503 (with `Retry-After: 0`) one time in ten, and stalls for two seconds one time in twenty.
//! Usage: `cargo run --release --example flaky_upstream -- 127.0.0.1:9300`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

static COUNTER: AtomicU64 = AtomicU64::new(0);

async fn item() -> Response {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    match n % 20 {
        0 | 10 => (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")], "busy").into_response(),
        5 => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            axum::Json(serde_json::json!({"n": n, "slow": true})).into_response()
        }
        _ => axum::Json(serde_json::json!({"n": n, "items": [1, 2, 3]})).into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9300".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("flaky upstream on {address}");
    axum::serve(listener, Router::new().route("/item", get(item))).await
}
