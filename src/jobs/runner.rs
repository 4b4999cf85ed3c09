//! Running jobs: ElevenLabs generations (synchronous upstream: the job completes when the bytes arrive),
//! Higgsfield polls with backoff up to the maximum job age, cancellation of queued Higgsfield requests, output
//! downloads, and resuming unfinished jobs at start-up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::lease::Leases;
use super::record::{Asset, JobRecord, JobStatus, MediaKind, error_value};
use super::task_record::{INTERNAL_ERROR, TaskRecord, TaskStatus};
use super::{Jobs, MediaStore, Reader, job_lease, task_lease};
use crate::audit::now_ms;
use crate::error::{ErrorCode, GatewayError};
use crate::providers::elevenlabs::{self, Audio};
use crate::providers::higgsfield::{self, Target};
use crate::providers::upstream::RetryPolicy;
use crate::timestamp::now_rfc3339;

/// Per-request timeout of a status poll or cancel.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long downloading one output may take.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

impl JobRecord {
    /// A new job of `owner` (the creating caller's id), not yet started.
    #[must_use]
    pub fn new(
        owner: &str,
        provider: &str,
        tool: &str,
        model: Option<String>,
        media_type: MediaKind,
        project: String,
        params: Value,
    ) -> Self {
        let now = now_rfc3339();
        Self {
            job_id: uuid::Uuid::new_v4().to_string(),
            owner: Some(owner.to_owned()),
            provider: provider.to_owned(),
            tool: tool.to_owned(),
            model,
            media_type,
            project,
            status: JobStatus::Queued,
            params,
            created_at: now.clone(),
            updated_at: now,
            created_ms: now_ms(),
            upstream: None,
            assets: Vec::new(),
            error: None,
            trace: json!({}),
        }
    }

    fn set_status(&mut self, status: JobStatus) {
        self.status = status;
        self.updated_at = now_rfc3339();
    }

    fn set_failed(&mut self, status: JobStatus, err: &GatewayError) {
        self.error = Some(error_value(err));
        self.set_status(status);
    }
}

impl Jobs {
    /// Mark a job failed with `err` and save it.
    pub async fn fail(&self, record: &mut JobRecord, err: &GatewayError) {
        record.set_failed(JobStatus::Failed, err);
        self.save_logged(record).await;
    }

    /// Run an ElevenLabs generation for `record` and store the audio; the record ends completed or failed.
    pub async fn run_elevenlabs(
        &self,
        record: &mut JobRecord,
        request: &elevenlabs::Request,
        request_id: &str,
        deadline: Instant,
    ) -> Result<(), GatewayError> {
        record.set_status(JobStatus::InProgress);
        self.save(record).await?;
        // The answer is the audio itself: it is bounded by the media size cap, not the JSON one.
        let upstream = self
            .upstream("elevenlabs", RetryPolicy::retrying(elevenlabs::TRANSIENT))
            .with_answer_limit(self.media.settings().max_download_bytes);
        let outcome = elevenlabs::generate(&self.elevenlabs, &upstream, request, request_id, deadline).await;
        let stored = match outcome {
            Ok(audio) => self.store_audio(record, audio).await,
            Err(err) => Err(err),
        };
        match stored {
            Ok(()) => {
                self.copy_to_sftp(record).await;
                record.set_status(JobStatus::Completed);
                self.save(record).await
            }
            Err(err) => {
                self.fail(record, &err).await;
                Err(err)
            }
        }
    }

    /// Run an ElevenLabs job in the background, until `timeout` has passed.
    pub fn spawn_elevenlabs(
        self: &Arc<Self>,
        mut record: JobRecord,
        request: elevenlabs::Request,
        request_id: String,
        timeout: Duration,
    ) {
        let jobs = self.clone();
        self.spawn(async move {
            let deadline = Instant::now() + timeout;
            if let Err(err) = jobs.run_elevenlabs(&mut record, &request, &request_id, deadline).await {
                tracing::warn!(job_id = record.job_id, error = %err, "ElevenLabs job failed");
            }
        });
    }

    /// ElevenLabs' bytes are in hand: they are always stored (there is no provider URL to keep instead).
    async fn store_audio(&self, record: &mut JobRecord, audio: Audio) -> Result<(), GatewayError> {
        let asset = self.media.store_bytes(&record.project, MediaKind::Audio, &audio.mime_type, audio.bytes).await?;
        record.trace = audio.trace;
        record.assets = vec![asset];
        Ok(())
    }

