//! The Streamable HTTP transport to an upstream: each message is a POST; a request's answer comes back as one
//! JSON body or as an SSE stream carrying its progress, log lines and questions before the answer.
//!
//! The session id the upstream gives on `initialize` is sent on every later request, and a 404 then means the
//! session is gone ([`WireError::SessionExpired`]). In the 2026-07-28 era each POST carries the headers that
//! mirror its body (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`). A handshake-era session also opens the
//! GET stream, when the upstream offers one, for `list_changed`.
//!
//! Bounds: the pooled client follows no redirect (the spec's headers carry credentials), a JSON answer or one
//! SSE event is read up to `max_answer_bytes`, every POST is bounded by its deadline and a stream by its
//! request's, and an answer that is neither JSON nor an event stream (an HTML page) is an `upstream_error`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::connection::{MODERN, garbage, unavailable};
use super::sse_decoder::{SseDecoder, SseEvent};
use super::wire::{Inbound, Inbox, Wire, WireError, WireFuture};
use crate::error::{ErrorCode, GatewayError};
use crate::providers::upstream::redact_url;

const SESSION_HEADER: &str = "mcp-session-id";
/// Marks the error a request's stream gets when it ends before its answer ([`super::connection`] reads it).
pub const STREAM_ENDED: &str = "stream_ended";
/// Longest wait between two attempts to reopen the GET stream.
const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A Streamable HTTP upstream.
#[derive(Debug)]
pub struct HttpWire {
    upstream: String,
    /// Parsed once: parsing (IDNA included) on every request costs more than building it.
    url: reqwest::Url,
    /// The spec's headers, rendered.
    headers: HeaderMap,
    client: reqwest::Client,
    max_answer_bytes: u64,
    state: Mutex<Session>,
}

#[derive(Debug, Default)]
struct Session {
    inbox: Option<Inbox>,
    session_id: Option<String>,
    version: Option<String>,
    /// Cancelled when the wire closes or the session changes: ends streams.
    streams: CancellationToken,
    /// The answer streams being read, by request id (a child of `streams` each).
    reading: HashMap<u64, CancellationToken>,
}

