//! The link from a running call back to its client, without the protocol: a call reports progress, writes log
//! lines and asks the client [`Question`]s through a [`ClientChannel`]. How those reach the client (JSON-RPC
//! notifications on an SSE stream, server→client requests answered by a later POST, or an `input_required`
//! result the client answers by retrying) is the MCP layer's business; `tools` knows none of it.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::error::GatewayError;

/// A future a [`ClientChannel`] returns (boxed: the trait is used as `dyn`).
pub type ChannelFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Log levels (RFC 5424 order), as the client chooses them.
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

    /// The level as a number, for storing in an atomic.
    #[must_use]
    pub fn rank(self) -> u8 {
        self as u8
    }
}

/// What a call may ask its client. The parameters are the request's own (a sampling request's `messages`,
/// `maxTokens`, ...; an elicitation's `message` and `requestedSchema`).
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    /// Let the client's model write a message.
    Sampling(Value),
    /// Ask the person at the client for input.
    Elicitation(Value),
    /// Ask which roots (folders, URIs) the client exposes.
    Roots,
}

impl Question {
    /// Its kind, "sampling", "elicitation" or "roots": also the name of the client capability it needs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sampling(_) => "sampling",
            Self::Elicitation(_) => "elicitation",
            Self::Roots => "roots",
        }
    }
}

/// A question with the key its answer comes back under. Keys are the asking tool's (`user_name`, `confirm`):
/// stable across retries, unique within one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub key: String,
    pub question: Question,
    /// Skip the question (its answer is `null`) when the client cannot answer that kind.
    pub optional: bool,
}

/// One progress report of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress<'a> {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<&'a str>,
}

/// How a call reaches its client. Every method is best effort except [`ClientChannel::ask`], whose failure the
/// call sees: a client that cannot be asked, a refusal, a cancelled call, or an answer that must wait for the
/// client's next request (the `input_required` code).
pub trait ClientChannel: Send + Sync + Debug {
    /// Report progress (only when the client asked for progress reports).
    fn progress<'a>(&'a self, update: Progress<'a>) -> ChannelFuture<'a, ()>;
    /// Write a log line (only when the client's chosen level lets `level` through).
    fn log<'a>(&'a self, level: LogLevel, logger: &'a str, data: Value) -> ChannelFuture<'a, ()>;
    /// Ask the client one or more questions at once, and wait for the answers (in the order asked).
    fn ask(&self, questions: Vec<Ask>) -> ChannelFuture<'_, Result<Vec<Value>, GatewayError>>;

    /// What this call recorded under `key` in an earlier round of the same request, when the request is one
    /// the client repeats with its answers (2026-07-28): a step that already ran is not run again.
    fn recall(&self, _key: &str) -> Option<Value> {
        None
    }

    /// Record what a step produced, for the next round of the same request. Links whose client answers on
    /// the same request (the handshake era) keep nothing.
    fn remember(&self, _key: &str, _value: Value) {}

    /// The call reached the point where it continues as a task (2026-07-28 tasks extension): what it asked so
    /// far was answered over the request, what it asks from now on waits inside the task. Links that are not
    /// a task call's do nothing.
    fn become_task(&self) -> ChannelFuture<'_, Result<(), GatewayError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A call's link to its client, shared by the calls it makes.
pub type ClientLink = Arc<dyn ClientChannel>;
