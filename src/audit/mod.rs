//! The audit log: every tool call recorded with its time, request id, key id, tool, category, outcome, duration,
//! upstream status, a SHA-256 of the arguments (the arguments themselves only when configured), with retention.
//! Kept in SQLite (`{data_dir}/audit.db`, `sqlite.rs`) by default, or on PostgreSQL (`GATEWAY_AUDIT_URL`,
//! `postgres.rs`) shared by every replica; both answer with the same rows and summaries.
//!
//! Writes never block a request: entries go through a bounded channel to one writer thread that commits them in
//! batches gathered over up to 50 ms. A full channel drops the entry with a warning (the caller counts it in a
//! metric) rather than stall calls. `close` drains the channel and joins the writer, so a graceful shutdown
//! loses nothing. `activity.rs` summarises a recent window for the charts.

mod activity;
mod postgres;
mod sqlite;

pub use activity::{Activity, ActivityQuery, MAX_WINDOW_SECS};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Sender, channel};

use crate::config::Secret;
use crate::error::{ErrorCode, GatewayError};

/// Entries waiting for the writer at most (the channel allocates as it fills, not up front).
const QUEUE: usize = 10_000;
const BATCH: usize = 1024;
/// After a partial batch the writer waits this long, so busy periods commit a few large transactions rather than
/// thousands of tiny ones (each one takes file locks and writes the WAL).
const GATHER: Duration = Duration::from_millis(50);
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// One recorded tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch (formatted as RFC 3339 when read).
    pub time_ms: i64,
    pub request_id: String,
    pub key_id: String,
    pub tool: String,
    pub category: Option<String>,
    pub outcome: String,
    pub duration_ms: f64,
    pub upstream_status: Option<u16>,
    pub args_hash: String,
    pub args: Option<String>,
}

/// Filters for reading the log; every field is optional.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub tool: Option<String>,
    pub key_id: Option<String>,
    pub outcome: Option<String>,
    /// Milliseconds since the Unix epoch, inclusive.
    pub since_ms: Option<i64>,
    /// Milliseconds since the Unix epoch, exclusive.
    pub until_ms: Option<i64>,
    pub limit: usize,
}

/// Handle to the audit log.
#[derive(Debug)]
pub struct AuditLog {
    store: Store,
    sender: Mutex<Option<Sender<AuditEntry>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Where the entries are kept, and how they are read back.
#[derive(Debug)]
enum Store {
    Sqlite(PathBuf),
    Postgres(postgres::Reader),
}

/// The current time in milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
#[must_use]
pub fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// An RFC 3339 time as milliseconds since the epoch.
#[must_use]
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// SHA-256 (hex) of a JSON value as compact JSON with object keys sorted, so equal arguments hash equally.
#[must_use]
pub fn hash_arguments(args: &Value) -> String {
    let mut hasher = Sha256::new();
    feed_canonical(&mut Feed(&mut hasher), args);
    // 32 bytes fill the 64 digits exactly (`hex::encode` builds its string a character at a time).
    let mut digits = [0u8; 64];
    let _ = hex::encode_to_slice(hasher.finalize(), &mut digits);
    // Hex digits are ASCII: the check passes, a word at a time (a lossy conversion walks them in UTF-8 chunks).
    std::str::from_utf8(&digits).map(str::to_owned).unwrap_or_default()
}

/// Writes into the hasher, so the canonical text is hashed as it is produced, never built.
struct Feed<'a>(&'a mut Sha256);

impl std::io::Write for Feed<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as compact JSON with object keys sorted (byte order), without copying it.
fn feed_canonical(out: &mut Feed<'_>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.0.update(b"{");
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                feed_json(out, key);
                out.0.update(b":");
                feed_canonical(out, value);
            }
            out.0.update(b"}");
        }
        Value::Array(items) => {
            out.0.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                feed_canonical(out, item);
            }
            out.0.update(b"]");
        }
        scalar => feed_json(out, scalar),
    }
}

fn feed_json(out: &mut Feed<'_>, value: &(impl serde::Serialize + ?Sized)) {
    // Writing into a hasher cannot fail, nor can serializing a string or a JSON scalar.
    let _ = serde_json::to_writer(&mut *out, value);
}

