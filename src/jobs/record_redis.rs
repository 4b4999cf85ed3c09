//! Job and tool-task records in Redis (`GATEWAY_REDIS_URL`), so every replica reads the jobs any replica started.
//!
//! A job is a hash `mcp-gateway:job:{id}` with its record (JSON), status and owner; the ids of unfinished jobs
//! are in the sorted set `mcp-gateway:jobs:open` (by creation time), which replicas sweep for jobs whose runner
//! died (see [`super::lease`]). A tool task is a hash `mcp-gateway:task:{id}` that expires `ttl_ms` after its
//! last update, and working tasks are in `mcp-gateway:tasks:working`. The rules of the SQLite store hold here,
//! atomically in Lua: an owner is written once, with the record, and a record in a final state is final (a later
//! save changes nothing and answers `false`). A finished job is kept for [`FINISHED_JOB_TTL`].

use std::sync::Arc;
use std::time::Duration;

use super::record::JobRecord;
use super::record_store::Reader;
use super::task_record::{TaskRecord, TaskStatus};
use crate::error::{ErrorCode, GatewayError};
use crate::redis_link::RedisLink;

/// How long a finished job's record stays readable (`check_job_status`, `tasks/get`).
pub const FINISHED_JOB_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
const OPEN_JOBS: &str = "mcp-gateway:jobs:open";
const WORKING_TASKS: &str = "mcp-gateway:tasks:working";
/// Unfinished records one sweep reads at most.
const SWEEP_MAX: isize = 1000;

/// Save a job. KEYS: the job hash, the open set. ARGV: record, status, owner ('' for none), id, created_ms,
/// 1 when the status is final, the finished record's expiry (ms). Answers 1 when saved, 0 when already final.
const SAVE_JOB: &str = r"
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'queued' and status ~= 'in_progress' then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'status', ARGV[2])
if not status then redis.call('HSET', KEYS[1], 'owner', ARGV[3]) end
if ARGV[6] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
end
return 1
";

/// Save a task. KEYS: the task hash, the working set. ARGV: record, status, owner, id, created_ms, ttl (ms).
const SAVE_TASK: &str = r"
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'working' then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'status', ARGV[2], 'owner', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if ARGV[2] == 'working' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return 1
";

/// The Redis side of the job store.
#[derive(Debug, Clone)]
pub struct RedisRecords {
    link: RedisLink,
    save_job: Arc<redis::Script>,
    save_task: Arc<redis::Script>,
}

fn job_key(id: &str) -> String {
    format!("mcp-gateway:job:{id}")
}

fn task_key(id: &str) -> String {
    format!("mcp-gateway:task:{id}")
}

impl RedisRecords {
    #[must_use]
    pub fn new(link: RedisLink) -> Self {
        Self {
            link,
            save_job: Arc::new(redis::Script::new(SAVE_JOB)),
            save_task: Arc::new(redis::Script::new(SAVE_TASK)),
        }
    }

    pub async fn save(&self, record: &JobRecord) -> Result<bool, GatewayError> {
        let text = serde_json::to_string(record).map_err(|e| GatewayError::internal("encoding a job record", &e))?;
        let mut invocation = self.save_job.key(job_key(&record.job_id));
        invocation
            .key(OPEN_JOBS)
            .arg(text)
            .arg(record.status.as_str())
            .arg(record.owner.as_deref().unwrap_or(""))
            .arg(&record.job_id)
            .arg(record.created_ms)
            .arg(if record.status.is_terminal() { "1" } else { "0" })
            .arg(u64::try_from(FINISHED_JOB_TTL.as_millis()).unwrap_or(u64::MAX));
        let saved: i64 = self.link.invoke("saving a job record", &invocation).await?;
        Ok(saved == 1)
    }

    pub async fn get(&self, job_id: &str, reader: Reader<'_>) -> Result<Option<JobRecord>, GatewayError> {
        let Some((text, owner)) = self.read(job_key(job_id), "reading a job record").await? else { return Ok(None) };
        let owner = (!owner.is_empty()).then_some(owner);
        if !reader.may_read(owner.as_deref()) {
            return Ok(None);
        }
        let mut record: JobRecord =
            serde_json::from_str(&text).map_err(|e| GatewayError::internal("decoding a job record", &e))?;
        record.owner = owner;
        Ok(Some(record))
    }

    /// Unfinished jobs, oldest first (at most [`SWEEP_MAX`] a time).
    pub async fn unfinished(&self) -> Result<Vec<JobRecord>, GatewayError> {
        let ids = self.members(OPEN_JOBS, "listing unfinished jobs").await?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get(&id, Reader::Anyone).await {
                Ok(Some(record)) if !record.status.is_terminal() => records.push(record),
                // Gone (or final but still listed after a failed save): nothing to resume.
                Ok(_) => self.forget(OPEN_JOBS, &id).await?,
                // An undecodable record (logged as it was read) must not stop the others, as in SQLite.
                Err(err) if err.code == ErrorCode::Internal => {}
                Err(err) => return Err(err),
            }
        }
        Ok(records)
    }

    pub async fn save_task(&self, record: &TaskRecord) -> Result<bool, GatewayError> {
        let text = serde_json::to_string(record).map_err(|e| GatewayError::internal("encoding a task record", &e))?;
        let mut invocation = self.save_task.key(task_key(&record.task_id));
        invocation
            .key(WORKING_TASKS)
            .arg(text)
            .arg(record.status.as_str())
            .arg(&record.owner)
            .arg(&record.task_id)
            .arg(record.created_ms)
            .arg(record.ttl_ms.max(1));
        let saved: i64 = self.link.invoke("saving a task record", &invocation).await?;
        Ok(saved == 1)
    }

    pub async fn get_task(&self, task_id: &str, reader: Reader<'_>) -> Result<Option<TaskRecord>, GatewayError> {
        let Some((text, owner)) = self.read(task_key(task_id), "reading a task record").await? else {
            return Ok(None);
        };
        if !reader.may_read(Some(&owner)) {
            return Ok(None);
        }
        serde_json::from_str(&text).map(Some).map_err(|e| GatewayError::internal("decoding a task record", &e))
    }

    /// Tasks still working, by any replica (at most [`SWEEP_MAX`] a time).
    pub async fn working_tasks(&self) -> Result<Vec<TaskRecord>, GatewayError> {
        let ids = self.members(WORKING_TASKS, "listing working tasks").await?;
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get_task(&id, Reader::Anyone).await {
                Ok(Some(record)) if record.status == TaskStatus::Working => records.push(record),
                // Expired or ended: not working any more.
                Ok(_) => self.forget(WORKING_TASKS, &id).await?,
                Err(err) if err.code == ErrorCode::Internal => {}
                Err(err) => return Err(err),
            }
        }
        Ok(records)
    }

    /// A hash's record and owner, `None` when there is no such key.
    async fn read(&self, key: String, what: &str) -> Result<Option<(String, String)>, GatewayError> {
        let (record, owner): (Option<String>, Option<String>) =
            self.link.query(what, redis::cmd("HMGET").arg(key).arg("record").arg("owner")).await?;
        Ok(record.map(|r| (r, owner.unwrap_or_default())))
    }

    async fn members(&self, set: &'static str, what: &str) -> Result<Vec<String>, GatewayError> {
        self.link.query(what, redis::cmd("ZRANGE").arg(set).arg(0).arg(SWEEP_MAX - 1)).await
    }

    async fn forget(&self, set: &'static str, id: &str) -> Result<(), GatewayError> {
        self.link.query::<i64>("tidying the unfinished set", redis::cmd("ZREM").arg(set).arg(id)).await.map(drop)
    }
}
