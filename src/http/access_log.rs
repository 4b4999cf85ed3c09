//! Access log and request metrics, on tower-http's `TraceLayer` ([`layer`]): the `request` span carries the
//! request id (so every line logged inside a request names it); when the response head is ready, one log line
//! (method, route template, status, duration; for a failure its error code and, when it has one, its cause from
//! the [`Failure`] extension) and a counter by route, method and status. The route is the matched template,
//! never the raw path, and the query string is never logged (it may carry a key).
//!
//! `TraceLayer` hands `on_response` the response only, so [`LabelLayer`], a layer inside the router, copies the
//! request's method and matched route onto the response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};
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

/// Copies the request's method and matched route onto its response: a layer inside the router (which sets the
/// matched route) and inside [`layer`]. It calls the route it wraps in place, without the per-request copy of
/// the service that axum's `map_response` makes.
#[derive(Debug, Clone, Copy)]
pub struct LabelLayer;

impl<S> Layer<S> for LabelLayer {
    type Service = Label<S>;

    fn layer(&self, inner: S) -> Label<S> {
        Label(inner)
    }
}

/// The service of [`LabelLayer`].
#[derive(Debug, Clone)]
pub struct Label<S>(S);

impl<S> Service<Request> for Label<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Labelled<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route =
            Route { method: request.method().clone(), template: request.extensions().get::<MatchedPath>().cloned() };
        Labelled { inner: self.0.call(request), route: Some(route) }
    }
}

/// The response future of [`Label`].
#[derive(Debug)]
pub struct Labelled<F> {
    inner: F,
    route: Option<Route>,
}

impl<F, E> Future for Labelled<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut response = std::task::ready!(Pin::new(&mut this.inner).poll(cx))?;
        if let Some(route) = this.route.take() {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(Ok(response))
    }
}
