//! Job records in SQLite (`{data_dir}/jobs.db`, WAL): one row per job, the record as JSON beside its status,
//! so records survive restarts and unfinished jobs can be found again. Every access runs on a blocking thread.
//! The database opens on first use (and again after a failure), so a data dir that cannot be written does not
//! stop start-up: `/ready` reports it and media calls answer an error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use super::record::{JobRecord, JobStatus};
use crate::error::GatewayError;

/// The job table.
#[derive(Debug, Clone)]
pub struct JobStore {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
}

impl JobStore {
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
        self.blocking("saving a job record", move |conn| {
            conn.execute(
                "INSERT INTO jobs (job_id, provider, status, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, record = excluded.record
                 WHERE jobs.status IN ('queued', 'in_progress')",
                params![job_id, provider, status, text],
            )
            .map(|changed| changed > 0)
        })
        .await
    }

    /// One record by id.
    pub async fn get(&self, job_id: &str) -> Result<Option<JobRecord>, GatewayError> {
        let job_id = job_id.to_owned();
        let text = self
            .blocking("reading a job record", move |conn| {
                conn.query_row("SELECT record FROM jobs WHERE job_id = ?1", params![job_id], |row| {
                    row.get::<_, String>(0)
                })
                .optional()
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| GatewayError::internal("decoding a job record", &e)))
            .transpose()
    }

    /// Records not yet in a final state.
    pub async fn unfinished(&self) -> Result<Vec<JobRecord>, GatewayError> {
        let open: Vec<&'static str> = [JobStatus::Queued, JobStatus::InProgress].iter().map(|s| s.as_str()).collect();
        let texts = self
            .blocking("listing unfinished jobs", move |conn| {
                let mut statement = conn.prepare("SELECT record FROM jobs WHERE status IN (?1, ?2)")?;
                let rows = statement.query_map(params![open[0], open[1]], |row| row.get::<_, String>(0))?;
                rows.collect::<Result<Vec<String>, _>>()
            })
            .await?;
        Ok(texts.iter().filter_map(|t| serde_json::from_str(t).ok()).collect())
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

/// Why the database could not be opened.
struct Unavailable(String);

/// Open (creating) the database at `path` in WAL mode.
fn connect(path: &Path) -> Result<Connection, String> {
    crate::sqlite_file::open_wal(
        path,
        "PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS jobs (
                 job_id TEXT PRIMARY KEY,
                 provider TEXT NOT NULL,
                 status TEXT NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);",
    )
}
