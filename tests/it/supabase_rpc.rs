//! The `supabase_rpc` binding against an in-process fake PostgREST that follows reference/providers.md:
//! `POST /rest/v1/rpc/{function}` with `apikey` and `Authorization: Bearer`, bare scalars or arrays, 204 for
//! `RETURNS void`, `{code, message, details, hint}` errors, and a transient 503.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{TestApp, write_spec};
use mcp_gateway::config::SupabaseSettings;
use serde_json::{Value, json};

const KEY: &str = "service-role-secret-4f9a";

#[derive(Clone, Default)]
struct FakePostgrest {
    calls: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    profiles: Arc<Mutex<Vec<Option<String>>>>,
}

impl FakePostgrest {
    fn calls(&self, function: &str) -> Vec<Value> {
        self.calls.lock().unwrap().get(function).cloned().unwrap_or_default()
    }

    async fn serve(self) -> String {
        let app = Router::new().route("/rest/v1/rpc/{function}", post(rpc)).with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}")
    }
}

fn pgrst_error(status: StatusCode, code: &str, message: &str, hint: Option<&str>) -> Response {
    (status, axum::Json(json!({"code": code, "message": message, "details": null, "hint": hint}))).into_response()
}

async fn rpc(
    State(fake): State<FakePostgrest>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if header("apikey").as_deref() != Some(KEY) || header("authorization") != Some(format!("Bearer {KEY}")) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}))).into_response();
    }
    fake.profiles.lock().unwrap().push(header("content-profile"));
    let count = {
        let mut calls = fake.calls.lock().unwrap();
        let list = calls.entry(function.clone()).or_default();
        list.push(body.0.clone());
        list.len()
    };
    match function.as_str() {
        "search_entreprise_with_stats" => {
            let limit = body.0["p_limit"].as_u64().unwrap_or(0);
            let rows: Vec<Value> = (0..limit.min(2))
                .map(|i| json!({"id": i, "nom": format!("{} {i}", body.0["p_search_term"].as_str().unwrap_or(""))}))
                .collect();
            axum::Json(Value::Array(rows)).into_response()
        }
        "get_stats_entreprises" => axum::Json(json!(42)).into_response(),
        "touch_entreprise" => StatusCode::NO_CONTENT.into_response(),
        "raise_it" => pgrst_error(StatusCode::BAD_REQUEST, "P0001", "facture already paid", None),
        "warming_up" if count == 1 => {
            pgrst_error(StatusCode::SERVICE_UNAVAILABLE, "PGRST000", "Database client error", None)
        }
        "warming_up" => axum::Json(json!({"ok": true})).into_response(),
        "write_down" => pgrst_error(StatusCode::SERVICE_UNAVAILABLE, "PGRST001", "Database client error", None),
        _ => pgrst_error(
            StatusCode::NOT_FOUND,
            "PGRST202",
            &format!("Could not find the function public.{function} without parameters in the schema cache"),
            Some("Perhaps you meant to call the function public.search_entreprise_with_stats"),
        ),
    }
}

fn tool(name: &str, function: &str, properties: Value, args: Value, extra: Value) -> (String, Value) {
    let mut binding = json!({"kind": "supabase_rpc", "function": function, "args": args});
    if let Value::Object(extra) = extra {
        binding.as_object_mut().unwrap().extend(extra);
    }
    let spec = json!({"name": name, "description": format!("Calls {function}"), "category": "read",
                      "inputSchema": {"type": "object", "properties": properties}, "binding": binding});
    (name.to_owned(), spec)
}

async fn setup(url: Option<String>, key: Option<&str>) -> (TestApp, tempfile::TempDir) {
    let specs = tempfile::tempdir().unwrap();
    let tools = [
        tool(
            "search_entreprise_with_stats",
            "search_entreprise_with_stats",
            json!({"search_term": {"type": "string"}, "limit": {"type": "integer"}}),
            json!({"p_search_term": "{{args.search_term}}", "p_limit": "{{args.limit ?? 10}}"}),
            json!({"idempotent": true, "schema": "crm"}),
        ),
        tool("get_stats_entreprises", "get_stats_entreprises", json!({}), json!({}), json!({"idempotent": true})),
        tool(
            "touch_entreprise",
            "touch_entreprise",
            json!({"id": {"type": "string"}}),
            json!({"p_id": "{{args.id}}"}),
            json!({}),
        ),
        tool("raise_it", "raise_it", json!({}), json!({}), json!({})),
        tool("missing_function", "no_such_function", json!({}), json!({}), json!({})),
        tool("warming_up", "warming_up", json!({}), json!({}), json!({"idempotent": true})),
        tool("write_down", "write_down", json!({}), json!({}), json!({})),
    ];
    for (name, spec) in tools {
        write_spec(specs.path(), &format!("{name}.json"), &spec.to_string());
    }
    let key = key.map(str::to_owned);
    let app = TestApp::spawn_with(specs.path(), move |config| {
        config.supabase = SupabaseSettings { url, api_key: key.map(Into::into) }
    })
    .await;
    (app, specs)
}

