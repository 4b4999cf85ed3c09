//! The per-call context handed down the pipeline: request id, cancellation, and the link back to the client.
//!
//! A tool reports progress, writes log messages and asks the client things (sampling, elicitation) only through
//! [`CallCtx`]; whether anything reaches the client is the transport's business. Messages go out on an mpsc
//! channel that the MCP transport drains (an SSE response, or a legacy SSE stream); answers to server-initiated
//! requests come back through [`Peer::resolve`], which the transport calls when the client POSTs a response.
//! This module knows JSON-RPC message shapes but nothing of HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::auth::Caller;
use crate::error::{ErrorCode, GatewayError};

/// MCP log levels (RFC 5424 order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug = 0,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl LogLevel {
    const ALL: [Self; 8] = [
        Self::Debug,
        Self::Info,
        Self::Notice,
        Self::Warning,
        Self::Error,
        Self::Critical,
        Self::Alert,
        Self::Emergency,
    ];

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
            Self::Alert => "alert",
            Self::Emergency => "emergency",
        }
    }
}

/// What a session knows about its client: capabilities, chosen log level, and server requests awaiting answers.
#[derive(Debug)]
pub struct Peer {
    capabilities: OnceLock<Value>,
    log_level: AtomicU8,
    next_id: AtomicU64,
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
}

impl Peer {
    /// A peer whose capabilities are already known.
    #[must_use]
    pub fn new(capabilities: Value) -> Self {
        let peer = Self::default();
        peer.set_capabilities(capabilities);
        peer
    }

    /// Record the capabilities the client declared at `initialize` (first one wins).
    pub fn set_capabilities(&self, capabilities: Value) {
        let _ = self.capabilities.set(capabilities);
    }

    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level as u8, Ordering::Relaxed);
    }

    fn log_enabled(&self, level: LogLevel) -> bool {
        level as u8 >= self.log_level.load(Ordering::Relaxed)
    }

    fn supports(&self, capability: &str) -> bool {
        self.capabilities.get().and_then(|c| c.get(capability)).is_some_and(|c| !c.is_null())
    }

    /// Deliver a client's response to a server-initiated request. Returns false when nobody waits for `id`.
    pub fn resolve(&self, id: &Value, outcome: Result<Value, Value>) -> bool {
        let sender = self.lock_pending().remove(&id.to_string());
        sender.is_some_and(|tx| tx.send(outcome).is_ok())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Result<Value, Value>>>> {
        // A panic while holding this lock cannot leave the map inconsistent: take it back.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Peer {
    fn default() -> Self {
        Self {
            capabilities: OnceLock::new(),
            log_level: AtomicU8::new(LogLevel::Info as u8),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        }
    }
}

/// Where a call's messages to the client go.
#[derive(Clone, Debug)]
pub struct ClientLink {
    outgoing: mpsc::Sender<Value>,
    peer: Option<Arc<Peer>>,
}

impl ClientLink {
    /// `peer` is present when the client has a session, so its answers can be routed back.
    #[must_use]
    pub fn new(outgoing: mpsc::Sender<Value>, peer: Option<Arc<Peer>>) -> Self {
        Self { outgoing, peer }
    }
}

/// Everything a tool call carries besides its arguments.
#[derive(Clone, Debug)]
pub struct CallCtx {
    pub request_id: Arc<str>,
    /// Who is calling: decides which tools exist for this call, and names the audit entry.
    pub caller: Caller,
    pub cancel: CancellationToken,
    pub client: Option<ClientLink>,
    pub progress_token: Option<Value>,
    /// 0 for a call a client made; one more for each call a tool makes through the pipeline ([`Self::nested`]).
    pub depth: u8,
}

/// How deep tools may call tools (`call_llm` running a tool that runs `call_llm` ...).
pub const MAX_CALL_DEPTH: u8 = 4;

impl CallCtx {
    /// A context with no client link: REST endpoints, the CLI, tests.
    #[must_use]
    pub fn detached(request_id: impl Into<Arc<str>>, caller: Caller) -> Self {
        Self {
            request_id: request_id.into(),
            caller,
            cancel: CancellationToken::new(),
            client: None,
            progress_token: None,
            depth: 0,
        }
    }

    /// The context for a call a tool makes through the pipeline on its caller's behalf: same request id, caller,
    /// cancellation and client link, one level deeper. The progress token stays with the outer call (its
    /// progress is the outer tool's to report), so nested tools report none.
    pub fn nested(&self) -> Result<Self, GatewayError> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(GatewayError::invalid_request(format!(
                "tools calling tools may nest at most {MAX_CALL_DEPTH} levels deep"
            )));
        }
        Ok(Self { depth: self.depth + 1, progress_token: None, ..self.clone() })
    }

    /// Report progress, when the caller asked for it with a progress token.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let (Some(client), Some(token)) = (&self.client, &self.progress_token) else { return };
        let mut params = json!({"progressToken": token, "progress": progress});
        if let Some(total) = total {
            params["total"] = json!(total);
        }
        if let Some(message) = message {
            params["message"] = json!(message);
        }
        send(client, notification("notifications/progress", params)).await;
    }

    /// Send a log message to the client, if it has a session whose level lets it through.
    pub async fn log(&self, level: LogLevel, logger: &str, data: Value) {
        let Some(client) = &self.client else { return };
        if !client.peer.as_ref().is_some_and(|p| p.log_enabled(level)) {
            return;
        }
        let params = json!({"level": level.as_str(), "logger": logger, "data": data});
        send(client, notification("notifications/message", params)).await;
    }

    /// Ask the client something (`sampling/createMessage`, `elicitation/create`) and wait for its answer.
    pub async fn ask_client(&self, method: &str, params: Value, capability: &str) -> Result<Value, GatewayError> {
        let unsupported = |why: &str| GatewayError::new(ErrorCode::Unsupported, format!("`{method}` needs {why}"));
        let client = self.client.as_ref().ok_or_else(|| unsupported("an MCP client connection"))?;
        let peer = client.peer.as_ref().ok_or_else(|| unsupported("an MCP session (send initialize first)"))?;
        if !peer.supports(capability) {
            return Err(unsupported(&format!("a client that declared the `{capability}` capability")));
        }
        let id = json!(peer.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        peer.lock_pending().insert(id.to_string(), tx);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if client.outgoing.send(request).await.is_err() {
            peer.lock_pending().remove(&id.to_string());
            return Err(GatewayError::new(ErrorCode::Cancelled, "the client went away before it could be asked"));
        }
        let answer = tokio::select! {
            answer = rx => answer,
            () = self.cancel.cancelled() => {
                peer.lock_pending().remove(&id.to_string());
                return Err(GatewayError::new(ErrorCode::Cancelled, "the call was cancelled"));
            }
        };
        match answer {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(GatewayError::new(
                ErrorCode::UpstreamError,
                format!(
                    "the client refused `{method}`: {}",
                    error.get("message").and_then(Value::as_str).unwrap_or("no message")
                ),
            )
            .with_details(error)),
            Err(_) => Err(GatewayError::new(ErrorCode::Cancelled, "the session ended before the client answered")),
        }
    }
}

fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

async fn send(client: &ClientLink, message: Value) {
    // A closed channel means the caller stopped listening; notifications are best effort.
    let _ = client.outgoing.send(message).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_is_sent_only_with_a_token() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut ctx = CallCtx::detached("r", Caller::Anonymous);
        ctx.client = Some(ClientLink::new(tx, None));
        ctx.progress(1.0, Some(2.0), None).await;
        assert!(rx.try_recv().is_err());
        ctx.progress_token = Some(json!("tok"));
        ctx.progress(1.0, Some(2.0), Some("half")).await;
        let msg = rx.try_recv().unwrap();
        assert_eq!(msg["method"], "notifications/progress");
        assert_eq!(msg["params"]["progressToken"], "tok");
        assert_eq!(msg["params"]["message"], "half");
    }

    #[tokio::test]
    async fn log_respects_the_session_level() {
        let (tx, mut rx) = mpsc::channel(4);
        let peer = Arc::new(Peer::new(json!({})));
        peer.set_log_level(LogLevel::Error);
        let mut ctx = CallCtx::detached("r", Caller::Anonymous);
        ctx.client = Some(ClientLink::new(tx, Some(peer)));
        ctx.log(LogLevel::Info, "t", json!("quiet")).await;
        ctx.log(LogLevel::Critical, "t", json!("loud")).await;
        assert_eq!(rx.try_recv().unwrap()["params"]["data"], "loud");
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn ask_client_round_trips_through_resolve() {
        let (tx, mut rx) = mpsc::channel(4);
        let peer = Arc::new(Peer::new(json!({"sampling": {}})));
        let mut ctx = CallCtx::detached("r", Caller::Anonymous);
        ctx.client = Some(ClientLink::new(tx, Some(peer.clone())));
        let ask = tokio::spawn(async move { ctx.ask_client("sampling/createMessage", json!({}), "sampling").await });
        let request = rx.recv().await.unwrap();
        assert!(peer.resolve(&request["id"], Ok(json!({"content": {"type": "text", "text": "hi"}}))));
        assert_eq!(ask.await.unwrap().unwrap()["content"]["text"], "hi");
    }

    #[tokio::test]
    async fn ask_client_without_capability_is_unsupported() {
        let (tx, _rx) = mpsc::channel(4);
        let mut ctx = CallCtx::detached("r", Caller::Anonymous);
        ctx.client = Some(ClientLink::new(tx, Some(Arc::new(Peer::new(json!({}))))));
        let err = ctx.ask_client("elicitation/create", json!({}), "elicitation").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unsupported);
    }
}
