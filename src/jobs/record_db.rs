//! Job records in SQLite (`{data_dir}/jobs.db`, WAL), the store of a gateway without `GATEWAY_REDIS_URL`: one row
//! per job, the record as JSON beside its status and its owner, so records survive restarts and unfinished jobs can be found again. Every access runs on a
//! blocking thread. The database opens on first use (and again after a failure), so a data dir that cannot be
//! written does not stop start-up: `/ready` reports it and media calls answer an error.
//!
//! A job belongs to the caller that created it (an id string; this module knows nothing of keys). Every lookup
//! says who reads ([`Reader`]): a job of another owner is not found, exactly like an unknown id. A `jobs.db`
//! from before owners were recorded gets the `owner` column when it opens; its rows have no owner and only an
//! [`Reader::Anyone`] lookup finds them.
//!
//! Tool calls run as tasks ([`TaskRecord`]) have their own table beside the jobs, `tool_tasks`, on the same
//! connection: a row per task with its owner, status and expiry (`ttl_ms` after its last update; expired rows
//! are not found and are deleted when the next task is saved).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use super::record::{JobRecord, JobStatus};
use super::record_store::Reader;
use super::task_record::{TaskRecord, TaskStatus};
use crate::error::GatewayError;

/// The job table (and the tool-task table beside it).
#[derive(Debug, Clone)]
pub struct SqliteRecords {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
}

