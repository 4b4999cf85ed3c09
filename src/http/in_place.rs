//! The response future of the gateway's own layers ([`InPlace`]): the route's future itself when the layer
//! decided without waiting, its answer when it refused, and a box only when it has to wait before the route
//! runs (an access token to verify, a shared rate limit to ask) or has to bound it (a deadline).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::BoxFuture;

/// See the module docs.
pub enum InPlace<F> {
    /// Answered before the route ran (taken once).
    Answered(Option<Response>),
    /// The route, called in place.
    Route(F),
    /// Waiting first, or the route under a deadline.
    Waiting(BoxFuture<'static, Result<Response, Infallible>>),
}

impl<F> Future for InPlace<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            // A future is not polled again once it is ready.
            Self::Answered(answer) => answer.take().map_or(Poll::Pending, |response| Poll::Ready(Ok(response))),
            Self::Route(route) => Pin::new(route).poll(cx),
            Self::Waiting(waiting) => waiting.as_mut().poll(cx),
        }
    }
}

/// The service `poll_ready` readied, taken along by a route that runs later, with a fresh copy left in its place
/// (tower's rule: the readied service is the one to call).
pub fn take_ready<S: Clone>(service: &mut S) -> S {
    let fresh = service.clone();
    std::mem::replace(service, fresh)
}
