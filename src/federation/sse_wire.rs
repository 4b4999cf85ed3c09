//! The legacy HTTP+SSE transport to an upstream (protocol 2024-11-05): one long GET event stream carries
//! everything the upstream sends, and each message to it is a POST to the endpoint the stream names first.
//!
//! [`Wire::open`] GETs the spec's `url` (`Accept: text/event-stream`, the spec's headers) and waits, at most
//! [`CONNECT_TIMEOUT`], for the first `endpoint` event: its data is the URL to POST to, relative to `url` or
//! absolute, and it must be on `url`'s origin (scheme, host and port), since every POST carries the spec's
//! headers, and they carry credentials: an endpoint elsewhere is refused. Then a task reads the `message` events
//! into the inbox (`on_request: None`, each event at most `max_answer_bytes`); the stream's end is
//! [`Inbound::Closed`], and the link connects again with backoff. A POST answered other than 2xx is a typed
//! error as over Streamable HTTP (404: the upstream forgot the session); no redirect is followed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::connection::{garbage, unavailable};
use super::http_wire::{StreamEnd, StreamReader, header_map, read_capped, redirected, refused, unanswered};
use super::sse_decoder::{SseDecoder, SseEvent};
use super::wire::{Inbound, Inbox, Wire, WireError, WireFuture};
use crate::error::{ErrorCode, GatewayError};
use crate::providers::upstream::redact_url;

/// How long the upstream may take to answer the GET and name its message endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a refusal's body read (for its excerpt).
const REFUSAL_BYTES: u64 = 64 * 1024;
/// The stream lives as long as the session; this only keeps the reader's deadline finite.
const STREAM_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A legacy HTTP+SSE upstream.
#[derive(Debug)]
pub struct SseWire {
    upstream: String,
    url: Url,
    /// The spec's headers, rendered (marked sensitive).
    headers: HeaderMap,
    client: reqwest::Client,
    max_answer_bytes: u64,
    state: Mutex<Session>,
}

#[derive(Debug, Default)]
struct Session {
    inbox: Option<Inbox>,
    /// Where messages are POSTed, as the stream named it.
    endpoint: Option<Url>,
    /// Cancelled when the wire closes or opens again: ends the stream.
    stream: CancellationToken,
}

/// The GET stream, answered and past its `endpoint` event.
struct Opened {
    response: reqwest::Response,
    decoder: SseDecoder,
    endpoint: Url,
    /// Events that came in the same chunks as the endpoint, after it.
    after: Vec<SseEvent>,
}

impl SseWire {
    /// `url` is the spec's (checked absolute http(s) when the spec loaded); `headers` are rendered.
    pub fn new(
        upstream: &str,
        url: &str,
        headers: &[(String, String)],
        client: reqwest::Client,
        max_answer_bytes: u64,
    ) -> Result<Self, GatewayError> {
        let parsed = Url::parse(url).map_err(|e| {
            GatewayError::new(ErrorCode::NotConfigured, format!("upstream `{upstream}`: its url does not parse: {e}"))
        })?;
        Ok(Self {
            upstream: upstream.to_owned(),
            url: parsed,
            headers: header_map(upstream, headers)?,
            client,
            max_answer_bytes,
            state: Mutex::new(Session::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reader(&self, inbox: Inbox) -> StreamReader {
        StreamReader { upstream: self.upstream.clone(), max: self.max_answer_bytes, inbox, on_request: None }
    }

    /// The endpoint an `endpoint` event names, if it is on the stream's origin.
    fn endpoint_of(&self, data: &str) -> Result<Url, GatewayError> {
        let endpoint = self
            .url
            .join(data.trim())
            .map_err(|e| garbage(&self.upstream, &format!("its endpoint event is not a URL: {e}")))?;
        if endpoint.origin() != self.url.origin() {
            return Err(GatewayError::new(
                ErrorCode::UpstreamError,
                format!(
                    "upstream `{}` named a message endpoint on another origin ({}); the gateway refuses it, since \
                     the spec's headers would go there",
                    self.upstream,
                    endpoint.origin().ascii_serialization()
                ),
            )
            .with_details(serde_json::json!({"upstream": self.upstream})));
        }
        Ok(endpoint)
    }

    /// GET the stream and read it up to its `endpoint` event.
    async fn connect(&self) -> Result<Opened, GatewayError> {
        let mut headers = self.headers.clone();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let url = self.url.as_str();
        let mut response = self
            .client
            .get(self.url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| unanswered(&self.upstream, url, e))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(redirected(&self.upstream, status));
        }
        if !response.status().is_success() {
            let body = read_capped(response, REFUSAL_BYTES).await.unwrap_or_default();
            return Err(refused(&self.upstream, status, &body));
        }
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        if !content_type.starts_with("text/event-stream") {
            return Err(garbage(
                &self.upstream,
                &format!("its SSE url answered `{content_type}`, not an event stream"),
            ));
        }
        let mut decoder = SseDecoder::new(usize::try_from(self.max_answer_bytes).unwrap_or(usize::MAX));
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    return Err(unavailable(
                        &self.upstream,
                        "its event stream ended before naming the message endpoint",
                    ));
                }
                Err(e) => {
                    let why = format!("its event stream broke: {}", e.without_url());
                    return Err(unavailable(&self.upstream, &why));
                }
            };
            let mut events = decoder.push(&chunk).map_err(|_| {
                garbage(&self.upstream, &format!("an event was larger than {} bytes", self.max_answer_bytes))
            })?;
            if let Some(at) = events.iter().position(|e| e.event.as_deref() == Some("endpoint")) {
                let endpoint = self.endpoint_of(&events[at].data)?;
                let after = events.split_off(at + 1);
                return Ok(Opened { response, decoder, endpoint, after });
            }
        }
    }

