//! The shipped FlowChat WRITE and WORKFLOW tools (seed 002) end to end, through `POST /mcp/tools/call` and MCP
//! `tools/call`, against one fake back office: PostgREST for the reads and the four worker services (database,
//! document, storage, email) under their own base URLs. The fake records every request with its headers and the
//! time it started and ended, and answers failures on demand.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{SseStream, TestApp, shipped_tool_specs};
use mcp_gateway::auth::{ApiKey, NamePattern, Scope, digest};
use mcp_gateway::config::{FlowChatWorkerSettings, SupabaseSettings};
use serde_json::{Value, json};

const SECRET: &str = "worker-secret-7731";
const FACTURE: &str = "3f2b9c1e-8a4d-4e0f-9b7a-1c2d3e4f5a6b";
const ENTREPRISE: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const NEW_FACTURE: &str = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5";

/// One request the fake received.
#[derive(Debug, Clone)]
struct Hit {
    route: String,
    body: Value,
    auth: Option<String>,
    request_id: Option<String>,
    start: Instant,
    end: Instant,
}

#[derive(Clone, Default)]
struct BackOffice {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// route -> the status and body to answer instead of success.
    failures: Arc<Mutex<HashMap<String, (u16, Value)>>>,
    /// route -> a status answered once (with `Retry-After: 0`), then success.
    fail_once: Arc<Mutex<HashMap<String, u16>>>,
    /// Every route as a request arrives (before any hold).
    arrivals: Arc<Mutex<Vec<String>>>,
}

impl BackOffice {
    fn fail(&self, route: &str, status: u16, body: Value) {
        self.failures.lock().unwrap().insert(route.to_owned(), (status, body));
    }

    fn hits(&self, route: &str) -> Vec<Hit> {
        self.hits.lock().unwrap().iter().filter(|h| h.route == route).cloned().collect()
    }

    fn routes(&self) -> Vec<String> {
        self.hits.lock().unwrap().iter().map(|h| h.route.clone()).collect()
    }

    /// Serve, and return gateway settings pointing at it.
    async fn serve(self) -> (SupabaseSettings, FlowChatWorkerSettings) {
        let app = Router::new()
            .route("/rest/v1/rpc/{function}", post(rpc))
            .route("/{worker}/{*path}", post(worker))
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let supabase = SupabaseSettings { url: Some(base.clone()), api_key: Some("supabase-key".into()) };
        let workers = FlowChatWorkerSettings {
            database: Some(format!("{base}/db")),
            document: Some(format!("{base}/doc")),
            storage: Some(format!("{base}/storage")),
            email: Some(format!("{base}/email")),
            auth_key: Some(SECRET.into()),
            auth_header: "X-FlowChat-Worker-Auth".into(),
        };
        (supabase, workers)
    }

