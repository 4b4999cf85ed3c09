//! The audit log on a real PostgreSQL server (Debian's `postgresql`, which scripts/test.sh installs): two
//! gateways with the same `GATEWAY_AUDIT_URL` read each other's calls; the SQLite and PostgreSQL logs answer
//! alike for the same entries; shutdown flushes the queue; with the server stopped (or away from the start)
//! `/ready` and `/admin/audit` answer 503 while calls still answer, the queue stays bounded and what it held
//! arrives when the server returns; a wrong password is a readable error that never shows the password;
//! retention deletes old rows; a NUL in a tool name blocks nothing.
//!
//! One server per test process (a static) with a database per test; the outage tests stop and restart servers
//! of their own. The servers run as the `postgres` system user when the tests run as root (initdb and postgres
//! refuse root), on loopback, with fsync off, and stop when the test process ends (a watchdog shell stops them
//! when its stdin closes).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use common::{TestApp, poll_until};
use mcp_gateway::audit::{ActivityQuery, AuditEntry, AuditLog, AuditQuery, hash_arguments, now_ms};
use mcp_gateway::config::{Config, Secret};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// Debian's server programs: `/usr/lib/postgresql/{version}/bin` of the newest version installed.
fn server_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Debian's postgresql must be installed (scripts/test.sh installs it)")
        .filter_map(Result::ok)
        .filter_map(|dir| Some((dir.file_name().to_str()?.parse().ok()?, dir.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("an initdb under /usr/lib/postgresql/*/bin").1
}

/// `program` as the `postgres` system user when the tests run as root (initdb and postgres refuse root).
fn as_server_user(program: &Path) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}
/// The superuser's password (the server asks for one over TCP).
const SUPERUSER_PASSWORD: &str = "pg-super-4e1b7c";

/// A PostgreSQL cluster in a temp dir, and its server while it runs.
struct Postgres {
    dir: TempDir,
    port: u16,
    server: Option<(Child, ChildStdin)>,
}

impl Postgres {
    /// `initdb` a fresh cluster and start it on a free port (another port when it loses the race for one).
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pwfile"), SUPERUSER_PASSWORD).unwrap();
        // As root, the cluster belongs to the `postgres` user (elsewhere it is ours already and this is refused).
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).stderr(Stdio::null()).status();
        let status = as_server_user(&server_bin().join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"])
            .arg(format!("--pwfile={}", dir.path().join("pwfile").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb must be installed (scripts/test.sh installs Debian's postgresql)");
        assert!(status.success(), "initdb failed");
        let mut cluster = Self { dir, port: 0, server: None };
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if cluster.run_on(port).await {
                return cluster;
            }
        }
        panic!("postgres could not start on a free port three times");
    }

    /// Start the server on `port`; false when it exits before answering (the port was taken meanwhile).
    async fn run_on(&mut self, port: u16) -> bool {
        let data = self.dir.path().join("data");
        // The watchdog: postgres stops (fast shutdown, SIGINT) when this shell's stdin closes, with the test
        // process. Background jobs of a script read /dev/null unless told otherwise: the pipe is kept as fd 3.
        let script = format!(
            "exec 3<&0; '{}' -D '{}' -p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off & pid=$!; (read _ <&3; kill -INT $pid) & wait $pid",
            server_bin().join("postgres").display(),
            data.display(),
            self.dir.path().display()
        );
        let mut child = as_server_user(Path::new("sh"))
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let stdin = child.stdin.take().unwrap();
        self.port = port;
        self.server = Some((child, stdin));
        let ready = poll_until("postgres accepts connections or exits", || {
            let exited = self.server.as_mut().is_some_and(|(child, _)| child.try_wait().ok().flatten().is_some());
            let url = self.superuser_url("postgres");
            async move {
                if exited {
                    return Some(false);
                }
                connect(&url).await.is_ok().then_some(true)
            }
        })
        .await;
        if !ready {
            self.server = None;
        }
        ready
    }

    /// Stop the server (fast shutdown) and wait for it, at most 15 s.
    fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.server.take() {
            drop(stdin);
            for _ in 0..300 {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("postgres on port {} did not stop within 15 s", self.port);
        }
    }

    /// Start it again on the same port, with the same data.
    async fn restart(&mut self) {
        assert!(self.run_on(self.port).await, "postgres could not start again on port {}", self.port);
    }

    fn superuser_url(&self, database: &str) -> String {
        format!("postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// A fresh database for one test: the URL the gateway gets.
    async fn database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&self.superuser_url("postgres")).await.unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        self.superuser_url(&name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server this test process shares between its tests (each with its own database).
async fn shared() -> &'static Postgres {
    static SERVER: OnceCell<Postgres> = OnceCell::const_new();
    SERVER.get_or_init(Postgres::start).await
}

/// A client of `url`; its connection runs on the calling test's runtime.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn count_rows(url: &str, filter: &str) -> i64 {
    let client = connect(url).await.unwrap();
    client.query_one(&format!("SELECT count(*) FROM mcp_gateway_audit {filter}"), &[]).await.unwrap().get(0)
}

fn secret(url: &str) -> Secret {
    Secret::from_setting(Some(url.to_owned())).unwrap()
}

async fn gateway(url: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    let url = secret(url);
    TestApp::spawn_with(&common::core_specs(), move |config| {
        config.audit_url = Some(url);
        configure(config);
    })
    .await
}

async fn audit_rows(app: &TestApp) -> (reqwest::StatusCode, Value) {
    let response = app.get("/admin/audit?limit=1000").send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The request ids in `app`'s `/admin/audit`, once it lists `count` entries.
async fn audited_request_ids(app: &TestApp, count: usize) -> Vec<String> {
    poll_until("/admin/audit lists every call", || async {
        let (status, body) = audit_rows(app).await;
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        (status == 200 && entries.len() == count).then(|| {
            let mut ids: Vec<String> =
                entries.iter().map(|e| e["request_id"].as_str().unwrap_or_default().to_owned()).collect();
            ids.sort();
            ids
        })
    })
    .await
}

/// Call `ping` through `app` with a request id of our own.
async fn ping(app: &TestApp, request_id: &str) {
    let body = json!({"jsonrpc": "2.0", "id": app.id(), "method": "tools/call",
                      "params": {"name": "ping", "arguments": {}}});
    let response = app.mcp(None, &body).header("x-request-id", request_id).send().await.unwrap();
    assert_eq!(response.status(), 200, "ping through {}", app.base);
    let text = response.text().await.unwrap();
    assert!(!text.contains("\"error\""), "ping failed: {text}");
}

#[tokio::test]
async fn two_replicas_read_each_others_calls_and_activity() {
    let url = shared().await.database().await;
    let (a, b) = (gateway(&url, |_| {}).await, gateway(&url, |_| {}).await);
    for (app, id) in [(&a, "via-a-1"), (&b, "via-b-1"), (&a, "via-a-2")] {
        ping(app, id).await;
    }
    let expected = vec!["via-a-1".to_owned(), "via-a-2".to_owned(), "via-b-1".to_owned()];
    assert_eq!(audited_request_ids(&a, 3).await, expected, "A reads B's call");
    assert_eq!(audited_request_ids(&b, 3).await, expected, "B reads A's calls");
    for app in [&a, &b] {
        let activity: Value = app.get("/admin/activity").send().await.unwrap().json().await.unwrap();
        assert_eq!(activity["totals"]["calls"], 3, "{activity}");
        assert_eq!(activity["tools"][0]["tool"], "ping", "{activity}");
        assert_eq!(activity["tools"][0]["calls"], 3, "{activity}");
    }
    let config: Value = a.get("/admin/config").send().await.unwrap().json().await.unwrap();
    assert_eq!(config["audit"]["audit_store"], "postgres", "{config}");
    assert!(!config.to_string().contains(SUPERUSER_PASSWORD), "the URL's password is in /admin/config");
    let ready: Value = a.get("/ready").send().await.unwrap().json().await.unwrap();
    assert_eq!((&ready["status"], &ready["audit"]["reachable"]), (&json!("ready"), &json!(true)), "{ready}");
    // Both replicas migrated at start, under the advisory lock: the schema was applied once.
    let client = connect(&url).await.unwrap();
    let versions: i64 = client.query_one("SELECT count(*) FROM mcp_gateway_audit_schema", &[]).await.unwrap().get(0);
    assert_eq!(versions, 1);
}

/// Entries of every shape: with and without category, upstream status and arguments, over several minutes.
fn varied_entries(base_ms: i64) -> Vec<AuditEntry> {
    (0..40)
        .map(|i: i64| AuditEntry {
            time_ms: base_ms + i * 7_000,
            request_id: format!("r-{i}"),
            key_id: if i % 3 == 0 { "ops".into() } else { "anonymous".into() },
            tool: ["ping", "search", "list_tools"][usize::try_from(i % 3).unwrap()].into(),
            category: (i % 4 != 0).then(|| "read".into()),
            outcome: if i % 5 == 0 { "upstream_error".into() } else { "ok".into() },
            duration_ms: 0.25 + f64::from(u32::try_from(i).unwrap()) * 1.5,
            upstream_status: (i % 5 == 0).then_some(502),
            args_hash: hash_arguments(&json!({"i": i})),
            args: (i % 2 == 0).then(|| json!({"i": i, "q": "é\"x"}).to_string()),
        })
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_answer_alike_for_the_same_entries() {
    let url = shared().await.database().await;
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let entries = varied_entries(now - 600_000);
    let sqlite = AuditLog::open(&dir.path().join("audit.db"), 30).unwrap();
    let postgres = AuditLog::open_postgres(&secret(&url), 30).unwrap();
    for log in [&sqlite, &postgres] {
        for entry in &entries {
            assert!(log.record(entry.clone()));
        }
        log.close();
    }
    let queries = [
        AuditQuery { limit: 1000, ..AuditQuery::default() },
        AuditQuery { limit: 5, ..AuditQuery::default() },
        AuditQuery { tool: Some("search".into()), outcome: Some("ok".into()), limit: 100, ..AuditQuery::default() },
        AuditQuery {
            key_id: Some("ops".into()),
            since_ms: Some(now - 400_000),
            until_ms: Some(now - 200_000),
            limit: 100,
            ..AuditQuery::default()
        },
    ];
    for query in &queries {
        let (from_sqlite, from_postgres) = (sqlite.query(query).await.unwrap(), postgres.query(query).await.unwrap());
        assert!(!from_sqlite.is_empty(), "{query:?}");
        assert_eq!(from_sqlite, from_postgres, "{query:?}");
    }
    let all = postgres.query(&queries[0]).await.unwrap();
    assert_eq!(all.len(), entries.len());
    assert_eq!(all[0]["request_id"], "r-39", "newest first");
    assert_eq!(all[39]["args"], json!({"i": 0, "q": "é\"x"}));
    for (window, bucket) in [(3600, 60), (900, 10)] {
        let query = ActivityQuery::ending_at(now, window, bucket).unwrap();
        let from_sqlite = serde_json::to_value(sqlite.activity(&query).await.unwrap()).unwrap();
        let from_postgres = serde_json::to_value(postgres.activity(&query).await.unwrap()).unwrap();
        assert_eq!(from_sqlite["totals"]["calls"], 40);
        assert_eq!(from_sqlite, from_postgres, "window {window} s, buckets of {bucket} s");
    }
    let capped = ActivityQuery { max_rows: 7, ..ActivityQuery::ending_at(now, 3600, 60).unwrap() };
    let from_sqlite = serde_json::to_value(sqlite.activity(&capped).await.unwrap()).unwrap();
    let from_postgres = serde_json::to_value(postgres.activity(&capped).await.unwrap()).unwrap();
    assert_eq!((&from_postgres["truncated"], &from_postgres["rows"]), (&json!(true), &json!(7)));
    assert_eq!(from_sqlite, from_postgres, "a truncated window");
}

#[tokio::test]
async fn shutdown_flushes_the_entries_recorded_just_before() {
    let url = shared().await.database().await;
    let app = gateway(&url, |_| {}).await;
    for i in 0..25 {
        ping(&app, &format!("last-{i}")).await;
    }
    app.state.finish_shutdown();
    assert_eq!(count_rows(&url, "WHERE request_id LIKE 'last-%'").await, 25);
}

#[tokio::test]
async fn with_postgres_stopped_ready_and_audit_answer_503_calls_answer_and_the_queue_arrives_later() {
    let mut server = Postgres::start().await;
    let url = server.database().await;
    let app = gateway(&url, |_| {}).await;
    ping(&app, "before").await;
    audited_request_ids(&app, 1).await;

    server.stop();
    for i in 0..3 {
        ping(&app, &format!("during-{i}")).await;
    }
    let ready = app.get("/ready").send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["audit"]["reachable"], false, "{ready}");
    assert!(ready["audit"]["error"].as_str().is_some_and(|e| !e.is_empty()), "the admin sees why: {ready}");
    let (status, body) = audit_rows(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert_eq!(body["error"]["retryable"], true, "{body}");
    let activity = app.get("/admin/activity").send().await.unwrap();
    assert_eq!(activity.status(), 503);

    server.restart().await;
    let ids = audited_request_ids(&app, 4).await;
    assert_eq!(ids, ["before", "during-0", "during-1", "during-2"], "the entries queued meanwhile are written");
    common::eventually("/ready is 200 again", || async { app.get("/ready").send().await.unwrap().status() == 200 })
        .await;
}

#[tokio::test]
async fn a_wrong_password_is_a_readable_error_that_never_shows_the_password() {
    let server = shared().await;
    let url = server.database().await;
    let database = url.rsplit('/').next().unwrap().to_owned();
    let wrong = "wrong-pw-9c2d71e0";
    let bad_url = format!("postgres://postgres:{wrong}@127.0.0.1:{}/{database}", server.port);
    let app = gateway(&bad_url, |_| {}).await;
    let ready = app.get("/ready").send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(text.contains("password authentication failed"), "a readable cause: {text}");
    assert!(!text.contains(wrong), "the password is in /ready: {text}");
    let config = app.get("/admin/config").send().await.unwrap().text().await.unwrap();
    assert!(!config.contains(wrong), "the password is in /admin/config: {config}");
    let (status, body) = audit_rows(&app).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.to_string().contains(wrong), "{body}");

    // The binary's own log, at trace level, never shows it either.
    let specs = common::core_specs();
    let mut binary = crate::process::Gateway::start(&specs, &[("GATEWAY_AUDIT_URL", &bad_url), ("LOG_LEVEL", "trace")]);
    binary.wait_for_line("the writer reports the refusal", |l| l.contains("password authentication failed"));
    binary.terminate();
    let (_, log) = tokio::task::spawn_blocking(move || binary.wait_exit()).await.unwrap();
    assert!(!log.contains(wrong), "the password is in the log:\n{log}");
}

#[tokio::test]
async fn retention_deletes_rows_older_than_the_setting() {
    let url = shared().await.database().await;
    let first = gateway(&url, |_| {}).await;
    ping(&first, "old").await;
    ping(&first, "recent").await;
    first.state.finish_shutdown();
    let client = connect(&url).await.unwrap();
    let forty_days_ago = now_ms() - 40 * 86_400_000;
    client
        .execute("UPDATE mcp_gateway_audit SET time_ms = $1 WHERE request_id = 'old'", &[&forty_days_ago])
        .await
        .unwrap();

    let second = gateway(&url, |config| config.audit.retention_days = 30).await;
    assert_eq!(audited_request_ids(&second, 1).await, ["recent"], "the 40-day-old row is gone at start");
    assert_eq!(count_rows(&url, "").await, 1);
}

#[tokio::test]
async fn a_gateway_started_while_postgres_is_away_answers_calls_and_is_not_ready() {
    let (_held, port) = common::closed_port();
    let app = gateway(&format!("postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{port}/audit"), |_| {}).await;
    let ready = app.get("/ready").send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["audit"]["reachable"], false, "{ready}");
    assert_eq!(ready["status"], "unavailable", "{ready}");
    let (status, body) = audit_rows(&app).await;
    assert_eq!((status.as_u16(), &body["error"]["code"]), (503, &json!("upstream_unavailable")), "{body}");
    let tools = app.get("/mcp/tools/list").send().await.unwrap();
    assert_eq!(tools.status(), 200, "requests that need no audit read still answer");
}

#[tokio::test]
async fn a_nul_in_a_tool_name_is_kept_visible_and_blocks_nothing_behind_it() {
    let url = shared().await.database().await;
    let log = AuditLog::open_postgres(&secret(&url), 30).unwrap();
    let mut entries = varied_entries(now_ms() - 1000).into_iter().take(2);
    let (mut odd, after) = (entries.next().unwrap(), entries.next().unwrap());
    odd.tool = "bad\0name".into();
    assert!(log.record(odd) && log.record(after));
    log.close();
    let rows = log.query(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    let tools: Vec<&str> = rows.iter().filter_map(|row| row["tool"].as_str()).collect();
    assert_eq!(tools, ["search", "bad\u{fffd}name"], "{rows:?}");
}

#[tokio::test]
async fn through_an_outage_the_queue_is_bounded_and_what_it_held_is_written_when_postgres_returns() {
    let mut server = Postgres::start().await;
    let url = server.database().await;
    let log = AuditLog::open_postgres(&secret(&url), 30).unwrap();
    let mut entries = varied_entries(now_ms() - 60_000).into_iter().cycle();
    assert!(log.record(entries.next().unwrap()));
    poll_until("the first entry is written", || async {
        let client = connect(&url).await.ok()?;
        let row = client.query_one("SELECT count(*) FROM mcp_gateway_audit", &[]).await.ok()?;
        (row.get::<_, i64>(0) == 1).then_some(())
    })
    .await;

    server.stop();
    let offered = 12_000;
    let accepted = (0..offered).filter(|_| log.record(entries.next().unwrap())).count();
    // The queue holds 10,000 entries, the writer one batch of at most 1,024 more; the rest is refused at once.
    assert!((10_000..=11_024).contains(&accepted), "accepted {accepted} of {offered}");
    server.restart().await;
    tokio::task::spawn_blocking(move || log.close()).await.unwrap();
    assert_eq!(count_rows(&url, "").await, 1 + i64::try_from(accepted).unwrap(), "every accepted entry is written");
}