impl HttpWire {
    /// `headers` are the spec's, rendered; names or values that are not valid HTTP are refused here.
    pub fn new(
        upstream: &str,
        url: &str,
        headers: &[(String, String)],
        client: reqwest::Client,
        max_answer_bytes: u64,
    ) -> Result<Self, GatewayError> {
        let map = header_map(upstream, headers)?;
        Ok(Self {
            upstream: upstream.to_owned(),
            url: reqwest::Url::parse(url).map_err(|e| {
                GatewayError::new(
                    ErrorCode::NotConfigured,
                    format!("upstream `{upstream}`: the url does not parse: {e}"),
                )
            })?,
            headers: map,
            client,
            max_answer_bytes,
            state: Mutex::new(Session::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn request_headers(&self, message: &Value) -> HeaderMap {
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        let state = self.lock();
        if let Some(id) = state.session_id.as_deref().and_then(|id| HeaderValue::from_str(id).ok()) {
            headers.insert(SESSION_HEADER, id);
        }
        if let Some(version) = state.version.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert("mcp-protocol-version", version);
        }
        if state.version.as_deref() == Some(MODERN) {
            if let Some(method) = message["method"].as_str().and_then(|m| HeaderValue::from_str(m).ok()) {
                headers.insert("mcp-method", method);
            }
            let name = message["params"]["name"].as_str().or_else(|| message["params"]["uri"].as_str());
            if let Some(name) = name.and_then(|n| HeaderValue::from_str(n).ok()) {
                headers.insert("mcp-name", name);
            }
        }
        headers
    }

    async fn post(self: &Arc<Self>, message: Value, deadline: Instant) -> Result<Option<Value>, WireError> {
        let on_request = message.get("method").and(message.get("id")).and_then(Value::as_u64);
        let had_session = self.lock().session_id.is_some();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let sent = self
            .client
            .post(self.url.clone())
            .headers(self.request_headers(&message))
            .json(&message)
            .timeout(remaining.max(Duration::from_millis(1)))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Err(unanswered(&self.upstream, self.url.as_str(), e).into()),
        };
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(redirected(&self.upstream, status).into());
        }
        if status == 404 && had_session {
            return Err(WireError::SessionExpired);
        }
        if let Some(id) = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
            self.lock().session_id = Some(id.to_owned());
        }
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let inbox = self.lock().inbox.clone();
        let Some(inbox) = inbox else { return Err(unavailable(&self.upstream, "the wire is closed").into()) };
        if !(200..300).contains(&status) {
            let body = read_capped(response, 64 * 1024).await.unwrap_or_default();
            // A JSON-RPC error for this request, sent with a 4xx status (as the 2026 era does): the error is the
            // answer, with the upstream's own code and message.
            let answer = serde_json::from_slice::<Value>(&body).ok().filter(|a| {
                a.get("error").is_some() && on_request.is_some() && a.get("id").and_then(Value::as_u64) == on_request
            });
            if let Some(message) = answer.filter(|_| status < 500) {
                let _ = inbox.send(Inbound::Message { message, on_request }).await;
                return Ok(None);
            }
            return Err(refused(&self.upstream, status, &body).into());
        }
        if content_type.starts_with("text/event-stream") {
            let stop = {
                let mut state = self.lock();
                let stop = state.streams.child_token();
                if let Some(id) = on_request {
                    state.reading.insert(id, stop.clone());
                }
                stop
            };
            let reader =
                StreamReader { upstream: self.upstream.clone(), max: self.max_answer_bytes, inbox, on_request };
            let wire = self.clone();
            tokio::spawn(async move {
                reader.read(response, deadline, stop).await;
                if let Some(id) = on_request {
                    wire.lock().reading.remove(&id);
                }
            });
            return Ok(None);
        }
        let body = read_capped(response, self.max_answer_bytes).await.map_err(|e| self.too_large_or(e))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !content_type.starts_with("application/json") {
            return Err(
                garbage(&self.upstream, &format!("it answered `{content_type}`, not JSON or an event stream")).into()
            );
        }
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| garbage(&self.upstream, &format!("its JSON answer does not parse: {e}")))?;
        // The answer itself goes straight back to the request; anything else through the inbox.
        if parsed.get("method").is_none()
            && on_request.is_some()
            && parsed.get("id").and_then(Value::as_u64) == on_request
        {
            return Ok(Some(parsed));
        }
        let messages = match parsed {
            Value::Array(batch) => batch,
            one => vec![one],
        };
        for message in messages {
            let _ = inbox.send(Inbound::Message { message, on_request }).await;
        }
        Ok(None)
    }

    fn too_large_or(&self, err: ReadError) -> GatewayError {
        match err {
            ReadError::TooLarge => GatewayError::new(
                ErrorCode::UpstreamError,
                format!("upstream `{}` answered more than {} bytes", self.upstream, self.max_answer_bytes),
            ),
            ReadError::Transport(why) => unavailable(&self.upstream, &why),
        }
    }

    /// The handshake era's GET stream, reopened with backoff while the session lasts; an upstream that does not
    /// offer one (405, or anything but an event stream) is left alone.
    async fn listen(self: Arc<Self>, streams: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        while !streams.is_cancelled() {
            let mut headers = self.request_headers(&Value::Null);
            headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
            headers.remove(CONTENT_TYPE);
            let opened = tokio::select! {
                opened = self.client.get(self.url.clone()).headers(headers).send() => opened,
                () = streams.cancelled() => return,
            };
            let Ok(response) = opened else { return };
            let is_stream = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("text/event-stream"));
            if !response.status().is_success() || !is_stream {
                return;
            }
            let Some(inbox) = self.lock().inbox.clone() else { return };
            let reader =
                StreamReader { upstream: self.upstream.clone(), max: self.max_answer_bytes, inbox, on_request: None };
            let inbox = reader.inbox.clone();
            reader.read(response, Instant::now() + Duration::from_secs(24 * 3600), streams.clone()).await;
            // The stream ended (the upstream restarted, or is gone): the link lists again, which finds out which.
            if !streams.is_cancelled() {
                let changed = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                let _ = inbox.send(Inbound::Message { message: changed, on_request: None }).await;
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = streams.cancelled() => return,
            }
            backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
        }
    }
}