impl AuditLog {
    /// Open (creating if needed) the SQLite log at `path` and start its writer thread.
    pub fn open(path: &Path, retention_days: u32) -> Result<Self, String> {
        let (sender, receiver) = channel(QUEUE);
        let writer = sqlite::open(path, receiver, retention_days)?;
        Ok(Self::started(Store::Sqlite(path.to_path_buf()), sender, writer))
    }

    /// The log on the PostgreSQL server of `url`, and its writer thread. Nothing is connected yet (the gateway
    /// starts while the server is away); the writer connects and migrates the schema at once, in the background.
    pub fn open_postgres(url: &Secret, retention_days: u32) -> Result<Self, String> {
        let settings = postgres::settings(url)?;
        let reader = postgres::Reader::new(settings.clone())?;
        let (sender, receiver) = channel(QUEUE);
        let writer = postgres::spawn_writer(settings, receiver, retention_days)?;
        Ok(Self::started(Store::Postgres(reader), sender, writer))
    }

    fn started(store: Store, sender: Sender<AuditEntry>, writer: JoinHandle<()>) -> Self {
        Self { store, sender: Mutex::new(Some(sender)), writer: Mutex::new(Some(writer)) }
    }

    /// Queue an entry. Returns false when it had to be dropped (queue full or log closed).
    pub fn record(&self, entry: AuditEntry) -> bool {
        let guard = self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(sender) = guard.as_ref() else { return false };
        match sender.try_send(entry) {
            Ok(()) => true,
            Err(TrySendError::Full(entry)) => {
                tracing::warn!(tool = %entry.tool, request_id = %entry.request_id, "audit queue full; entry dropped");
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Flush everything queued and stop the writer. Idempotent. On PostgreSQL, a server that stays away is
    /// waited for a bounded time (10 s), then the entries still queued are reported lost.
    pub fn close(&self) {
        drop(self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            if writer.join().is_err() {
                tracing::error!("the audit writer panicked while flushing");
            }
        }
    }

    /// Read entries, newest first, as `/admin/audit` shows them.
    pub async fn query(&self, query: &AuditQuery) -> Result<Vec<Value>, GatewayError> {
        let entries = match &self.store {
            Store::Sqlite(path) => {
                let (path, query) = (path.clone(), query.clone());
                blocking(move || sqlite::query(&path, &query)).await?
            }
            Store::Postgres(reader) => reader.query(query).await.map_err(unavailable)?,
        };
        Ok(entries.into_iter().map(entry_json).collect())
    }

    /// Summarise the calls in `query`'s window.
    pub async fn activity(&self, query: &ActivityQuery) -> Result<Activity, GatewayError> {
        match &self.store {
            Store::Sqlite(path) => {
                let (path, query) = (path.clone(), *query);
                blocking(move || sqlite::activity(&path, &query)).await
            }
            Store::Postgres(reader) => reader.activity(query).await.map_err(unavailable),
        }
    }

    /// With PostgreSQL: does the server answer now (for `/ready`)? `None` for the local SQLite file.
    pub async fn ping(&self) -> Option<Result<(), String>> {
        match &self.store {
            Store::Sqlite(_) => None,
            Store::Postgres(reader) => Some(reader.ping().await),
        }
    }
}

/// An entry as `/admin/audit` shows it (the arguments, when kept, as JSON).
fn entry_json(e: AuditEntry) -> Value {
    json!({
        "time": format_ms(e.time_ms),
        "request_id": e.request_id,
        "key_id": e.key_id,
        "tool": e.tool,
        "category": e.category,
        "outcome": e.outcome,
        "duration_ms": e.duration_ms,
        "upstream_status": e.upstream_status,
        "args_hash": e.args_hash,
        "args": e.args.and_then(|a| serde_json::from_str::<Value>(&a).ok()),
    })
}

/// A blocking read of the SQLite log, on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, GatewayError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(GatewayError::internal("reading the audit log", &e)),
        Err(e) => Err(GatewayError::internal("reading the audit log", &e)),
    }
}

/// The typed answer when the PostgreSQL log cannot be read: retryable.
fn unavailable(cause: String) -> GatewayError {
    GatewayError::new(
        ErrorCode::UpstreamUnavailable,
        "the audit log's database (PostgreSQL) is unavailable; retry shortly",
    )
    .retryable(true)
    .with_cause(cause)
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn entry(tool: &str, time: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            time_ms: parse_rfc3339_ms(time).unwrap(),
            request_id: "r".into(),
            key_id: "k".into(),
            tool: tool.into(),
            category: Some("read".into()),
            outcome: outcome.into(),
            duration_ms: 1.5,
            upstream_status: None,
            args_hash: hash_arguments(&json!({"b": 1, "a": 2})),
            args: None,
        }
    }