    /// Record the request, hold it `hold` (a back-end's latency), then answer.
    async fn answer(&self, route: String, headers: &HeaderMap, body: Value, hold: Duration, ok: Value) -> Response {
        let start = Instant::now();
        self.arrivals.lock().unwrap().push(route.clone());
        if let Some(status) = self.fail_once.lock().unwrap().remove(&route) {
            return (
                StatusCode::from_u16(status).unwrap(),
                [("retry-after", "0")],
                axum::Json(json!({"detail": "busy"})),
            )
                .into_response();
        }
        tokio::time::sleep(hold).await;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let failure = self.failures.lock().unwrap().get(&route).cloned();
        self.hits.lock().unwrap().push(Hit {
            route,
            body,
            auth: header("x-flowchat-worker-auth"),
            request_id: header("x-request-id"),
            start,
            end: Instant::now(),
        });
        match failure {
            Some((status, body)) => (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response(),
            None => axum::Json(ok).into_response(),
        }
    }
}

async fn rpc(
    State(office): State<BackOffice>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let answer = match function.as_str() {
        "get_facture_by_id" => json!({"id": body["p_facture_id"], "numero": "F-2026-0042", "montant_ttc": 1440.0}),
        other => json!([{"function": other, "received": body.0}]),
    };
    office.answer(format!("rpc/{function}"), &headers, body.0, Duration::from_millis(80), answer).await
}

async fn worker(
    State(office): State<BackOffice>,
    Path((worker, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let answer = match (worker.as_str(), path.as_str()) {
        ("doc", "garbage") => return (StatusCode::OK, "<html>Bad gateway</html>").into_response(),
        ("db", "slow") => {
            // Counted on arrival; the answer comes long after the gateway's deadline.
            office.arrivals.lock().unwrap().push("db/slow".into());
            tokio::time::sleep(Duration::from_secs(10)).await;
            return axum::Json(json!({"validated": true})).into_response();
        }
        ("db", "facture/create") => json!({"validated": true, "facture_id": NEW_FACTURE, "statut": "brouillon"}),
        ("db", _) => json!({"validated": true, "received": body.0}),
        ("doc", _) => json!({"pdf_base64": "JVBERi0xLjcK", "pages": 1}),
        ("storage", _) => json!({
            "public_url": format!("https://files.example.com/{}/{}", body["folder"].as_str().unwrap_or(""), body["filename"].as_str().unwrap_or("")),
            "size": 9
        }),
        ("email", _) => json!({"message_id": "msg-0001", "status": "sent"}),
        _ => json!({"error": "unknown worker"}),
    };
    office.answer(format!("{worker}/{path}"), &headers, body.0, Duration::ZERO, answer).await
}

async fn gateway(office: &BackOffice) -> TestApp {
    let (supabase, workers) = office.clone().serve().await;
    TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        config.supabase = supabase;
        config.flowchat_workers = workers;
    })
    .await
}

async fn rest_call(app: &TestApp, tool: &str, params: Value) -> (StatusCode, Value, String) {
    let response =
        app.post("/mcp/tools/call").json(&json!({"tool_name": tool, "params": params})).send().await.unwrap();
    let status = response.status();
    let request_id = common::header(&response, "x-request-id").unwrap();
    (status, response.json().await.unwrap(), request_id)
}

fn error_of(result: &Value) -> &Value {
    &result["_meta"]["mcp-gateway/error"]
}

/// Each WRITE tool, arguments a caller would send, and the database worker route it must reach.
fn writes() -> Vec<(&'static str, Value, &'static str)> {
    let lignes = json!([{"description": "Audit", "quantite": 2, "prix_unitaire_ht": 600}]);
    vec![
        ("upsert_entreprise", json!({"nom": "ACME SAS", "siret": "12345678901234"}), "db/entreprise/upsert"),
        ("upsert_qualification", json!({"entreprise_id": ENTREPRISE, "statut": "qualifie"}), "db/qualification/upsert"),
        ("create_facture", json!({"entreprise_id": ENTREPRISE, "lignes": lignes}), "db/facture/create"),
        ("update_facture", json!({"facture_id": FACTURE, "statut": "envoyee"}), "db/facture/update"),
        ("delete_facture", json!({"facture_id": FACTURE, "motif": "doublon"}), "db/facture/delete"),
        (
            "mark_facture_paid",
            json!({"facture_id": FACTURE, "montant": 1440.0, "moyen_paiement": "virement"}),
            "db/facture/mark-paid",
        ),
    ]
}

#[tokio::test]
async fn every_write_tool_reaches_the_database_worker_with_its_secret_over_rest_and_mcp() {
    let office = BackOffice::default();
    let app = gateway(&office).await;
    for (tool, args, route) in writes() {
        let (status, body, request_id) = rest_call(&app, tool, args.clone()).await;
        assert_eq!(status, StatusCode::OK, "{tool}: {body}");
        assert_eq!(body["success"], true, "{tool}: {body}");
        assert_eq!(body["result"]["validated"], true);
        let hit = office.hits(route).pop().unwrap_or_else(|| panic!("{tool} never reached {route}"));
        assert_eq!(hit.body, args, "{tool}: the worker receives exactly the caller's fields");
        assert_eq!(hit.auth.as_deref(), Some(SECRET), "{tool}: the worker secret is sent");
        assert_eq!(hit.request_id.as_deref(), Some(request_id.as_str()), "{tool}: the request id is forwarded");

        let before = office.hits(route).len();
        let mcp = app.call_tool(None, tool, args).await;
        assert_eq!(mcp["isError"], false, "{tool} over MCP: {mcp}");
        assert_eq!(office.hits(route).len(), before + 1);
    }
    // The Dragonfly listing carries tags: the FlowChat tools are the ones tagged `flowchat`.
    let listed: Value = app.get("/tools").send().await.unwrap().json().await.unwrap();
    let flowchat: Vec<&Value> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["function"])
        .filter(|f| f["tags"].as_array().unwrap().contains(&json!("flowchat")))
        .collect();
    let count = |category: &str| flowchat.iter().filter(|f| f["category"] == category).count();
    assert_eq!((count("read"), count("write"), count("workflow")), (11, 6, 4), "the 21 FlowChat tools of seed 002");
}

