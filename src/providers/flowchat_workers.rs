//! The FlowChat workers: the users' own REST services for database writes (validation + persistence), PDF
//! documents, storage uploads and email. JSON in and out, the shared secret in a configurable header
//! (`X-FlowChat-Worker-Auth` by default), `X-Request-ID` forwarded by the upstream client.
//!
//! A write answered without `validated: true` is a `validation_failed` error carrying the worker's
//! discrepancies, never a silent success (HTTP 422 on the REST endpoints, as in the seed).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::upstream::{Outgoing, Upstream};
use crate::config::ExposeOption;
use crate::config::FlowChatWorkerSettings;
use crate::error::{ErrorCode, GatewayError};

/// Statuses worth another attempt for an idempotent worker call: the seed retried 5xx, and 408/429 say "later".
pub const TRANSIENT: &[u16] = &[408, 429, 500, 502, 503, 504];

/// Which worker service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    Database,
    Document,
    Storage,
    Email,
}

impl Worker {
    /// Parse the name used in specs.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "database" => Some(Self::Database),
            "document" => Some(Self::Document),
            "storage" => Some(Self::Storage),
            "email" => Some(Self::Email),
            _ => None,
        }
    }

    /// The name used in specs, messages and metrics labels.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Document => "document",
            Self::Storage => "storage",
            Self::Email => "email",
        }
    }

    /// The setting holding its base URL.
    #[must_use]
    pub fn url_setting(self) -> &'static str {
        match self {
            Self::Database => "DATABASE_WORKER_URL",
            Self::Document => "DOCUMENT_WORKER_URL",
            Self::Storage => "STORAGE_WORKER_URL",
            Self::Email => "EMAIL_WORKER_URL",
        }
    }

    /// The configured base URL, if any.
    #[must_use]
    pub fn base_url(self, settings: &FlowChatWorkerSettings) -> Option<&str> {
        match self {
            Self::Database => settings.database.as_deref(),
            Self::Document => settings.document.as_deref(),
            Self::Storage => settings.storage.as_deref(),
            Self::Email => settings.email.as_deref(),
        }
    }
}

/// The setting holding the shared secret.
pub const AUTH_KEY_SETTING: &str = "WORKER_AUTH_KEY";

/// One call to a worker.
#[derive(Debug)]
pub struct WorkerCall<'a> {
    pub worker: Worker,
    pub method: reqwest::Method,
    /// Path under the worker's base URL, starting with `/`.
    pub path: &'a str,
    pub body: Option<Value>,
    /// A write: the answer must carry `validated: true`.
    pub require_validated: bool,
    pub idempotent: bool,
    pub timeout: Duration,
}

fn not_configured(worker: Worker, setting: &str) -> GatewayError {
    GatewayError::new(
        ErrorCode::NotConfigured,
        format!("the FlowChat {} worker is not configured: set {setting}", worker.name()),
    )
    .with_details(json!({"provider": "workers", "worker": worker.name(), "missing": setting}))
}

/// Call a worker and return its JSON answer.
pub async fn call(
    settings: &FlowChatWorkerSettings,
    upstream: &Upstream<'_>,
    call: WorkerCall<'_>,
    request_id: &str,
    deadline: Instant,
) -> Result<Value, GatewayError> {
    let worker = call.worker;
    let base = worker.base_url(settings).ok_or_else(|| not_configured(worker, worker.url_setting()))?;
    let key = settings.auth_key.exposed().ok_or_else(|| not_configured(worker, AUTH_KEY_SETTING))?;
    let request = Outgoing {
        method: call.method,
        url: format!("{base}{}", call.path),
        headers: vec![(settings.auth_header.clone(), key.to_owned())],
        query: Vec::new(),
        body: call.body,
        idempotent: call.idempotent,
        timeout: call.timeout,
    };
    let answer = upstream.send(&request, request_id, deadline).await?;
    answer.error_for_status(upstream.provider)?;
    // Workers speak JSON: anything else (an HTML error page from a proxy, a truncated body) is not an answer.
    let value = answer.json(&format!("the {} worker", worker.name())).map_err(|mut err| {
        err.details["worker"] = json!(worker.name());
        err.details["provider"] = json!("workers");
        err
    })?;
    if call.require_validated {
        check_validated(worker, call.path, &value)?;
    }
    Ok(value)
}

/// A write counts only when the worker says `validated: true`.
fn check_validated(worker: Worker, path: &str, answer: &Value) -> Result<(), GatewayError> {
    if answer.get("validated") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    let discrepancies = answer.get("discrepancies").cloned().unwrap_or(Value::Null);
    let listed = match &discrepancies {
        Value::Null => "the worker gave no `validated: true` and no discrepancies".to_owned(),
        Value::Array(items) if items.is_empty() => "the worker did not validate the data".to_owned(),
        Value::Array(items) => {
            items.iter().map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    };
    Err(GatewayError::new(ErrorCode::ValidationFailed, format!("Validation failed: {listed}")).with_details(json!({
        "provider": "workers",
        "worker": worker.name(),
        "path": path,
        "validated": answer.get("validated").cloned().unwrap_or(Value::Null),
        "discrepancies": discrepancies,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_validated_true_passes() {
        assert!(check_validated(Worker::Database, "/x", &json!({"validated": true, "id": 1})).is_ok());
        for answer in [json!({"validated": "true"}), json!({"id": 1}), json!(null), json!({"validated": false})] {
            let err = check_validated(Worker::Database, "/x", &answer).unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationFailed, "{answer}");
        }
        let err = check_validated(
            Worker::Database,
            "/facture/create",
            &json!({"validated": false, "discrepancies": ["montant must be positive", {"field": "tva"}]}),
        )
        .unwrap_err();
        assert_eq!(err.message, r#"Validation failed: montant must be positive; {"field":"tva"}"#);
        assert_eq!(err.details["discrepancies"][0], "montant must be positive");
        assert!(!err.retryable);
    }
}
