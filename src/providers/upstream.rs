//! The shared upstream client every provider and the `http` binding use: one pooled `reqwest::Client`,
//! `X-Request-ID` forwarded, per-attempt timeouts bounded by the call's deadline, and the retry policy.
//!
//! Retry policy: a request that never reached the upstream (connection refused or failed) is always safe to
//! send again. Otherwise only idempotent requests are retried, on timeouts and on 408/429/502/503/504, with
//! exponential backoff and jitter, honouring `Retry-After`, and never past the call's deadline. A write is
//! never sent twice once it may have arrived. Errors keep the upstream's status and message in `details`,
//! never the credentials the gateway sent.
//!
//! Bounds: the pooled client follows no redirect (every request here carries the provider's credentials, and
//! a credential must never reach a host the gateway was not configured for), so a 3xx answer is a typed
//! `upstream_error` naming where it pointed. An answer is read as a stream up to `max_answer_bytes`; past it
//! the call fails, non-retryable, without reading (or keeping) the rest. [`Answer::json`] is how a binding
//! that expects JSON reads the body: an HTML page or any other non-JSON answer is an `upstream_error`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, TryAcquireError};

use crate::error::{ErrorCode, GatewayError};
use crate::metrics::Metrics;

/// The default cap on an upstream answer read into memory, for JSON APIs.
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// Longest excerpt of an unexpected answer kept in an error's `details`.
const EXCERPT_CHARS: usize = 200;

/// HTTP statuses most providers document as transient.
pub const TRANSIENT_STATUSES: &[u16] = &[408, 429, 502, 503, 504];

/// How many attempts, how long to wait between them, and which answers are worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Statuses retried for idempotent requests (each provider documents its own).
    pub retry_statuses: &'static [u16],
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            retry_statuses: TRANSIENT_STATUSES,
        }
    }
}

impl RetryPolicy {
    /// The waits before each retry: exponential from `base_delay`, capped at `max_delay`, each with a random
    /// jitter of up to its own length (so clients that failed together spread out), `max_attempts - 1` of them.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let retries = usize::try_from(self.max_attempts.saturating_sub(1)).unwrap_or(0);
        ExponentialBuilder::new()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(retries)
            .with_jitter()
            .build()
    }

    /// The default policy retrying only `statuses`.
    #[must_use]
    pub fn retrying(statuses: &'static [u16]) -> Self {
        Self { retry_statuses: statuses, ..Self::default() }
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Safe to send twice (reads). Decides whether anything but connection failures is retried.
    pub idempotent: bool,
    /// Per-attempt timeout (further bounded by the deadline).
    pub timeout: Duration,
}

/// What the upstream answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON; an empty body is `null`; text that is not JSON is returned as a string.
    #[must_use]
    pub fn value(&self) -> Value {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// The body as JSON, for bindings that expect JSON: an empty body is `null`; an HTML page, or anything
    /// else that does not parse, is an `upstream_error` with the content type and an excerpt in `details`.
    pub fn json(&self, provider: &str) -> Result<Value, GatewayError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        let content_type = self.content_type();
        let html = content_type.starts_with("text/html") || content_type.starts_with("application/xhtml");
        let parsed = if html { None } else { serde_json::from_slice(&self.body).ok() };
        parsed.ok_or_else(|| {
            let message = if content_type.contains("json") {
                format!(
                    "{provider} answered {} with an unreadable body: not JSON, although declared {content_type}",
                    self.status
                )
            } else {
                let shown = if content_type.is_empty() { "no content type" } else { content_type.as_str() };
                format!("{provider} answered {} with {shown}, not JSON", self.status)
            };
            GatewayError::new(ErrorCode::UpstreamError, message).with_details(json!({
                "provider": provider,
                "upstream_status": self.status,
                "content_type": content_type,
                "body_start": self.excerpt(),
            }))
        })
    }

    /// A 3xx answer: a redirect the gateway does not follow.
    #[must_use]
    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }

    /// The media type of the answer, lower case, without parameters (empty when absent).
    #[must_use]
    pub fn content_type(&self) -> String {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The start of the body as text, for error details.
    #[must_use]
    pub fn excerpt(&self) -> String {
        let head = &self.body[..self.body.len().min(EXCERPT_CHARS * 4)];
        String::from_utf8_lossy(head).chars().take(EXCERPT_CHARS).collect()
    }

    /// `Err` with a mapped [`GatewayError`] for 4xx/5xx answers.
    pub fn error_for_status(&self, provider: &str) -> Result<(), GatewayError> {
        if self.status < 400 {
            return Ok(());
        }
        Err(map_status(provider, self.status, &self.value(), retry_after(&self.headers)))
    }
}

