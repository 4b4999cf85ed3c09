//! The request id, on tower-http's request-id layers: `SetRequestIdLayer` keeps the caller's `X-Request-ID` or
//! mints a UUID v7 ([`UuidV7`]) and puts it in the request extensions; `PropagateRequestIdLayer` puts it on the
//! response. tower-http takes any id the caller sent, so [`drop_unacceptable`] runs first and removes one that is
//! not visible ASCII of at most 128 bytes (a fresh id is then minted). The request span (`access_log.rs`)
//! carries it on every log line; handlers that need it take the [`RequestId`] extractor, and error bodies get it
//! from `errors::FinishLayer`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderName, HeaderValue};
use tower_http::request_id::MakeRequestId;

/// The header the id travels in, both ways (and to upstreams).
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the one place handlers and layers read it from.
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(of(&parts.extensions).into()))
    }
}

/// The id the request-id layer set, as text (`""` outside it).
#[must_use]
pub fn of(extensions: &axum::http::Extensions) -> &str {
    extensions.get::<tower_http::request_id::RequestId>().map_or("", text)
}

/// A request id as text (`""` if it is not visible ASCII, which the request-id layers do not let through).
#[must_use]
pub fn text(id: &tower_http::request_id::RequestId) -> &str {
    id.header_value().to_str().unwrap_or_default()
}

/// Mints UUID v7 ids (time-ordered, so ids sort by arrival).
#[derive(Debug, Clone, Copy)]
pub struct UuidV7;

impl MakeRequestId for UuidV7 {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).ok().map(Into::into)
    }
}

/// Remove an `X-Request-ID` the gateway does not accept, so [`UuidV7`] mints one instead.
pub fn drop_unacceptable(mut request: Request) -> Request {
    if request.headers().get(&HEADER).is_some_and(|id| !acceptable(id)) {
        request.headers_mut().remove(&HEADER);
    }
    request
}

fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::acceptable;
    use axum::http::HeaderValue;

    #[test]
    fn only_visible_ascii_up_to_128_is_accepted() {
        let ok = |s: &str| acceptable(&HeaderValue::from_str(s).unwrap());
        assert!(ok("req-123"));
        assert!(ok(&"x".repeat(128)));
        assert!(!ok(""));
        assert!(!ok("has space"));
        assert!(!ok(&"x".repeat(129)));
        assert!(!ok("tab\there"));
        assert!(!acceptable(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()), "not ASCII");
    }
}
