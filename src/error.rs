//! The one error type every layer answers with.
//!
//! Policy:
//! - Every failure is a [`GatewayError`]: a stable [`ErrorCode`], a message a person can act on, optional
//!   `details` (JSON), and whether retrying may help. The request id is attached by whichever edge encodes it.
//! - Each code maps, exhaustively and in one place, to an HTTP status and a JSON-RPC error code, so a new code
//!   forces a decision about both. Refused access is the server-defined [`ACCESS_REFUSED`] and "try later"
//!   [`TRY_LATER`], never -32603 (internal error); `data.code` always carries the gateway's code.
//! - Internal faults never leak their text to callers: build them with [`GatewayError::internal`], which logs
//!   the cause and answers a fixed message. The cause stays with the error (`cause`, never serialized), so the HTTP access log line of the request that failed names it too.
//! - There is no blanket `From<E: Error>`: every conversion is written on purpose.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// JSON-RPC code of a refused authentication or authorization (`data.code`: `unauthorized` or `forbidden`).
pub const ACCESS_REFUSED: i64 = -32010;
/// JSON-RPC code of a request refused for now: rate limited or overloaded (`data.retryable` is true).
pub const TRY_LATER: i64 = -32011;

/// Stable, documented error codes. Clients may branch on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not a well-formed request.
    InvalidRequest,
    /// Arguments do not match the tool's input schema, or a parameter is malformed.
    InvalidParams,
    /// No tool (or action) by that name.
    UnknownTool,
    /// No such resource, prompt or route.
    NotFound,
    /// No usable credentials.
    Unauthorized,
    /// Credentials are valid but lack the scope.
    Forbidden,
    /// Too many requests for this caller.
    RateLimited,
    /// The tool's provider has no configuration on this gateway.
    NotConfigured,
    /// The tool ran and reported failure (an MCP error result).
    ToolError,
    /// The upstream answered with an error.
    UpstreamError,
    /// The upstream could not be reached.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream refused to validate a write.
    ValidationFailed,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The content type is not one this endpoint reads.
    UnsupportedMediaType,
    /// The call ran past its deadline.
    Timeout,
    /// The caller cancelled the call.
    Cancelled,
    /// The gateway is at a capacity limit.
    Overloaded,
    /// The request needs a protocol feature the caller's session does not offer.
    Unsupported,
    /// The call asked its client something that only the client's next request can answer (2026-07-28
    /// multi-round-trip requests): the MCP layer turns it into an `input_required` result, never an error.
    InputRequired,
    /// A fault inside the gateway.
    Internal,
}

