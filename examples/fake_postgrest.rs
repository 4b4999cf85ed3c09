//! A fake Supabase PostgREST for the upstream-overhead benchmark (`bench/upstream.sh`) and for trying the FlowChat
//! READ tools by hand. It follows the PostgREST RPC contract the gateway's `supabase_rpc` binding speaks:
//!
//! - `POST /rest/v1/rpc/{function}` with a JSON object of named arguments;
//! - `apikey: <key>` and `Authorization: Bearer <key>` are required; without them (or with another key) it answers
//!   401 `{"message","hint"}` as Supabase's API gateway does;
//! - `search_entreprise_with_stats(p_search_term, p_limit default 10)` returns a JSON array of company statistics
//!   whose name contains the term (case-insensitive), at most `p_limit` rows; any other function, or arguments
//!   that match no signature, answer 404 `PGRST202`; a body that is not a JSON object answers 400 `PGRST102`;
//!   a `p_limit` that is not a non-negative integer answers 400 `22P02`, as Postgres would.
//!
//! It answers at once: no artificial delay, rows built once at start-up. The first 32 requests are written to
//! stderr as `request {json}` lines (function, headers with the key redacted, body), so a caller can check what the
//! gateway sent; later requests are not logged, to keep logging out of measurements.
//!
//! Usage: `SUPABASE_API_KEY=dev-key cargo run --release --example fake_postgrest -- 127.0.0.1:9400`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

/// Requests written to stderr before logging stops.
const LOGGED_REQUESTS: usize = 32;

/// The one function this fake serves.
const SEARCH_FUNCTION: &str = "search_entreprise_with_stats";

#[derive(Clone)]
struct Fake {
    key: Arc<str>,
    companies: Arc<Vec<Value>>,
    logged: Arc<AtomicUsize>,
}

