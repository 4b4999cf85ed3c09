//! Job records in SQLite (`{data_dir}/jobs.db`, WAL): one row per job, the record as JSON beside its status,
//! so records survive restarts and unfinished jobs can be found again. Every access runs on a blocking thread.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use super::record::{JobRecord, JobStatus};
use crate::error::GatewayError;

/// The job table.
#[derive(Debug, Clone)]
pub struct JobStore {
    conn: Arc<Mutex<Connection>>,
}

impl JobStore {
    /// Open (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let conn = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS jobs (
                 job_id TEXT PRIMARY KEY,
                 provider TEXT NOT NULL,
                 status TEXT NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);",
        )
        .map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Insert or replace a record.
    pub async fn save(&self, record: &JobRecord) -> Result<(), GatewayError> {
        let text = serde_json::to_string(record).map_err(|e| GatewayError::internal("encoding a job record", &e))?;
        let (job_id, provider, status) = (record.job_id.clone(), record.provider.clone(), record.status.as_str());
        self.blocking("saving a job record", move |conn| {
            conn.execute(
                "INSERT INTO jobs (job_id, provider, status, record) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, record = excluded.record",
                params![job_id, provider, status, text],
            )
            .map(|_| ())
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
        let conn = self.conn.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&conn)
        })
        .await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(GatewayError::internal(what, &e)),
            Err(e) => Err(GatewayError::internal(what, &e)),
        }
    }
}
