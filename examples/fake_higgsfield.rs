//! A stand-in Higgsfield for the interop step of `scripts/test.sh`, following reference/providers.md: submit
//! `POST /{model}` → `{status: queued, request_id, status_url, cancel_url}`; `GET /requests/{id}/status` answers
//! `in_progress` for the first three polls, then `completed` with an image URL served by this process; cancel
//! answers 202 while queued. Credentials must be `Authorization: Key interop-id:interop-secret`.
//! `FAKE_HIGGSFIELD_IMAGE_BYTES=N` makes every image N bytes (a PNG signature, then a repeating pattern), for
//! uploads that take a while (tests/sftp/check.sh).
//! Usage: `cargo run --example fake_higgsfield -- 127.0.0.1:9400`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

const CREDENTIALS: &str = "Key interop-id:interop-secret";
/// Polls answered `in_progress` before `completed`.
const POLLS_BEFORE_DONE: u32 = 3;

#[derive(Clone)]
struct Fake {
    base: String,
    polls: Arc<Mutex<HashMap<String, u32>>>,
    image: bytes::Bytes,
}

/// The image served: the small default, or `FAKE_HIGGSFIELD_IMAGE_BYTES` bytes.
fn image() -> bytes::Bytes {
    const SMALL: &[u8] = b"\x89PNG\r\n\x1a\ninterop-image";
    let Some(size) = std::env::var("FAKE_HIGGSFIELD_IMAGE_BYTES").ok().and_then(|v| v.parse::<usize>().ok()) else {
        return bytes::Bytes::from_static(SMALL);
    };
    let mut data = Vec::with_capacity(size.max(8));
    data.extend_from_slice(&SMALL[..8]);
    data.extend((0..size.saturating_sub(8)).map(|i| (i % 251) as u8));
    bytes::Bytes::from(data)
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(CREDENTIALS)
}

fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(json!({"detail": "Invalid credentials"}))).into_response()
}

async fn submit(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return refused();
    }
    let id = uuid::Uuid::new_v4().to_string();
    fake.polls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id.clone(), 0);
    axum::Json(json!({
        "status": "queued",
        "request_id": id,
        "status_url": format!("{}/requests/{id}/status", fake.base),
        "cancel_url": format!("{}/requests/{id}/cancel", fake.base),
    }))
    .into_response()
}

async fn status(State(fake): State<Fake>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return refused();
    }
    let mut polls = fake.polls.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(count) = polls.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Request not found"}))).into_response();
    };
    *count += 1;
    if *count <= POLLS_BEFORE_DONE {
        return axum::Json(json!({"status": "in_progress", "request_id": id})).into_response();
    }
    axum::Json(
        json!({"status": "completed", "request_id": id, "images": [{"url": format!("{}/files/{id}.png", fake.base)}]}),
    )
    .into_response()
}

async fn cancel(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return refused();
    }
    (StatusCode::BAD_REQUEST, axum::Json(json!({"detail": "Request cannot be canceled"}))).into_response()
}

async fn file(State(fake): State<Fake>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], fake.image).into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9400".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let fake = Fake { base: format!("http://{}", listener.local_addr()?), polls: Arc::default(), image: image() };
    eprintln!("fake Higgsfield on {}", fake.base);
    let app = Router::new()
        .route("/requests/{id}/status", get(status))
        .route("/requests/{id}/cancel", post(cancel))
        .route("/files/{file}", get(file))
        .route("/{*model}", post(submit))
        .with_state(fake);
    axum::serve(listener, app).await
}
