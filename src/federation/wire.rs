//! What a transport to an upstream MCP server is: [`Wire`] carries JSON-RPC messages both ways, and knows
//! nothing of requests and answers ([`super::connection`] pairs those).
//!
//! A wire delivers everything the upstream sends to an [`Inbox`], each message with the id of the request whose
//! answer stream carried it when the transport has such streams (Streamable HTTP), so progress, log lines and
//! questions reach the call they belong to. A transport with one shared stream (stdio, the legacy SSE
//! transport, a GET stream) delivers with `on_request: None`. When the wire can no longer deliver (the child
//! exited, the stream ended), it sends [`Inbound::Closed`] once.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::GatewayError;

/// A future a [`Wire`] returns (boxed: wires are used as `dyn`).
pub type WireFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a wire hands the connection.
#[derive(Debug)]
pub enum Inbound {
    /// One JSON-RPC message; `on_request` is our id of the request whose answer stream carried it.
    Message { message: Value, on_request: Option<u64> },
    /// The wire stopped delivering (the reason, for the upstream's state).
    Closed(String),
}

/// Where a wire delivers.
pub type Inbox = mpsc::Sender<Inbound>;

/// Why a send failed.
#[derive(Debug)]
pub enum WireError {
    /// The upstream no longer knows our session (HTTP 404 on a session request): initialize again.
    SessionExpired,
    /// Anything else, typed for the caller.
    Failed(GatewayError),
}

impl From<GatewayError> for WireError {
    fn from(err: GatewayError) -> Self {
        Self::Failed(err)
    }
}

/// A transport to one upstream.
pub trait Wire: Send + Sync + Debug {
    /// Connect (or start the process); from then on messages go to `inbox`. Called again to reconnect.
    fn open(&self, inbox: Inbox) -> WireFuture<'_, Result<(), GatewayError>>;

    /// Send one message before `deadline`. For a request whose `id` is a number, what the upstream answers on
    /// its own stream is delivered with `on_request: Some(id)`; a transport that got the one answer in reply
    /// (a Streamable HTTP JSON body) may return it instead (`Ok(Some(answer))`), sparing two task hops.
    fn send(&self, message: Value, deadline: Instant) -> WireFuture<'_, Result<Option<Value>, WireError>>;

    /// Request `id` is no longer awaited: stop reading what the upstream sends for it (over Streamable HTTP,
    /// closing its answer stream, which is how a 2026-07-28 request is cancelled).
    fn abandon(&self, _id: u64) {}

    /// The protocol version agreed (sent as `MCP-Protocol-Version` over HTTP); `None` forgets the session.
    fn negotiated(&self, version: Option<&str>);

    /// Stop: end the streams, stop the process.
    fn close(&self) -> WireFuture<'_, ()>;
}
