//! How the edge answers a [`GatewayError`]: one `IntoResponse` per caller format.
//!
//! - [`RestError`]: the code's HTTP status and `{detail, error{code, message, retryable, request_id, details?}}`
//!   (`detail` keeps the seeds' FastAPI shape). Handlers return `Result<_, RestError>`; `?` converts.
//! - [`Refusal`]: a gate's refusal (authentication, scope, rate limit) in its family's [`ErrorFormat`]: REST,
//!   or JSON-RPC (`id: null`, the gateway error in `data`), with `WWW-Authenticate` (401/403) and `Retry-After`
//!   (429) where the code calls for them.
//! - The action envelope writes its own errors (`action.rs`): they echo the caller's request id.
//!
//! Errors carry no request id: their bodies are written by [`FinishLayer`], a layer around the whole router, with
//! the request's id, which so comes from one place. Every error response the edge builds also carries a
//! [`Failure`] extension, the error with its cause, which the access log reads for its line; handlers do not
//! log failures themselves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tower::{Layer, Service};

use super::request_id;
use crate::error::{ErrorCode, GatewayError};
use crate::mcp::jsonrpc::{RpcError, error_response};

/// The failure behind an error response, for the access log: the error with its cause (which no body shows).
#[derive(Debug, Clone)]
pub struct Failure(pub Arc<GatewayError>);

/// A failure answered to a REST caller.
#[derive(Debug)]
pub struct RestError(pub GatewayError);

impl From<GatewayError> for RestError {
    fn from(err: GatewayError) -> Self {
        Self(err)
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        unwritten(self.0, ErrorFormat::Rest)
    }
}

/// How a route family answers refusals.
#[derive(Debug, Clone, Copy)]
pub enum ErrorFormat {
    JsonRpc,
    Rest,
}

/// A refusal before the handler ran (authentication, scope, rate limit), in its family's format, with the
/// headers its code calls for.
#[derive(Debug)]
pub struct Refusal(pub ErrorFormat, pub GatewayError);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Self(format, err) = self;
        let mut headers = HeaderMap::new();
        add_refusal_headers(&err, &mut headers);
        let mut response = unwritten(err, format);
        response.headers_mut().extend(headers);
        response
    }
}

impl ErrorFormat {
    fn body(self, err: &GatewayError, request_id: &str) -> Value {
        match self {
            Self::Rest => json!({"detail": err.message, "error": err.to_json(request_id)}),
            Self::JsonRpc => error_response(&Value::Null, &RpcError::from_gateway(err, request_id)),
        }
    }
}

/// An error body still to be written with the request id (by [`FinishLayer`]).
#[derive(Debug, Clone, Copy)]
struct Unwritten(ErrorFormat);

/// Status, content type and extensions now; the body when [`FinishLayer`] knows the request id.
fn unwritten(err: GatewayError, format: ErrorFormat) -> Response {
    let status = StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]).into_response();
    response.extensions_mut().insert(Unwritten(format));
    response.extensions_mut().insert(Failure(Arc::new(err)));
    response
}

/// Mark a response whose error body is already written (JSON-RPC body errors, the origin policy's JSON-RPC
/// refusal, the action envelope) with the failure behind it.
#[must_use]
pub fn written(mut response: Response, err: GatewayError) -> Response {
    response.extensions_mut().insert(Failure(Arc::new(err)));
    response
}

/// Writes the body of every error response with the request's id: a layer around the whole router.
#[derive(Debug, Clone, Copy)]
pub struct FinishLayer;

impl<S> Layer<S> for FinishLayer {
    type Service = Finish<S>;

    fn layer(&self, inner: S) -> Finish<S> {
        Finish(inner)
    }
}

/// The service of [`FinishLayer`].
#[derive(Debug, Clone)]
pub struct Finish<S>(S);

impl<S> Service<Request> for Finish<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Finishing<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let request_id = request.extensions().get::<tower_http::request_id::RequestId>().cloned();
        Finishing { inner: self.0.call(request), request_id }
    }
}

/// The response future of [`Finish`].
#[derive(Debug)]
pub struct Finishing<F> {
    inner: F,
    request_id: Option<tower_http::request_id::RequestId>,
}

impl<F, E> Future for Finishing<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = std::task::ready!(Pin::new(&mut self.inner).poll(cx))?;
        if let Some(Unwritten(format)) = response.extensions_mut().remove::<Unwritten>()
            && let Some(Failure(err)) = response.extensions().get::<Failure>()
        {
            let request_id = self.request_id.as_ref().map_or("", request_id::text);
            let body = format.body(err, request_id);
            *response.body_mut() = axum::Json(body).into_response().into_body();
            // The router, inside this layer, declared the empty body's length; hyper declares the written one.
            response.headers_mut().remove(header::CONTENT_LENGTH);
        }
        Poll::Ready(Ok(response))
    }
}

/// `WWW-Authenticate` on 401/403, `Retry-After` on 429.
pub fn add_refusal_headers(err: &GatewayError, headers: &mut HeaderMap) {
    let value = match err.code {
        ErrorCode::Unauthorized if err.details.get("reason").is_some() => {
            Some(r#"Bearer realm="mcp-gateway", error="invalid_token""#.to_owned())
        }
        ErrorCode::Unauthorized => Some(r#"Bearer realm="mcp-gateway""#.to_owned()),
        ErrorCode::Forbidden => {
            let scope = err.details.get("required_scope").and_then(Value::as_str).unwrap_or("");
            Some(format!(r#"Bearer realm="mcp-gateway", error="insufficient_scope", scope="{scope}""#))
        }
        _ => None,
    };
    if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if let Some(secs) = err.details.get("retry_after_secs").and_then(Value::as_u64) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}
