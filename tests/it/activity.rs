//! `GET /admin/activity` over the real app: the numbers it answers are the ones a person would compute from the
//! audit rows of the calls made (counts, errors, error rates, nearest-rank p50/p99, per-bucket series), only
//! `admin` keys get them, an empty window is zeros, and bad windows are named.

use crate::common;

use common::{TestApp, core_specs, poll_until};
use mcp_gateway::auth::{ApiKey, Scope, digest};
use mcp_gateway::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADMIN: &str = "Bearer secret-ops";
const CALLER: &str = "Bearer secret-caller";

fn keys(config: &mut Config) {
    let key = |id: &str, scopes: &[Scope]| {
        ApiKey::new(id.into(), digest(&format!("secret-{id}")), scopes.to_vec(), vec![], vec![])
    };
    config.security.keys = vec![key("ops", &[Scope::Admin]), key("caller", &[Scope::ToolsList, Scope::ToolsCall])];
}

async fn get_json(app: &TestApp, path: &str, auth: &str) -> (StatusCode, Value) {
    let response = app.get(path).header("authorization", auth).send().await.expect("the request is answered");
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

async fn call(app: &TestApp, tool: &str, params: Value) -> StatusCode {
    let body = json!({"tool_name": tool, "params": params});
    let response = app.post("/mcp/tools/call").header("authorization", CALLER).json(&body).send().await.unwrap();
    response.status()
}

/// The nearest-rank percentile as the README defines it: the value at rank ceil(p/100 * n) of the sorted values.
fn nearest_rank(mut values: Vec<f64>, p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    values[rank - 1]
}

#[tokio::test]
async fn activity_numbers_are_the_ones_the_audit_rows_give() {
    let app = TestApp::spawn_with(&core_specs(), keys).await;
    for _ in 0..5 {
        assert_eq!(call(&app, "ping", json!({})).await, StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(call(&app, "list_tools", json!({"category": "system"})).await, StatusCode::OK);
    }
    for _ in 0..3 {
        assert_ne!(
            call(&app, "list_tools", json!({"category": 1})).await,
            StatusCode::OK,
            "a wrong argument type fails"
        );
    }
    let activity = poll_until("the ten calls are in the activity", || async {
        let (status, body) = get_json(&app, "/admin/activity", ADMIN).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["totals"]["calls"] == 10).then_some(body)
    })
    .await;
    let (_, audit) = get_json(&app, "/admin/audit?limit=1000", ADMIN).await;
    let rows = audit["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 10, "{audit}");
    let durations = |tool: Option<&str>| -> Vec<f64> {
        rows.iter()
            .filter(|r| tool.is_none_or(|t| r["tool"] == t))
            .map(|r| r["duration_ms"].as_f64().unwrap())
            .collect()
    };
    let failure = rows.iter().find(|r| r["outcome"] != "ok").unwrap()["outcome"].as_str().unwrap().to_owned();

    let shape = ["window_secs", "bucket_secs", "buckets"].map(|k| activity[k].as_u64());
    assert_eq!(shape, [Some(3600), Some(60), Some(60)], "the defaults: the last hour in minutes");
    assert_eq!((activity["rows"].as_u64(), &activity["truncated"]), (Some(10), &json!(false)));
    let totals = &activity["totals"];
    assert_eq!((totals["errors"].as_u64(), totals["error_rate"].as_f64()), (Some(3), Some(0.3)));
    assert_eq!(totals["p50_ms"].as_f64(), Some(nearest_rank(durations(None), 50.0)));
    assert_eq!(totals["p99_ms"].as_f64(), Some(nearest_rank(durations(None), 99.0)));
    assert_eq!(totals["outcomes"], json!({"ok": 7, failure.as_str(): 3}));

    let tools = activity["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["tool"].as_str().unwrap()).collect();
    assert_eq!(names, ["list_tools", "ping"], "as many calls each: by name");
    for (tool, calls, errors, rate) in [("ping", 5, 0, 0.0), ("list_tools", 5, 3, 0.6)] {
        let t = tools.iter().find(|t| t["tool"] == tool).unwrap();
        assert_eq!(
            (t["calls"].as_u64(), t["errors"].as_u64(), t["error_rate"].as_f64()),
            (Some(calls), Some(errors), Some(rate)),
            "{t}"
        );
        assert_eq!(t["p50_ms"].as_f64(), Some(nearest_rank(durations(Some(tool)), 50.0)), "{tool} p50");
        assert_eq!(t["p99_ms"].as_f64(), Some(nearest_rank(durations(Some(tool)), 99.0)), "{tool} p99");
        let series: Vec<u64> = t["series"]["calls"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
        assert_eq!(series.len(), 60);
        assert_eq!(series.iter().sum::<u64>(), calls, "every call is in a bucket: {series:?}");
        assert_eq!(series[..58].iter().sum::<u64>(), 0, "the calls were made in the last minute or two: {series:?}");
        let errors_series: u64 = t["series"]["errors"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(errors_series, errors);
    }
}

#[tokio::test]
async fn activity_needs_the_admin_scope() {
    let app = TestApp::spawn_with(&core_specs(), keys).await;
    let (status, body) = get_json(&app, "/admin/activity", CALLER).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("`admin` scope"), "{body}");
    let response = app.get("/admin/activity").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_empty_window_is_zero_calls_in_every_bucket() {
    let app = TestApp::spawn_with(&core_specs(), keys).await;
    let (status, body) = get_json(&app, "/admin/activity?window=600&bucket=60", ADMIN).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], 0);
    assert_eq!(body["tools"], json!([]));
    let totals = &body["totals"];
    assert_eq!((totals["calls"].as_u64(), totals["errors"].as_u64()), (Some(0), Some(0)));
    assert_eq!(
        (&totals["error_rate"], &totals["p50_ms"], &totals["p99_ms"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(totals["series"]["calls"], json!(vec![0; 10]));
    let from = mcp_gateway::audit::parse_rfc3339_ms(body["from"].as_str().unwrap()).unwrap();
    let until = mcp_gateway::audit::parse_rfc3339_ms(body["until"].as_str().unwrap()).unwrap();
    assert_eq!(until - from, 600_000);
    assert_eq!(until % 60_000, 0, "buckets are whole minutes");
}

#[tokio::test]
async fn bad_windows_are_refused_naming_the_parameter() {
    let app = TestApp::spawn_with(&core_specs(), keys).await;
    for (query, named) in [
        ("window=abc", "`window`"),
        ("window=59", "`window`"),
        ("window=172800", "`window`"),
        ("bucket=5", "`bucket`"),
        ("window=3600&bucket=70", "multiple of `bucket`"),
        ("window=86400&bucket=10", "buckets"),
    ] {
        let (status, body) = get_json(&app, &format!("/admin/activity?{query}"), ADMIN).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_params", "{query}");
        assert!(body["error"]["message"].as_str().unwrap().contains(named), "{query}: {body}");
    }
}

#[tokio::test]
async fn without_the_audit_log_activity_is_not_configured() {
    let app = TestApp::spawn_with(&core_specs(), |config| {
        keys(config);
        config.audit.enabled = false;
    })
    .await;
    let (status, body) = get_json(&app, "/admin/activity", ADMIN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "not_configured");
}
