//! The handshake era's side of the client link: what a session knows about its client ([`Peer`]: declared
//! capabilities, chosen log level, server→client requests awaiting answers), and [`StreamLink`], the
//! [`ClientChannel`] that turns a call's progress, log lines and questions into JSON-RPC notifications and
//! requests on an outgoing stream (an SSE response or a legacy HTTP+SSE stream). Answers come back through
//! [`Peer::resolve`] when the client POSTs its response.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::shared_sessions::new_replica_id;
use crate::error::{ErrorCode, GatewayError};
use crate::tools::{Ask, ChannelFuture, ClientChannel, LogLevel, Progress, Question};

type Pending = HashMap<String, oneshot::Sender<Result<Value, Value>>>;

/// What a session knows about its client.
#[derive(Debug)]
pub struct Peer {
    /// The replica's id, which prefixes the ids of server→client requests (see [`Peer::of_replica`]).
    replica: Arc<str>,
    capabilities: OnceLock<Value>,
    log_level: AtomicU8,
    next_id: AtomicU64,
    pending: Mutex<Pending>,
}

impl Peer {
    /// A peer whose capabilities are already known.
    #[must_use]
    pub fn new(capabilities: Value) -> Self {
        let peer = Self::default();
        peer.set_capabilities(capabilities);
        peer
    }

    /// A peer of the replica `replica`: the ids of its requests to the client are unique among replicas, so an
    /// answer reaching any replica of a shared session finds the request it answers.
    #[must_use]
    pub fn of_replica(replica: Arc<str>) -> Self {
        Self { replica, ..Self::default() }
    }

