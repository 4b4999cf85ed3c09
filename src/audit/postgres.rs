//! The audit log on PostgreSQL (`GATEWAY_AUDIT_URL`), one table every replica writes and reads, so
//! `/admin/audit` and the activity charts of any replica show every replica's calls.
//!
//! Writes: the writer thread of `mod.rs` runs a small runtime of its own with one connection and inserts each
//! batch in one statement. When the server cannot be reached the batch is kept and retried (backing off up to
//! [`RETRY_MAX`]) while new entries wait in the bounded queue, so nothing is lost through an outage the queue
//! outlasts; at shutdown it keeps trying for [`CLOSE_GRACE`], then says how many entries it lost.
//!
//! Schema: versioned migrations in `mcp_gateway_audit_schema`, applied on every (re)connection under a
//! transaction-scoped advisory lock, so replicas starting together apply each one once. Retention is a
//! `DELETE` of rows past `retention_days` at start and hourly, from every replica (idempotent).
//!
//! Reads: a small pool of connections on the server's runtime. Every exchange, connecting included, is bounded in
//! time. No TLS: the database is expected on the deployment's private network, and a URL asking for TLS
//! (`sslmode=require`) is refused at start rather than silently served in clear.

use std::borrow::Cow;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::TryStreamExt;
use tokio::sync::mpsc::Receiver;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

use super::activity::{Activity, ActivityQuery, Summariser};
use super::{AuditEntry, AuditQuery, BATCH, GATHER, RETENTION_EVERY, now_ms};
use crate::config::Secret;

/// Connecting, or one statement, at most.
const EXCHANGE: Duration = Duration::from_secs(5);
/// Reading a whole activity window (up to [`super::activity::MAX_ROWS`] rows) at most.
const SCAN: Duration = Duration::from_secs(15);
/// The longest wait between two attempts to write a batch while the server is away.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// At shutdown, how long the writer keeps trying to reach the server before giving up on what is queued.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// Connections of the read pool (`/admin/audit`, `/admin/activity`, `/ready`).
const READERS: usize = 4;
/// The advisory lock migrations run under (any fixed number; these are the ASCII bytes of "mcpgwaud").
const MIGRATION_LOCK: i64 = 0x6d63_7067_7761_7564;

/// The schema, one migration per version (version = position + 1). Append only: a migration never changes once
/// released.
const MIGRATIONS: &[&str] = &["CREATE TABLE mcp_gateway_audit (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         time_ms BIGINT NOT NULL,
         request_id TEXT NOT NULL,
         key_id TEXT NOT NULL,
         tool TEXT NOT NULL,
         category TEXT,
         outcome TEXT NOT NULL,
         duration_ms DOUBLE PRECISION NOT NULL,
         upstream_status INTEGER,
         args_hash TEXT NOT NULL,
         args TEXT
     );
     CREATE INDEX mcp_gateway_audit_time ON mcp_gateway_audit (time_ms);
     CREATE INDEX mcp_gateway_audit_tool ON mcp_gateway_audit (tool, time_ms);"];

/// A whole batch in one statement: one array per column, unnested in order (so ids follow the batch's order).
const INSERT: &str = "INSERT INTO mcp_gateway_audit (time_ms, request_id, key_id, tool, category, outcome, duration_ms, \
                      upstream_status, args_hash, args) \
                      SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], \
                      $7::FLOAT8[], $8::INTEGER[], $9::TEXT[], $10::TEXT[])";

const COLUMNS: &str =
    "time_ms, request_id, key_id, tool, category, outcome, duration_ms, upstream_status, args_hash, args";

/// The newest rows of a window, at most `$3` of them.
const WINDOW_ROWS: &str = "SELECT time_ms, tool, outcome, duration_ms FROM mcp_gateway_audit \
                           WHERE time_ms >= $1 AND time_ms < $2 ORDER BY time_ms DESC LIMIT $3";