    /// Poll a Higgsfield job once, updating and saving its record; outputs are collected when it completes.
    /// `Err` is a failed poll; the record is then unchanged.
    pub async fn poll_higgsfield_once(&self, record: &mut JobRecord) -> Result<(), GatewayError> {
        let Some(upstream_request) = record.upstream.clone() else {
            let err = GatewayError::new(ErrorCode::Internal, "the job has no upstream request to poll");
            self.fail(record, &err).await;
            return Err(err);
        };
        let upstream = self.upstream("higgsfield", RetryPolicy::retrying(higgsfield::TRANSIENT));
        let target = Target { auth: upstream_request.auth, path: &upstream_request.status_path, timeout: POLL_TIMEOUT };
        let deadline = Instant::now() + POLL_TIMEOUT * 2;
        let polled = higgsfield::poll(&self.higgsfield, &upstream, target, &record.job_id, deadline).await?;
        let status = polled.status;
        match status {
            JobStatus::Completed => match self.collect_outputs(record, &polled.outputs).await {
                Ok(assets) => {
                    record.assets = assets;
                    self.copy_to_sftp(record).await;
                    record.set_status(JobStatus::Completed);
                }
                Err(err) => record.set_failed(JobStatus::Failed, &err),
            },
            JobStatus::Failed | JobStatus::Nsfw | JobStatus::Canceled => {
                let said = polled.error.map_or_else(String::new, |e| format!(": {e}"));
                let message = match status {
                    JobStatus::Nsfw => "Higgsfield withheld the output as NSFW".to_owned(),
                    JobStatus::Canceled => "the Higgsfield request was canceled".to_owned(),
                    _ => format!("Higgsfield reported the generation failed{said}"),
                };
                let err = GatewayError::new(ErrorCode::UpstreamError, message)
                    .with_details(json!({"provider": "higgsfield", "provider_status": status.as_str()}));
                record.set_failed(status, &err);
            }
            JobStatus::Queued | JobStatus::InProgress if status == record.status => return Ok(()),
            JobStatus::Queued | JobStatus::InProgress => record.set_status(status),
        }
        self.save(record).await
    }

    async fn collect_outputs(&self, record: &JobRecord, outputs: &[String]) -> Result<Vec<Asset>, GatewayError> {
        if outputs.is_empty() {
            return Err(GatewayError::new(
                ErrorCode::UpstreamError,
                "Higgsfield reported completion without any output",
            )
            .with_details(json!({"provider": "higgsfield"})));
        }
        let mut assets = Vec::with_capacity(outputs.len());
        for url in outputs {
            if !self.media.settings().download_enabled {
                assets.push(MediaStore::remote(url, record.media_type));
                continue;
            }
            let download = self.media.download(&self.http, url, &record.project, record.media_type);
            let asset = tokio::time::timeout(DOWNLOAD_TIMEOUT, download).await.map_err(|_| {
                GatewayError::new(ErrorCode::UpstreamTimeout, "downloading the generated media took too long")
            })??;
            assets.push(asset);
        }
        Ok(assets)
    }

    /// The job has passed the maximum age: it is marked failed.
    pub fn too_old(&self, record: &JobRecord) -> Option<GatewayError> {
        let age_ms = u64::try_from(now_ms().saturating_sub(record.created_ms)).unwrap_or(0);
        (Duration::from_millis(age_ms) > self.settings.max_age).then(|| {
            GatewayError::new(
                ErrorCode::Timeout,
                format!("the job did not finish within {} s; it is no longer polled", self.settings.max_age.as_secs()),
            )
            .retryable(false)
        })
    }

    /// Poll a Higgsfield job in the background until it ends, fails to poll for good, or grows too old.
    pub fn spawn_polling(self: &Arc<Self>, job_id: String) {
        let jobs = self.clone();
        self.spawn(async move { jobs.poll_until_done(&job_id).await });
    }

