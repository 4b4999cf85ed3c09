//! Access log and request metrics: one log line per request (method, route template, status, duration; for a
//! failure its error code and, when it has one, its cause from the [`Failure`] extension) and a counter by route
//! and status. The route is the matched template, never the raw path, and the query string is never logged (it
//! may carry a key).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::errors::Failure;
use crate::state::AppState;

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.record_http(&route, method.as_str(), status);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let failure = response.extensions().get::<Failure>().map(|f| &f.0);
    let error = failure.map(|e| e.code.as_str());
    let cause = failure.and_then(|e| e.cause.as_deref());
    if response.status().is_server_error() {
        tracing::warn!(%method, route, status, ms, error, cause, "request finished");
    } else {
        tracing::info!(%method, route, status, ms, error, cause, "request finished");
    }
    response
}