/// The connection settings of `url`, with the gateway's bounds. The error never quotes the URL (it may carry a
/// password).
pub(super) fn settings(url: &Secret) -> Result<Config, String> {
    let mut config: Config =
        url.expose().parse().map_err(|_| "GATEWAY_AUDIT_URL is not a valid PostgreSQL URL".to_owned())?;
    if config.get_ssl_mode() == SslMode::Require {
        return Err("GATEWAY_AUDIT_URL asks for TLS (`sslmode=require`), which is not supported yet".into());
    }
    config.connect_timeout(EXCHANGE).application_name("mcp-gateway");
    Ok(config)
}

/// The reads of the log, through a pool on the caller's runtime.
pub(super) struct Reader {
    pool: Pool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("status", &self.pool.status()).finish_non_exhaustive()
    }
}

impl Reader {
    /// Nothing is opened yet: connections are made on first use.
    pub(super) fn new(config: Config) -> Result<Self, String> {
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(READERS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(EXCHANGE))
            .create_timeout(Some(EXCHANGE))
            .recycle_timeout(Some(EXCHANGE))
            .build()
            .map_err(|e| format!("cannot set up the PostgreSQL pool: {e}"))?;
        Ok(Self { pool })
    }

    /// Does the server answer now? For `/ready`.
    pub(super) async fn ping(&self) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| describe(&e))?;
        bounded(EXCHANGE, client.simple_query("SELECT 1")).await.map(drop)
    }

    /// Read entries, newest first.
    pub(super) async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, String> {
        let mut sql = format!("SELECT {COLUMNS} FROM mcp_gateway_audit WHERE TRUE");
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for (column, value) in [("tool", &query.tool), ("key_id", &query.key_id), ("outcome", &query.outcome)] {
            if let Some(value) = value {
                params.push(value);
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        for (op, value) in [(">=", &query.since_ms), ("<", &query.until_ms)] {
            if let Some(value) = value {
                params.push(value);
                sql.push_str(&format!(" AND time_ms {op} ${}", params.len()));
            }
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", query.limit.clamp(1, 1000)));
        let client = self.pool.get().await.map_err(|e| describe(&e))?;
        let rows = bounded(EXCHANGE, client.query(&sql, &params)).await?;
        rows.iter().map(|row| entry(row).map_err(|e| describe(&e))).collect()
    }

    /// Summarise the calls in `query`'s window, streaming its newest rows through the time index.
    pub(super) async fn activity(&self, query: &ActivityQuery) -> Result<Activity, String> {
        let client = self.pool.get().await.map_err(|e| describe(&e))?;
        let params: [&(dyn ToSql + Sync); 3] = [&query.from_ms, &query.until_ms, &query.row_limit()];
        let scan = async {
            let rows = client.query_raw(WINDOW_ROWS, params).await?;
            futures_util::pin_mut!(rows);
            let mut summary = Summariser::new(query);
            while let Some(row) = rows.try_next().await? {
                let (time_ms, tool, outcome, duration_ms): (i64, String, String, f64) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
                if !summary.add(time_ms, tool, &outcome, duration_ms) {
                    break;
                }
            }
            Ok::<_, tokio_postgres::Error>(summary.finish())
        };
        bounded(SCAN, scan).await
    }
}

/// One row of [`COLUMNS`] as an entry.
fn entry(row: &Row) -> Result<AuditEntry, tokio_postgres::Error> {
    Ok(AuditEntry {
        time_ms: row.try_get(0)?,
        request_id: row.try_get(1)?,
        key_id: row.try_get(2)?,
        tool: row.try_get(3)?,
        category: row.try_get(4)?,
        outcome: row.try_get(5)?,
        duration_ms: row.try_get(6)?,
        upstream_status: row.try_get::<_, Option<i32>>(7)?.and_then(|s| u16::try_from(s).ok()),
        args_hash: row.try_get(8)?,
        args: row.try_get(9)?,
    })
}

/// Start the writer thread on `receiver`.
pub(super) fn spawn_writer(
    config: Config,
    receiver: Receiver<AuditEntry>,
    retention_days: u32,
) -> Result<JoinHandle<()>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the audit writer's runtime: {e}"))?;
    let writer = Writer { config, client: None, retention_days, last_retention: None };
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || runtime.block_on(writer.run(receiver)))
        .map_err(|e| format!("cannot start the audit writer: {e}"))
}

