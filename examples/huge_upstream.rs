//! An upstream that answers a PostgREST RPC with a gigabyte of JSON, for `bench/huge_answer.sh`:
//! `POST /rest/v1/rpc/{function}` streams a 1 GiB array in 64 KiB chunks without a declared length (a
//! `Content-Length` when the function is `declared`), and `GET /sent` reports how many bytes left so far.
//! Usage: `cargo run --release --example huge_upstream -- 127.0.0.1:9301`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::StreamExt as _;

const TOTAL: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;

async fn rpc(State(sent): State<Arc<AtomicU64>>, Path(function): Path<String>) -> Response {
    let chunk = Bytes::from(vec![b' '; CHUNK]);
    let chunks = TOTAL / CHUNK as u64;
    let body = futures_util::stream::iter(0..chunks).map(move |i| {
        sent.fetch_add(CHUNK as u64, Ordering::Relaxed);
        // Valid JSON as a whole: "[" ... spaces ... "]".
        let piece = match i {
            0 => {
                let mut first = chunk.to_vec();
                first[0] = b'[';
                Bytes::from(first)
            }
            n if n == chunks - 1 => {
                let mut last = chunk.to_vec();
                last[CHUNK - 1] = b']';
                Bytes::from(last)
            }
            _ => chunk.clone(),
        };
        Ok::<_, std::io::Error>(piece)
    });
    let mut response = ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response();
    if function == "declared" {
        response.headers_mut().insert(header::CONTENT_LENGTH, TOTAL.into());
    }
    response
}

async fn sent(State(sent): State<Arc<AtomicU64>>) -> String {
    sent.load(Ordering::Relaxed).to_string()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9301".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("huge upstream on {address}");
    let app = Router::new()
        .route("/rest/v1/rpc/{function}", post(rpc))
        .route("/sent", get(sent))
        .with_state(Arc::new(AtomicU64::new(0)));
    axum::serve(listener, app).await
}
