//! Authentication and admission for every route family.
//!
//! The [`Authenticator`] layer runs on every request: it finds the presented key (`Authorization: Bearer`, `X-Proxy-Key`,
//! `X-API-Key`, or `?key=` for connector URLs that cannot set headers), recognises it in constant time, and
//! records the outcome as an extension. When OAuth issuers are configured, a bearer token shaped like a JWT is
//! verified as an access token instead ([`crate::oauth`]; only in the `Authorization` header). With neither
//! keys nor issuers every request runs as [`Caller::Anonymous`] (start-up only allows that on loopback or with
//! `allow_anonymous`).
//!
//! A [`Gate`] guards one route family (applied by `guard.rs`): it enforces authentication and the family's requirement (answering 401 with
//! `WWW-Authenticate`, or 403, in the family's format) and applies the per-caller rate limit (429 with
//! `Retry-After`). `POST /mcp` defers the authentication answer to its handler, which alone knows whether the
//! body is JSON-RPC or an action envelope; the rate limit still applies there.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::{Layer, Service};

use super::errors::{ErrorFormat, Refusal};
use super::in_place::{InPlace, take_ready};
use crate::auth::{Caller, KeyRing, Scope};
use crate::error::{ErrorCode, GatewayError};
use crate::limits::{KeyedLimit, Refused};
use crate::metrics::{Metrics, NO_CATEGORY, RateLimit};
use crate::oauth::TokenVerifier;

/// The outcome of authentication, attached to every request.
#[derive(Debug, Clone)]
pub enum Auth {
    Ok(Caller),
    Missing,
    Invalid,
    /// An access token that did not verify, with why (or a 503 when its issuer's keys could not be had).
    Refused(GatewayError),
}

/// What [`authenticate`] recognises callers by.
#[derive(Debug, Clone)]
pub struct Authenticator {
    pub keys: Arc<KeyRing>,
    pub tokens: Option<Arc<TokenVerifier>>,
}

/// What a route family requires of its caller.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// Any recognised key.
    Authenticated,
    /// A scope (or `admin`).
    Scope(Scope),
    /// Some scope that allows calling tools (per-tool checks happen in the pipeline).
    AnyCallScope,
    /// Nothing: anyone may come (the OAuth authorization server's endpoints, where people sign in); only the
    /// rate limit applies, per key when one is presented, else per client address.
    Open,
}

/// The guard of one route family.
#[derive(Debug, Clone)]
pub struct Gate {
    pub requirement: Requirement,
    pub format: ErrorFormat,
    pub rate_limit: Option<Arc<KeyedLimit>>,
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Where refusals by the rate limit are counted.
    pub metrics: Arc<Metrics>,
}

/// The presented key, if any, from the accepted places.
fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<std::borrow::Cow<'a, str>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    if let Some(bearer) =
        header("authorization").and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    {
        return Some(bearer.trim().into());
    }
    if let Some(key) = header("x-proxy-key").or_else(|| header("x-api-key")) {
        return Some(key.into());
    }
    // `application/x-www-form-urlencoded` decoding: `%XX` and `+`; malformed escapes are kept as written.
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, value)| name == "key" && !value.is_empty())
        .map(|(_, key)| key)
}

/// The access token of the `Authorization` header, when it is shaped like one and tokens are accepted.
fn presented_token<'a>(headers: &'a HeaderMap, tokens: Option<&TokenVerifier>) -> Option<&'a str> {
    tokens?;
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    TokenVerifier::looks_like_token(token).then_some(token)
}

impl Authenticator {
    /// Who presents this access token.
    async fn verify(&self, token: &str, request_id: &str) -> Auth {
        let Some(tokens) = self.tokens.as_deref() else { return Auth::Invalid };
        match tokens.verify(token, request_id).await {
            Ok(key) => Auth::Ok(Caller::Key(Arc::new(key))),
            Err(err) => {
                tracing::info!(reason = %err.message, "access token refused");
                Auth::Refused(err)
            }
        }
    }

    /// Who presents this request's key (or anyone, when the gateway has neither keys nor issuers).
    fn recognise(&self, request: &Request) -> Auth {
        if self.keys.is_empty() && self.tokens.is_none() {
            return Auth::Ok(Caller::Anonymous);
        }
        match presented_key(request.headers(), request.uri().query()) {
            None => Auth::Missing,
            Some(key) => self.keys.authenticate(&key).map_or(Auth::Invalid, |k| Auth::Ok(Caller::Key(k))),
        }
    }
}

