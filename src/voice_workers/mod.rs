//! The voice workers domain (seed 000): each worker is a SQLite file `worker_<id>.db` in the workers folder
//! whose `job_meta(skey, svalue)` table describes it (name, voice, persona, KPIs, ...) and whose other tables are
//! its data. This module finds workers ([`scanner`]), reads their metadata ([`meta`]), runs read-only queries
//! on them ([`query`] inside the [`sandbox`]), speaks results ([`summary`]), builds Realtime session settings
//! ([`realtime`]) and writes the demo databases ([`demo`]).
//!
//! No HTTP here: the edge (`http/workers.rs`) and the `worker_query` builtin call [`Workers`]. Everything in
//! this module blocks on file and SQLite work: callers run it on a blocking thread.

pub mod demo;
pub mod meta;
pub mod query;
pub mod realtime;
pub mod sandbox;
pub mod scanner;
pub mod summary;

use std::sync::Arc;

use serde_json::json;

use crate::config::VoiceWorkersSettings;
use crate::error::{ErrorCode, GatewayError};
pub use meta::Worker;
pub use query::{QueryOutcome, QueryRequest};
use scanner::Scanner;

/// Rows a query returns when the caller does not say.
pub const DEFAULT_ROW_LIMIT: usize = 50;
/// Rows a query may return at most.
pub const MAX_ROW_LIMIT: usize = 200;

/// Run blocking workers work on a blocking thread, off the async executor.
pub async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GatewayError> + Send + 'static,
) -> Result<T, GatewayError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| GatewayError::internal("running a workers task", &e))?
}

/// The workers of one folder: a cached scan and the query settings.
#[derive(Debug)]
pub struct Workers {
    settings: VoiceWorkersSettings,
    scanner: Scanner,
}

impl Workers {
    #[must_use]
    pub fn new(settings: VoiceWorkersSettings) -> Self {
        let scanner = Scanner::new(settings.dir.clone());
        Self { settings, scanner }
    }

    #[must_use]
    pub fn settings(&self) -> &VoiceWorkersSettings {
        &self.settings
    }

    /// Every readable worker, sorted by name (rescanned when the folder's files changed). Blocking.
    #[must_use]
    pub fn list(&self) -> Arc<Vec<Worker>> {
        self.scanner.workers()
    }

    /// The worker with this id. Only ids of scanned files resolve, so no caller text ever reaches the
    /// filesystem: a malformed id is `invalid_params`, an unknown one `not_found`. Blocking.
    pub fn find(&self, id: &str) -> Result<Worker, GatewayError> {
        if !scanner::is_worker_id(id) {
            let shown: String = id.chars().filter(|c| !c.is_control()).take(80).collect();
            return Err(GatewayError::invalid_params(format!(
                "`{shown}` is not a worker id (lower-case letters, digits, `_` and `-`, at most 64)"
            ))
            .with_details(json!({"worker_id": shown})));
        }
        self.list().iter().find(|w| w.id == id).cloned().ok_or_else(|| {
            GatewayError::new(ErrorCode::NotFound, format!("no worker `{id}`")).with_details(json!({"worker_id": id}))
        })
    }

    /// Run a read-only query on a worker's database. Blocking.
    pub fn query(&self, id: &str, request: &QueryRequest) -> Result<QueryOutcome, GatewayError> {
        let worker = self.find(id)?;
        let result = query::run(&worker.path, request, self.settings.query_timeout)?;
        Ok(QueryOutcome::new(&worker.id, result, self.settings.summary_language))
    }
}
