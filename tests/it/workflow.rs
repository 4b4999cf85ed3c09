//! Workflow semantics independent of any provider, on tools the test declares: conditional steps, sequential
//! runs and the run record, a step that outlives the workflow's deadline (compensation still runs and the
//! unfinished step is reported as unknown), and a missing setting in an inline step.

use crate::common;

use common::{TestApp, write_spec};
use mcp_gateway::config::TemplateEnv;
use serde_json::{Value, json};

fn specs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tools = [
        json!({"name": "constant", "description": "Answers a fixed value", "binding": {"kind": "static", "result": {"v": 1}}}),
        json!({"name": "undo", "description": "Pretends to undo", "binding": {"kind": "static", "result": {"undone": true}}}),
        json!({"name": "stall", "description": "Reports once, then waits ten minutes",
               "binding": {"kind": "builtin", "name": "progress", "options": {"steps": 2, "interval_ms": 600_000}}}),
        json!({"name": "maybe", "description": "Runs `x` only when asked",
               "inputSchema": {"type": "object", "properties": {"flag": {"type": "boolean"}}},
               "binding": {"kind": "workflow", "steps": [
                   {"id": "x", "tool": "constant", "when": "{{args.flag}}"},
                   {"id": "y", "tool": "constant"}
               ], "result": {"x": "{{steps.x}}", "y": "{{steps.y.v}}"}}}),
        json!({"name": "too_slow", "description": "A write, then a step that cannot finish in time", "timeout_secs": 1,
        "binding": {"kind": "workflow", "steps": [
            {"id": "first", "tool": "constant", "compensate": {"tool": "undo"}},
            {"id": "kept", "tool": "constant"},
            {"id": "slow", "tool": "stall", "after": ["first", "kept"]},
            {"id": "never", "tool": "constant", "after": ["slow"]}
        ]}}),
        json!({"name": "in_turn", "description": "Three steps, one at a time when asked",
               "inputSchema": {"type": "object", "properties": {"one_by_one": {"type": "boolean"}, "flag": {"type": "boolean"}}},
               "binding": {"kind": "workflow", "sequential": "{{args.one_by_one}}", "steps": [
                   {"id": "a", "tool": "constant"},
                   {"id": "b", "tool": "constant", "when": "{{args.flag}}"},
                   {"id": "c", "tool": "constant"}
               ], "result": {"c": "{{steps.c.v}}", "run": "{{run}}"}}}),
        json!({"name": "needs_env", "description": "An inline step needing an unset setting",
        "binding": {"kind": "workflow", "steps": [
            {"id": "call", "binding": {"kind": "http", "url": "{{env.GATEWAY_TEST_WORKFLOW_UNSET_URL}}/x"}}
        ]}}),
    ];
    for tool in tools {
        write_spec(dir.path(), &format!("{}.json", tool["name"].as_str().unwrap()), &tool.to_string());
    }
    dir
}

/// The app over [`specs`], whose templates may read `GATEWAY_TEST_*`.
async fn app(dir: &tempfile::TempDir) -> TestApp {
    TestApp::spawn_with(dir.path(), |c| c.template_env = TemplateEnv::new(&["GATEWAY_TEST_*"])).await
}

fn error_of(result: &Value) -> &Value {
    &result["_meta"]["mcp-gateway/error"]
}

#[tokio::test]
async fn a_step_whose_condition_is_false_or_absent_is_skipped() {
    let dir = specs();
    let app = app(&dir).await;
    let on = app.call_tool(None, "maybe", json!({"flag": true})).await;
    assert_eq!(on["structuredContent"], json!({"x": {"v": 1}, "y": 1}), "{on}");
    for args in [json!({"flag": false}), json!({})] {
        let off = app.call_tool(None, "maybe", args.clone()).await;
        // A skipped step's output is null, which a template leaves out like any absent value.
        assert_eq!(off["structuredContent"], json!({"y": 1}), "{args}: {off}");
    }
}

#[tokio::test]
async fn a_sequential_workflow_reports_its_mode_and_the_order_its_steps_ran_in() {
    let dir = specs();
    let app = app(&dir).await;
    let steps = |run: &Value| -> Vec<String> {
        run["order"].as_array().unwrap().iter().map(|o| o["step"].as_str().unwrap().to_owned()).collect()
    };
    let in_turn = app.call_tool(None, "in_turn", json!({"one_by_one": true})).await;
    let run = &in_turn["structuredContent"]["run"];
    assert_eq!(run["mode"], "sequential", "{in_turn}");
    assert_eq!(steps(run), ["a", "c"], "declaration order, the skipped step left out: {run}");
    assert_eq!(run["skipped"], json!(["b"]));
    assert_eq!(in_turn["structuredContent"]["c"], 1);
    let first = &run["order"][0];
    assert!(first["started_at"].as_str().unwrap() <= first["finished_at"].as_str().unwrap(), "{run}");

    let at_once = app.call_tool(None, "in_turn", json!({"one_by_one": false, "flag": true})).await;
    let run = &at_once["structuredContent"]["run"];
    assert_eq!(run["mode"], "parallel", "{at_once}");
    let mut ran = steps(run);
    ran.sort_unstable();
    assert_eq!(ran, ["a", "b", "c"]);
    assert_eq!(run["skipped"], json!([]));
}

#[tokio::test]
async fn a_step_outliving_the_deadline_is_reported_unknown_and_completed_steps_are_compensated() {
    let dir = specs();
    let app = app(&dir).await;
    let result = app.call_tool(None, "too_slow", json!({})).await;
    assert_eq!(result["isError"], true, "{result}");
    let error = error_of(&result);
    assert_eq!(error["code"], "timeout", "{error}");
    assert_eq!(error["details"]["failed_step"], "slow");
    assert_eq!(error["details"]["compensated"], json!(["first"]));
    assert_eq!(error["details"]["left_in_place"], json!(["kept"]));
    assert_eq!(error["details"]["not_started"], json!(["never"]));
    assert_eq!(error["retryable"], false);
}

#[tokio::test]
async fn a_missing_setting_in_an_inline_step_names_the_step_and_the_setting() {
    let dir = specs();
    let app = app(&dir).await;
    let result = app.call_tool(None, "needs_env", json!({})).await;
    let error = error_of(&result);
    assert_eq!(error["code"], "not_configured", "{result}");
    assert_eq!(error["details"]["failed_step"], "call");
    assert!(error["message"].as_str().unwrap().contains("GATEWAY_TEST_WORKFLOW_UNSET_URL"), "{error}");
    let ready: Value = app.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["settings"]["GATEWAY_TEST_WORKFLOW_UNSET_URL"], false, "{ready}");
}
