//! Server-Sent Events plumbing shared by the MCP transports: message events, priming events, keep-alive, and
//! the open-stream gauge.
//!
//! Each stream is fed by a forwarding task that writes [`Event`]s into a bounded channel; the HTTP body reads
//! the channel. When the client goes away the channel closes and the forwarder notices on its next send (or
//! through [`EventSender::closed`]).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::McpHandle;
use crate::error::{ErrorCode, GatewayError};

/// The sending half of one SSE stream, numbering its events.
pub struct EventSender {
    tx: mpsc::Sender<Result<Event, Infallible>>,
    stream_id: String,
    next: AtomicU64,
    shutdown: tokio_util::sync::CancellationToken,
    _gauge: StreamGauge,
}

impl EventSender {
    /// Send a JSON-RPC message as `event: message`. Returns false once the client has gone.
    pub async fn message(&self, message: &Value) -> bool {
        let event = Event::default().event("message").id(self.next_id()).data(message.to_string());
        self.tx.send(Ok(event)).await.is_ok()
    }

    /// Send a JSON-RPC message as a plain `data:` event, without an id (2026-07-28 streams are not resumable).
    pub async fn data(&self, message: &Value) -> bool {
        self.tx.send(Ok(Event::default().data(message.to_string()))).await.is_ok()
    }

    /// Send a named event with raw data (the legacy `endpoint` event).
    pub async fn named(&self, name: &str, data: &str) -> bool {
        self.tx.send(Ok(Event::default().event(name).data(data))).await.is_ok()
    }

    /// The priming event of 2025-11-25: an id with empty data, so the client has something to resume from.
    pub async fn prime(&self) -> bool {
        self.tx.send(Ok(Event::default().id(self.next_id()).data(""))).await.is_ok()
    }

    /// Resolves when the client has gone away (but not on shutdown: a call's own stream lets the call finish).
    pub async fn client_gone(&self) {
        self.tx.closed().await;
    }

    /// Resolves when the client has gone away or the gateway is shutting down.
    pub async fn closed(&self) {
        tokio::select! {
            () = self.tx.closed() => {},
            () = self.shutdown.cancelled() => {},
        }
    }

    fn next_id(&self) -> String {
        format!("{}-{}", self.stream_id, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// Counts an open stream in the metrics, and holds its place under `max_streams`, for as long as it lives.
pub struct StreamGauge(
    McpHandle,
    #[expect(dead_code, reason = "held for its Drop, which frees the place")] OwnedSemaphorePermit,
);

impl StreamGauge {
    /// Take a place for one more open stream; `overloaded` at `max_streams`.
    pub fn acquire(state: &McpHandle) -> Result<Self, GatewayError> {
        let permit = state.streams.clone().try_acquire_owned().map_err(|_| {
            GatewayError::new(ErrorCode::Overloaded, "the gateway has as many open streams as it allows; retry later")
        })?;
        state.metrics.streams().inc();
        Ok(Self(state.clone(), permit))
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.0.metrics.streams().dec();
    }
}

/// Open an SSE response; the returned sender feeds it. Fails with `overloaded` at `max_streams`.
pub fn open(state: &McpHandle) -> Result<(EventSender, Response), GatewayError> {
    let gauge = StreamGauge::acquire(state)?;
    let (tx, rx) = mpsc::channel(64);
    let sender = EventSender {
        tx,
        stream_id: uuid::Uuid::new_v4().simple().to_string(),
        next: AtomicU64::new(0),
        shutdown: state.shutdown.clone(),
        _gauge: gauge,
    };
    let keepalive: Duration = state.config.limits.sse_keepalive;
    let mut response =
        Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(keepalive)).into_response();
    // Proxies such as nginx must not buffer an event stream.
    response.headers_mut().insert("x-accel-buffering", axum::http::HeaderValue::from_static("no"));
    Ok((sender, response))
}
