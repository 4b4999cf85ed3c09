//! Supabase RPC through PostgREST: `POST {SUPABASE_URL}/rest/v1/rpc/{function}` with a JSON object of named
//! arguments, headers `apikey` and `Authorization: Bearer` (the gateway's key, never the caller's), and
//! `Content-Profile` to pick a schema. `RETURNS void` answers 204 (the result is `null`); scalar functions return
//! a bare value, set-returning ones an array. Errors keep PostgREST's `{code, message, details, hint}` in the
//! gateway error's `details`. An RPC POST is retried only when the tool says the function is idempotent.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::upstream::{Outgoing, Upstream};
use crate::config::ExposeOption;
use crate::config::SupabaseSettings;
use crate::error::{ErrorCode, GatewayError};

/// What PostgREST documents as transient: the database is down or the pool timed out (503, 504), and
/// Cloudflare's 520 in front of Supabase. Other statuses are answers, not hiccups.
pub const TRANSIENT: &[u16] = &[503, 504, 520];

/// One RPC call.
#[derive(Debug)]
pub struct Rpc<'a> {
    pub function: &'a str,
    pub args: Value,
    pub schema: Option<&'a str>,
    pub idempotent: bool,
    pub timeout: Duration,
}

fn not_configured(setting: &str) -> GatewayError {
    GatewayError::new(ErrorCode::NotConfigured, format!("Supabase is not configured: set {setting}"))
        .with_details(json!({"provider": "supabase", "missing": setting}))
}

/// Call a Postgres function through PostgREST.
pub async fn call(
    settings: &SupabaseSettings,
    upstream: &Upstream<'_>,
    rpc: Rpc<'_>,
    request_id: &str,
    deadline: Instant,
) -> Result<Value, GatewayError> {
    let url = settings.url.as_deref().ok_or_else(|| not_configured("SUPABASE_URL"))?;
    let key = settings.api_key.exposed().ok_or_else(|| not_configured("SUPABASE_API_KEY"))?;
    let mut headers =
        vec![("apikey".to_owned(), key.to_owned()), ("authorization".to_owned(), format!("Bearer {key}"))];
    if let Some(schema) = rpc.schema {
        headers.push(("content-profile".to_owned(), schema.to_owned()));
    }
    let request = Outgoing {
        method: reqwest::Method::POST,
        url: format!("{url}/rest/v1/rpc/{}", rpc.function),
        headers,
        query: Vec::new(),
        body: Some(rpc.args),
        idempotent: rpc.idempotent,
        timeout: rpc.timeout,
    };
    let answer = upstream.send(&request, request_id, deadline).await?;
    answer.error_for_status("supabase")?;
    answer.json("supabase")
}
