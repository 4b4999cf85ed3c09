//! `POST /workers/{id}/query` and the `worker_query` tool over real worker databases: typed values and blobs,
//! the row cap, the spoken summary, and hostile SQL, each refused with a clear error while the file stays
//! byte-for-byte unchanged; the deadline inside SQLite; worker ids that try to leave the folder.

use crate::common;
use crate::workers_fixture;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestApp, core_specs, shipped_tool_specs};
use mcp_gateway::config::{Config, SummaryLanguage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use workers_fixture::{files_in, fingerprint, write_worker};

const SALES: &str = "
    CREATE TABLE clients (id INTEGER PRIMARY KEY, nom TEXT, ville TEXT, ca REAL, logo BLOB, note TEXT);
    INSERT INTO clients VALUES (1, 'Boulangerie Durand', 'Lyon', 12500.5, x'89504e47', NULL);
    INSERT INTO clients VALUES (2, 'Garage Moreau', 'Grenoble', 8300.0, zeroblob(70000), 'fidèle');
    CREATE TABLE commandes (id INTEGER PRIMARY KEY, client_id INTEGER, montant REAL);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
    INSERT INTO commandes (client_id, montant) SELECT 1 + i % 2, i * 10.0 FROM n;
";

struct Fixture {
    app: TestApp,
    dir: TempDir,
    db: PathBuf,
}

async fn fixture_with(specs: &Path, configure: impl FnOnce(&mut Config) + Send + 'static) -> Fixture {
    let dir = TempDir::new().unwrap();
    let db = write_worker(dir.path(), "camille", &[("worker_name", "Camille")], SALES);
    let workers_dir = dir.path().to_path_buf();
    let app = TestApp::spawn_with(specs, move |config| {
        config.voice_workers.dir = workers_dir;
        configure(config);
    })
    .await;
    Fixture { app, dir, db }
}

async fn fixture() -> Fixture {
    fixture_with(&core_specs(), |_| {}).await
}

async fn query(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    let response = app.post(&format!("/workers/{id}/query")).json(&body).send().await.expect("POST query");
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn a_select_returns_typed_values_columns_and_a_french_summary() {
    let f = fixture().await;
    let sql = "SELECT id, nom, ca, logo, note FROM clients ORDER BY id";
    let (status, body) = query(&f.app, "camille", json!({"query": sql})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["worker_id"], "camille");
    assert_eq!(body["columns"], json!(["id", "nom", "ca", "logo", "note"]));
    assert_eq!(body["row_count"], 2);
    assert_eq!(body["count"], 2);
    assert_eq!(body["truncated"], false);
    let first = &body["rows"][0];
    assert_eq!(first["id"], json!(1));
    assert!(first["id"].is_i64());
    assert_eq!(first["nom"], "Boulangerie Durand");
    assert_eq!(first["ca"], json!(12500.5));
    assert_eq!(first["logo"], json!({"size": 4, "base64": "iVBORw=="}));
    assert_eq!(first["note"], Value::Null);
    assert_eq!(body["rows"][1]["logo"], json!({"size": 70000}), "large blobs are described by size only");
    assert_eq!(body["rows"][1]["note"], "fidèle");
    let summary = body["summary"].as_str().unwrap();
    assert!(summary.starts_with("2 résultats. Premiers : id 1, nom Boulangerie Durand, ca 12500,5"), "{summary}");

    let (_, body) = query(&f.app, "camille", json!({"query": "SELECT COUNT(*) FROM commandes"})).await;
    assert_eq!(body["rows"], json!([{"COUNT(*)": 300}]));
    assert_eq!(body["summary"], "Résultat : 300.");
}

#[tokio::test]
async fn the_summary_speaks_english_when_configured() {
    let f = fixture_with(&core_specs(), |c| c.voice_workers.summary_language = SummaryLanguage::English).await;
    let (_, body) = query(&f.app, "camille", json!({"query": "SELECT COUNT(*) AS n FROM clients"})).await;
    assert_eq!(body["summary"], "Result: 2.");
}

#[tokio::test]
async fn rows_are_capped_while_stepping_and_flagged_truncated() {
    let f = fixture().await;
    let all = "SELECT id FROM commandes ORDER BY id";
    let (_, body) = query(&f.app, "camille", json!({"query": all})).await;
    assert_eq!((body["row_count"].as_u64(), body["truncated"].as_bool()), (Some(50), Some(true)), "default cap");
    let (_, body) = query(&f.app, "camille", json!({"query": all, "limit": 7})).await;
    assert_eq!(body["rows"].as_array().unwrap().len(), 7);
    assert_eq!(body["rows"][6]["id"], 7);
    assert_eq!(body["truncated"], true);
    let (_, body) = query(&f.app, "camille", json!({"query": all, "limit": 10_000})).await;
    assert_eq!((body["row_count"].as_u64(), body["truncated"].as_bool()), (Some(200), Some(true)), "max cap");
    let (_, body) = query(&f.app, "camille", json!({"query": "SELECT id FROM clients", "limit": 2})).await;
    assert_eq!(body["truncated"], false, "exactly the limit is not truncated");
    // A result far larger than memory would allow is cut at the cap, not materialised.
    let huge = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i, randomblob(100) FROM n";
    let (status, body) = query(&f.app, "camille", json!({"query": huge, "limit": 200})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["row_count"].as_u64(), body["truncated"].as_bool()), (Some(200), Some(true)));
    // Values are bounded too: 3 MiB texts stop the answer at two rows (8 MiB in all), and a value over SQLite's
    // length limit is an error, not an allocation.
    let heavy = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i, printf('%.*c', 3145728, 'x') AS t FROM n";
    let (status, body) = query(&f.app, "camille", json!({"query": heavy, "limit": 200})).await;
    assert_eq!(status, StatusCode::OK, "{}", &body.to_string()[..300.min(body.to_string().len())]);
    assert_eq!((body["row_count"].as_u64(), body["truncated"].as_bool()), (Some(2), Some(true)));
    let wide = "SELECT printf('%.*c', 4000000, 'a') AS a, printf('%.*c', 4000000, 'b') AS b, printf('%.*c', 4000000, 'c') AS c";
    let (status, body) = query(&f.app, "camille", json!({"query": wide})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("one row of the result is larger than 8 MiB"),
        "{body}"
    );
    let too_big = "SELECT zeroblob(5 * 1024 * 1024)";
    let (status, body) = query(&f.app, "camille", json!({"query": too_big})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("too big"), "{body}");
    let (status, body) = query(&f.app, "camille", json!({"query": all, "limit": 0})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_params")));
}

/// Every statement here must be refused, name why, and leave the database and folder exactly as they were.
#[tokio::test]
async fn hostile_sql_is_refused_and_the_file_is_unchanged() {
    let f = fixture().await;
    let outside = f.dir.path().join("stolen.db");
    let outside_sql = outside.display().to_string();
    let cases: Vec<(String, &str)> = vec![
        ("INSERT INTO clients (nom) VALUES ('x')".into(), "insert into `clients`"),
        ("UPDATE clients SET nom = 'x'".into(), "update `clients`"),
        ("DELETE FROM clients".into(), "delete from `clients`"),
        ("REPLACE INTO clients (id, nom) VALUES (1, 'x')".into(), "insert into `clients`"),
        ("CREATE TABLE evil (x)".into(), "schema"),
        ("CREATE TEMP TABLE evil (x)".into(), "schema"),
        ("DROP TABLE clients".into(), "schema"),
        ("ALTER TABLE clients ADD COLUMN x".into(), "schema"),
        ("ATTACH ':memory:' AS m".into(), "ATTACH"),
        (format!("ATTACH '{outside_sql}' AS stolen"), "ATTACH"),
        ("DETACH main".into(), "DETACH"),
        ("PRAGMA writable_schema=1".into(), "writable_schema"),
        ("PRAGMA journal_mode=delete".into(), "journal_mode"),
        ("PRAGMA journal_mode".into(), "journal_mode"),
        ("SELECT 1; DROP TABLE clients".into(), "only one statement"),
        ("SELECT 1; SELECT 2".into(), "only one statement"),
        ("/* harmless */ dElEtE FROM clients".into(), "delete from `clients`"),
        ("SELECT 1 --\n; DELETE FROM clients".into(), "only one statement"),
        ("SELECT load_extension('x')".into(), "load_extension"),
        ("WITH c AS (SELECT 1) INSERT INTO clients (nom) SELECT 'x' FROM c".into(), "insert into `clients`"),
        (format!("VACUUM INTO '{outside_sql}'"), "not read-only"),
        ("VACUUM".into(), "not read-only"),
        ("BEGIN IMMEDIATE".into(), "transaction"),
        ("ANALYZE".into(), "schema"),
    ];
    let before = fingerprint(&f.db);
    let folder_before = files_in(f.dir.path());
    for (sql, why) in &cases {
        let (status, body) = query(&f.app, "camille", json!({"query": sql})).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::BAD_REQUEST,
            "`{sql}` answered {status}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "`{sql}`: expected the reason `{why}`, got `{message}`");
        assert!(body["error"]["request_id"].is_string(), "{body}");
        assert_eq!(body["error"]["retryable"], false, "{body}");
        assert!(fingerprint(&f.db) == before, "`{sql}` changed the database file");
        assert_eq!(files_in(f.dir.path()), folder_before, "`{sql}` created or removed files");
    }
    assert!(!outside.exists());
    let (_, body) = query(&f.app, "camille", json!({"query": "SELECT COUNT(*) AS n FROM clients"})).await;
    assert_eq!(body["rows"][0]["n"], 2, "the data is intact");
}

#[tokio::test]
async fn reading_the_schema_is_allowed_and_comments_after_the_statement_are_fine() {
    let f = fixture().await;
    let (status, body) = query(&f.app, "camille", json!({"query": "PRAGMA table_info(clients)"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"][1]["name"], "nom");
    let sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name; -- the tables\n  /* done */  ";
    let (status, body) = query(&f.app, "camille", json!({"query": sql})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([{"name": "clients"}, {"name": "commandes"}, {"name": "job_meta"}]));
}

#[tokio::test]
async fn bad_sql_is_invalid_params_with_sqlites_message() {
    let f = fixture().await;
    let (status, body) = query(&f.app, "camille", json!({"query": "SELEC nom FROM clients"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(body["error"]["message"].as_str().unwrap().contains("syntax error"), "{body}");
    let (status, body) = query(&f.app, "camille", json!({"query": "SELECT * FROM nowhere"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("no such table: nowhere"), "{body}");
    let (status, body) = query(&f.app, "camille", json!({"limit": 3})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("`query` is required"), "{body}");
    let (status, _) = query(&f.app, "camille", json!({"query": "   -- nothing\n"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_runaway_query_is_stopped_by_the_deadline_inside_sqlite() {
    let f = fixture_with(&core_specs(), |c| c.voice_workers.query_timeout = Duration::from_millis(200)).await;
    let runaway = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n";
    let (status, body) = query(&f.app, "camille", json!({"query": runaway})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(body["error"]["details"]["timeout_ms"], 200);
    let (status, _) = query(&f.app, "camille", json!({"query": "SELECT 1"})).await;
    assert_eq!(status, StatusCode::OK, "the next query runs normally");
}

#[tokio::test]
async fn worker_ids_cannot_leave_the_workers_folder() {
    let f = fixture().await;
    // A real database one level up, which a traversal would reach.
    let parent = f.dir.path().parent().unwrap().to_path_buf();
    let decoy = TempDir::new_in(&parent).unwrap();
    write_worker(decoy.path(), "secret", &[], "CREATE TABLE s (x); INSERT INTO s VALUES ('decoy-secret-row')");
    let decoy_name = decoy.path().file_name().unwrap().to_string_lossy().into_owned();
    let attempts = [
        format!("..%2F{decoy_name}%2Fworker_secret"),
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        "%2Fetc%2Fpasswd".to_owned(),
        "camille%00".to_owned(),
        "camille%2F..%2Fcamille".to_owned(),
        "CAMILLE".to_owned(),
    ];
    for id in &attempts {
        let (status, body) = query(&f.app, id, json!({"query": "SELECT 1"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}: {body}");
        assert_eq!(body["error"]["code"], "invalid_params", "{id}: {body}");
        assert!(!body.to_string().contains("decoy-secret-row"), "{body}");
    }
    // Dot segments are resolved by the URL itself: `/workers/%2E%2E/query` is `/query`, which is no route.
    let (status, body) = query(&f.app, "%2E%2E", json!({"query": "SELECT 1"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    let (status, body) = query(&f.app, "secret", json!({"query": "SELECT * FROM s"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
    let (status, body) = query(&f.app, "nobody", json!({"query": "SELECT 1"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no worker `nobody`");
}

#[tokio::test]
async fn worker_query_runs_through_mcp_tools_call_and_the_rest_adapters() {
    let f = fixture_with(&shipped_tool_specs(), |_| {}).await;
    let args = json!({"worker_id": "camille", "query": "SELECT nom FROM clients ORDER BY id", "limit": 1});
    let result = f.app.call_tool(None, "worker_query", args.clone()).await;
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["rows"], json!([{"nom": "Boulangerie Durand"}]));
    assert_eq!(result["structuredContent"]["truncated"], true);

    let hostile = json!({"worker_id": "camille", "query": "DROP TABLE clients"});
    let result = f.app.call_tool(None, "worker_query", hostile).await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["_meta"]["mcp-gateway/error"]["code"], "forbidden", "{result}");
    let unknown = f.app.call_tool(None, "worker_query", json!({"worker_id": "nobody", "query": "SELECT 1"})).await;
    assert_eq!(unknown["_meta"]["mcp-gateway/error"]["code"], "not_found", "{unknown}");

    let response =
        f.app.post("/mcp/tools/call").json(&json!({"tool_name": "worker_query", "params": args})).send().await;
    let body: Value = response.unwrap().json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["result"]["rows"][0]["nom"], "Boulangerie Durand");
    assert_eq!(body["result"]["summary"], "1 résultat affiché, il y en a d'autres. Premier : nom Boulangerie Durand.");

    let tools = f.app.tool_names().await;
    assert!(tools.iter().any(|t| t == "worker_query"), "{tools:?}");
}

#[tokio::test]
async fn rest_queries_are_audited_like_tool_calls_including_refusals() {
    let f = fixture_with(&core_specs(), |config| config.audit.arguments = true).await;
    let (status, _) = query(&f.app, "camille", json!({"query": "SELECT nom FROM clients"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = query(&f.app, "camille", json!({"query": "DELETE FROM clients"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let entries = common::poll_until("both queries are in the audit log", || async {
        let body: Value = f.app.get("/admin/audit?tool=worker_query").send().await.ok()?.json().await.ok()?;
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        (entries.len() == 2).then_some(entries)
    })
    .await;
    let outcomes: Vec<&str> = entries.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"ok") && outcomes.contains(&"forbidden"), "{entries:?}");
    assert!(entries.iter().all(|e| e["args"]["worker_id"] == "camille"), "{entries:?}");
    let refused = entries.iter().find(|e| e["outcome"] == "forbidden").unwrap();
    assert_eq!(refused["args"]["query"], "DELETE FROM clients", "{refused}");
}
