//! OpenAI Realtime client secrets: `POST {REALTIME_BASE_URL}/v1/realtime/client_secrets` with the long-lived
//! key as bearer and `{expires_after: {anchor: "created_at", seconds}, session}` → `{value, expires_at,
//! session}`. The browser gets only the short-lived `value` and its expiry; the long-lived key never leaves
//! the server, not even inside an error (an upstream that echoes it back is scrubbed).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::upstream::{Outgoing, Upstream};
use crate::config::ExposeOption;
use crate::config::RealtimeSettings;
use crate::error::{ErrorCode, GatewayError};

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// A minted short-lived key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecret {
    /// The ephemeral key (`ek_...`) the browser presents to the Realtime calls endpoint.
    pub value: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// The missing setting, as a `not_configured` error.
#[must_use]
pub fn not_configured() -> GatewayError {
    GatewayError::new(
        ErrorCode::NotConfigured,
        "the Realtime provider is not configured: set OPENAI_API_KEY (or AI_PORTAL_TOKEN)",
    )
    .with_details(json!({"provider": "realtime", "missing": "OPENAI_API_KEY"}))
}

/// Mint a client secret for `session` (the provider's session object).
pub async fn mint_client_secret(
    settings: &RealtimeSettings,
    upstream: &Upstream<'_>,
    session: Value,
    request_id: &str,
    deadline: Instant,
) -> Result<ClientSecret, GatewayError> {
    let key = settings.api_key.exposed().ok_or_else(not_configured)?;
    let request = Outgoing {
        method: reqwest::Method::POST,
        url: format!("{}/v1/realtime/client_secrets", settings.base_url),
        headers: vec![("authorization".to_owned(), format!("Bearer {key}"))],
        query: Vec::new(),
        body: Some(json!({
            "expires_after": {"anchor": "created_at", "seconds": settings.secret_ttl.as_secs()},
            "session": session,
        })),
        // Minting twice only makes a second short-lived key: safe to retry.
        idempotent: true,
        timeout: ATTEMPT_TIMEOUT,
    };
    let answer = upstream.send(&request, request_id, deadline).await.map_err(|e| scrub(e, key))?;
    answer.error_for_status("realtime").map_err(|e| scrub(e, key))?;
    let body = answer.json("realtime").map_err(|e| scrub(e, key))?;
    let value = body.get("value").and_then(Value::as_str).filter(|v| !v.is_empty());
    let expires_at = body.get("expires_at").and_then(Value::as_i64);
    match (value, expires_at) {
        (Some(value), Some(expires_at)) if value != key => Ok(ClientSecret { value: value.to_owned(), expires_at }),
        _ => Err(GatewayError::new(
            ErrorCode::UpstreamError,
            "the Realtime provider answered without a usable client secret (`value`, `expires_at`)",
        )
        .with_details(json!({"provider": "realtime"}))),
    }
}

/// Replace every occurrence of the key in an error's message and details.
fn scrub(err: GatewayError, key: &str) -> GatewayError {
    let clean = |text: &str| text.replace(key, "[redacted]");
    let details = match serde_json::to_string(&err.details) {
        Ok(text) if text.contains(key) => serde_json::from_str(&clean(&text)).unwrap_or(Value::Null),
        _ => err.details,
    };
    GatewayError { message: clean(&err.message), details, ..err }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lose_the_key_wherever_it_appears() {
        let err = GatewayError::new(ErrorCode::UpstreamError, "bad key sk-live-123")
            .with_details(json!({"upstream": {"error": {"message": "Incorrect API key provided: sk-live-123"}}}));
        let clean = scrub(err, "sk-live-123");
        assert!(!clean.message.contains("sk-live-123"));
        assert!(!clean.details.to_string().contains("sk-live-123"));
        assert!(clean.details.to_string().contains("[redacted]"));
    }
}
