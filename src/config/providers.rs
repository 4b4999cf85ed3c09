//! The provider sections: where each back-end is and with which credentials (Supabase and its MCP server, the
//! FlowChat workers, the voice workers, Realtime, ElevenLabs, Higgsfield, the LLM), and how media and jobs are
//! kept. Each is validated from the raw settings on its own; a missing credential is not an error (its tools
//! answer `not_configured`), a malformed URL or value is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::media_store::S3Settings;
use super::raw::RawConfig;
use super::secret::Secret;
use super::values::{base_url, http_url, non_empty, positive_secs};

/// The FlowChat workers' base URLs and shared secret; any may be missing (their tools then say which).
#[derive(Debug, Clone, Default)]
pub struct FlowChatWorkerSettings {
    pub database: Option<String>,
    pub document: Option<String>,
    pub storage: Option<String>,
    pub email: Option<String>,
    pub auth_key: Option<Secret>,
    pub auth_header: String,
}

/// The language of spoken summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryLanguage {
    French,
    English,
}

/// Voice worker settings.
#[derive(Debug, Clone)]
pub struct VoiceWorkersSettings {
    /// The folder holding `worker_*.db`.
    pub dir: PathBuf,
    /// Deadline of one query, enforced by SQLite's progress handler.
    pub query_timeout: Duration,
    pub summary_language: SummaryLanguage,
}

/// Realtime provider settings; without a key the realtime config answers `not_configured`.
#[derive(Debug, Clone)]
pub struct RealtimeSettings {
    /// Without a trailing slash.
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    pub secret_ttl: Duration,
    pub transcription_model: String,
}

/// ElevenLabs settings; the key may be missing (the tools then say so).
#[derive(Debug, Clone)]
pub struct ElevenLabsSettings {
    pub base_url: String,
    pub api_key: Option<Secret>,
}

/// Higgsfield settings: a key id and secret (from `HIGGSFIELD_API_KEY` / `_SECRET` or `HF_KEY=id:secret`).
#[derive(Debug, Clone)]
pub struct HiggsfieldSettings {
    pub base_url: String,
    pub key_id: Option<Secret>,
    pub key_secret: Option<Secret>,
}

/// Media storage: downloads, inline size, links, the SFTP copy.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Download finished outputs into `{data_dir}/Media` (else keep the provider's URL).
    pub download_enabled: bool,
    /// Files up to this size are inlined as MCP `image` / `audio` blocks.
    pub inline_max_bytes: u64,
    /// Largest file downloaded or stored.
    pub max_download_bytes: u64,
    /// Base of asset links, without a trailing slash (`http://{bind}` when not configured).
    pub public_base_url: String,
    /// Where stored assets are also uploaded (`STORAGE_FTP_ENABLED=true`); `None` when off.
    pub sftp: Option<SftpSettings>,
    /// The S3 bucket stored media lives in (`GATEWAY_MEDIA_URL=s3://...`); `None`: the local folder.
    pub s3: Option<S3Settings>,
}

/// The SFTP server stored assets are copied to, and how its host key is trusted.
#[derive(Debug, Clone)]
pub struct SftpSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Sent only to the server, inside the encrypted session; used as written (spaces included).
    pub password: Secret,
    /// The remote folder, without a trailing `/`; empty is the login folder.
    pub base_dir: String,
    /// The public URL of `base_dir`, without a trailing `/`.
    pub public_base_url: String,
    /// A `known_hosts` file whose entries for the host are trusted.
    pub known_hosts: Option<PathBuf>,
    /// A trusted host key's SHA-256 fingerprint (the 32 digest bytes).
    pub host_key_sha256: Option<[u8; 32]>,
    /// Connecting, handshake, login and each SFTP request; also the longest silence from the server.
    pub connect_timeout: Duration,
    /// The whole upload of one file.
    pub upload_timeout: Duration,
}

/// Polling of long media jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub max_age: Duration,
    /// How long a replica's lease on a job lasts unless renewed (shared state only).
    pub lease: Duration,
}