/// Resolves who is calling and attaches it to every request as an [`Auth`] extension: in place for keys,
/// after verification for access tokens.
impl<S> Layer<S> for Authenticator {
    type Service = Authenticating<S>;

    fn layer(&self, inner: S) -> Authenticating<S> {
        Authenticating { who: self.clone(), inner }
    }
}

/// The service of the [`Authenticator`] layer.
#[derive(Debug, Clone)]
pub struct Authenticating<S> {
    who: Authenticator,
    inner: S,
}

impl<S> Service<Request> for Authenticating<S>
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

    fn call(&mut self, mut request: Request) -> Self::Future {
        let Some(token) = presented_token(request.headers(), self.who.tokens.as_deref()).map(str::to_owned) else {
            let auth = self.who.recognise(&request);
            request.extensions_mut().insert(auth);
            return InPlace::Route(self.inner.call(request));
        };
        // The route runs after the verification.
        let mut inner = take_ready(&mut self.inner);
        let who = self.who.clone();
        InPlace::Waiting(Box::pin(async move {
            let auth = who.verify(&token, super::request_id::of(request.extensions())).await;
            request.extensions_mut().insert(auth);
            inner.call(request).await
        }))
    }
}

/// The authenticated caller of a gated route (the gate has already refused everyone else).
#[derive(Debug, Clone)]
pub struct Authed(pub Caller);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Authed {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Refusal> {
        check(parts.extensions.get::<Auth>(), &Requirement::Authenticated)
            .map(Authed)
            .map_err(|err| Refusal(ErrorFormat::Rest, err))
    }
}

/// Check the request's authentication against a requirement.
pub fn check(auth: Option<&Auth>, requirement: &Requirement) -> Result<Caller, GatewayError> {
    let caller = match auth {
        Some(Auth::Ok(caller)) => caller.clone(),
        Some(Auth::Refused(err)) => return Err(err.clone()),
        Some(Auth::Invalid) => {
            return Err(GatewayError::new(ErrorCode::Unauthorized, "the API key is not valid")
                .with_details(json!({"reason": "invalid_token"})));
        }
        Some(Auth::Missing) | None => {
            return Err(GatewayError::new(
                ErrorCode::Unauthorized,
                "an API key is required: send Authorization: Bearer <key>, X-API-Key, X-Proxy-Key, or ?key=",
            ));
        }
    };
    let allowed = match requirement {
        Requirement::Authenticated => true,
        Requirement::Scope(scope) => caller.has(scope),
        Requirement::AnyCallScope => caller.may_call_some_tool(),
        Requirement::Open => true,
    };
    if allowed {
        Ok(caller)
    } else {
        let scope = match requirement {
            Requirement::Scope(scope) => scope.to_string(),
            _ => "tools:call".into(),
        };
        Err(GatewayError::new(ErrorCode::Forbidden, format!("this key lacks the `{scope}` scope"))
            .with_details(json!({"required_scope": scope})))
    }
}

/// The client's address: the peer, or the nearest untrusted hop of `X-Forwarded-For` when the peer is a
/// trusted proxy.
#[must_use]
pub fn client_ip(request: &Request, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return Some(peer);
    }
    // Several X-Forwarded-For lines form one list, in order; a client may have sent the first ones.
    let hops: Vec<IpAddr> = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    Some(hops.into_iter().rev().find(|ip| !trusted.iter().any(|net| net.contains(ip))).unwrap_or(peer))
}

/// What a [`Gate`] decides before its route runs.
#[derive(Debug)]
pub enum Admission {
    /// The route runs.
    Pass,
    /// The route does not run; this is the answer.
    Refused(Response),
    /// The rate limit's budgets are shared: [`Gate::ask`] finishes the decision after asking them.
    Ask(Pending),
}

/// A rate-limit check still to be made by [`Gate::ask`].
#[derive(Debug)]
pub struct Pending {
    limit: Arc<KeyedLimit>,
    bucket: String,
    caller: Option<Caller>,
}