impl SqliteRecords {
    /// The store at `path`, opened now if possible, else on first use.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        let conn = match connect(path) {
            Ok(conn) => Some(conn),
            Err(e) => {
                tracing::warn!(error = %e, "the job store cannot be opened yet; media jobs fail until it can");
                None
            }
        };
        Self { path: path.to_path_buf(), conn: Arc::new(Mutex::new(conn)) }
    }

    /// Insert or update a record. A record in a final state is final: later saves of it change nothing, so a
    /// poll or generation finishing after a cancellation cannot undo it. `Ok(false)` when the save changed nothing.
    pub async fn save(&self, record: &JobRecord) -> Result<bool, GatewayError> {
        let text = serde_json::to_string(record).map_err(|e| GatewayError::internal("encoding a job record", &e))?;
        let (job_id, provider, status) = (record.job_id.clone(), record.provider.clone(), record.status.as_str());
        let owner = record.owner.clone();
        self.blocking("saving a job record", move |conn| {
            // The owner is written once, with the row: a later save never hands a job to someone else.
            conn.execute(
                "INSERT INTO jobs (job_id, provider, status, record, owner) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, record = excluded.record
                 WHERE jobs.status IN ('queued', 'in_progress')",
                params![job_id, provider, status, text, owner],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    /// One record by id, when `reader` may read it (`None` for an unknown id and for another owner's job).
    pub async fn get(&self, job_id: &str, reader: Reader<'_>) -> Result<Option<JobRecord>, GatewayError> {
        let (job_id, owner) = (job_id.to_owned(), reader.owner());
        let row = self
            .blocking("reading a job record", move |conn| {
                conn.query_row(
                    "SELECT record, owner FROM jobs WHERE job_id = ?1 AND (?2 IS NULL OR owner = ?2)",
                    params![job_id, owner],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
                )
                .optional()
            })
            .await?;
        row.map(|(text, owner)| decode(&text, owner).map_err(|e| GatewayError::internal("decoding a job record", &e)))
            .transpose()
    }

    /// Records not yet in a final state.
    pub async fn unfinished(&self) -> Result<Vec<JobRecord>, GatewayError> {
        let open: Vec<&'static str> = [JobStatus::Queued, JobStatus::InProgress].iter().map(|s| s.as_str()).collect();
        let rows = self
            .blocking("listing unfinished jobs", move |conn| {
                let mut statement = conn.prepare("SELECT record, owner FROM jobs WHERE status IN (?1, ?2)")?;
                let rows = statement.query_map(params![open[0], open[1]], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
                })?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(rows.into_iter().filter_map(|(text, owner)| decode(&text, owner).ok()).collect())
    }

    /// Insert or update a tool task. An ended task is final, as a job is: `Ok(false)` when the save changed
    /// nothing (the task had ended, e.g. it was cancelled while its call was finishing).
    pub async fn save_task(&self, record: &TaskRecord) -> Result<bool, GatewayError> {
        let text = serde_json::to_string(record).map_err(|e| GatewayError::internal("encoding a task record", &e))?;
        let (task_id, owner, status) = (record.task_id.clone(), record.owner.clone(), record.status.as_str());
        let (now, created) = (crate::audit::now_ms(), record.created_ms);
        let expires = now.saturating_add(i64::try_from(record.ttl_ms).unwrap_or(i64::MAX));
        let working = TaskStatus::Working.as_str();
        self.blocking("saving a task record", move |conn| {
            conn.execute("DELETE FROM tool_tasks WHERE expires_ms < ?1", params![now])?;
            conn.execute(
                "INSERT INTO tool_tasks (task_id, owner, status, record, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, record = excluded.record,
                     expires_ms = excluded.expires_ms
                 WHERE tool_tasks.status = ?7",
                params![task_id, owner, status, text, created, expires, working],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    /// One tool task by id, when `reader` may read it and it has not expired (`None` otherwise).
    pub async fn get_task(&self, task_id: &str, reader: Reader<'_>) -> Result<Option<TaskRecord>, GatewayError> {
        let (task_id, owner, now) = (task_id.to_owned(), reader.owner(), crate::audit::now_ms());
        let text = self
            .blocking("reading a task record", move |conn| {
                conn.query_row(
                    "SELECT record FROM tool_tasks
                     WHERE task_id = ?1 AND (?2 IS NULL OR owner = ?2) AND expires_ms >= ?3",
                    params![task_id, owner, now],
                    |row| row.get::<_, String>(0),
                )
                .optional()
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| GatewayError::internal("decoding a task record", &e)))
            .transpose()
    }

    /// Tool tasks still working.
    pub async fn working_tasks(&self) -> Result<Vec<TaskRecord>, GatewayError> {
        let working = TaskStatus::Working.as_str();
        let rows = self
            .blocking("listing working tasks", move |conn| {
                let mut statement = conn.prepare("SELECT record FROM tool_tasks WHERE status = ?1")?;
                let rows = statement.query_map(params![working], |row| row.get::<_, String>(0))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(rows.into_iter().filter_map(|text| serde_json::from_str(&text).ok()).collect())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, GatewayError> {
        let (conn, path) = (self.conn.clone(), self.path.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            if conn.is_none() {
                *conn = Some(connect(&path).map_err(Unavailable)?);
            }
            let Some(conn) = conn.as_ref() else { return Err(Unavailable("no connection".into())) };
            Ok(work(conn))
        })
        .await;
        match outcome {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(e))) => Err(GatewayError::internal(what, &e)),
            Ok(Err(Unavailable(cause))) => Err(GatewayError::internal("opening the job store", &cause)),
            Err(e) => Err(GatewayError::internal(what, &e)),
        }
    }
}

/// A stored record with its owner (the column, not the JSON, says who owns a job).
fn decode(text: &str, owner: Option<String>) -> Result<JobRecord, serde_json::Error> {
    let mut record: JobRecord = serde_json::from_str(text)?;
    record.owner = owner;
    Ok(record)
}

/// Why the database could not be opened.
struct Unavailable(String);

/// Open (creating) the database at `path` in WAL mode, adding the `owner` column to a table that predates it.
fn connect(path: &Path) -> Result<Connection, String> {
    let conn = crate::sqlite_file::open_wal(
        path,
        "PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS jobs (
                 job_id TEXT PRIMARY KEY,
                 provider TEXT NOT NULL,
                 status TEXT NOT NULL,
                 record TEXT NOT NULL,
                 owner TEXT
             );
             CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
             CREATE TABLE IF NOT EXISTS tool_tasks (
                 task_id TEXT PRIMARY KEY,
                 owner TEXT NOT NULL,
                 status TEXT NOT NULL,
                 record TEXT NOT NULL,
                 created_ms INTEGER NOT NULL,
                 expires_ms INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS tool_tasks_status ON tool_tasks (status);",
    )?;
    let has_owner = conn
        .prepare("SELECT 1 FROM pragma_table_info('jobs') WHERE name = 'owner'")
        .and_then(|mut statement| statement.exists([]))
        .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    if !has_owner {
        conn.execute_batch("ALTER TABLE jobs ADD COLUMN owner TEXT")
            .map_err(|e| format!("cannot add the owner column to {}: {e}", path.display()))?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jobs::MediaKind;

    fn record(owner: &str) -> JobRecord {
        JobRecord::new(owner, "higgsfield", "t", None, MediaKind::Image, "default".into(), json!({}))
    }

    #[tokio::test]
    async fn a_job_is_found_by_its_owner_and_by_anyone_but_not_by_another_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteRecords::new(&dir.path().join("jobs.db"));
        let mine = record("alice");
        store.save(&mine).await.unwrap();
        assert_eq!(store.get(&mine.job_id, Reader::Owner("alice")).await.unwrap().as_ref(), Some(&mine));
        assert_eq!(store.get(&mine.job_id, Reader::Owner("bob")).await.unwrap(), None);
        assert_eq!(store.get(&mine.job_id, Reader::Anyone).await.unwrap().unwrap().owner.as_deref(), Some("alice"));

        let mut hijack = mine.clone();
        hijack.owner = Some("bob".into());
        store.save(&hijack).await.unwrap();
        assert_eq!(store.get(&mine.job_id, Reader::Owner("bob")).await.unwrap(), None, "a later save keeps the owner");
    }

    #[tokio::test]
    async fn a_store_from_before_owners_gains_the_column_and_its_jobs_belong_to_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let old = record("ignored");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, provider TEXT NOT NULL, status TEXT NOT NULL,
                                record TEXT NOT NULL)",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO jobs VALUES (?1, 'higgsfield', 'queued', ?2)",
            params![old.job_id, serde_json::to_string(&old).unwrap()],
        )
        .unwrap();
        drop(conn);

        let store = SqliteRecords::new(&path);
        assert_eq!(store.get(&old.job_id, Reader::Owner("anonymous")).await.unwrap(), None);
        let found = store.get(&old.job_id, Reader::Anyone).await.unwrap().unwrap();
        assert_eq!((found.job_id.as_str(), found.owner), (old.job_id.as_str(), None));
        assert_eq!(store.unfinished().await.unwrap().len(), 1, "still resumed at start-up");
        let new = record("alice");
        store.save(&new).await.unwrap();
        assert!(store.get(&new.job_id, Reader::Owner("alice")).await.unwrap().is_some());
        drop(store);
        assert!(SqliteRecords::new(&path).get(&new.job_id, Reader::Owner("alice")).await.unwrap().is_some(), "reopens");
    }
}