/// Supabase settings; either may be missing (the tools then say which).
#[derive(Debug, Clone, Default)]
pub struct SupabaseSettings {
    pub url: Option<String>,
    pub api_key: Option<Secret>,
}

/// The Supabase MCP passthrough: where to, with which token and query settings.
#[derive(Debug, Clone)]
pub struct SupabaseMcpSettings {
    /// The server's MCP endpoint, without a trailing `/`.
    pub url: String,
    /// The personal access token; `None` makes the passthrough answer `not_configured`.
    pub pat: Option<Secret>,
    pub project_ref: Option<String>,
    pub read_only: bool,
    pub features: Vec<String>,
}

/// The OpenAI-compatible LLM server; a missing base URL makes LLM tools answer `not_configured`.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// The server's base URL, without a trailing `/` (with or without `/v1`).
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// The model used when a call names none.
    pub model: Option<String>,
    /// Per-request timeout of one chat completion.
    pub timeout: Duration,
    /// Chat completions one `call_llm` call may make.
    pub max_rounds: u32,
}

/// Every provider section, validated.
pub(super) struct Providers {
    pub supabase: SupabaseSettings,
    pub supabase_mcp: SupabaseMcpSettings,
    pub flowchat_workers: FlowChatWorkerSettings,
    pub voice_workers: VoiceWorkersSettings,
    pub realtime: RealtimeSettings,
    pub elevenlabs: ElevenLabsSettings,
    pub higgsfield: HiggsfieldSettings,
    pub media: MediaSettings,
    pub jobs: JobSettings,
    pub llm: LlmSettings,
}

impl Providers {
    pub(super) fn validate(raw: &RawConfig, bind: SocketAddr) -> Result<Self, ConfigError> {
        Ok(Self {
            supabase: SupabaseSettings {
                url: base_url("supabase_url", raw.supabase_url.clone())?,
                api_key: Secret::from_setting(raw.supabase_api_key.clone()),
            },
            supabase_mcp: supabase_mcp(raw)?,
            flowchat_workers: flowchat_workers(raw)?,
            voice_workers: voice_workers(raw)?,
            realtime: realtime(raw)?,
            elevenlabs: ElevenLabsSettings {
                base_url: http_url("elevenlabs_base_url", &raw.elevenlabs_base_url)?,
                api_key: Secret::from_setting(raw.elevenlabs_api_key.clone()),
            },
            higgsfield: higgsfield(raw)?,
            media: media(raw, bind)?,
            jobs: JobSettings {
                poll_initial: Duration::from_millis(raw.job_poll_initial_ms.max(1)),
                poll_max: Duration::from_millis(raw.job_poll_max_ms.max(raw.job_poll_initial_ms).max(1)),
                max_age: positive_secs("job_max_age_secs", raw.job_max_age_secs)?,
                lease: positive_secs("job_lease_secs", raw.job_lease_secs)?,
            },
            llm: llm(raw)?,
        })
    }
}

fn supabase_mcp(raw: &RawConfig) -> Result<SupabaseMcpSettings, ConfigError> {
    Ok(SupabaseMcpSettings {
        url: base_url("supabase_mcp_url", Some(raw.supabase_mcp_url.clone()))?
            .ok_or_else(|| ConfigError::key("supabase_mcp_url", "must not be empty"))?,
        pat: Secret::from_setting(raw.supabase_pat.clone()),
        project_ref: non_empty(raw.supabase_project_ref.clone()),
        read_only: raw.supabase_mcp_read_only,
        features: raw.supabase_mcp_features.iter().map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect(),
    })
}

fn flowchat_workers(raw: &RawConfig) -> Result<FlowChatWorkerSettings, ConfigError> {
    let header = raw.worker_auth_header.trim();
    if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
        return Err(ConfigError::key("worker_auth_header", format!("`{header}` is not a header name")));
    }
    Ok(FlowChatWorkerSettings {
        database: base_url("database_worker_url", raw.database_worker_url.clone())?,
        document: base_url("document_worker_url", raw.document_worker_url.clone())?,
        storage: base_url("storage_worker_url", raw.storage_worker_url.clone())?,
        email: base_url("email_worker_url", raw.email_worker_url.clone())?,
        auth_key: Secret::from_setting(raw.worker_auth_key.clone()),
        auth_header: header.to_owned(),
    })
}

