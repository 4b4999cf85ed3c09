//! The limits section: what one request, one call and one connection may take (sizes, depths, deadlines,
//! stalls), how many may run or wait at once, and how much an upstream may send back.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ConfigError;
use super::raw::RawConfig;
use super::values::{positive, positive_secs};

/// Bounds on requests, calls, connections, sessions, streams and upstreams.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    /// Deadline of requests that do not run a tool.
    pub request_timeout: Duration,
    /// Default deadline of one tool call.
    pub call_timeout: Duration,
    /// How long a connection may take to send a complete request head.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait, with no request in flight, for its next request.
    pub idle_timeout: Duration,
    pub max_concurrent_calls: usize,
    pub call_queue: usize,
    pub max_streams: usize,
    pub max_sessions: usize,
    /// An MCP session unused this long is forgotten.
    pub session_idle: Duration,
    /// How long a 2026-07-28 `requestState` stays valid.
    pub request_state_ttl: Duration,
    /// A comment line sent on idle SSE streams this often.
    pub sse_keepalive: Duration,
    /// The largest upstream answer read into memory (JSON APIs; media downloads have their own cap).
    pub upstream_max_answer_bytes: u64,
    /// Requests in flight per upstream provider, and per-provider overrides.
    pub provider_concurrency: usize,
    pub provider_concurrency_overrides: BTreeMap<String, usize>,
}

impl LimitSettings {
    pub(super) fn validate(raw: &RawConfig) -> Result<Self, ConfigError> {
        if let Some((provider, _)) = raw.provider_concurrency_overrides.iter().find(|(_, cap)| **cap == 0) {
            return Err(ConfigError::key(
                "provider_concurrency_overrides",
                format!("{provider}: must be greater than 0"),
            ));
        }
        Ok(Self {
            max_body_bytes: usize::try_from(raw.max_body_bytes)
                .ok()
                .filter(|n| *n >= 1024)
                .ok_or_else(|| ConfigError::key("max_body_bytes", "must be at least 1024"))?,
            max_json_depth: positive("max_json_depth", raw.max_json_depth)?,
            request_timeout: positive_secs("request_timeout_secs", raw.request_timeout_secs)?,
            call_timeout: positive_secs("call_timeout_secs", raw.call_timeout_secs)?,
            header_read_timeout: positive_secs("header_read_timeout_secs", raw.header_read_timeout_secs)?,
            idle_timeout: positive_secs("idle_timeout_secs", raw.idle_timeout_secs)?,
            max_concurrent_calls: positive("max_concurrent_calls", raw.max_concurrent_calls)?,
            call_queue: raw.call_queue,
            max_streams: positive("max_streams", raw.max_streams)?,
            max_sessions: positive("max_sessions", raw.max_sessions)?,
            session_idle: positive_secs("session_idle_secs", raw.session_idle_secs)?,
            request_state_ttl: positive_secs("request_state_ttl_secs", raw.request_state_ttl_secs)?,
            sse_keepalive: positive_secs("sse_keepalive_secs", raw.sse_keepalive_secs)?,
            upstream_max_answer_bytes: Some(raw.upstream_max_answer_bytes)
                .filter(|n| *n >= 1024)
                .ok_or_else(|| ConfigError::key("upstream_max_answer_bytes", "must be at least 1024"))?,
            provider_concurrency: positive("provider_concurrency", raw.provider_concurrency)?,
            provider_concurrency_overrides: raw.provider_concurrency_overrides.clone(),
        })
    }
}