    async fn poll_until_done(&self, job_id: &str) {
        let mut polls = 0;
        loop {
            if !self.runs(job_id) {
                tracing::info!(job_id, "another replica took this job over; polling stops here");
                return;
            }
            let mut record = match self.get(job_id, Reader::Anyone).await {
                Ok(Some(record)) if !record.status.is_terminal() => record,
                Ok(_) => return,
                Err(err) => {
                    tracing::warn!(job_id, error = %err, "cannot read a job record; polling stops");
                    return;
                }
            };
            if let Some(err) = self.too_old(&record) {
                self.fail(&mut record, &err).await;
                return;
            }
            match self.poll_higgsfield_once(&mut record).await {
                Ok(()) if record.status.is_terminal() => return,
                Ok(()) => {}
                Err(err) if err.retryable => tracing::info!(job_id, error = %err, "polling failed; trying again later"),
                Err(err) => {
                    self.fail(&mut record, &err).await;
                    return;
                }
            }
            tokio::time::sleep(self.poll_delay(polls)).await;
            polls += 1;
        }
    }

    /// The caller gave up waiting: cancel the Higgsfield request while it is still queued, else keep polling it
    /// in the background so its result is there for `check_job_status`.
    pub fn spawn_cancel_or_continue(self: &Arc<Self>, job_id: String) {
        let jobs = self.clone();
        self.spawn(async move {
            match jobs.cancel_if_queued(&job_id).await {
                Ok(true) => {}
                Ok(false) => jobs.poll_until_done(&job_id).await,
                Err(err) => {
                    tracing::warn!(job_id, error = %err, "cancelling a Higgsfield job failed; it is still polled");
                    jobs.poll_until_done(&job_id).await;
                }
            }
        });
    }

    /// Cancel a queued Higgsfield job. `Ok(true)` when Higgsfield accepted the cancellation.
    async fn cancel_if_queued(&self, job_id: &str) -> Result<bool, GatewayError> {
        let Some(mut record) = self.get(job_id, Reader::Anyone).await? else { return Ok(true) };
        let Some(upstream_request) = record.upstream.clone() else { return Ok(false) };
        let Some(cancel_path) = upstream_request.cancel_path.as_deref() else { return Ok(false) };
        if record.status != JobStatus::Queued {
            return Ok(false);
        }
        let upstream = self.upstream("higgsfield", RetryPolicy::retrying(higgsfield::TRANSIENT));
        let deadline = Instant::now() + POLL_TIMEOUT;
        let target = Target { auth: upstream_request.auth, path: cancel_path, timeout: POLL_TIMEOUT };
        let accepted = higgsfield::cancel(&self.higgsfield, &upstream, target, job_id, deadline).await?;
        if accepted {
            let err = GatewayError::new(ErrorCode::Cancelled, "the caller cancelled the call while the job was queued");
            record.set_failed(JobStatus::Canceled, &err);
            self.save(&record).await?;
        }
        Ok(accepted)
    }

    /// Cancel a job for the caller (MCP `tasks/cancel`): a queued Higgsfield request is cancelled upstream;
    /// otherwise the job is marked canceled and no longer polled (work the provider already started cannot be
    /// stopped, and its result is not kept). `None` when `reader` finds no such job (unknown, or another
    /// owner's, which stays untouched); a finished job comes back as is.
    pub async fn cancel(&self, job_id: &str, reader: Reader<'_>) -> Result<Option<JobRecord>, GatewayError> {
        let Some(mut record) = self.get(job_id, reader).await? else { return Ok(None) };
        if record.status.is_terminal() {
            return Ok(Some(record));
        }
        match self.cancel_if_queued(job_id).await {
            Ok(true) => return self.get(job_id, Reader::Anyone).await,
            Ok(false) => {}
            Err(err) => tracing::warn!(job_id, error = %err, "Higgsfield refused the cancel; cancelling locally"),
        }
        let err = GatewayError::new(
            ErrorCode::Cancelled,
            "cancelled by the client; work the provider had already started was not kept",
        );
        record.set_failed(JobStatus::Canceled, &err);
        self.save(&record).await?;
        self.get(job_id, Reader::Anyone).await
    }

