//! Access log and request metrics, on tower-http's `TraceLayer` ([`layer`]): the `request` span carries the
//! request id (so every line logged inside a request names it); when the response head is ready, one log line
//! (method, route template, status, duration; for a failure its error code and, when it has one, its cause from
//! the [`Failure`] extension) and a counter by route, method and status. The route is the matched template,
//! never the raw path, and the query string is never logged (it may carry a key).
//!
//! `TraceLayer` hands `on_response` the response only, so [`label`], a layer inside it, copies the request's
//! method and matched route onto the response.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::Method;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use super::errors::Failure;
use super::request_id;
use crate::metrics::Metrics;

/// The tracing layer of every request.
pub type AccessLog = TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), Finished, (), (), ()>;

/// The access log and request metrics, recorded into `metrics`; no line of its own at the start of a request,
/// per body chunk, at the end of a stream or for a 5xx (the response line says it at `warn`).
#[must_use]
pub fn layer(metrics: Arc<Metrics>) -> AccessLog {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(Finished(metrics))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// The `request` span, with the request id the request-id layer set.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> Span {
        tracing::info_span!("request", id = %request_id::of(request.extensions()))
    }
}

/// The log line and the counter, when the response head is ready.
#[derive(Debug, Clone)]
pub struct Finished(Arc<Metrics>);

impl<B> OnResponse<B> for Finished {
    fn on_response(self, response: &axum::http::Response<B>, latency: Duration, _: &Span) {
        let (method, route) = response.extensions().get::<Route>().map_or(("", "(unmatched)"), |r| {
            (r.method.as_str(), r.template.as_ref().map_or("(unmatched)", |t| t.as_str()))
        });
        let status = response.status().as_u16();
        self.0.record_http(route, method, status);
        let ms = latency.as_secs_f64() * 1000.0;
        let failure = response.extensions().get::<Failure>().map(|f| &f.0);
        let error = failure.map(|e| e.code.as_str());
        let cause = failure.and_then(|e| e.cause.as_deref());
        if response.status().is_server_error() {
            tracing::warn!(%method, route, status, ms, error, cause, "request finished");
        } else {
            tracing::info!(%method, route, status, ms, error, cause, "request finished");
        }
    }
}

/// The request's method and matched route, for [`Finished`].
#[derive(Debug, Clone)]
struct Route {
    method: Method,
    template: Option<MatchedPath>,
}

/// Copy the request's method and matched route onto its response (a layer inside [`layer`]).
pub async fn label(method: Method, template: Option<MatchedPath>, mut response: Response) -> Response {
    response.extensions_mut().insert(Route { method, template });
    response
}