fn error_of(result: &Value) -> &Value {
    &result["_meta"]["mcp-gateway/error"]
}

#[tokio::test]
async fn arguments_map_to_p_parameters_keeping_types_and_rows_come_back() {
    let fake = FakePostgrest::default();
    let (app, _specs) = setup(Some(fake.clone().serve().await), Some(KEY)).await;
    let response = app
        .post("/mcp/tools/call")
        .json(&json!({"tool_name": "search_entreprise_with_stats", "params": {"search_term": "ACME", "limit": 5}}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"], json!([{"id": 0, "nom": "ACME 0"}, {"id": 1, "nom": "ACME 1"}]), "{body}");
    assert_eq!(fake.calls("search_entreprise_with_stats"), [json!({"p_search_term": "ACME", "p_limit": 5})]);
    assert_eq!(fake.profiles.lock().unwrap().as_slice(), [Some("crm".to_owned())]);

    app.call_tool(None, "search_entreprise_with_stats", json!({"search_term": "x"})).await;
    assert_eq!(
        fake.calls("search_entreprise_with_stats")[1],
        json!({"p_search_term": "x", "p_limit": 10}),
        "the default applies"
    );
}

#[tokio::test]
async fn scalars_and_void_functions_come_back_as_values() {
    let fake = FakePostgrest::default();
    let (app, _specs) = setup(Some(fake.clone().serve().await), Some(KEY)).await;
    let scalar = app.call_tool(None, "get_stats_entreprises", json!({})).await;
    assert_eq!(scalar["content"][0]["text"], "42");
    let void = app.call_tool(None, "touch_entreprise", json!({"id": "e-1"})).await;
    assert_eq!(void["isError"], false, "{void}");
    assert_eq!(void["content"][0]["text"], "null");
}

#[tokio::test]
async fn postgrest_errors_keep_their_code_and_hint_and_never_the_key() {
    let fake = FakePostgrest::default();
    let (app, _specs) = setup(Some(fake.clone().serve().await), Some(KEY)).await;
    let raised = app.call_tool(None, "raise_it", json!({})).await;
    assert_eq!(error_of(&raised)["code"], "invalid_params");
    assert_eq!(error_of(&raised)["details"]["upstream"]["code"], "P0001");
    assert!(raised["content"][0]["text"].as_str().unwrap().contains("facture already paid"));

    let missing = app.call_tool(None, "missing_function", json!({})).await;
    assert_eq!(error_of(&missing)["details"]["upstream_status"], 404);
    assert_eq!(error_of(&missing)["details"]["upstream"]["code"], "PGRST202");
    assert!(error_of(&missing)["details"]["upstream"]["hint"].as_str().unwrap().contains("Perhaps you meant"));
    for result in [&raised, &missing] {
        assert!(!result.to_string().contains(KEY), "the key leaked: {result}");
    }
}

#[tokio::test]
async fn a_wrong_key_is_the_gateways_configuration_problem_not_the_callers() {
    let fake = FakePostgrest::default();
    let (app, _specs) = setup(Some(fake.clone().serve().await), Some("wrong-key")).await;
    let result = app.call_tool(None, "get_stats_entreprises", json!({})).await;
    assert_eq!(error_of(&result)["code"], "upstream_error");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("credentials"), "{result}");
    assert!(!result.to_string().contains("wrong-key"));
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_read_is_retried_after_a_503_and_a_write_is_not() {
    let fake = FakePostgrest::default();
    let (app, _specs) = setup(Some(fake.clone().serve().await), Some(KEY)).await;
    let read = app.call_tool(None, "warming_up", json!({})).await;
    assert_eq!(read["structuredContent"], json!({"ok": true}), "{read}");
    assert_eq!(fake.calls("warming_up").len(), 2);
    let write = app.call_tool(None, "write_down", json!({})).await;
    assert_eq!(error_of(&write)["code"], "upstream_unavailable");
    assert_eq!(error_of(&write)["retryable"], true);
    assert_eq!(fake.calls("write_down").len(), 1, "a write is sent once");
}

#[tokio::test]
async fn unconfigured_supabase_tools_are_listed_and_answer_not_configured() {
    let (app, _specs) = setup(None, None).await;
    assert!(app.tool_names().await.contains(&"get_stats_entreprises".to_owned()));
    let result = app.call_tool(None, "get_stats_entreprises", json!({})).await;
    assert_eq!(error_of(&result)["code"], "not_configured");
    assert!(result["content"][0]["text"].as_str().unwrap().contains("SUPABASE_URL"));
    let ready: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["settings"]["SUPABASE_URL"], false);
    assert!(ready["unconfigured_tools"].as_array().unwrap().iter().any(|t| t == "get_stats_entreprises"));
}
