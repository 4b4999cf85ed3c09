//! A deadline for requests that do not run tools (listings, schemas, admin): past `request_timeout` the caller
//! gets a 504 `timeout` error instead of waiting on. Tool calls have their own per-call deadline instead.
//!
//! Not tower-http's `TimeoutLayer`: it answers a bare status with an empty body, where callers get the gateway's
//! `timeout` error (message, `retryable`, request id) and the access log its code.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::RestError;
use crate::error::{ErrorCode, GatewayError};

pub async fn middleware(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    tokio::time::timeout(limit, next.run(request)).await.unwrap_or_else(|_| {
        let message = format!("the request did not complete within {} s", limit.as_secs_f64());
        RestError(GatewayError::new(ErrorCode::Timeout, message)).into_response()
    })
}
