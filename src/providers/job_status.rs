//! Where a media generation (a job) stands: Higgsfield's documented statuses, of which ElevenLabs' jobs use
//! queued, in_progress, completed and failed. One enum for the provider's answers and the job records (the jobs
//! module re-exports it as `jobs::JobStatus`), parsed leniently from the provider's words.

use serde::{Deserialize, Serialize};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    InProgress,
    Completed,
    Failed,
    Nsfw,
    Canceled,
}

impl JobStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Nsfw => "nsfw",
            Self::Canceled => "canceled",
        }
    }

    /// Nothing more will happen to the job.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Nsfw | Self::Canceled)
    }

    /// A provider's status word (Higgsfield's, and the synonyms older APIs use).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "queued" | "pending" => Some(Self::Queued),
            "in_progress" | "processing" | "running" => Some(Self::InProgress),
            "completed" | "succeeded" | "success" => Some(Self::Completed),
            "failed" | "error" => Some(Self::Failed),
            "nsfw" => Some(Self::Nsfw),
            "canceled" | "cancelled" => Some(Self::Canceled),
            _ => None,
        }
    }
}
