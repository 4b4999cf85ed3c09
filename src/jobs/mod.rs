//! Long-running media jobs: their records (SQLite, surviving restarts; or Redis, shared by replicas), the
//! background tasks that run and poll them, and the media storage their outputs land in (the local folder, or an
//! S3 bucket shared by replicas).
//!
//! [`Jobs`] is owned by the application, not by a request: a job started without waiting keeps running after
//! the call returns, and unfinished Higgsfield jobs resume polling when the gateway starts again. Jobs whose
//! provider cannot be resumed (an ElevenLabs generation cut by a restart: resending it would be a second write)
//! are marked failed with the reason. Background tasks stop on shutdown. Nothing here knows about tools or
//! transports; the bindings in `tools/` drive it. A job belongs to the caller that created it (an id string):
//! reads and cancellations on a caller's behalf name a [`Reader`], and another owner's job is not found. With
//! SFTP configured, stored assets are also uploaded before their job completes (`sftp_copy`).
//!
//! The same store keeps the records of tool calls run as tasks ([`TaskRecord`]); the calls themselves are run by
//! the MCP layer. A restart cannot continue such a call: at start-up the tasks still working are marked failed.
//!
//! With shared state (`GATEWAY_REDIS_URL`) every replica reads every record, and one replica at a time runs a
//! job or task, holding its lease (`lease`). Instead of a look at start-up, each replica sweeps the unfinished
//! records every third of the lease time: the work of a replica that died (its lease expired) is taken over by the
//! replica that takes the lease, which polls a Higgsfield job on, and fails what cannot be resumed.

mod lease;
pub mod media_files;
pub mod record;
pub mod record_db;
pub mod record_redis;
pub mod record_store;
mod runner;
mod sftp_copy;
pub mod task_record;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use media_files::{Location, MediaStore, sanitize_project};
pub use record::{Asset, JobRecord, JobStatus, MediaKind, UpstreamRequest};
pub use record_store::{JobStore, Reader};
pub use task_record::{TaskRecord, TaskStatus};

use crate::config::{ElevenLabsSettings, HiggsfieldSettings, JobSettings, MediaSettings};
use crate::error::GatewayError;
use crate::limits::ProviderCaps;
use crate::metrics::Metrics;
use crate::providers::s3::S3Bucket;
use crate::providers::sftp::Sftp;
use crate::providers::upstream::{RetryPolicy, Upstream};
use crate::redis_link::RedisLink;
use lease::Leases;
use record_db::SqliteRecords;
use record_redis::RedisRecords;

/// What [`Jobs::open`] needs.
#[derive(Debug)]
pub struct JobsOptions {
    pub data_dir: std::path::PathBuf,
    pub elevenlabs: ElevenLabsSettings,
    pub higgsfield: HiggsfieldSettings,
    pub media: MediaSettings,
    pub settings: JobSettings,
    pub http: reqwest::Client,
    pub metrics: Arc<Metrics>,
    pub caps: Arc<ProviderCaps>,
    /// The largest upstream JSON answer read (`upstream_max_answer_bytes`); audio answers use the media cap.
    pub max_answer_bytes: u64,
    /// Where stored assets are also uploaded (`STORAGE_FTP_ENABLED`), when configured.
    pub sftp: Option<Sftp>,
    /// The bucket stored media lives in (`GATEWAY_MEDIA_URL=s3://...`); `None`: the media folder.
    pub media_bucket: Option<S3Bucket>,
    /// Shared state (`GATEWAY_REDIS_URL`): records in Redis, and one replica at a time runs a job (a lease).
    pub redis: Option<RedisLink>,
    /// Cancelled on shutdown: background tasks stop.
    pub shutdown: CancellationToken,
}