    async fn post(&self, message: Value, deadline: Instant) -> Result<(), WireError> {
        let Some(endpoint) = self.lock().endpoint.clone() else {
            return Err(unavailable(&self.upstream, "the wire is closed").into());
        };
        let mut headers = self.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = self
            .client
            .post(endpoint.clone())
            .headers(headers)
            .json(&message)
            .timeout(remaining.max(Duration::from_millis(1)))
            .send()
            .await
            .map_err(|e| unanswered(&self.upstream, endpoint.as_str(), e))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(redirected(&self.upstream, status).into());
        }
        if status == 404 {
            return Err(WireError::SessionExpired);
        }
        if !response.status().is_success() {
            let body = read_capped(response, REFUSAL_BYTES).await.unwrap_or_default();
            return Err(refused(&self.upstream, status, &body).into());
        }
        Ok(())
    }
}

impl Wire for Arc<SseWire> {
    fn open(&self, inbox: Inbox) -> WireFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            let stream = {
                let mut state = self.lock();
                state.stream.cancel();
                *state = Session::default();
                state.stream.clone()
            };
            let opened = tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await.map_err(|_| {
                let why = format!(
                    "{} did not name its message endpoint within {} s",
                    redact_url(self.url.as_str()),
                    CONNECT_TIMEOUT.as_secs()
                );
                unavailable(&self.upstream, &why)
            })??;
            let Opened { response, decoder, endpoint, after } = opened;
            {
                let mut state = self.lock();
                state.inbox = Some(inbox.clone());
                state.endpoint = Some(endpoint);
            }
            let reader = self.reader(inbox.clone());
            let upstream = self.upstream.clone();
            tokio::spawn(async move {
                if reader.deliver(after).await.is_none() {
                    return;
                }
                let deadline = Instant::now() + STREAM_LIFETIME;
                let (end, _) = reader.read_on(decoder, response, deadline, stream.clone()).await;
                let reason = match end {
                    StreamEnd::Stopped => return,
                    StreamEnd::Ended => "the upstream ended its event stream".to_owned(),
                    StreamEnd::Broken(why) => format!("its event stream broke: {why}"),
                };
                tracing::warn!(%upstream, %reason, "upstream event stream closed");
                let _ = inbox.send(Inbound::Closed(reason)).await;
            });
            Ok(())
        })
    }

    fn send(&self, message: Value, deadline: Instant) -> WireFuture<'_, Result<Option<Value>, WireError>> {
        Box::pin(async move { self.post(message, deadline).await.map(|()| None) })
    }

    fn negotiated(&self, _version: Option<&str>) {}

    fn close(&self) -> WireFuture<'_, ()> {
        Box::pin(async move {
            let inbox = {
                let mut state = self.lock();
                state.stream.cancel();
                state.endpoint = None;
                state.inbox.take()
            };
            if let Some(inbox) = inbox {
                let _ = inbox.send(Inbound::Closed("the gateway closed the connection".into())).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(url: &str) -> SseWire {
        SseWire::new("legacy", url, &[], reqwest::Client::new(), 1024).unwrap()
    }

    #[test]
    fn endpoints_on_the_same_origin_are_taken_relative_or_absolute() {
        let wire = wire("http://127.0.0.1:8000/sse");
        let relative = wire.endpoint_of("/messages/?session_id=abc").unwrap();
        assert_eq!(relative.as_str(), "http://127.0.0.1:8000/messages/?session_id=abc");
        let absolute = wire.endpoint_of("http://127.0.0.1:8000/m?s=1").unwrap();
        assert_eq!(absolute.as_str(), "http://127.0.0.1:8000/m?s=1");
    }

    #[test]
    fn endpoints_on_another_origin_are_refused() {
        let wire = wire("http://127.0.0.1:8000/sse");
        for elsewhere in
            ["http://evil.example/messages", "http://127.0.0.1:8001/messages", "https://127.0.0.1:8000/m", "//evil/m"]
        {
            let err = wire.endpoint_of(elsewhere).unwrap_err();
            assert_eq!(err.code, ErrorCode::UpstreamError, "{elsewhere}");
            assert!(err.message.contains("another origin"), "{elsewhere}: {}", err.message);
        }
    }

    #[test]
    fn header_values_stay_out_of_debug_output() {
        let headers = [("authorization".to_owned(), "Bearer s3cr3t".to_owned())];
        let wire = SseWire::new("legacy", "http://127.0.0.1:1/sse", &headers, reqwest::Client::new(), 1024).unwrap();
        assert!(!format!("{wire:?}").contains("s3cr3t"));
    }
}