/// `value` as PostgreSQL's text can hold it: NUL, which it cannot (a tool name may carry one), becomes U+FFFD.
fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') { Cow::Owned(value.replace('\0', "\u{fffd}")) } else { Cow::Borrowed(value) }
}

/// Why a batch was not written.
enum Failure {
    /// The server could not be reached or did not answer: keep the batch and try again.
    Unreachable(String),
    /// The server refused the rows themselves.
    Refused(String),
}

/// The writer's connection and its schedule of retention.
struct Writer {
    config: Config,
    client: Option<Client>,
    retention_days: u32,
    last_retention: Option<Instant>,
}

impl Writer {
    async fn run(mut self, mut receiver: Receiver<AuditEntry>) {
        // Migrations and retention at start, so the schema is ready before the first call is recorded.
        match self.connected().await {
            Ok(_) => self.apply_retention().await,
            Err(e) => tracing::warn!(error = %e, "the audit log's PostgreSQL is unreachable at start; retrying"),
        }
        let mut batch = Vec::with_capacity(BATCH);
        let (mut failures, mut closing_since) = (0u32, None::<Instant>);
        loop {
            if batch.is_empty() {
                match receiver.recv().await {
                    Some(entry) => batch.push(entry),
                    None => break,
                }
            }
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
            match self.write(&batch).await {
                Err(Failure::Refused(e)) => {
                    // Retrying a batch the server rejects would stall the log behind it for good.
                    tracing::error!(error = %e, lost = batch.len(), "PostgreSQL refused audit entries");
                    batch.clear();
                }
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(attempts = failures + 1, "the audit log's PostgreSQL is reachable again");
                    }
                    failures = 0;
                    let partial = batch.len() < BATCH;
                    batch.clear();
                    if self.last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                        self.apply_retention().await;
                    }
                    if partial && !receiver.is_closed() {
                        tokio::time::sleep(GATHER).await;
                    }
                }
                Err(Failure::Unreachable(e)) => {
                    failures += 1;
                    let queued = batch.len() + receiver.len();
                    if failures == 1 {
                        tracing::warn!(error = %e, queued, "audit entries cannot be written to PostgreSQL; kept queued");
                    }
                    if receiver.is_closed() && closing_since.get_or_insert_with(Instant::now).elapsed() >= CLOSE_GRACE {
                        tracing::error!(error = %e, lost = queued, "audit entries lost at shutdown: PostgreSQL is unreachable");
                        return;
                    }
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }

    /// Insert `batch` in one statement; a failed exchange drops the connection (the next attempt reconnects).
    async fn write(&mut self, batch: &[AuditEntry]) -> Result<(), Failure> {
        let client = self.connected().await.map_err(Failure::Unreachable)?;
        let status: Vec<Option<i32>> = batch.iter().map(|e| e.upstream_status.map(i32::from)).collect();
        let columns: [&(dyn ToSql + Sync); 10] = [
            &batch.iter().map(|e| e.time_ms).collect::<Vec<_>>(),
            &batch.iter().map(|e| text(&e.request_id)).collect::<Vec<_>>(),
            &batch.iter().map(|e| text(&e.key_id)).collect::<Vec<_>>(),
            &batch.iter().map(|e| text(&e.tool)).collect::<Vec<_>>(),
            &batch.iter().map(|e| e.category.as_deref().map(text)).collect::<Vec<_>>(),
            &batch.iter().map(|e| text(&e.outcome)).collect::<Vec<_>>(),
            &batch.iter().map(|e| e.duration_ms).collect::<Vec<_>>(),
            &status,
            &batch.iter().map(|e| text(&e.args_hash)).collect::<Vec<_>>(),
            &batch.iter().map(|e| e.args.as_deref().map(text)).collect::<Vec<_>>(),
        ];
        let failure = match tokio::time::timeout(EXCHANGE, client.execute(INSERT, &columns)).await {
            Ok(Ok(_)) => return Ok(()),
            // The server answered, and refused these rows: trying them again would fail again.
            Ok(Err(e)) if e.as_db_error().is_some() && !client.is_closed() => Failure::Refused(describe(&e)),
            Ok(Err(e)) => Failure::Unreachable(describe(&e)),
            Err(_) => Failure::Unreachable(format!("PostgreSQL did not answer within {} s", EXCHANGE.as_secs())),
        };
        self.client = None;
        Err(failure)
    }