impl ErrorCode {
    /// The HTTP status for REST-style callers.
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidParams | Self::Unsupported | Self::InputRequired => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::UnknownTool | Self::NotFound => 404,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ValidationFailed => 422,
            Self::RateLimited => 429,
            Self::Cancelled => 499,
            Self::Internal => 500,
            Self::UpstreamError | Self::ToolError => 502,
            Self::NotConfigured | Self::UpstreamUnavailable | Self::Overloaded => 503,
            Self::UpstreamTimeout | Self::Timeout => 504,
        }
    }

    /// The JSON-RPC error code, used when the failure is a protocol error rather than a tool result.
    #[must_use]
    pub fn jsonrpc_code(self) -> i64 {
        match self {
            Self::InvalidRequest | Self::PayloadTooLarge | Self::UnsupportedMediaType => -32600,
            Self::InvalidParams | Self::UnknownTool | Self::Unsupported | Self::InputRequired => -32602,
            Self::NotFound => -32002,
            // Server-defined codes (JSON-RPC reserves -32000..-32099 for them); `data.code` names the reason.
            Self::Unauthorized | Self::Forbidden => ACCESS_REFUSED,
            Self::RateLimited | Self::Overloaded => TRY_LATER,
            Self::NotConfigured
            | Self::ToolError
            | Self::UpstreamError
            | Self::UpstreamUnavailable
            | Self::UpstreamTimeout
            | Self::ValidationFailed
            | Self::Timeout
            | Self::Cancelled
            | Self::Internal => -32603,
        }
    }

    /// Whether the same request may succeed later without change.
    #[must_use]
    pub fn retryable_by_default(self) -> bool {
        match self {
            Self::RateLimited
            | Self::UpstreamUnavailable
            | Self::UpstreamTimeout
            | Self::Timeout
            | Self::Overloaded => true,
            Self::InvalidRequest
            | Self::InvalidParams
            | Self::UnknownTool
            | Self::NotFound
            | Self::Unauthorized
            | Self::Forbidden
            | Self::NotConfigured
            | Self::ToolError
            | Self::UpstreamError
            | Self::ValidationFailed
            | Self::PayloadTooLarge
            | Self::UnsupportedMediaType
            | Self::Cancelled
            | Self::Unsupported
            | Self::InputRequired
            | Self::Internal => false,
        }
    }

    /// The code as its wire string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidParams => "invalid_params",
            Self::UnknownTool => "unknown_tool",
            Self::NotFound => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::NotConfigured => "not_configured",
            Self::ToolError => "tool_error",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::ValidationFailed => "validation_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Overloaded => "overloaded",
            Self::Unsupported => "unsupported",
            Self::InputRequired => "input_required",
            Self::Internal => "internal",
        }
    }
}

/// A typed failure with everything a caller needs to react.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub details: Value,
    pub retryable: bool,
    /// What went wrong inside, for operators: logged, never sent to callers.
    #[serde(skip)]
    pub cause: Option<Arc<str>>,
}

impl GatewayError {
    /// An error with the code's default retryability and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Value::Null,
            retryable: code.retryable_by_default(),
            cause: None,
        }
    }

    /// Attach structured details (never credentials).
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Override retryability (e.g. an upstream 503 is retryable even though `upstream_error` is not by default).
    #[must_use]
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Attach what went wrong inside (an OS error, a refused bucket): for the logs, never for callers.
    #[must_use]
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string().into());
        self
    }

    /// An internal fault: the cause is logged (errors of background work reach no access log) and kept, the
    /// caller gets a stable message.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{context}");
        Self::new(ErrorCode::Internal, format!("internal error while {context}")).with_cause(cause)
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unknown_tool(name: &str) -> Self {
        Self::new(ErrorCode::UnknownTool, format!("unknown tool `{name}`"))
            .with_details(serde_json::json!({ "tool": name }))
    }

    /// The JSON body shared by the REST-style encodings: `{code, message, details?, retryable, request_id}`.
    #[must_use]
    pub fn to_json(&self, request_id: &str) -> Value {
        let mut body = serde_json::json!({
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "request_id": request_id,
        });
        if !self.details.is_null() {
            body["details"] = self.details.clone();
        }
        body
    }
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_code_matches_as_str() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::UpstreamTimeout,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::NotConfigured,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), Value::from(code.as_str()));
        }
    }

    #[test]
    fn error_json_carries_request_id_and_retryable() {
        let err = GatewayError::new(ErrorCode::Overloaded, "busy");
        let body = err.to_json("req-1");
        assert_eq!(body["code"], "overloaded");
        assert_eq!(body["retryable"], true);
        assert_eq!(body["request_id"], "req-1");
        assert!(body.get("details").is_none());
    }

    #[test]
    fn an_internal_cause_is_kept_but_never_serialized() {
        let err = GatewayError::internal("reading a file", &"disk on fire");
        assert_eq!(err.cause.as_deref(), Some("disk on fire"));
        assert_eq!(err.message, "internal error while reading a file");
        let text = serde_json::to_string(&err).unwrap() + &err.to_json("r").to_string() + &err.to_string();
        assert!(!text.contains("disk on fire"), "{text}");
    }
}