/// A few companies with the statistics `search_entreprise_with_stats` returns (revenue, invoices, last contact).
fn companies() -> Vec<Value> {
    vec![
        json!({"id": "0b7c6f0e-2d1a-4c55-9a0e-6f1d2c3b4a51", "nom": "ACME Industries", "siret": "73282932000074",
              "ville": "Lyon", "secteur": "industrie", "statut": "client", "ca_total": 184_250.0, "nb_factures": 27,
              "nb_factures_impayees": 2, "derniere_interaction": "2026-11-18T14:32:00Z"}),
        json!({"id": "1c8d7a1f-3e2b-4d66-8b1f-7a2e3d4c5b62", "nom": "ACME Services", "siret": "44306184100047",
              "ville": "Paris", "secteur": "services", "statut": "client", "ca_total": 56_420.5, "nb_factures": 9,
              "nb_factures_impayees": 0, "derniere_interaction": "2026-11-02T09:10:00Z"}),
        json!({"id": "2d9e8b2a-4f3c-4e77-9c2a-8b3f4e5d6c73", "nom": "Acme Logistique Sud", "siret": "51234567800012",
              "ville": "Marseille", "secteur": "transport", "statut": "prospect", "ca_total": 0.0, "nb_factures": 0,
              "nb_factures_impayees": 0, "derniere_interaction": "2026-10-21T16:45:00Z"}),
        json!({"id": "3eaf9c3b-5a4d-4f88-8d3b-9c4a5f6e7d84", "nom": "Boulangerie Martin", "siret": "82345678900021",
              "ville": "Nantes", "secteur": "alimentation", "statut": "client", "ca_total": 12_980.0, "nb_factures": 14,
              "nb_factures_impayees": 1, "derniere_interaction": "2026-11-15T07:55:00Z"}),
        json!({"id": "4fb0ad4c-6b5e-4a99-9e4c-ad5b6a7f8e95", "nom": "Cabinet Durand Conseil", "siret": "39876543200035",
              "ville": "Bordeaux", "secteur": "conseil", "statut": "ancien_client", "ca_total": 31_700.0,
              "nb_factures": 6, "nb_factures_impayees": 0, "derniere_interaction": "2025-12-09T11:20:00Z"}),
    ]
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Supabase's API gateway refusing a request: `{"message","hint"}`.
fn unauthorized(message: &str, hint: &str) -> Response {
    json_response(StatusCode::UNAUTHORIZED, &json!({"message": message, "hint": hint}))
}

/// A PostgREST error: `{"code","message","details","hint"}`.
fn postgrest_error(status: StatusCode, code: &str, message: String, details: Option<String>) -> Response {
    json_response(status, &json!({"code": code, "message": message, "details": details, "hint": null}))
}

fn function_not_found(function: &str, args: &Map<String, Value>) -> Response {
    let names = args.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
    let searched = if names.is_empty() { "without parameters".to_owned() } else { format!("with parameters {names}") };
    postgrest_error(
        StatusCode::NOT_FOUND,
        "PGRST202",
        format!("Could not find the function public.{function}({names}) in the schema cache"),
        Some(format!(
            "Searched for the function public.{function} {searched} or with a single unnamed json/jsonb parameter, \
             but no matches were found in the schema cache."
        )),
    )
}

impl Fake {
    /// Supabase's refusal of a request without this fake's key in `apikey` and `Authorization: Bearer`, if any.
    fn key_refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(apikey) = text("apikey") else {
            return Some(unauthorized(
                "No API key found in request",
                "No `apikey` request header or url param was found.",
            ));
        };
        if apikey != &*self.key {
            return Some(unauthorized(
                "Invalid API key",
                "Double check your Supabase `anon` or `service_role` API key.",
            ));
        }
        let bearer = text("authorization").and_then(|v| v.strip_prefix("Bearer "));
        if bearer != Some(&*self.key) {
            return Some(unauthorized(
                "Invalid authentication credentials",
                "Send `Authorization: Bearer <key>` along with the `apikey` header.",
            ));
        }
        None
    }

    /// One `request {json}` line on stderr for each of the first requests, the key redacted.
    fn log_request(&self, function: &str, headers: &HeaderMap, body: &Bytes) {
        if self.logged.fetch_add(1, Ordering::Relaxed) >= LOGGED_REQUESTS {
            return;
        }
        let headers: Map<String, Value> = headers
            .iter()
            .map(|(name, value)| {
                let shown = match name.as_str() {
                    "apikey" | "authorization" => "<redacted>".to_owned(),
                    _ => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                };
                (name.as_str().to_owned(), Value::String(shown))
            })
            .collect();
        let line = json!({"function": function, "headers": headers, "body": String::from_utf8_lossy(body)});
        eprintln!("request {line}");
    }

    fn search(&self, args: &Map<String, Value>) -> Response {
        let known = args.keys().all(|name| name == "p_search_term" || name == "p_limit");
        let term = args.get("p_search_term").and_then(Value::as_str);
        let (true, Some(term)) = (known, term) else {
            return function_not_found(SEARCH_FUNCTION, args);
        };
        let limit = match args.get("p_limit") {
            None => 10,
            Some(value) => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => n,
                None => {
                    return postgrest_error(
                        StatusCode::BAD_REQUEST,
                        "22P02",
                        format!("invalid input syntax for type integer: {value}"),
                        None,
                    );
                }
            },
        };
        let term = term.to_lowercase();
        let rows: Vec<&Value> = self
            .companies
            .iter()
            .filter(|row| row["nom"].as_str().is_some_and(|nom| nom.to_lowercase().contains(&term)))
            .take(limit)
            .collect();
        json_response(StatusCode::OK, &rows)
    }
}

async fn rpc(State(fake): State<Fake>, Path(function): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    fake.log_request(&function, &headers, &body);
    if let Some(refusal) = fake.key_refusal(&headers) {
        return refusal;
    }
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(&body) else {
        return postgrest_error(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json".to_owned(), None);
    };
    if function == SEARCH_FUNCTION { fake.search(&args) } else { function_not_found(&function, &args) }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9400".into());
    let key = std::env::var("SUPABASE_API_KEY")
        .ok()
        .filter(|key| !key.is_empty())
        .ok_or_else(|| std::io::Error::other("set SUPABASE_API_KEY to the key callers must present"))?;
    let fake = Fake { key: key.into(), companies: Arc::new(companies()), logged: Arc::default() };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("fake PostgREST on {address}");
    let app = Router::new().route("/rest/v1/rpc/{function}", post(rpc)).with_state(fake);
    axum::serve(listener, app).await
}
