//! The checks of one route family, in one layer: the origin policy (families a browser page could reach), the
//! [`Gate`] (authentication, the family's requirement, the per-caller rate limit) and, for REST families that
//! run no tools, the request deadline: past `request_timeout` the caller gets a 504 `timeout` error instead of
//! waiting on (tool calls have their own per-call deadline).
//!
//! One service for all of them, not an axum `from_fn` middleware per check: each of those copied the service
//! below it into a new box and boxed a future on every request. When the checks pass without waiting (always,
//! unless the rate limit's budgets are shared through Redis) the route is called in place.
//!
//! Not tower-http's `TimeoutLayer` for the deadline: it answers a bare status with an empty body, where callers
//! get the gateway's `timeout` error (message, `retryable`, request id) and the access log its code.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::auth::{Admission, Gate};
use super::errors::RestError;
use super::in_place::{InPlace, take_ready};
use super::origin::{self, OriginPolicy};
use crate::error::{ErrorCode, GatewayError};

/// What one route family checks, outermost first.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Host and Origin, refused in the gate's format.
    origin: Option<Arc<OriginPolicy>>,
    gate: Gate,
    /// The longest the route may take.
    deadline: Option<Duration>,
}

impl Guard {
    #[must_use]
    pub fn new(gate: Gate) -> Self {
        Self { origin: None, gate, deadline: None }
    }

    /// Check the origin policy first.
    #[must_use]
    pub fn origin(mut self, policy: Arc<OriginPolicy>) -> Self {
        self.origin = Some(policy);
        self
    }

    /// Answer `timeout` when the route takes longer than `limit`.
    #[must_use]
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.deadline = Some(limit);
        self
    }
}

impl<S> Layer<S> for Guard {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded { guard: Arc::new(self.clone()), inner }
    }
}

/// A route behind its family's [`Guard`].
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    guard: Arc<Guard>,
    inner: S,
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = InPlace<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let guard = &self.guard;
        if let Some(policy) = &guard.origin
            && let Err(why) = policy.check(request.headers())
        {
            return InPlace::Answered(Some(origin::refusal(guard.gate.format, &why)));
        }
        match guard.gate.admit(&request) {
            Admission::Refused(refusal) => InPlace::Answered(Some(refusal)),
            Admission::Pass => match guard.deadline {
                None => InPlace::Route(self.inner.call(request)),
                Some(limit) => InPlace::Waiting(Box::pin(within(limit, self.inner.call(request)))),
            },
            Admission::Ask(pending) => {
                // The route runs after the shared budgets answer.
                let mut inner = take_ready(&mut self.inner);
                let guard = guard.clone();
                InPlace::Waiting(Box::pin(async move {
                    if let Some(refusal) = guard.gate.ask(pending).await {
                        return Ok(refusal);
                    }
                    let route = inner.call(request);
                    match guard.deadline {
                        None => route.await,
                        Some(limit) => within(limit, route).await,
                    }
                }))
            }
        }
    }
}

/// The route's answer, or the `timeout` error past `limit`.
async fn within<F>(limit: Duration, route: F) -> Result<Response, Infallible>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    match tokio::time::timeout(limit, route).await {
        Ok(answer) => answer,
        Err(_) => {
            let message = format!("the request did not complete within {} s", limit.as_secs_f64());
            Ok(RestError(GatewayError::new(ErrorCode::Timeout, message)).into_response())
        }
    }
}
