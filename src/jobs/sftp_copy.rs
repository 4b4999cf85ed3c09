//! The SFTP copy of a job's stored assets (seed 004's `STORAGE_FTP_ENABLED`). It runs after the files are in
//! the media store (read back from the folder or the S3 bucket, streamed) and before the job is marked completed, so a client that sees `completed` sees every link:
//! each stored asset goes to `{FTP_BASE_DIR}/{project}/{type}/{file}`, its public URL is recorded as the asset's
//! `sftp_url` and joins the record's `links`. A failed copy never fails the job and never loses the local file:
//! the typed error is recorded as the asset's `upload_error` and the local link stays. Assets kept at the
//! provider (downloads off) have no local file and are not copied. Sessions count against the `sftp` provider
//! concurrency cap.

use super::record::{JobRecord, error_value};
use super::{Jobs, sanitize_project};
use crate::providers::sftp::Upload;

impl Jobs {
    /// Upload the record's stored assets when SFTP is configured, recording each outcome on its asset.
    pub(super) async fn copy_to_sftp(&self, record: &mut JobRecord) {
        let Some(sftp) = &self.sftp else { return };
        let project = sanitize_project(Some(&record.project));
        let uploads: Vec<(usize, Upload)> = record
            .assets
            .iter()
            .enumerate()
            .filter_map(|(index, asset)| {
                let file = asset.file.as_deref()?;
                let kind = asset.media_type.as_str();
                self.media.resolve(&project, kind, file)?;
                let relative = format!("{project}/{kind}/{file}");
                Some((index, Upload { source: relative.clone(), remote: relative }))
            })
            .collect();
        if uploads.is_empty() {
            return;
        }
        let cap = self.caps.cap("sftp");
        let Ok(_permit) = cap.acquire().await else { return };
        let files: Vec<Upload> = uploads.iter().map(|(_, upload)| upload.clone()).collect();
        let results = sftp.upload(&files, |source| self.media.open(source)).await;
        for ((index, upload), result) in uploads.into_iter().zip(results) {
            let Some(asset) = record.assets.get_mut(index) else { continue };
            match result {
                Ok(()) => asset.sftp_url = Some(sftp.public_url(&upload.remote)),
                Err(err) => {
                    tracing::warn!(job_id = record.job_id, file = upload.remote, error = %err, "SFTP upload failed");
                    asset.upload_error = Some(error_value(&err));
                }
            }
        }
    }
}