    /// The open connection, or a new one (migrated) when there is none or it closed.
    async fn connected(&mut self) -> Result<&Client, String> {
        let client = match self.client.take() {
            Some(client) if !client.is_closed() => client,
            _ => connect(&self.config).await?,
        };
        Ok(self.client.insert(client))
    }

    async fn apply_retention(&mut self) {
        self.last_retention = Some(Instant::now());
        let cutoff = now_ms() - i64::from(self.retention_days) * 86_400_000;
        let deleted = match self.connected().await {
            Ok(client) => {
                bounded(EXCHANGE, client.execute("DELETE FROM mcp_gateway_audit WHERE time_ms < $1", &[&cutoff])).await
            }
            Err(e) => Err(e),
        };
        match deleted {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, days = self.retention_days, "audit retention applied"),
            Err(e) => tracing::warn!(error = %e, "audit retention failed"),
        }
    }
}

/// Connect (bounded) and bring the schema up to date.
async fn connect(config: &Config) -> Result<Client, String> {
    let (mut client, connection) = bounded(EXCHANGE, config.connect(NoTls)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e), "the audit writer's PostgreSQL connection ended");
        }
    });
    bounded(EXCHANGE, migrate(&mut client)).await?;
    Ok(client)
}

/// Apply the migrations this server lacks, under the advisory lock (released with the transaction).
async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mcp_gateway_audit_schema (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .await?;
    let current: i32 =
        tx.query_one("SELECT COALESCE(MAX(version), 0) FROM mcp_gateway_audit_schema", &[]).await?.try_get(0)?;
    for (version, sql) in (1..).zip(MIGRATIONS) {
        if version > current {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO mcp_gateway_audit_schema (version, applied_ms) VALUES ($1, $2)",
                &[&version, &now_ms()],
            )
            .await?;
            tracing::info!(version, "audit schema migrated");
        }
    }
    tx.commit().await
}

/// Wait between write attempts: 250 ms, doubling, at most [`RETRY_MAX`].
fn backoff(failures: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.saturating_pow(failures.saturating_sub(1).min(8))).min(RETRY_MAX)
}

/// `work` within `limit`, its error described.
async fn bounded<T, E: std::error::Error>(
    limit: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| describe(&e)),
        Err(_) => Err(format!("PostgreSQL did not answer within {} s", limit.as_secs())),
    }
}

/// An error with its causes (the server's own message for database errors, such as a refused password).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_asking_for_tls_or_unreadable_are_refused_without_quoting_them() {
        let url = |text: &str| Secret::from_setting(Some(text.into())).unwrap();
        assert!(settings(&url("postgres://gw:s3cret@127.0.0.1:5432/audit")).is_ok());
        let err = settings(&url("postgres://gw:s3cret@127.0.0.1/audit?sslmode=require")).unwrap_err();
        assert!(err.contains("sslmode=require") && !err.contains("s3cret"), "{err}");
        let err = settings(&url("postgres://gw:s3cret@127.0.0.1:notaport/audit")).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn retries_back_off_to_a_bound() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(5), Duration::from_secs(4));
        assert_eq!(backoff(6), RETRY_MAX);
        assert_eq!(backoff(u32::MAX), RETRY_MAX);
    }
}