fn voice_workers(raw: &RawConfig) -> Result<VoiceWorkersSettings, ConfigError> {
    Ok(VoiceWorkersSettings {
        dir: raw.workers_dir.clone().unwrap_or_else(|| raw.data_dir.join("sqlite3")),
        query_timeout: match raw.workers_query_timeout_ms {
            0 => return Err(ConfigError::key("workers_query_timeout_ms", "must be greater than 0")),
            ms => Duration::from_millis(ms),
        },
        summary_language: match raw.workers_summary_language.trim().to_ascii_lowercase().as_str() {
            "fr" | "french" | "francais" | "français" => SummaryLanguage::French,
            "en" | "english" => SummaryLanguage::English,
            other => {
                return Err(ConfigError::key(
                    "workers_summary_language",
                    format!("`{other}` is neither `fr` nor `en`"),
                ));
            }
        },
    })
}

fn realtime(raw: &RawConfig) -> Result<RealtimeSettings, ConfigError> {
    Ok(RealtimeSettings {
        base_url: http_url("realtime_base_url", &raw.realtime_base_url)?,
        api_key: Secret::from_setting(raw.openai_api_key.clone()),
        model: match raw.realtime_model.trim() {
            "" => return Err(ConfigError::key("realtime_model", "must not be empty")),
            model => model.to_owned(),
        },
        secret_ttl: match raw.realtime_secret_ttl_secs {
            10..=7200 => Duration::from_secs(raw.realtime_secret_ttl_secs),
            _ => return Err(ConfigError::key("realtime_secret_ttl_secs", "must be 10 to 7200 seconds")),
        },
        transcription_model: raw.realtime_transcription_model.trim().to_owned(),
    })
}

/// Higgsfield credentials from the two settings, else from `HF_KEY=id:secret`.
fn higgsfield(raw: &RawConfig) -> Result<HiggsfieldSettings, ConfigError> {
    let mut key_id = Secret::from_setting(raw.higgsfield_api_key.clone());
    let mut key_secret = Secret::from_setting(raw.higgsfield_api_secret.clone());
    if let Some(combined) = Secret::from_setting(raw.hf_key.clone()) {
        let (id, secret) = combined
            .expose()
            .split_once(':')
            .filter(|(id, secret)| !id.trim().is_empty() && !secret.trim().is_empty())
            .ok_or_else(|| ConfigError::key("hf_key", "must be `{key id}:{key secret}`"))?;
        key_id = key_id.or_else(|| Some(id.trim().into()));
        key_secret = key_secret.or_else(|| Some(secret.trim().into()));
    }
    Ok(HiggsfieldSettings { base_url: http_url("higgsfield_base_url", &raw.higgsfield_base_url)?, key_id, key_secret })
}

fn media(raw: &RawConfig, bind: SocketAddr) -> Result<MediaSettings, ConfigError> {
    Ok(MediaSettings {
        download_enabled: raw.storage_download_enabled,
        inline_max_bytes: raw.inline_media_max_bytes,
        max_download_bytes: match raw.media_max_download_bytes {
            0 => return Err(ConfigError::key("media_max_download_bytes", "must be greater than 0")),
            n => n,
        },
        public_base_url: match non_empty(raw.public_base_url.clone()) {
            Some(url) => http_url("public_base_url", &url)?,
            None => format!("http://{bind}"),
        },
        sftp: sftp(raw)?,
        s3: super::media_store::s3(raw)?,
    })
}