/// The upstream client of one provider.
pub struct Upstream<'a> {
    pub client: &'a reqwest::Client,
    pub metrics: &'a Metrics,
    /// For metrics and messages.
    pub provider: &'a str,
    pub policy: RetryPolicy,
    /// The provider's concurrency cap: one permit per request in flight.
    pub cap: Arc<Semaphore>,
    /// The largest answer read; a longer one fails the request.
    pub max_answer_bytes: u64,
}

/// Why an attempt produced no answer.
pub(crate) enum Failure {
    Transport(reqwest::Error),
    /// The answer declared or streamed more than the cap.
    TooLarge,
}

impl Failure {
    fn is_connect(&self) -> bool {
        matches!(self, Self::Transport(e) if e.is_connect())
    }

    fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport(e) if e.is_timeout())
    }
}

impl Upstream<'_> {
    /// The same client with another answer cap (media answers use the media size cap).
    #[must_use]
    pub fn with_answer_limit(mut self, max_answer_bytes: u64) -> Self {
        self.max_answer_bytes = max_answer_bytes;
        self
    }

    /// Send with retries, until `deadline`. `Ok` carries any HTTP answer (check [`Answer::error_for_status`]).
    pub async fn send(&self, request: &Outgoing, request_id: &str, deadline: Instant) -> Result<Answer, GatewayError> {
        let mut delays = self.policy.delays();
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timeout_error(request));
            }
            // A free permit is taken at once; only a wait for one needs a timer.
            let permit = match self.cap.try_acquire() {
                Ok(permit) => permit,
                Err(TryAcquireError::NoPermits) => {
                    match tokio::time::timeout_at(deadline.into(), self.cap.acquire()).await {
                        Ok(Ok(permit)) => permit,
                        _ => return Err(self.saturated_error()),
                    }
                }
                Err(TryAcquireError::Closed) => return Err(self.saturated_error()),
            };
            let outcome = self.attempt(request, request_id, request.timeout.min(remaining)).await;
            drop(permit);
            // Worth another attempt, with the upstream's own `Retry-After` when it gave one.
            let hint = match &outcome {
                Ok(answer) if request.idempotent && self.policy.retry_statuses.contains(&answer.status) => {
                    Some(retry_after(&answer.headers))
                }
                Err(e) if e.is_connect() => Some(None),
                Err(e) if e.is_timeout() && request.idempotent => Some(None),
                _ => None,
            };
            // Each retry takes the policy's next delay (none left: no retry); `Retry-After` overrides its length.
            let retry_in = hint.and_then(|hint| delays.next().map(|backoff| hint.unwrap_or(backoff)));
            if let Ok(answer) = &outcome {
                if answer.is_redirect() {
                    return Err(self.redirect_error(request, answer));
                }
            }
            if let Some(wait) = retry_in.filter(|wait| Instant::now() + *wait < deadline) {
                self.metrics.record_upstream_retry(self.provider);
                tracing::info!(
                    provider = self.provider,
                    attempt,
                    wait_ms = wait.as_millis(),
                    "retrying upstream request"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return outcome.map_err(|failure| match failure {
                Failure::Transport(e) => self.transport_error(&e, request),
                Failure::TooLarge => self.too_large_error(request),
            });
        }
    }

    async fn attempt(&self, request: &Outgoing, request_id: &str, timeout: Duration) -> Result<Answer, Failure> {
        let mut builder = self.client.request(request.method.clone(), &request.url).timeout(timeout);
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(request_id) {
            headers.insert("x-request-id", value);
        }
        for (name, value) in &request.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                headers.insert(name, value);
            }
        }
        builder = builder.headers(headers);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let result = async {
            let mut response = builder.send().await.map_err(Failure::Transport)?;
            let status = response.status().as_u16();
            let headers = std::mem::take(response.headers_mut());
            let body = read_capped(response, self.max_answer_bytes).await?;
            Ok::<_, Failure>(Answer { status, headers, body })
        }
        .await;
        let label = match &result {
            Ok(answer) => answer.status.to_string(),
            Err(Failure::TooLarge) => "too_large".into(),
            Err(e) if e.is_connect() => "connect_error".into(),
            Err(e) if e.is_timeout() => "timeout".into(),
            Err(_) => "transport_error".into(),
        };
        self.metrics.record_upstream(self.provider, &label);
        result
    }

    fn saturated_error(&self) -> GatewayError {
        GatewayError::new(
            ErrorCode::Overloaded,
            format!(
                "{} already has its maximum of concurrent requests in flight and none finished in time",
                self.provider
            ),
        )
        .with_details(json!({"provider": self.provider}))
        .retryable(true)
    }

    fn timeout_error(&self, request: &Outgoing) -> GatewayError {
        GatewayError::new(
            ErrorCode::UpstreamTimeout,
            format!("{} did not answer {} {} in time", self.provider, request.method, redact_url(&request.url)),
        )
        .with_details(json!({"provider": self.provider}))
    }

    fn redirect_error(&self, request: &Outgoing, answer: &Answer) -> GatewayError {
        let location = answer.headers.get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
        redirect_refused(self.provider, &request.method, &request.url, answer.status, location)
    }

    fn too_large_error(&self, request: &Outgoing) -> GatewayError {
        GatewayError::new(
            ErrorCode::UpstreamError,
            format!(
                "{} answered {} {} with more than {} bytes, the most the gateway reads \
                 (upstream_max_answer_bytes)",
                self.provider,
                request.method,
                redact_url(&request.url),
                self.max_answer_bytes
            ),
        )
        .with_details(json!({"provider": self.provider, "limit_bytes": self.max_answer_bytes}))
    }

    fn transport_error(&self, err: &reqwest::Error, request: &Outgoing) -> GatewayError {
        if err.is_timeout() {
            return self.timeout_error(request);
        }
        let (code, what) = if err.is_connect() {
            (ErrorCode::UpstreamUnavailable, "could not be reached")
        } else {
            (ErrorCode::UpstreamError, "failed while answering")
        };
        // reqwest's own text names the URL, query included; log the cause chain instead.
        let cause = std::error::Error::source(err).map_or_else(|| "no detail".to_owned(), ToString::to_string);
        tracing::warn!(provider = self.provider, cause, "upstream transport failure");
        GatewayError::new(code, format!("{} {what} ({} {})", self.provider, request.method, redact_url(&request.url)))
            .with_details(json!({"provider": self.provider}))
            .retryable(true)
    }
}

