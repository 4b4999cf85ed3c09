//! The audit log in SQLite (`{data_dir}/audit.db`), the default: one writer thread commits batches, reads open
//! their own read-only connection (WAL mode lets them run beside the writer). Blocking I/O throughout: the
//! handle in `mod.rs` runs reads on the blocking pool.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OpenFlags, params, params_from_iter};
use tokio::sync::mpsc::Receiver;

use super::activity::{Activity, ActivityQuery, Summariser};
use super::{AuditEntry, AuditQuery, BATCH, GATHER, RETENTION_EVERY, now_ms};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit (
         id INTEGER PRIMARY KEY,
         time_ms INTEGER NOT NULL,
         request_id TEXT NOT NULL,
         key_id TEXT NOT NULL,
         tool TEXT NOT NULL,
         category TEXT,
         outcome TEXT NOT NULL,
         duration_ms REAL NOT NULL,
         upstream_status INTEGER,
         args_hash TEXT NOT NULL,
         args TEXT
     );
     CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
     CREATE INDEX IF NOT EXISTS audit_tool ON audit(tool, time_ms);";

/// The newest rows of a window, at most `?3` of them.
const WINDOW_ROWS: &str = "SELECT time_ms, tool, outcome, duration_ms FROM audit WHERE time_ms >= ?1 AND time_ms < ?2 \
                           ORDER BY time_ms DESC LIMIT ?3";

/// Open (creating if needed) the log at `path` and start its writer thread on `receiver`.
pub(super) fn open(path: &Path, receiver: Receiver<AuditEntry>, retention_days: u32) -> Result<JoinHandle<()>, String> {
    let conn = crate::sqlite_file::open_wal(path, SCHEMA)?;
    std::thread::Builder::new()
        .name("audit-writer".into())
        .spawn(move || write_loop(&conn, receiver, retention_days))
        .map_err(|e| format!("cannot start the audit writer: {e}"))
}

/// Read entries, newest first.
pub(super) fn query(path: &Path, query: &AuditQuery) -> Result<Vec<AuditEntry>, String> {
    let conn = read_only(path)?;
    let mut sql = String::from(
        "SELECT time_ms, request_id, key_id, tool, category, outcome, duration_ms, upstream_status, args_hash, args \
         FROM audit WHERE 1 = 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    for (column, value) in [("tool", &query.tool), ("key_id", &query.key_id), ("outcome", &query.outcome)] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(value.clone().into());
        }
    }
    for (op, value) in [(">=", query.since_ms), ("<", query.until_ms)] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND time_ms {op} ?"));
            args.push(value.into());
        }
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", query.limit.clamp(1, 1000)));
    let mut statement = conn.prepare(&sql).map_err(|e| format!("cannot query the audit log: {e}"))?;
    let rows = statement
        .query_map(params_from_iter(args.iter()), |row| {
            Ok(AuditEntry {
                time_ms: row.get(0)?,
                request_id: row.get(1)?,
                key_id: row.get(2)?,
                tool: row.get(3)?,
                category: row.get(4)?,
                outcome: row.get(5)?,
                duration_ms: row.get(6)?,
                upstream_status: row.get(7)?,
                args_hash: row.get(8)?,
                args: row.get(9)?,
            })
        })
        .map_err(|e| format!("cannot query the audit log: {e}"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(|e| format!("cannot read the audit log: {e}"))
}

/// Summarise the calls in `query`'s window, reading its newest rows through the `audit_time` index.
pub(super) fn activity(path: &Path, query: &ActivityQuery) -> Result<Activity, String> {
    let conn = read_only(path)?;
    let mut statement = conn.prepare(WINDOW_ROWS).map_err(|e| format!("cannot query the audit log: {e}"))?;
    let mut rows = statement
        .query(params![query.from_ms, query.until_ms, query.row_limit()])
        .map_err(|e| format!("cannot query the audit log: {e}"))?;
    let mut summary = Summariser::new(query);
    while let Some(row) = rows.next().map_err(|e| format!("cannot read the audit log: {e}"))? {
        let read_row = || -> rusqlite::Result<(i64, String, String, f64)> {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        };
        let (time_ms, tool, outcome, duration_ms) =
            read_row().map_err(|e| format!("cannot read the audit log: {e}"))?;
        if !summary.add(time_ms, tool, &outcome, duration_ms) {
            break;
        }
    }
    Ok(summary.finish())
}

/// A read-only connection of its own, beside the writer's.
fn read_only(path: &Path) -> Result<Connection, String> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the audit log: {e}"))
}

fn write_loop(conn: &Connection, mut receiver: Receiver<AuditEntry>, retention_days: u32) {
    let mut last_retention: Option<Instant> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = receiver.blocking_recv() {
        batch.clear();
        batch.push(first);
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        if let Err(e) = write_batch(conn, &batch) {
            tracing::error!(error = %e, lost = batch.len(), "audit entries could not be written");
        }
        if batch.len() < BATCH && !receiver.is_closed() {
            std::thread::sleep(GATHER);
        }
        if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
            apply_retention(conn, retention_days);
            last_retention = Some(Instant::now());
        }
    }
}

/// Rows per `INSERT` statement: one statement per row spent a fifth to a quarter of the writer's time starting and
/// ending statements; a batch is written as statements of this many rows, and the rest one row at a time.
pub(super) const ROWS_PER_INSERT: usize = 32;

/// `INSERT INTO audit (...) VALUES (?, ...), ...` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let mut sql = String::from(
        "INSERT INTO audit (time_ms, request_id, key_id, tool, category, outcome, duration_ms, upstream_status, \
         args_hash, args) VALUES ",
    );
    sql.push_str(&vec![row; rows].join(", "));
    sql
}

fn write_batch(conn: &Connection, batch: &[AuditEntry]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    let chunks = batch.chunks_exact(ROWS_PER_INSERT);
    let rest = chunks.remainder();
    if chunks.len() > 0 {
        let mut insert = tx.prepare_cached(&insert_sql(ROWS_PER_INSERT))?;
        for chunk in chunks {
            insert.execute(params_from_iter(chunk.iter().flat_map(row_values)))?;
        }
    }
    if !rest.is_empty() {
        let mut insert = tx.prepare_cached(&insert_sql(1))?;
        for entry in rest {
            insert.execute(params_from_iter(row_values(entry)))?;
        }
    }
    tx.commit()
}

/// One entry's values, in the column order of [`insert_sql`].
fn row_values(e: &AuditEntry) -> [&dyn rusqlite::ToSql; 10] {
    [
        &e.time_ms,
        &e.request_id,
        &e.key_id,
        &e.tool,
        &e.category,
        &e.outcome,
        &e.duration_ms,
        &e.upstream_status,
        &e.args_hash,
        &e.args,
    ]
}

fn apply_retention(conn: &Connection, days: u32) {
    let cutoff = now_ms() - i64::from(days) * 86_400_000;
    match conn.execute("DELETE FROM audit WHERE time_ms < ?1", [cutoff]) {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, days, "audit retention applied"),
        Err(e) => tracing::warn!(error = %e, "audit retention failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_read_through_the_time_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        drop(crate::sqlite_file::open_wal(&path, SCHEMA).unwrap());
        let conn = read_only(&path).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WINDOW_ROWS}"))
            .unwrap()
            .query_map(params![0, 1, 10], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("INDEX audit_time")), "{plan:?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "no sort of the rows: {plan:?}");
    }
}