    /// At start-up: resume polling unfinished Higgsfield jobs; mark the others failed with the reason, and the
    /// tool tasks a restart cut too. With shared state, instead, renew this replica's leases and sweep for work
    /// no replica runs any more, every third of the lease time until shutdown.
    pub async fn resume(self: &Arc<Self>) {
        let Some(leases) = self.leases.clone() else {
            self.resume_local().await;
            return;
        };
        let jobs = self.clone();
        self.spawn(async move {
            let mut tick = tokio::time::interval(leases.tick());
            loop {
                tick.tick().await;
                leases.renew_all().await;
                jobs.sweep(&leases).await;
            }
        });
    }

    /// One gateway alone: everything unfinished that this process did not start was cut by its restart.
    async fn resume_local(self: &Arc<Self>) {
        let tasks = self.store.working_tasks().await;
        self.fail_interrupted_tasks(tasks, |task| task.created_ms < self.opened_ms).await;
        let unfinished = match self.store.unfinished().await {
            Ok(records) => records,
            Err(err) => {
                tracing::error!(error = %err, "cannot list unfinished jobs; none resumed");
                return;
            }
        };
        // A job this process created (a call that arrived while resume was still listing) is running, not
        // interrupted.
        for record in unfinished.into_iter().filter(|r| r.created_ms < self.opened_ms) {
            self.take_over(record).await;
        }
    }

    /// Take over the unfinished work whose lease nobody holds: its replica died (or stopped) without finishing.
    async fn sweep(self: &Arc<Self>, leases: &Leases) {
        let mut free = HashSet::new();
        match self.store.unfinished().await {
            Ok(records) => {
                for record in records {
                    if orphaned(leases, job_lease(&record.job_id), &mut free).await {
                        tracing::info!(job_id = record.job_id, "taking over a job whose replica stopped");
                        self.take_over(record).await;
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot list unfinished jobs; trying again later"),
        }
        let mut interrupted = Vec::new();
        match self.store.working_tasks().await {
            Ok(records) => {
                for record in records {
                    if orphaned(leases, task_lease(&record.task_id), &mut free).await {
                        interrupted.push(record);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot list working tool tasks; trying again later"),
        }
        leases.end_sweep(free);
        self.fail_interrupted_tasks(Ok(interrupted), |_| true).await;
    }

    /// Resume polling a Higgsfield job; fail any other, which cannot be resumed without a second write.
    async fn take_over(self: &Arc<Self>, mut record: JobRecord) {
        if record.provider == "higgsfield" && record.upstream.is_some() {
            tracing::info!(job_id = record.job_id, "resuming a Higgsfield job");
            self.spawn_polling(record.job_id.clone());
            return;
        }
        let err = GatewayError::new(
            ErrorCode::UpstreamError,
            format!(
                "the gateway restarted while this {} job was running; it cannot be resumed without sending the \
                 generation again, so it is not: call the tool again",
                record.provider
            ),
        )
        .retryable(true);
        self.fail(&mut record, &err).await;
    }

    /// A tool call run as a task lived in the process that stopped; nothing can continue it.
    async fn fail_interrupted_tasks(
        &self,
        tasks: Result<Vec<TaskRecord>, GatewayError>,
        interrupted: impl Fn(&TaskRecord) -> bool,
    ) {
        let tasks = match tasks {
            Ok(records) => records,
            Err(err) => {
                tracing::error!(error = %err, "cannot list interrupted tool tasks");
                return;
            }
        };
        for mut record in tasks.into_iter().filter(|task| interrupted(task)) {
            let message = format!(
                "the gateway restarted while this `{}` call was running as a task; a tool call cannot be resumed \
                 after a restart: call the tool again",
                record.tool
            );
            record.end(TaskStatus::Failed, None, Some(json!({"code": INTERNAL_ERROR, "message": message})));
            if let Err(err) = self.save_task(&record).await {
                tracing::error!(task_id = record.task_id, error = %err, "cannot mark an interrupted task failed");
            }
        }
    }

    async fn save_logged(&self, record: &JobRecord) {
        if let Err(err) = self.save(record).await {
            tracing::error!(job_id = record.job_id, error = %err, "cannot save a job record");
        }
    }
}

/// Has the work under `lease` lost its runner (this sweep took its lease)? A failed check is tried next sweep.
async fn orphaned(leases: &Leases, lease: String, free: &mut HashSet<String>) -> bool {
    leases.take_orphan(&lease, free).await.unwrap_or_else(|err| {
        tracing::warn!(lease, error = %err, "cannot take a lease; trying again later");
        false
    })
}