/// The error for a redirect the gateway does not follow: a request carrying credentials only goes to the host
/// it was configured for. Names the host the redirect pointed to (never its path or query).
#[must_use]
pub fn redirect_refused(
    provider: &str,
    method: &reqwest::Method,
    url: &str,
    status: u16,
    location: Option<&str>,
) -> GatewayError {
    let target = location.and_then(|l| reqwest::Url::parse(url).ok()?.join(l).ok());
    let host = target.as_ref().and_then(|t| {
        let host = t.host_str()?;
        Some(t.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}")))
    });
    let to = host.as_deref().map_or_else(|| "elsewhere".to_owned(), |h| format!("to {h}"));
    GatewayError::new(
        ErrorCode::UpstreamError,
        format!(
            "{provider} answered {method} {} with a redirect ({status}) {to}; the gateway does not follow \
             redirects on calls that carry credentials: configure the final URL",
            redact_url(url)
        ),
    )
    .with_details(json!({"provider": provider, "upstream_status": status, "redirect_host": host}))
}

/// Read a response body as it streams in, refusing it as soon as it declares or passes `limit` bytes.
pub(crate) async fn read_capped(mut response: reqwest::Response, limit: u64) -> Result<Bytes, Failure> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(Failure::TooLarge);
    }
    let expected = response.content_length().unwrap_or(0).min(limit);
    let mut body = bytes::BytesMut::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(Failure::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Drop the query string (it may carry keys) and any userinfo from a URL shown in messages.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.split_once('@').filter(|(user, _)| !user.contains('/')).map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => without_query.to_owned(),
    }
}