/// The spec's rendered headers; a name or value that is not valid HTTP is refused.
pub(super) fn header_map(upstream: &str, headers: &[(String, String)]) -> Result<HeaderMap, GatewayError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let (Ok(name), Ok(mut value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            return Err(GatewayError::new(
                ErrorCode::NotConfigured,
                format!("upstream `{upstream}`: header `{name}` is not a valid HTTP header"),
            ));
        };
        // Kept out of `Debug` output: these values are credentials.
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// An upstream's answer with a status that is not success, typed: 401/403 are not retried, 408/429/5xx are.
pub(super) fn refused(upstream: &str, status: u16, body: &[u8]) -> GatewayError {
    let excerpt: String = String::from_utf8_lossy(body).chars().take(200).collect();
    let (code, retryable) = match status {
        401 | 403 => (ErrorCode::UpstreamError, false),
        408 | 429 | 500..=599 => (ErrorCode::UpstreamUnavailable, true),
        _ => (ErrorCode::UpstreamError, false),
    };
    GatewayError::new(code, format!("upstream `{upstream}` answered HTTP {status}"))
        .retryable(retryable)
        .with_details(serde_json::json!({"upstream": upstream, "status": status, "body": excerpt}))
}

/// A request to `url` that got no answer: past its deadline, or the upstream could not be reached.
pub(super) fn unanswered(upstream: &str, url: &str, err: reqwest::Error) -> GatewayError {
    if err.is_timeout() {
        return GatewayError::new(ErrorCode::Timeout, format!("upstream `{upstream}` did not answer in time"))
            .retryable(true);
    }
    let why = format!("cannot reach {}: {}", redact_url(url), err.without_url());
    unavailable(upstream, &why)
}

/// A redirect, which the gateway does not follow (the spec's headers carry credentials).
pub(super) fn redirected(upstream: &str, status: u16) -> GatewayError {
    GatewayError::new(
        ErrorCode::UpstreamError,
        format!("upstream `{upstream}` answered a redirect (HTTP {status}), which the gateway does not follow"),
    )
}

/// Reads one SSE stream into the inbox.
pub(super) struct StreamReader {
    pub upstream: String,
    pub max: u64,
    pub inbox: Inbox,
    pub on_request: Option<u64>,
}

/// Why a stream stopped being read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StreamEnd {
    /// The upstream ended it.
    Ended,
    /// It broke (the reason), or an event grew past the bound.
    Broken(String),
    /// Its deadline passed, it was stopped, or nobody reads the inbox any more.
    Stopped,
}

impl StreamReader {
    /// A decoder bounded as this reader's events are.
    pub(super) fn decoder(&self) -> SseDecoder {
        SseDecoder::new(usize::try_from(self.max).unwrap_or(usize::MAX))
    }