    /// Record the capabilities the client declared at `initialize` (first one wins).
    pub fn set_capabilities(&self, capabilities: Value) {
        let _ = self.capabilities.set(capabilities);
    }

    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level.rank(), Ordering::Relaxed);
    }

    /// Does the client's chosen level let a line of `level` through?
    #[must_use]
    pub fn log_enabled(&self, level: LogLevel) -> bool {
        level.rank() >= self.log_level.load(Ordering::Relaxed)
    }

    fn supports(&self, capability: &str) -> bool {
        self.capabilities.get().and_then(|c| c.get(capability)).is_some_and(|c| !c.is_null())
    }

    /// Deliver a client's response to a server-initiated request. Returns false when nobody waits for `id`.
    pub fn resolve(&self, id: &Value, outcome: Result<Value, Value>) -> bool {
        let sender = self.lock_pending().remove(&id.to_string());
        sender.is_some_and(|tx| tx.send(outcome).is_ok())
    }

    /// Does a server→client request of this replica wait for its answer?
    #[must_use]
    pub fn awaits_answers(&self) -> bool {
        !self.lock_pending().is_empty()
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent: take it back.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for Peer {
    fn default() -> Self {
        Self {
            replica: new_replica_id(),
            capabilities: OnceLock::new(),
            log_level: AtomicU8::new(LogLevel::Info.rank()),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        }
    }
}

/// The JSON-RPC method and params of a question, and the client capability it needs (named like its kind).
pub fn request_of(question: Question) -> (&'static str, Value, &'static str) {
    let capability = question.kind();
    match question {
        Question::Sampling(params) => ("sampling/createMessage", params, capability),
        Question::Elicitation(params) => ("elicitation/create", params, capability),
        Question::Roots => ("roots/list", json!({}), capability),
    }
}

/// `notifications/progress` for the request whose progress token is `token` (both eras send it alike).
#[must_use]
pub fn progress_notification(token: &Value, update: &Progress<'_>) -> Value {
    let mut params = json!({"progressToken": token, "progress": update.progress});
    if let Some(total) = update.total {
        params["total"] = json!(total);
    }
    if let Some(message) = update.message {
        params["message"] = json!(message);
    }
    json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
}

/// `notifications/message`: one log line.
#[must_use]
pub fn log_notification(level: LogLevel, logger: &str, data: Value) -> Value {
    let params = json!({"level": level.as_str(), "logger": logger, "data": data});
    json!({"jsonrpc": "2.0", "method": "notifications/message", "params": params})
}

/// A call's messages as JSON-RPC on an outgoing stream.
#[derive(Debug)]
pub struct StreamLink {
    outgoing: mpsc::Sender<Value>,
    /// Present when the client has a session, so its answers can be routed back and its log level read.
    peer: Option<Arc<Peer>>,
    /// The request's `_meta.progressToken`: without one, progress is not reported.
    progress_token: Option<Value>,
    /// The call's cancellation: a question stops waiting when the call is cancelled.
    cancel: CancellationToken,
}

impl StreamLink {
    #[must_use]
    pub fn new(
        outgoing: mpsc::Sender<Value>,
        peer: Option<Arc<Peer>>,
        progress_token: Option<Value>,
        cancel: CancellationToken,
    ) -> Self {
        Self { outgoing, peer, progress_token, cancel }
    }

    async fn send(&self, message: Value) {
        // A closed channel means the caller stopped listening; notifications are best effort.
        let _ = self.outgoing.send(message).await;
    }

    async fn ask_on_stream(&self, question: Question) -> Result<Value, GatewayError> {
        let (method, params, capability) = request_of(question);
        let unsupported = |why: &str| GatewayError::new(ErrorCode::Unsupported, format!("`{method}` needs {why}"));
        let peer = self.peer.as_ref().ok_or_else(|| unsupported("an MCP session (send initialize first)"))?;
        if !peer.supports(capability) {
            return Err(unsupported(&format!("a client that declared the `{capability}` capability")));
        }
        let id = json!(format!("{}-{}", peer.replica, peer.next_id.fetch_add(1, Ordering::Relaxed)));
        let (tx, rx) = oneshot::channel();
        peer.lock_pending().insert(id.to_string(), tx);
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.outgoing.send(request).await.is_err() {
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

impl ClientChannel for StreamLink {
    fn progress<'a>(&'a self, update: Progress<'a>) -> ChannelFuture<'a, ()> {
        Box::pin(async move {
            let Some(token) = &self.progress_token else { return };
            self.send(progress_notification(token, &update)).await;
        })
    }

    fn log<'a>(&'a self, level: LogLevel, logger: &'a str, data: Value) -> ChannelFuture<'a, ()> {
        Box::pin(async move {
            // Only sessions chose a level; stateless callers never asked for log lines.
            if !self.peer.as_ref().is_some_and(|p| p.log_enabled(level)) {
                return;
            }
            self.send(log_notification(level, logger, data)).await;
        })
    }

    fn ask(&self, questions: Vec<Ask>) -> ChannelFuture<'_, Result<Vec<Value>, GatewayError>> {
        Box::pin(async move {
            // One server→client request at a time, in order: each waits for its answer.
            let mut answers = Vec::with_capacity(questions.len());
            for ask in questions {
                let answerable = self.peer.as_ref().is_some_and(|p| p.supports(ask.question.kind()));
                if ask.optional && !answerable {
                    answers.push(Value::Null);
                    continue;
                }
                answers.push(self.ask_on_stream(ask.question).await?);
            }
            Ok(answers)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Caller;
    use crate::tools::{CallCtx, ClientLink};

    fn ctx_with(tx: mpsc::Sender<Value>, peer: Option<Arc<Peer>>, token: Option<Value>) -> CallCtx {
        let mut ctx = CallCtx::detached("r", Caller::Anonymous);
        let link: ClientLink = Arc::new(StreamLink::new(tx, peer, token, ctx.cancel.clone()));
        ctx.client = Some(link);
        ctx
    }

    #[tokio::test]
    async fn progress_is_sent_only_with_a_token_and_only_by_the_outer_call() {
        let (tx, mut rx) = mpsc::channel(4);
        ctx_with(tx.clone(), None, None).progress(1.0, Some(2.0), None).await;
        assert!(rx.try_recv().is_err());
        let ctx = ctx_with(tx, None, Some(json!("tok")));
        ctx.nested().unwrap().progress(1.0, None, None).await;
        assert!(rx.try_recv().is_err(), "a nested call reports no progress of its own");
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
        let ctx = ctx_with(tx, Some(peer), None);
        ctx.log(LogLevel::Info, "t", json!("quiet")).await;
        ctx.log(LogLevel::Critical, "t", json!("loud")).await;
        assert_eq!(rx.try_recv().unwrap()["params"]["data"], "loud");
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_question_round_trips_through_resolve() {
        let (tx, mut rx) = mpsc::channel(4);
        let peer = Arc::new(Peer::new(json!({"sampling": {}})));
        let ctx = ctx_with(tx, Some(peer.clone()), None);
        let ask = tokio::spawn(async move { ctx.ask_client("q", Question::Sampling(json!({}))).await });
        let request = rx.recv().await.unwrap();
        assert_eq!(request["method"], "sampling/createMessage");
        assert!(peer.resolve(&request["id"], Ok(json!({"content": {"type": "text", "text": "hi"}}))));
        assert_eq!(ask.await.unwrap().unwrap()["content"]["text"], "hi");
    }

    #[tokio::test]
    async fn a_question_without_the_capability_is_unsupported() {
        let (tx, _rx) = mpsc::channel(4);
        let ctx = ctx_with(tx, Some(Arc::new(Peer::new(json!({})))), None);
        let err = ctx.ask_client("q", Question::Elicitation(json!({}))).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unsupported);
    }

    #[tokio::test]
    async fn a_cancelled_call_stops_waiting_for_its_answer() {
        let (tx, _rx) = mpsc::channel(4);
        let ctx = ctx_with(tx, Some(Arc::new(Peer::new(json!({"roots": {}})))), None);
        ctx.cancel.cancel();
        let err = ctx.ask_client("q", Question::Roots).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Cancelled);
    }
}