/// The job service.
#[derive(Debug)]
pub struct Jobs {
    store: JobStore,
    /// With shared state: the jobs and tasks this replica runs.
    leases: Option<Arc<Leases>>,
    media: MediaStore,
    elevenlabs: ElevenLabsSettings,
    higgsfield: HiggsfieldSettings,
    settings: JobSettings,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    caps: Arc<ProviderCaps>,
    max_answer_bytes: u64,
    /// When this process opened the job service: only jobs created before it were interrupted by a restart.
    opened_ms: i64,
    sftp: Option<Sftp>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Jobs {
    /// The job service over `{data_dir}/jobs.db` (or Redis) and the media folder.
    #[must_use]
    pub fn open(options: JobsOptions) -> Arc<Self> {
        let (store, leases) = match options.redis {
            Some(link) => {
                (JobStore::Redis(RedisRecords::new(link.clone())), Some(Leases::new(link, options.settings.lease)))
            }
            None => (JobStore::Sqlite(SqliteRecords::new(&options.data_dir.join("jobs.db"))), None),
        };
        Arc::new(Self {
            store,
            leases,
            media: MediaStore::new(Path::new(&options.data_dir), options.media, options.media_bucket),
            elevenlabs: options.elevenlabs,
            higgsfield: options.higgsfield,
            settings: options.settings,
            http: options.http,
            metrics: options.metrics,
            caps: options.caps,
            max_answer_bytes: options.max_answer_bytes,
            opened_ms: crate::audit::now_ms(),
            sftp: options.sftp,
            tasks: TaskTracker::new(),
            shutdown: options.shutdown,
        })
    }

    #[must_use]
    pub fn media(&self) -> &MediaStore {
        &self.media
    }

    #[must_use]
    pub fn elevenlabs(&self) -> &ElevenLabsSettings {
        &self.elevenlabs
    }

    #[must_use]
    pub fn higgsfield(&self) -> &HiggsfieldSettings {
        &self.higgsfield
    }

    /// The wait before poll number `polls` (0-based): doubling from the initial wait up to the maximum.
    #[must_use]
    pub fn poll_delay(&self, polls: u32) -> Duration {
        let factor = 2u32.saturating_pow(polls.min(16));
        self.settings.poll_initial.saturating_mul(factor).min(self.settings.poll_max)
    }

    /// The upstream client of a provider, under the provider's concurrency cap shared with the engine.
    #[must_use]
    pub fn upstream<'a>(&'a self, provider: &'a str, policy: RetryPolicy) -> Upstream<'a> {
        Upstream {
            client: &self.http,
            metrics: &self.metrics,
            provider,
            policy,
            cap: self.caps.cap(provider),
            max_answer_bytes: self.max_answer_bytes,
        }
    }

    /// Save a record (new or updated), counting its status in the metrics when the store took it. With shared
    /// state, this replica takes the job's lease before an unfinished record is saved (so no sweep takes over a
    /// job being started) and lets go of it once the record is final.
    pub async fn save(&self, record: &JobRecord) -> Result<(), GatewayError> {
        let lease = job_lease(&record.job_id);
        if !record.status.is_terminal() {
            self.claim(&lease).await?;
        }
        if self.store.save(record).await? {
            self.metrics.record_job(&record.provider, record.status.as_str());
        }
        if record.status.is_terminal() {
            self.release(&lease).await;
        }
        Ok(())
    }

    /// A record by id, when `reader` may read it: another owner's job is `None`, like an unknown id.
    pub async fn get(&self, job_id: &str, reader: Reader<'_>) -> Result<Option<JobRecord>, GatewayError> {
        self.store.get(job_id, reader).await
    }

    /// Save a tool task's record (`Ok(false)` when it had already ended: the save changed nothing). Leases as
    /// [`Jobs::save`]: a working task is this replica's until it ends.
    pub async fn save_task(&self, record: &TaskRecord) -> Result<bool, GatewayError> {
        let lease = task_lease(&record.task_id);
        let working = record.status == TaskStatus::Working;
        if working {
            self.claim(&lease).await?;
        }
        let saved = self.store.save_task(record).await?;
        if !working {
            self.release(&lease).await;
        }
        Ok(saved)
    }

    /// Take a lease (with shared state; without, this replica runs everything). Another replica's lease is no
    /// error: a save on its job's behalf (a cancellation through this replica) leaves the work where it runs.
    async fn claim(&self, lease: &str) -> Result<bool, GatewayError> {
        match &self.leases {
            Some(leases) => leases.claim(lease).await,
            None => Ok(true),
        }
    }

    async fn release(&self, lease: &str) {
        if let Some(leases) = &self.leases {
            leases.release(lease).await;
        }
    }

    /// Are the records shared by replicas (`GATEWAY_REDIS_URL`), so a job or task may run on another one?
    #[must_use]
    pub fn shared(&self) -> bool {
        self.leases.is_some()
    }

    /// Does this replica still run the job (always, without shared state)?
    fn runs(&self, job_id: &str) -> bool {
        self.leases.as_ref().is_none_or(|leases| leases.holds(&job_lease(job_id)))
    }

    /// A tool task's record, when `reader` may read it and it has not expired.
    pub async fn get_task(&self, task_id: &str, reader: Reader<'_>) -> Result<Option<TaskRecord>, GatewayError> {
        self.store.get_task(task_id, reader).await
    }

    /// Run `work` in the background, owned by the application, until it ends or the gateway shuts down.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = work => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

fn job_lease(job_id: &str) -> String {
    format!("job:{job_id}")
}

fn task_lease(task_id: &str) -> String {
    format!("task:{task_id}")
}