/// The `Retry-After` delay of an answer: seconds, or an HTTP date (a date already past is no wait).
#[must_use]
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// The upstream's own message, from the usual error shapes.
fn upstream_message(body: &Value) -> Option<String> {
    let candidates = [
        body.get("message"),
        body.get("error").and_then(|e| e.get("message")),
        body.get("error").filter(|e| e.is_string()),
        body.get("detail").and_then(|d| d.get("message")),
        body.get("detail").filter(|d| d.is_string()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(Value::as_str)
        .map(str::to_owned)
        .or_else(|| body.as_str().map(|text| text.chars().take(300).collect()))
}

/// Map an upstream HTTP failure to the gateway's error, keeping the upstream's status and body in `details`.
#[must_use]
pub fn map_status(provider: &str, status: u16, body: &Value, retry_after: Option<Duration>) -> GatewayError {
    let said = upstream_message(body).map_or_else(String::new, |m| format!(": {m}"));
    let (code, message, retryable) = match status {
        400 | 422 => (ErrorCode::InvalidParams, format!("{provider} rejected the request ({status}){said}"), false),
        401 | 403 => (
            ErrorCode::UpstreamError,
            format!("{provider} refused the gateway's credentials ({status}){said}; check the provider's key"),
            false,
        ),
        404 => (ErrorCode::NotFound, format!("{provider} found nothing there (404){said}"), false),
        408 | 504 => (ErrorCode::UpstreamTimeout, format!("{provider} timed out ({status}){said}"), true),
        429 => (ErrorCode::RateLimited, format!("{provider} is rate limiting the gateway (429){said}"), true),
        502 | 503 => (ErrorCode::UpstreamUnavailable, format!("{provider} is unavailable ({status}){said}"), true),
        _ => (ErrorCode::UpstreamError, format!("{provider} failed ({status}){said}"), status >= 500),
    };
    let mut details = json!({"provider": provider, "upstream_status": status, "upstream": body});
    if let Some(wait) = retry_after {
        details["retry_after_secs"] = json!(wait.as_secs().max(1));
    }
    GatewayError::new(code, message).with_details(details).retryable(retryable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_lose_query_and_userinfo() {
        assert_eq!(redact_url("https://user:pw@api.example.com/v1/x?key=secret"), "https://api.example.com/v1/x");
        assert_eq!(redact_url("http://127.0.0.1:9/a#frag"), "http://127.0.0.1:9/a");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(retry_after(&header("3")), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&header("Wed, 21 Oct 2015 07:28:00 GMT")), Some(Duration::ZERO), "a past date");
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let wait = retry_after(&header(&soon)).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        assert_eq!(retry_after(&header("soon")), None);
        assert_eq!(retry_after(&header("-1")), None);
    }

    #[test]
    fn delays_grow_with_jitter_up_to_the_cap_and_stop_at_the_attempt_count() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            ..RetryPolicy::default()
        };
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 5, "one delay per retry");
        let floors = [100, 200, 400, 400, 400];
        for (delay, floor) in delays.iter().zip(floors) {
            let floor = Duration::from_millis(floor);
            assert!(*delay >= floor && *delay <= floor * 2, "{delay:?} outside [{floor:?}, 2x]");
        }
        let first: Vec<Duration> = (0..8).map(|_| policy.delays().next().unwrap()).collect();
        assert!(first.windows(2).any(|w| w[0] != w[1]), "jitter spreads clients out: {first:?}");
        assert_eq!(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }.delays().count(), 0);
    }

    #[test]
    fn statuses_map_to_their_meaning_with_upstream_details() {
        let err = map_status("supabase", 404, &json!({"code": "PGRST202", "message": "no function"}), None);
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(err.message.contains("no function"));
        assert_eq!(err.details["upstream"]["code"], "PGRST202");
        let err = map_status(
            "elevenlabs",
            429,
            &json!({"detail": {"status": "system_busy", "message": "busy"}}),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert!(err.retryable);
        assert_eq!(err.details["retry_after_secs"], 3);
        assert!(!map_status("x", 401, &Value::Null, None).retryable);
        assert!(map_status("x", 503, &json!("down"), None).message.contains("down"));
    }
}
