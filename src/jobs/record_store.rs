//! Where job and tool-task records live: SQLite in the data dir (one gateway), or Redis when replicas share
//! state (`GATEWAY_REDIS_URL`). Both keep the same rules (an owner is written once; a final record is final), and
//! every lookup says who reads ([`Reader`]).

use super::record::JobRecord;
use super::record_db::SqliteRecords;
use super::record_redis::RedisRecords;
use super::task_record::TaskRecord;
use crate::error::GatewayError;

/// Who reads a job record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader<'a> {
    /// The caller with this id: only the jobs it created.
    Owner(&'a str),
    /// Every job: administrators, and the job service's own work (polling, resuming, handoffs).
    Anyone,
}

impl Reader<'_> {
    /// The owner a lookup must match, `None` for any.
    pub(super) fn owner(self) -> Option<String> {
        match self {
            Self::Owner(id) => Some(id.to_owned()),
            Self::Anyone => None,
        }
    }

    /// May this reader read a record owned by `owner` (`None`: a record from before owners were kept)?
    pub(super) fn may_read(self, owner: Option<&str>) -> bool {
        match self {
            Self::Owner(id) => owner == Some(id),
            Self::Anyone => true,
        }
    }
}

/// The job store.
#[derive(Debug, Clone)]
pub enum JobStore {
    Sqlite(SqliteRecords),
    Redis(RedisRecords),
}

impl JobStore {
    /// Insert or update a record; `Ok(false)` when the record had already reached a final state.
    pub async fn save(&self, record: &JobRecord) -> Result<bool, GatewayError> {
        match self {
            Self::Sqlite(store) => store.save(record).await,
            Self::Redis(store) => store.save(record).await,
        }
    }

    /// One record by id, when `reader` may read it (`None` for an unknown id and for another owner's job).
    pub async fn get(&self, job_id: &str, reader: Reader<'_>) -> Result<Option<JobRecord>, GatewayError> {
        match self {
            Self::Sqlite(store) => store.get(job_id, reader).await,
            Self::Redis(store) => store.get(job_id, reader).await,
        }
    }

    /// Records not yet in a final state.
    pub async fn unfinished(&self) -> Result<Vec<JobRecord>, GatewayError> {
        match self {
            Self::Sqlite(store) => store.unfinished().await,
            Self::Redis(store) => store.unfinished().await,
        }
    }

    /// Insert or update a tool task; `Ok(false)` when it had already ended.
    pub async fn save_task(&self, record: &TaskRecord) -> Result<bool, GatewayError> {
        match self {
            Self::Sqlite(store) => store.save_task(record).await,
            Self::Redis(store) => store.save_task(record).await,
        }
    }

    /// Tool tasks still working (by any replica).
    pub async fn working_tasks(&self) -> Result<Vec<TaskRecord>, GatewayError> {
        match self {
            Self::Sqlite(store) => store.working_tasks().await,
            Self::Redis(store) => store.working_tasks().await,
        }
    }

    /// One tool task by id, when `reader` may read it and it has not expired.
    pub async fn get_task(&self, task_id: &str, reader: Reader<'_>) -> Result<Option<TaskRecord>, GatewayError> {
        match self {
            Self::Sqlite(store) => store.get_task(task_id, reader).await,
            Self::Redis(store) => store.get_task(task_id, reader).await,
        }
    }
}
