//! A deadline for requests that do not run tools (listings, schemas, admin): past `request_timeout` the caller
//! gets a 504 `timeout` error instead of waiting on. Tool calls have their own per-call deadline instead.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::body::rest_error;
use super::request_id::RequestId;
use crate::error::{ErrorCode, GatewayError};

pub async fn middleware(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let err = GatewayError::new(
                ErrorCode::Timeout,
                format!("the request did not complete within {} s", limit.as_secs_f64()),
            );
            rest_error(&err, &request_id)
        }
    }
}