/// The SFTP copy when `storage_ftp_enabled`: every setting it needs, and at least one way to trust the
/// server's host key (an unknown key is never accepted).
fn sftp(raw: &RawConfig) -> Result<Option<SftpSettings>, ConfigError> {
    if !raw.storage_ftp_enabled {
        return Ok(None);
    }
    let required = |key: &str, value: &Option<String>| {
        non_empty(value.clone())
            .ok_or_else(|| ConfigError::key(key, "must be set when storage_ftp_enabled is true (STORAGE_FTP_ENABLED)"))
    };
    let host = required("ftp_host", &raw.ftp_host)?;
    if host.contains(['/', ' ', '@']) {
        return Err(ConfigError::key("ftp_host", format!("`{host}` is not a host name or address")));
    }
    if raw.ftp_port == 0 {
        return Err(ConfigError::key("ftp_port", "must be a port number (1 to 65535)"));
    }
    let user = required("ftp_user", &raw.ftp_user)?;
    // The password is used as written: spaces may be part of it.
    let password = raw.ftp_password.clone().filter(|p| !p.is_empty()).map(Secret::from).ok_or_else(|| {
        ConfigError::key("ftp_password", "must be set when storage_ftp_enabled is true (STORAGE_FTP_ENABLED)")
    })?;
    let public_base_url = http_url("ftp_public_base_url", &required("ftp_public_base_url", &raw.ftp_public_base_url)?)?;
    let written = raw.ftp_base_dir.trim();
    if written.split('/').any(|segment| segment == "..") || written.contains('\0') {
        return Err(ConfigError::key("ftp_base_dir", format!("`{written}` must not contain `..` or NUL")));
    }
    // Without its trailing `/`, except the root itself.
    let base_dir = match written.trim_end_matches('/') {
        "" if written.starts_with('/') => "/".to_owned(),
        trimmed => trimmed.to_owned(),
    };
    let known_hosts = raw.ftp_known_hosts.clone().filter(|p| !p.as_os_str().is_empty());
    let host_key_sha256 = non_empty(raw.ftp_host_key_sha256.clone())
        .map(|text| {
            parse_sha256_fingerprint(&text).ok_or_else(|| {
                ConfigError::key(
                    "ftp_host_key_sha256",
                    format!(
                        "`{text}` is not a fingerprint like `ssh-keygen -l` prints (SHA256: and 43 base64 characters)"
                    ),
                )
            })
        })
        .transpose()?;
    if known_hosts.is_none() && host_key_sha256.is_none() {
        return Err(ConfigError::key(
            "ftp_host_key_sha256",
            "storage_ftp_enabled is true but no host key is trusted: set ftp_host_key_sha256 (FTP_HOST_KEY_SHA256, \
             from `ssh-keygen -l -f` on the server's public host key) or ftp_known_hosts (FTP_KNOWN_HOSTS, a \
             known_hosts file); the gateway never accepts an unknown host key",
        ));
    }
    Ok(Some(SftpSettings {
        host,
        port: raw.ftp_port,
        user,
        password,
        base_dir,
        public_base_url,
        known_hosts,
        host_key_sha256,
        connect_timeout: positive_secs("ftp_connect_timeout_secs", raw.ftp_connect_timeout_secs)?,
        upload_timeout: positive_secs("ftp_upload_timeout_secs", raw.ftp_upload_timeout_secs)?,
    }))
}

/// The 32 digest bytes of an OpenSSH SHA-256 fingerprint, `SHA256:` then base64 with or without padding.
fn parse_sha256_fingerprint(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let encoded = text.trim().strip_prefix("SHA256:")?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded).ok()?;
    bytes.try_into().ok()
}

fn llm(raw: &RawConfig) -> Result<LlmSettings, ConfigError> {
    Ok(LlmSettings {
        base_url: base_url("llm_base_url", raw.llm_base_url.clone())?,
        api_key: Secret::from_setting(raw.llm_api_key.clone()),
        model: non_empty(raw.llm_model.clone()),
        timeout: positive_secs("llm_timeout_secs", raw.llm_timeout_secs)?,
        max_rounds: match raw.llm_max_rounds {
            1..=50 => raw.llm_max_rounds,
            _ => return Err(ConfigError::key("llm_max_rounds", "must be between 1 and 50")),
        },
    })
}