    #[tokio::test]
    async fn entries_are_flushed_on_close_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.db"), 3650).unwrap();
        assert!(log.record(entry("ping", "2026-01-01T00:00:00Z", "ok")));
        assert!(log.record(entry("search", "2026-01-02T00:00:00Z", "upstream_error")));
        log.close();
        assert!(!log.record(entry("late", "2026-01-03T00:00:00Z", "ok")), "closed logs refuse entries");
        let all = log.query(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["tool"], "search", "newest first");
        let failures =
            log.query(&AuditQuery { outcome: Some("upstream_error".into()), limit: 10, ..AuditQuery::default() }).await;
        assert_eq!(failures.unwrap().len(), 1);
        let since = parse_rfc3339_ms("2026-01-02T00:00:00Z");
        let since = log.query(&AuditQuery { since_ms: since, limit: 10, ..AuditQuery::default() }).await.unwrap();
        assert_eq!(since.len(), 1);
        assert_eq!(since[0]["tool"], "search");
        assert_eq!(since[0]["time"], "2026-01-02T00:00:00Z");
    }

    #[tokio::test]
    async fn a_batch_larger_than_one_insert_keeps_every_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.db"), 3650).unwrap();
        let count = sqlite::ROWS_PER_INSERT * 2 + 5;
        for i in 0..count {
            let mut e = entry(&format!("tool_{i}"), "2026-01-01T00:00:00Z", "ok");
            e.args = Some(format!("{{\"i\":{i}}}"));
            e.upstream_status = (i % 2 == 0).then_some(200);
            assert!(log.record(e));
        }
        log.close();
        let rows = log.query(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
        assert_eq!(rows.len(), count);
        for (row, i) in rows.iter().zip((0..count).rev()) {
            assert_eq!(row["tool"], format!("tool_{i}"), "newest first, in the order recorded");
            assert_eq!(row["args"], json!({"i": i}));
            assert_eq!(row["upstream_status"], if i % 2 == 0 { json!(200) } else { Value::Null });
            assert_eq!(row["category"], "read");
            assert_eq!(row["duration_ms"], 1.5);
        }
    }

    #[tokio::test]
    async fn retention_deletes_old_rows() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.db"), 1).unwrap();
        log.record(entry("old", "2000-01-01T00:00:00Z", "ok"));
        log.close();
        assert!(log.query(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap().is_empty());
    }

    #[test]
    fn argument_hash_is_the_sha256_of_the_sorted_compact_json() {
        // The text the hash has always been taken of: audit rows written before stay comparable.
        fn sorted(value: &Value) -> Value {
            match value {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
                }
                Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
                other => other.clone(),
            }
        }
        for args in [
            json!({}),
            json!({"b": [1, {"y": "é\"\n", "x": null}], "a": 1.5, "A": true, "": -3}),
            json!([{"z": {}, "y": []}]),
            json!("plain"),
        ] {
            let expected = hex::encode(Sha256::digest(sorted(&args).to_string().as_bytes()));
            assert_eq!(hash_arguments(&args), expected, "{args}");
        }
        assert_eq!(hash_arguments(&json!({})), "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    }

    #[test]
    fn argument_hash_ignores_key_order() {
        assert_eq!(
            hash_arguments(&json!({"a": 1, "b": [1, {"y": 2, "x": 1}]})),
            hash_arguments(&json!({"b": [1, {"x": 1, "y": 2}], "a": 1}))
        );
        assert_ne!(hash_arguments(&json!({"a": 1})), hash_arguments(&json!({"a": 2})));
    }
}
