//! The job record: what a media job is, where it stands, and what it produced, with the seed's traceability
//! fields (`job_id`, `asset_id`, `provider`, `model`, `params`, `created_at`, `status`, `links[]`).
//!
//! [`JobRecord::result`] is the JSON callers see; it has stable fields a later workflow step can reference:
//! `url` (the first link), `asset` (the first asset, with `url`, `mime_type`, `source_url`), `links` (every
//! asset's `url`, then the public URLs of their SFTP copies), `upload_error` (the first failed SFTP copy).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::GatewayError;
use crate::providers::higgsfield::Auth;
pub use crate::providers::job_status::JobStatus;

/// The kind of media, which is also the folder under the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

impl MediaKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "image" => Some(Self::Image),
            "video" => Some(Self::Video),
            "audio" => Some(Self::Audio),
            _ => None,
        }
    }
}

/// One produced file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub asset_id: String,
    pub media_type: MediaKind,
    pub mime_type: String,
    /// Where callers fetch it: the gateway's `/assets/...` URL, or the provider's when downloads are off.
    pub url: String,
    /// The file name under `Media/{project}/{type}/`, when stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The provider's URL of the output, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// The public URL of the SFTP copy (`{FTP_PUBLIC_BASE_URL}/{project}/{type}/{file}`), once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sftp_url: Option<String>,
    /// Why the SFTP copy failed, `{code, message, retryable, details}`; the local file and `url` stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_error: Option<Value>,
}

/// How to poll (and cancel) an upstream request; kept so polling resumes after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamRequest {
    pub request_id: String,
    /// Path relative to the provider's base URL.
    pub status_path: String,
    pub cancel_path: Option<String>,
    pub auth: Auth,
}

/// A media job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    /// The id of the caller that created the job; `None` for jobs stored before owners were recorded. Kept in
    /// its own column of the store (not in the record's JSON, nor in [`JobRecord::result`]).
    #[serde(skip)]
    pub owner: Option<String>,
    pub provider: String,
    pub tool: String,
    pub model: Option<String>,
    pub media_type: MediaKind,
    pub project: String,
    pub status: JobStatus,
    /// What was sent to the provider (never credentials).
    pub params: Value,
    pub created_at: String,
    pub updated_at: String,
    /// Milliseconds since the epoch at creation, for the maximum job age.
    pub created_ms: i64,
    pub upstream: Option<UpstreamRequest>,
    pub assets: Vec<Asset>,
    /// The typed error `{code, message, retryable, details}` of a failed job.
    pub error: Option<Value>,
    /// Provider response headers worth keeping (ElevenLabs `request-id`, `character-cost`, `song-id`).
    pub trace: Value,
}

/// A typed error as a record stores it: `{code, message, retryable, details}`.
#[must_use]
pub fn error_value(err: &GatewayError) -> Value {
    json!({"code": err.code, "message": err.message, "retryable": err.retryable, "details": err.details})
}

impl JobRecord {
    /// Every asset's `url`, then the public URLs of the SFTP copies.
    #[must_use]
    pub fn links(&self) -> Vec<&str> {
        let local = self.assets.iter().map(|a| a.url.as_str());
        local.chain(self.assets.iter().filter_map(|a| a.sftp_url.as_deref())).collect()
    }

    /// The JSON callers see.
    #[must_use]
    pub fn result(&self) -> Value {
        let links = self.links();
        let first = self.assets.first();
        json!({
            "job_id": self.job_id,
            "status": self.status.as_str(),
            "provider": self.provider,
            "tool": self.tool,
            "model": self.model,
            "media_type": self.media_type.as_str(),
            "project": self.project,
            "params": self.params,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "asset_id": first.map(|a| a.asset_id.as_str()),
            "asset": first,
            "assets": self.assets,
            "url": links.first(),
            "links": links,
            "provider_request_id": self.upstream.as_ref().map(|u| u.request_id.as_str()),
            "error": self.error,
            "upload_error": self.assets.iter().find_map(|a| a.upload_error.as_ref()),
            "trace": self.trace,
        })
    }
}
