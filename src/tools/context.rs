//! The per-call context handed down the pipeline: request id, caller, cancellation, and the link back to the
//! client ([`super::client`]).
//!
//! A tool reports progress, writes log lines and asks the client things only through [`CallCtx`]; whether
//! anything reaches the client, and how, is the transport's business behind the [`ClientLink`].

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::client::{Ask, ClientLink, LogLevel, Progress, Question};
use crate::auth::Caller;
use crate::error::{ErrorCode, GatewayError};

/// Everything a tool call carries besides its arguments.
#[derive(Clone, Debug)]
pub struct CallCtx {
    pub request_id: Arc<str>,
    /// Who is calling: decides which tools exist for this call, and names the audit entry.
    pub caller: Caller,
    pub cancel: CancellationToken,
    /// The way back to the client, when the transport has one.
    pub client: Option<ClientLink>,
    /// 0 for a call a client made; one more for each call a tool makes through the pipeline ([`Self::nested`]).
    pub depth: u8,
}

/// How deep tools may call tools (`call_llm` running a tool that runs `call_llm` ...).
pub const MAX_CALL_DEPTH: u8 = 4;

impl CallCtx {
    /// A context with no client link: REST endpoints, the CLI, tests.
    #[must_use]
    pub fn detached(request_id: impl Into<Arc<str>>, caller: Caller) -> Self {
        Self { request_id: request_id.into(), caller, cancel: CancellationToken::new(), client: None, depth: 0 }
    }

    /// The context for a call a tool makes through the pipeline on its caller's behalf: same request id, caller,
    /// cancellation and client link, one level deeper. Progress stays with the outer call (its progress is the
    /// outer tool's to report), so nested tools report none.
    pub fn nested(&self) -> Result<Self, GatewayError> {
        if self.depth >= MAX_CALL_DEPTH {
            return Err(GatewayError::invalid_request(format!(
                "tools calling tools may nest at most {MAX_CALL_DEPTH} levels deep"
            )));
        }
        Ok(Self { depth: self.depth + 1, ..self.clone() })
    }

    /// Report progress, when the client asked for it (the outermost call only).
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(client) = self.client.as_ref().filter(|_| self.depth == 0) else { return };
        client.progress(Progress { progress, total, message }).await;
    }

    /// Send a log line to the client, if its chosen level lets it through.
    pub async fn log(&self, level: LogLevel, logger: &str, data: Value) {
        if let Some(client) = &self.client {
            client.log(level, logger, data).await;
        }
    }

    /// What an earlier round of this request recorded under `key` ([`super::client::ClientChannel::recall`]).
    #[must_use]
    pub fn recall(&self, key: &str) -> Option<Value> {
        self.client.as_ref().and_then(|c| c.recall(key))
    }

    /// Record a step's result for the next round of this request, if there can be one.
    pub fn remember(&self, key: &str, value: Value) {
        if let Some(client) = &self.client {
            client.remember(key, value);
        }
    }

    /// Continue as a task from here, when the call is a task call that asks questions first
    /// ([`super::client::ClientChannel::become_task`]).
    pub async fn become_task(&self) -> Result<(), GatewayError> {
        match &self.client {
            Some(client) => client.become_task().await,
            None => Ok(()),
        }
    }

    /// Ask the client one question (its answer comes back under `key`) and wait for the answer.
    pub async fn ask_client(&self, key: &str, question: Question) -> Result<Value, GatewayError> {
        let mut answers = self.ask_all(vec![Ask { key: key.to_owned(), question, optional: false }]).await?;
        answers.pop().ok_or_else(|| GatewayError::internal("asking the client", &"no answer came back"))
    }

    /// Ask the client several questions at once and wait for every answer (in the order asked).
    pub async fn ask_all(&self, questions: Vec<Ask>) -> Result<Vec<Value>, GatewayError> {
        let Some(client) = &self.client else {
            let kinds: Vec<&str> = questions.iter().map(|a| a.question.kind()).collect();
            return Err(GatewayError::new(
                ErrorCode::Unsupported,
                format!("asking the client ({}) needs an MCP client connection", kinds.join(", ")),
            ));
        };
        client.ask(questions).await
    }
}