impl Gate {
    /// Authentication, the family's requirement, and the per-caller rate limit, without waiting unless the
    /// rate limit's budgets are shared.
    #[must_use]
    pub fn admit(&self, request: &Request) -> Admission {
        let auth = request.extensions().get::<Auth>();
        let defer = request.method() == Method::POST && request.uri().path() == "/mcp";
        let caller = match check(auth, &self.requirement) {
            Ok(caller) => Some(caller),
            Err(_) if defer || matches!(self.requirement, Requirement::Open) => None,
            Err(err) => return Admission::Refused(Refusal(self.format, err).into_response()),
        };
        let Some(limit) = &self.rate_limit else { return Admission::Pass };
        let bucket = match &caller {
            Some(Caller::Key(key)) => format!("key:{}", key.id),
            _ => format!(
                "ip:{}",
                client_ip(request, &self.trusted_proxies).map_or_else(|| "unknown".into(), |ip| ip.to_string())
            ),
        };
        match limit.check_now(&bucket) {
            Some(outcome) => match self.verdict(outcome, limit, &bucket, caller.as_ref()) {
                None => Admission::Pass,
                Some(refusal) => Admission::Refused(refusal),
            },
            None => Admission::Ask(Pending { limit: limit.clone(), bucket, caller }),
        }
    }

    /// Finish an [`Admission::Ask`] with the shared budgets' answer: the refusal, if the request is refused.
    pub async fn ask(&self, pending: Pending) -> Option<Response> {
        let outcome = pending.limit.check(&pending.bucket).await;
        self.verdict(outcome, &pending.limit, &pending.bucket, pending.caller.as_ref())
    }

    fn verdict(
        &self,
        outcome: Result<(), Refused>,
        limit: &KeyedLimit,
        bucket: &str,
        caller: Option<&Caller>,
    ) -> Option<Response> {
        let wait = match outcome {
            Ok(()) => return None,
            Err(Refused::Wait(wait)) => wait,
            Err(Refused::Unavailable(err)) => return Some(Refusal(self.format, err).into_response()),
        };
        let rate = limit.rate();
        let secs = wait.as_secs() + 1;
        let err = GatewayError::new(
            ErrorCode::RateLimited,
            format!("rate limit of {} per {} s exceeded; retry in {secs} s", rate.count, rate.period.as_secs()),
        )
        .with_details(json!({"retry_after_secs": secs}))
        .with_cause(format!("bucket {bucket}"));
        // Counted by key id; an unauthenticated caller's bucket is its address, which is no label.
        let caller_label = caller.map_or("(unauthenticated)", Caller::id);
        self.metrics.record_rate_limited(RateLimit::Requests, NO_CATEGORY, caller_label);
        Some(Refusal(self.format, err).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn forwarded_for_uses_the_nearest_untrusted_hop_across_header_lines() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut request = Request::builder()
            .header("x-forwarded-for", "198.51.100.7")
            .header("x-forwarded-for", "203.0.113.5, 10.0.0.3")
            .body(axum::body::Body::empty())
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 4000))));
        assert_eq!(client_ip(&request, &trusted), Some(IpAddr::from([203, 0, 113, 5])));
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
        assert_eq!(
            client_ip(&request, &trusted),
            Some(IpAddr::from([192, 0, 2, 1])),
            "untrusted peers are believed as-is"
        );
    }

    #[test]
    fn keys_are_found_in_every_accepted_place() {
        let mut h = HeaderMap::new();
        assert!(presented_key(&h, Some("a=1&key=q%2Bk")).is_some_and(|k| k == "q+k"));
        h.insert("x-api-key", HeaderValue::from_static("api"));
        assert_eq!(presented_key(&h, None).unwrap(), "api");
        h.insert("authorization", HeaderValue::from_static("Bearer tok"));
        assert_eq!(presented_key(&h, Some("key=q")).unwrap(), "tok", "the header wins over the query");
        assert!(presented_key(&HeaderMap::new(), Some("key=")).is_none());
        let none = HeaderMap::new();
        let decoded = presented_key(&none, Some("key=&x=1&key=a%2Fb+c%zz%4")).unwrap();
        assert_eq!(decoded, "a/b c%zz%4", "the first non-empty key, decoded, bad escapes kept");
    }
}
