//! The Model Context Protocol layer: JSON-RPC shapes, version rules, sessions, method dispatch, and the two
//! transports (Streamable HTTP, legacy HTTP+SSE). HTTP handlers in `http/` only route to these functions.
//!
//! The layer sees the application through [`Mcp`], the parts the composition root (`state`) hands it, so
//! `mcp` never imports `state`.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::tools::Engine;

pub mod call_result;
pub mod dispatch;
pub mod jsonrpc;
pub mod legacy_sse;
pub mod modern;
pub mod peer;
pub mod request_state;
pub mod session;
pub mod shared_sessions;
pub mod sse;
pub mod streamable;
pub mod tasks;
pub mod version;

/// What the MCP layer needs of the application.
#[derive(Debug)]
pub struct Mcp {
    pub config: Arc<Config>,
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
    /// The handshake-era sessions (this replica's, or its caches of those shared through Redis).
    pub sessions: Arc<session::SessionStore>,
    /// Cancelled on shutdown: SSE streams end, so the server can drain.
    pub shutdown: CancellationToken,
    /// One permit per open SSE stream.
    pub streams: Arc<Semaphore>,
    /// Seals the `requestState` of 2026-07-28 multi-round-trip requests.
    pub request_state: request_state::StateKey,
    /// The tool calls this replica runs as tasks (2026-07-28), with their waiting questions.
    pub live_tasks: Arc<modern::tool_tasks::LiveTasks>,
}

/// Cheap-to-clone handle on [`Mcp`], what transports move into their tasks.
pub type McpHandle = Arc<Mcp>;