    /// Read until the stream ends; a request's stream that ends before its answer answers it with
    /// [`STREAM_ENDED`], so the request fails at once rather than at its deadline.
    async fn read(self, response: reqwest::Response, deadline: Instant, stop: CancellationToken) {
        let (end, answered) = self.read_on(self.decoder(), response, deadline, stop).await;
        if let (false, Some(id)) = (answered || end == StreamEnd::Stopped, self.on_request) {
            let message = serde_json::json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32603, "message": "the upstream's answer stream ended before its answer",
                          "data": {"gateway": STREAM_ENDED}}});
            let _ = self.inbox.send(Inbound::Message { message, on_request: self.on_request }).await;
        }
    }

    /// Read on with `decoder` (which may hold the start of an event already): why the stream stopped being read,
    /// and whether the request's answer was among its events.
    pub(super) async fn read_on(
        &self,
        mut decoder: SseDecoder,
        mut response: reqwest::Response,
        deadline: Instant,
        stop: CancellationToken,
    ) -> (StreamEnd, bool) {
        let mut answered = false;
        loop {
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk,
                () = tokio::time::sleep_until(deadline.into()) => return (StreamEnd::Stopped, answered),
                () = stop.cancelled() => return (StreamEnd::Stopped, answered),
            };
            let chunk = match chunk {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return (StreamEnd::Ended, answered),
                Err(e) => {
                    let why = e.without_url().to_string();
                    tracing::debug!(upstream = %self.upstream, error = %why, "an upstream event stream broke");
                    return (StreamEnd::Broken(why), answered);
                }
            };
            let Ok(events) = decoder.push(&chunk) else {
                tracing::warn!(upstream = %self.upstream, max = self.max, "an upstream event was larger than the bound; stream dropped");
                return (StreamEnd::Broken(format!("an event was larger than {} bytes", self.max)), answered);
            };
            match self.deliver(events).await {
                Some(among) => answered |= among,
                None => return (StreamEnd::Stopped, answered),
            }
        }
    }

    /// The `message` events to the inbox: whether the request's answer was among them; `None` when nobody reads
    /// the inbox any more.
    pub(super) async fn deliver(&self, events: Vec<SseEvent>) -> Option<bool> {
        let mut answered = false;
        for event in events.into_iter().filter(|e| e.event.as_deref().is_none_or(|t| t == "message")) {
            match serde_json::from_str::<Value>(&event.data) {
                Ok(message) => {
                    answered |= message.get("method").is_none()
                        && self.on_request.is_some()
                        && message.get("id").and_then(Value::as_u64) == self.on_request;
                    if self.inbox.send(Inbound::Message { message, on_request: self.on_request }).await.is_err() {
                        return None;
                    }
                }
                Err(_) => tracing::warn!(upstream = %self.upstream, "an upstream event is not JSON; skipped"),
            }
        }
        Some(answered)
    }
}

pub(super) enum ReadError {
    TooLarge,
    Transport(String),
}

pub(super) async fn read_capped(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ReadError::Transport(e.without_url().to_string()))? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl Wire for Arc<HttpWire> {
    fn open(&self, inbox: Inbox) -> WireFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            let mut state = self.lock();
            state.streams.cancel();
            *state = Session { inbox: Some(inbox), ..Session::default() };
            Ok(())
        })
    }

    fn send(&self, message: Value, deadline: Instant) -> WireFuture<'_, Result<Option<Value>, WireError>> {
        Box::pin(self.post(message, deadline))
    }

    fn abandon(&self, id: u64) {
        if let Some(stop) = self.lock().reading.remove(&id) {
            stop.cancel();
        }
    }

    fn negotiated(&self, version: Option<&str>) {
        let listen = {
            let mut state = self.lock();
            state.version = version.map(str::to_owned);
            if version.is_none() {
                state.session_id = None;
            }
            let handshake = version.is_some_and(|v| v != MODERN);
            handshake.then(|| state.streams.clone())
        };
        if let Some(streams) = listen {
            tokio::spawn(self.clone().listen(streams));
        }
    }

    fn close(&self) -> WireFuture<'_, ()> {
        Box::pin(async move {
            let (inbox, session_id, streams) = {
                let mut state = self.lock();
                (state.inbox.take(), state.session_id.take(), state.streams.clone())
            };
            streams.cancel();
            if let Some(id) = session_id {
                let mut headers = self.headers.clone();
                if let Ok(id) = HeaderValue::from_str(&id) {
                    headers.insert(SESSION_HEADER, id);
                }
                let _ =
                    self.client.delete(self.url.clone()).headers(headers).timeout(Duration::from_secs(2)).send().await;
            }
            if let Some(inbox) = inbox {
                let _ = inbox.send(Inbound::Closed("the gateway closed the connection".into())).await;
            }
        })
    }
}
