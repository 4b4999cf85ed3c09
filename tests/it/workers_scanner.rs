//! `GET /workers` over real worker databases: the seed's fields from `job_meta`, defaults, malformed JSON as
//! `null`, corrupt files skipped, sorting by name, the cache noticing new, changed and removed files, and the
//! `workers` scope.

use crate::common;
use crate::workers_fixture;

use std::path::Path;

use common::{TestApp, core_specs};
use mcp_gateway::auth::{ApiKey, Scope, digest};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use workers_fixture::write_worker;

async fn app_over(dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    TestApp::spawn_with(&core_specs(), move |config| config.voice_workers.dir = dir).await
}

async fn listing(app: &TestApp) -> Value {
    let response = app.get("/workers").send().await.expect("GET /workers");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["count"], body["workers"].as_array().expect("workers is an array").len(), "{body}");
    body
}

fn ids(body: &Value) -> Vec<&str> {
    body["workers"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect()
}

const FULL_META: &[(&str, &str)] = &[
    ("worker_name", "Alain"),
    ("voice", "ash"),
    ("avatar_url", "https://example.com/alain.png"),
    ("statut", "en ligne"),
    ("job", "assistant mail"),
    ("employeur", "Dragonfly"),
    ("employe_depuis", "2024-01-15"),
    ("gallery", r#"["https://example.com/a.png"]"#),
    ("persona", "Je suis Alain, je trie le courrier."),
    ("email", "alain@example.com"),
    ("bio", "Je classe les mails."),
    ("tags", r#"["mail", "tri"]"#),
    ("kpis", r#"{"mails_tries": 1200, "precision": 0.97}"#),
    ("recent_tools", r#"["worker_query"]"#),
    ("recent_transcripts", r#"[{"role": "user", "text": "Combien de mails ?"}]"#),
    ("latency_hint_ms", "640"),
    ("timezone", "Europe/Paris"),
    ("working_hours", r#"{"lundi-vendredi": "09:00-18:00"}"#),
];

#[tokio::test]
async fn workers_list_every_seed_field_from_job_meta() {
    let dir = TempDir::new().unwrap();
    let path = write_worker(dir.path(), "alain", FULL_META, "CREATE TABLE mails (id INTEGER)");
    let app = app_over(dir.path()).await;
    let body = listing(&app).await;
    let alain = &body["workers"][0];
    assert_eq!(alain["id"], "alain");
    assert_eq!(alain["name"], "Alain");
    assert_eq!(alain["voice"], "ash");
    assert_eq!(alain["avatar_url"], "https://example.com/alain.png");
    assert_eq!(alain["statut"], "en ligne");
    assert_eq!(alain["job"], "assistant mail");
    assert_eq!(alain["employeur"], "Dragonfly");
    assert_eq!(alain["employe_depuis"], "2024-01-15");
    assert_eq!(alain["gallery"], json!(["https://example.com/a.png"]));
    assert_eq!(alain["has_persona"], true);
    assert_eq!(alain["db_size"], std::fs::metadata(&path).unwrap().len());
    assert_eq!(alain["email"], "alain@example.com");
    assert_eq!(alain["bio"], "Je classe les mails.");
    assert_eq!(alain["tags"], json!(["mail", "tri"]));
    assert_eq!(alain["kpis"], json!({"mails_tries": 1200, "precision": 0.97}));
    assert_eq!(alain["recent_tools"], json!(["worker_query"]));
    assert_eq!(alain["recent_transcripts"][0]["text"], "Combien de mails ?");
    assert_eq!(alain["latency_hint_ms"], 640.0);
    assert_eq!(alain["timezone"], "Europe/Paris");
    assert_eq!(alain["working_hours"], json!({"lundi-vendredi": "09:00-18:00"}));
    assert!(alain.get("path").is_none() && !body.to_string().contains(&dir.path().display().to_string()), "{body}");
}

#[tokio::test]
async fn missing_fields_get_defaults_and_ids_are_lower_cased_stems() {
    let dir = TempDir::new().unwrap();
    write_worker(dir.path(), "Bruno", &[], "");
    let app = app_over(dir.path()).await;
    let body = listing(&app).await;
    let bruno = &body["workers"][0];
    assert_eq!(bruno["id"], "bruno");
    assert_eq!(bruno["name"], "Bruno");
    assert_eq!(bruno["voice"], "alloy");
    assert_eq!(bruno["has_persona"], false);
    for key in ["avatar_url", "job", "tags", "kpis", "latency_hint_ms", "working_hours"] {
        assert_eq!(bruno[key], Value::Null, "{key}: {bruno}");
    }
}

#[tokio::test]
async fn malformed_json_makes_only_that_field_null() {
    let dir = TempDir::new().unwrap();
    let meta = [
        ("worker_name", "Chloé"),
        ("tags", "[\"ventes\","),
        ("kpis", "{not json}"),
        ("gallery", "[\"ok.png\"]"),
        ("latency_hint_ms", "rapide"),
    ];
    write_worker(dir.path(), "chloe", &meta, "");
    let app = app_over(dir.path()).await;
    let chloe = listing(&app).await["workers"][0].clone();
    assert_eq!(chloe["name"], "Chloé");
    assert_eq!(chloe["tags"], Value::Null);
    assert_eq!(chloe["kpis"], Value::Null);
    assert_eq!(chloe["latency_hint_ms"], Value::Null);
    assert_eq!(chloe["gallery"], json!(["ok.png"]), "the valid fields stay");
}

#[tokio::test]
async fn corrupt_and_foreign_files_are_skipped_without_failing_the_listing() {
    let dir = TempDir::new().unwrap();
    write_worker(dir.path(), "alain", &[("worker_name", "Alain")], "");
    std::fs::write(dir.path().join("worker_broken.db"), b"this is not a SQLite database at all, just text").unwrap();
    std::fs::write(dir.path().join("worker_notes.txt"), b"not a worker").unwrap();
    std::fs::write(dir.path().join("other.db"), b"").unwrap();
    std::fs::create_dir(dir.path().join("worker_folder.db")).unwrap();
    write_worker(dir.path(), "bad.name", &[], "");
    let app = app_over(dir.path()).await;
    assert_eq!(ids(&listing(&app).await), ["alain"]);
    app.assert_healthy().await;
}

#[tokio::test]
async fn workers_are_sorted_by_name_not_by_file() {
    let dir = TempDir::new().unwrap();
    write_worker(dir.path(), "a1", &[("worker_name", "Zoé")], "");
    write_worker(dir.path(), "b2", &[("worker_name", "alice")], "");
    write_worker(dir.path(), "c3", &[("name", "Marc")], "");
    let app = app_over(dir.path()).await;
    let body = listing(&app).await;
    let names: Vec<&str> = body["workers"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "Marc", "Zoé"]);
}

#[tokio::test]
async fn the_listing_follows_new_changed_and_removed_files() {
    let dir = TempDir::new().unwrap();
    let alain = write_worker(dir.path(), "alain", &[("worker_name", "Alain")], "");
    let app = app_over(dir.path()).await;
    assert_eq!(ids(&listing(&app).await), ["alain"]);

    write_worker(dir.path(), "bruno", &[("worker_name", "Bruno")], "");
    assert_eq!(ids(&listing(&app).await), ["alain", "bruno"], "a new file shows up on the next request");

    let conn = rusqlite::Connection::open(&alain).unwrap();
    conn.execute("UPDATE job_meta SET svalue = 'Alain Delmas' WHERE skey = 'worker_name'", []).unwrap();
    drop(conn);
    let body = listing(&app).await;
    assert_eq!(body["workers"][0]["name"], "Alain Delmas", "an edited worker is read again: {body}");

    std::fs::remove_file(&alain).unwrap();
    assert_eq!(ids(&listing(&app).await), ["bruno"], "a removed file disappears");
}

#[tokio::test]
async fn a_missing_workers_folder_lists_nothing() {
    let dir = TempDir::new().unwrap();
    let app = app_over(&dir.path().join("absent")).await;
    assert_eq!(listing(&app).await["count"], 0);
}

fn key(id: &str, scopes: &[&str]) -> ApiKey {
    let scopes = scopes.iter().map(|s| Scope::parse(s).unwrap()).collect();
    ApiKey::new(id.into(), digest(&format!("secret-{id}")), scopes, Vec::new(), Vec::new())
}

#[tokio::test]
async fn worker_routes_need_the_workers_scope_when_keys_exist() {
    let dir = TempDir::new().unwrap();
    write_worker(dir.path(), "alain", &[], "CREATE TABLE t (x INTEGER)");
    let workers_dir = dir.path().to_path_buf();
    let app = TestApp::spawn_with(&core_specs(), move |config| {
        config.voice_workers.dir = workers_dir;
        config.security.keys =
            vec![key("voice", &["workers"]), key("caller", &["tools:list", "tools:call"]), key("ops", &["admin"])];
    })
    .await;
    let anonymous = app.get("/workers").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let without_scope = app.get("/workers").bearer_auth("secret-caller").send().await.unwrap();
    assert_eq!(without_scope.status(), StatusCode::FORBIDDEN);
    let body: Value = without_scope.json().await.unwrap();
    assert_eq!(body["error"]["details"]["required_scope"], "workers");
    let query = app.post("/workers/alain/query").bearer_auth("secret-caller").json(&json!({"query": "SELECT 1"}));
    assert_eq!(query.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    for secret in ["secret-voice", "secret-ops"] {
        let response = app.get("/workers").bearer_auth(secret).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{secret}");
        let query =
            app.post("/workers/alain/query").bearer_auth(secret).json(&json!({"query": "SELECT COUNT(*) FROM t"}));
        assert_eq!(query.send().await.unwrap().status(), StatusCode::OK, "{secret}");
    }
}