#[tokio::test]
async fn an_unvalidated_write_is_a_422_carrying_the_discrepancies_never_a_success() {
    let office = BackOffice::default();
    office.fail(
        "db/facture/create",
        200,
        json!({"validated": false, "discrepancies": ["montant_ht négatif", "TVA manquante"]}),
    );
    let app = gateway(&office).await;
    let args =
        json!({"entreprise_id": ENTREPRISE, "lignes": [{"description": "x", "quantite": 1, "prix_unitaire_ht": 5}]});

    let (status, body, _) = rest_call(&app, "create_facture", args.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"], "Validation failed: montant_ht négatif; TVA manquante");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["details"]["discrepancies"][1], "TVA manquante");

    let mcp = app.call_tool(None, "create_facture", args).await;
    assert_eq!(mcp["isError"], true);
    assert_eq!(error_of(&mcp)["code"], "validation_failed");
    assert!(mcp["content"][0]["text"].as_str().unwrap().contains("montant_ht négatif"), "{mcp}");

    // An answer that is not a validation verdict at all is refused the same way.
    office.fail("db/facture/update", 200, json!({"ok": true}));
    let (status, body, _) = rest_call(&app, "update_facture", json!({"facture_id": FACTURE, "notes": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn a_write_is_never_sent_twice_even_when_the_worker_answers_503() {
    let office = BackOffice::default();
    office.fail("db/facture/delete", 503, json!({"detail": "database busy"}));
    let app = gateway(&office).await;
    let (status, body, _) = rest_call(&app, "delete_facture", json!({"facture_id": FACTURE})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(body["error"]["details"]["upstream"]["detail"], "database busy", "the worker's own message is kept");
    assert_eq!(office.hits("db/facture/delete").len(), 1, "the write reached the worker exactly once");
    assert!(!body.to_string().contains(SECRET), "the worker secret never appears: {body}");
}

#[tokio::test]
async fn unconfigured_workers_are_listed_and_answer_not_configured_naming_the_setting() {
    let office = BackOffice::default();
    let (supabase, mut workers) = office.clone().serve().await;
    workers.database = None;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        config.supabase = supabase;
        config.flowchat_workers = workers;
    })
    .await;
    assert!(app.tool_names().await.contains(&"create_facture".to_owned()));
    let (status, body, _) = rest_call(&app, "mark_facture_paid", json!({"facture_id": FACTURE})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_configured");
    assert!(body["detail"].as_str().unwrap().contains("DATABASE_WORKER_URL"), "{body}");
    let ready: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["settings"]["DATABASE_WORKER_URL"], false, "{ready}");
    assert_eq!(ready["settings"]["WORKER_AUTH_KEY"], true, "{ready}");
    assert!(office.routes().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_monthly_report_reads_four_sources_concurrently_then_renders_and_uploads() {
    let office = BackOffice::default();
    let app = gateway(&office).await;
    let (status, body, _) =
        rest_call(&app, "generate_monthly_report", json!({"date_debut": "2026-10-01", "date_fin": "2026-10-31"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["pdf_url"], "https://files.example.com/rapports/rapport-2026-10-01.pdf");
    assert_eq!(body["result"]["revenus"][0]["received"]["p_group_by"], "jour");

    let reads: Vec<Hit> =
        ["get_revenue_stats", "get_unpaid_factures", "list_recent_interactions", "get_stats_entreprises"]
            .iter()
            .map(|f| office.hits(&format!("rpc/{f}")).pop().unwrap())
            .collect();
    let last_start = reads.iter().map(|h| h.start).max().unwrap();
    let first_end = reads.iter().map(|h| h.end).min().unwrap();
    assert!(last_start < first_end, "the four independent reads overlapped at the fake: {reads:#?}");

    let pdf = office.hits("doc/generate/report").pop().unwrap();
    assert!(pdf.start >= reads.iter().map(|h| h.end).max().unwrap(), "the PDF waited for every read");
    assert_eq!(pdf.body["periode"], json!({"debut": "2026-10-01", "fin": "2026-10-31"}));
    assert_eq!(pdf.body["crm"][0]["function"], "get_stats_entreprises");
    let upload = office.hits("storage/upload").pop().unwrap();
    assert_eq!(upload.body["content_base64"], "JVBERi0xLjcK", "the upload carries the rendered PDF");
    assert_eq!(upload.auth.as_deref(), Some(SECRET));
}

#[tokio::test]
async fn send_facture_email_reports_progress_per_step_and_records_the_sending() {
    let office = BackOffice::default();
    let app = gateway(&office).await;
    let session = app.initialize("2025-11-25").await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "send_facture_email",
        "arguments": {"facture_id": FACTURE, "destinataire": "compta@acme.fr"},
        "_meta": {"progressToken": "wf-7"}}});
    let mut stream = SseStream::new(app.mcp(Some(&session), &call).send().await.unwrap());
    let mut steps = Vec::new();
    let result = loop {
        let message = stream.next_message().await;
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "wf-7");
            assert_eq!(message["params"]["total"], 5.0);
            steps.push(message["params"]["message"].as_str().unwrap().to_owned());
        } else {
            break message;
        }
    };
    assert_eq!(steps.len(), 5, "one progress notification per step: {steps:?}");
    assert_eq!(steps[0], "step `facture` done (1/5)");
    assert_eq!(steps[4], "step `mark_sent` done (5/5)");
    let value = &result["result"]["structuredContent"];
    assert_eq!(value["email_id"], "msg-0001", "{result}");
    assert_eq!(value["pdf_url"], format!("https://files.example.com/factures/facture-{FACTURE}.pdf"));

    let email = office.hits("email/send").pop().unwrap();
    assert_eq!(email.body["to"], "compta@acme.fr");
    assert_eq!(email.body["subject"], "Facture F-2026-0042");
    assert_eq!(email.body["attachments"][0]["url"], value["pdf_url"]);
    let recorded = office.hits("db/facture/update").pop().unwrap();
    assert_eq!(recorded.body, json!({"facture_id": FACTURE, "statut": "envoyee", "pdf_url": value["pdf_url"]}));
    assert_eq!(
        office.routes(),
        ["rpc/get_facture_by_id", "doc/generate/facture", "storage/upload", "email/send", "db/facture/update"],
        "each step in order, each exactly once"
    );
}

#[tokio::test]
async fn a_failed_send_compensates_the_created_invoice_and_says_what_was_left() {
    let office = BackOffice::default();
    office.fail("email/send", 500, json!({"detail": "SMTP relay down"}));
    let app = gateway(&office).await;
    let args = json!({
        "entreprise_id": ENTREPRISE,
        "lignes": [{"description": "Audit", "quantite": 1, "prix_unitaire_ht": 1200}],
        "destinataire": "compta@acme.fr"
    });
    let (status, body, _) = rest_call(&app, "create_and_send_facture", args).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let error = &body["error"];
    assert_eq!(error["details"]["failed_step"], "email");
    assert_eq!(error["details"]["completed"], json!(["create", "facture", "pdf", "upload"]));
    assert_eq!(error["details"]["compensated"], json!(["create"]));
    assert_eq!(error["details"]["left_in_place"], json!(["upload", "pdf", "facture"]));
    assert_eq!(error["details"]["not_started"], json!(["mark_sent"]));
    assert_eq!(error["details"]["error"]["details"]["upstream"]["detail"], "SMTP relay down");
    assert_eq!(error["retryable"], false, "the upload is still in place: retrying is not clean");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.starts_with("workflow step `email` failed"), "{detail}");
    assert!(detail.contains("compensated: create"), "{detail}");

    let deleted = office.hits("db/facture/delete").pop().expect("the created invoice was deleted");
    assert_eq!(deleted.body["facture_id"], NEW_FACTURE);
    assert!(office.hits("db/facture/update").is_empty(), "the invoice was never marked as sent");
    assert_eq!(office.hits("email/send").len(), 1, "the email is not retried");
}

#[tokio::test]
async fn a_workflow_step_the_caller_may_not_call_fails_the_workflow() {
    let office = BackOffice::default();
    let (supabase, workers) = office.clone().serve().await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        config.supabase = supabase;
        config.flowchat_workers = workers;
        config.security.keys = vec![ApiKey::new(
            "ops".into(),
            digest("ops-key"),
            ["tools:list", "tools:call"].iter().map(|s| Scope::parse(s).unwrap()).collect(),
            ["generate_facture_pdf", "get_facture_by_id"].iter().map(|p| NamePattern::new(p)).collect(),
            Vec::new(),
        )];
    })
    .await;
    let response = app
        .post("/mcp/tools/call")
        .bearer_auth("ops-key")
        .json(&json!({"tool_name": "generate_facture_pdf", "params": {"facture_id": FACTURE}}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"]["failed_step"], "record", "{body}");
    assert_eq!(body["error"]["code"], "unknown_tool", "update_facture is outside the key's allow list: {body}");
    assert!(office.hits("db/facture/update").is_empty());
}

#[tokio::test]
async fn every_workflow_tool_succeeds_over_rest_and_over_mcp() {
    let office = BackOffice::default();
    let app = gateway(&office).await;
    let lignes = json!([{"description": "Audit", "quantite": 1, "prix_unitaire_ht": 1200}]);
    let cases = [
        ("generate_facture_pdf", json!({"facture_id": FACTURE}), "pdf_url"),
        ("send_facture_email", json!({"facture_id": FACTURE, "destinataire": "compta@acme.fr"}), "email_id"),
        (
            "create_and_send_facture",
            json!({"entreprise_id": ENTREPRISE, "lignes": lignes, "destinataire": "compta@acme.fr"}),
            "email_id",
        ),
        ("generate_monthly_report", json!({"date_debut": "2026-10-01", "date_fin": "2026-10-31"}), "pdf_url"),
    ];
    for (tool, args, key) in cases {
        let (status, body, _) = rest_call(&app, tool, args.clone()).await;
        assert_eq!(status, StatusCode::OK, "{tool} over REST: {body}");
        assert_eq!(body["result"]["success"], true, "{tool}: {body}");
        assert!(body["result"][key].is_string(), "{tool} answers its {key}: {body}");

        let mcp = app.call_tool(None, tool, args).await;
        assert_eq!(mcp["isError"], false, "{tool} over MCP: {mcp}");
        assert_eq!(mcp["structuredContent"][key], body["result"][key], "{tool}: the same answer both ways");
    }
    let created = office.hits("db/facture/create");
    assert_eq!(created.len(), 2, "create_and_send_facture created one invoice per call");
    assert!(office.hits("db/facture/delete").is_empty(), "nothing failed, so nothing was compensated");
    let sent = office.hits("db/facture/update").into_iter().filter(|h| h.body["statut"] == "envoyee").count();
    assert_eq!(sent, 4, "send_facture_email and create_and_send_facture each marked their invoice as sent, twice");
}

#[tokio::test(start_paused = true)]
async fn the_worker_client_retries_only_idempotent_calls_and_types_timeouts_and_non_json_answers() {
    let office = BackOffice::default();
    let (_supabase, workers) = office.clone().serve().await;
    let specs = tempfile::tempdir().unwrap();
    let tools = [
        json!({"name": "doc_status", "description": "An idempotent worker read",
               "binding": {"kind": "worker", "worker": "document", "path": "/status", "idempotent": true}}),
        json!({"name": "doc_write", "description": "A worker write",
               "binding": {"kind": "worker", "worker": "document", "path": "/render"}}),
        json!({"name": "doc_garbage", "description": "A worker answering HTML",
               "binding": {"kind": "worker", "worker": "document", "path": "/garbage"}}),
        json!({"name": "slow_write", "description": "A write that never answers in time",
               "binding": {"kind": "worker", "worker": "database", "path": "/slow", "timeout_secs": 0.3}}),
    ];
    for tool in &tools {
        common::write_spec(specs.path(), &format!("{}.json", tool["name"].as_str().unwrap()), &tool.to_string());
    }
    let app = TestApp::spawn_with(specs.path(), move |config| config.flowchat_workers = workers).await;
    let arrivals = |route: &str| office.arrivals.lock().unwrap().iter().filter(|r| *r == route).count();

    office.fail_once.lock().unwrap().insert("doc/status".into(), 503);
    let (status, body, _) = rest_call(&app, "doc_status", json!({})).await;
    assert_eq!(status, StatusCode::OK, "an idempotent call is retried after a 503: {body}");
    assert_eq!(arrivals("doc/status"), 2);

    office.fail_once.lock().unwrap().insert("doc/status".into(), 429);
    let (status, _, _) = rest_call(&app, "doc_status", json!({})).await;
    assert_eq!(status, StatusCode::OK, "and after a 429 with Retry-After");
    assert_eq!(arrivals("doc/status"), 4);

    office.fail_once.lock().unwrap().insert("doc/render".into(), 429);
    let (status, body, _) = rest_call(&app, "doc_write", json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(arrivals("doc/render"), 1, "a write is not resent, even after a 429");

    let (status, body, _) = rest_call(&app, "doc_garbage", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error");
    assert!(body["detail"].as_str().unwrap().contains("not JSON"), "{body}");

    let (status, body, _) = rest_call(&app, "slow_write", json!({})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "upstream_timeout");
    assert_eq!(arrivals("db/slow"), 1, "the write arrived once and was never resent");
    assert!(!body.to_string().contains(SECRET));
}
