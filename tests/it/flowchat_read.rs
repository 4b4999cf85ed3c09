//! Every shipped FlowChat READ tool (seed 002) end to end, through `POST /mcp/tools/call` and MCP `tools/call`,
//! against a fake PostgREST that echoes what each function received.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use common::{TestApp, shipped_tool_specs};
use mcp_gateway::config::SupabaseSettings;
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(String, Value, Option<String>)>>>;

async fn echo(
    State(seen): State<Seen>,
    Path(function): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> axum::Json<Value> {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    seen.lock().unwrap().push((function.clone(), body.0.clone(), request_id));
    axum::Json(json!([{"function": function, "received": body.0}]))
}

async fn fake_postgrest() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new().route("/rest/v1/rpc/{function}", post(echo)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), seen)
}

const ID: &str = "3f2b9c1e-8a4d-4e0f-9b7a-1c2d3e4f5a6b";

/// Each READ tool, arguments a caller would send, and the `p_*` arguments PostgREST must receive.
fn cases() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "search_entreprise_with_stats",
            json!({"search_term": "ACME", "limit": 5}),
            json!({"p_search_term": "ACME", "p_limit": 5}),
        ),
        ("get_entreprise_by_id", json!({"entreprise_id": ID}), json!({"p_entreprise_id": ID})),
        ("list_entreprises", json!({"statut": "client"}), json!({"p_limit": 20, "p_offset": 0, "p_statut": "client"})),
        ("get_stats_entreprises", json!({}), json!({})),
        ("get_entreprise_qualifications", json!({"entreprise_id": ID}), json!({"p_entreprise_id": ID})),
        (
            "search_qualifications",
            json!({"statut": "chaud", "date_debut": "2026-01-01"}),
            json!({"p_statut": "chaud", "p_date_debut": "2026-01-01", "p_limit": 20}),
        ),
        ("search_factures", json!({"statut": "payee", "limit": 3}), json!({"p_statut": "payee", "p_limit": 3})),
        ("get_facture_by_id", json!({"facture_id": ID}), json!({"p_facture_id": ID})),
        ("get_unpaid_factures", json!({"jours_retard_min": 30}), json!({"p_jours_retard_min": 30})),
        (
            "get_revenue_stats",
            json!({"date_debut": "2026-01-01", "date_fin": "2026-03-31"}),
            json!({"p_date_debut": "2026-01-01", "p_date_fin": "2026-03-31", "p_group_by": "mois"}),
        ),
        (
            "list_recent_interactions",
            json!({"entreprise_id": ID, "limit": 5}),
            json!({"p_entreprise_id": ID, "p_limit": 5}),
        ),
    ]
}

#[tokio::test]
async fn every_flowchat_read_tool_reaches_its_function_with_p_arguments_over_rest_and_mcp() {
    let (url, seen) = fake_postgrest().await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        config.supabase = SupabaseSettings { url: Some(url), api_key: Some("test-key".into()) };
    })
    .await;
    // The Dragonfly listing carries tags: the FlowChat tools are the ones tagged `flowchat`.
    let listed: Value = app.get("/tools").send().await.unwrap().json().await.unwrap();
    let reads: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["function"])
        .filter(|f| f["category"] == "read" && f["tags"].as_array().unwrap().contains(&json!("flowchat")))
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(reads.len(), 11, "the 11 READ tools of seed 002: {reads:?}");

    for (tool, args, expected) in cases() {
        let rest: Value = app
            .post("/mcp/tools/call")
            .header("x-request-id", format!("rid-{tool}"))
            .json(&json!({"tool_name": tool, "params": args}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(rest["success"], true, "{tool}: {rest}");
        assert_eq!(rest["result"][0]["received"], expected, "{tool} over REST");
        let (function, received, request_id) = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!((function.as_str(), &received), (tool, &expected));
        assert_eq!(request_id.as_deref(), Some(format!("rid-{tool}").as_str()), "the request id is forwarded");

        let mcp = app.call_tool(None, tool, args.clone()).await;
        assert_eq!(mcp["isError"], false, "{tool} over MCP: {mcp}");
        let text: Value = serde_json::from_str(mcp["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text[0]["received"], expected, "{tool} over MCP");
    }
}

#[tokio::test]
async fn flowchat_read_tools_reject_bad_arguments_before_calling_supabase() {
    let (url, seen) = fake_postgrest().await;
    let app = TestApp::spawn_with(&shipped_tool_specs(), move |config| {
        config.supabase = SupabaseSettings { url: Some(url), api_key: Some("test-key".into()) };
    })
    .await;
    for (tool, args, field) in [
        ("search_entreprise_with_stats", json!({"limit": 5}), "search_term"),
        ("search_factures", json!({"statut": "perdue"}), "statut"),
        ("list_entreprises", json!({"limit": 0}), "limit"),
        ("get_revenue_stats", json!({"date_debut": "2026-01-01"}), "date_fin"),
    ] {
        let result = app.call_tool(None, tool, args).await;
        assert_eq!(result["isError"], true, "{tool}");
        assert!(result["content"][0]["text"].as_str().unwrap().contains(field), "{tool}: {result}");
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing reached Supabase");
}
