//! Typed configuration, loaded in two stages.
//!
//! Stage one deserializes a raw, `deny_unknown_fields` struct with figment, layered (lowest first):
//! built-in defaults < an optional TOML file (`--config PATH` or `GATEWAY_CONFIG`) < `GATEWAY_*` environment
//! variables < the seeds' environment names (`LOG_LEVEL`, `AUTO_RELOAD_TOOLS`, ...), which keep working as
//! aliases. Stage two validates the raw values into [`Config`]; any error names the key and where it came from.
//! Relative paths are kept as written and so resolve against the working directory.
//!
//! This module only reads and checks settings; it never opens files, sockets or clients.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::{ApiKey, NamePattern, Scope, digest};

/// Seed environment names and the config key each is an alias of.
const SEED_ALIASES: &[(&str, &str)] = &[
    ("LOG_LEVEL", "log_level"),
    ("LOG_FORMAT", "log_format"),
    ("AUTO_RELOAD_TOOLS", "reload"),
    ("ENVIRONMENT", "environment"),
    ("RATE_LIMIT", "rate_limit"),
    ("X_PROXY_KEY", "proxy_key"),
    ("FLOWCHAT_MCP_KEY", "flowchat_key"),
    ("SUPABASE_URL", "supabase_url"),
    ("SUPABASE_API_KEY", "supabase_api_key"),
    ("DATABASE_WORKER_URL", "database_worker_url"),
    ("DOCUMENT_WORKER_URL", "document_worker_url"),
    ("STORAGE_WORKER_URL", "storage_worker_url"),
    ("EMAIL_WORKER_URL", "email_worker_url"),
    ("WORKER_AUTH_KEY", "worker_auth_key"),
    ("WORKER_AUTH_HEADER", "worker_auth_header"),
    ("REALTIME_BASE_URL", "realtime_base_url"),
    ("REALTIME_MODEL", "realtime_model"),
    ("OPENAI_API_KEY", "openai_api_key"),
    ("AI_PORTAL_TOKEN", "openai_api_key"),
    ("ELEVENLABS_API_KEY", "elevenlabs_api_key"),
    ("ELEVENLABS_BASE_URL", "elevenlabs_base_url"),
    ("HIGGSFIELD_API_KEY", "higgsfield_api_key"),
    ("HIGGSFIELD_API_SECRET", "higgsfield_api_secret"),
    ("HF_KEY", "hf_key"),
    ("HIGGSFIELD_BASE_URL", "higgsfield_base_url"),
    ("STORAGE_DOWNLOAD_ENABLED", "storage_download_enabled"),
    ("STORAGE_FTP_ENABLED", "storage_ftp_enabled"),
    ("FTP_HOST", "ftp_host"),
    ("FTP_PORT", "ftp_port"),
    ("FTP_USER", "ftp_user"),
    ("FTP_PASSWORD", "ftp_password"),
    ("FTP_BASE_DIR", "ftp_base_dir"),
    ("FTP_PUBLIC_BASE_URL", "ftp_public_base_url"),
    // Not the seed's: how the SFTP server's host key is trusted, named like the seed's FTP_* family.
    ("FTP_KNOWN_HOSTS", "ftp_known_hosts"),
    ("FTP_HOST_KEY_SHA256", "ftp_host_key_sha256"),
    ("SUPABASE_MCP_URL", "supabase_mcp_url"),
    ("SUPABASE_PAT", "supabase_pat"),
    ("SUPABASE_PROJECT_REF", "supabase_project_ref"),
    ("SUPABASE_MCP_READ_ONLY", "supabase_mcp_read_only"),
    ("SUPABASE_MCP_FEATURES", "supabase_mcp_features"),
    // Seed 000 named the endpoint LLM_ENDPOINT; LLM_BASE_URL comes later so it wins when both are set.
    ("LLM_ENDPOINT", "llm_base_url"),
    ("LLM_BASE_URL", "llm_base_url"),
    ("LLM_API_KEY", "llm_api_key"),
    ("LLM_MODEL", "llm_model"),
];

/// The settings that hold secrets. Templates (`{{env.NAME}}` in specs) can never read the environment variables
/// these are read from, whatever `template_env` allows.
const SECRET_SETTINGS: &[&str] = &[
    "keys",
    "proxy_key",
    "flowchat_key",
    "supabase_api_key",
    "worker_auth_key",
    "openai_api_key",
    "elevenlabs_api_key",
    "higgsfield_api_key",
    "higgsfield_api_secret",
    "hf_key",
    "supabase_pat",
    "llm_api_key",
    "ftp_password",
];

/// Every environment variable a setting is read from: `GATEWAY_{KEY}`, then its seed aliases.
fn env_names(key: &str) -> Vec<String> {
    let mut names = vec![format!("GATEWAY_{}", key.to_ascii_uppercase())];
    names.extend(SEED_ALIASES.iter().filter(|(_, k)| *k == key).map(|(env, _)| (*env).to_owned()));
    names
}

/// Settings whose environment values are strings exactly as written (a password may look like a number or a list).
const VERBATIM_ENV: &[&str] = &["ftp_user", "ftp_password"];

/// A configuration problem, naming the key and, when known, the source that set it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {message}")]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    fn key(key: &str, message: impl std::fmt::Display) -> Self {
        Self { message: format!("`{key}` ({}): {message}", env_names(key).join(" / ")) }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        Self { message: messages.join("; ") }
    }
}

/// The raw settings as written by people. Every field's doc names its env var and default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    /// `GATEWAY_BIND`, default `127.0.0.1:8080`.
    bind: String,
    /// `GATEWAY_TOOL_SPECS`, default `./tool_specs`.
    tool_specs: PathBuf,
    /// `GATEWAY_DATA_DIR`, default `./data`.
    data_dir: PathBuf,
    /// `GATEWAY_ENVIRONMENT` / `ENVIRONMENT`, default `development`.
    environment: String,
    /// `GATEWAY_LOG_LEVEL` / `LOG_LEVEL`: a level or a tracing filter directive, default `info`.
    log_level: String,
    /// `GATEWAY_LOG_FORMAT` / `LOG_FORMAT`: `text` or `json`, default `text`.
    log_format: String,
    /// `GATEWAY_RELOAD` / `AUTO_RELOAD_TOOLS`: watch the specs folder and reload on change, default false.
    #[serde(deserialize_with = "flexible_bool")]
    reload: bool,
    /// `GATEWAY_MAX_BODY_BYTES`, default 4 MiB.
    max_body_bytes: u64,
    /// `GATEWAY_ALLOWED_HOSTS`: extra Host names (comma list; `*` allows any), loopback always allowed.
    #[serde(deserialize_with = "string_list")]
    allowed_hosts: Vec<String>,
    /// `GATEWAY_ALLOWED_ORIGINS`: extra browser origins (comma list; `*` allows any), loopback always allowed.
    #[serde(deserialize_with = "string_list")]
    allowed_origins: Vec<String>,
    /// `GATEWAY_PAGE_SIZE`: items per `tools/list` page, default 100.
    page_size: usize,
    /// `GATEWAY_CALL_TIMEOUT_SECS`: default deadline of one tool call, default 300.
    call_timeout_secs: u64,
    /// `GATEWAY_SESSION_IDLE_SECS`: an MCP session unused this long is forgotten, default 3600.
    session_idle_secs: u64,
    /// `GATEWAY_MAX_SESSIONS`: live MCP sessions at most, default 10000.
    max_sessions: usize,
    /// `GATEWAY_SSE_KEEPALIVE_SECS`: comment line sent on idle SSE streams, default 15.
    sse_keepalive_secs: u64,
    /// `GATEWAY_INSTRUCTIONS`: text returned as `instructions` by `initialize`, default none.
    instructions: Option<String>,
    /// `GATEWAY_TEMPLATE_ENV`: `*`-patterns of the environment variables `{{env.NAME}}` templates may read
    /// (comma list, e.g. `INVENTORY_*`), default none; the gateway's own secrets never.
    #[serde(deserialize_with = "string_list")]
    template_env: Vec<String>,
    /// `GATEWAY_KEYS` / TOML `[[keys]]`: API keys `{id, key | key_sha256, scopes, allow?, deny?}`.
    keys: Vec<RawKey>,
    /// `X_PROXY_KEY` (seed 002): becomes key `proxy` with scope `proxy`.
    proxy_key: Option<String>,
    /// `FLOWCHAT_MCP_KEY` (seed 002): becomes key `flowchat` with scopes `tools:list`, `tools:call`.
    flowchat_key: Option<String>,
    /// `GATEWAY_ALLOW_ANONYMOUS`: serve without keys on a non-loopback address, default false.
    #[serde(deserialize_with = "flexible_bool")]
    allow_anonymous: bool,
    /// `GATEWAY_RATE_LIMIT` / `RATE_LIMIT`: per key (per client IP when anonymous), `N/second|minute|hour` or
    /// `off`, default `200/minute`.
    rate_limit: String,
    /// `GATEWAY_CATEGORY_RATE_LIMITS` / TOML `[category_rate_limits]`: per key and tool category, e.g.
    /// `{write = "20/minute"}`.
    category_rate_limits: BTreeMap<String, String>,
    /// `GATEWAY_TRUSTED_PROXIES`: CIDRs whose `X-Forwarded-For` is believed (comma list), default none.
    #[serde(deserialize_with = "string_list")]
    trusted_proxies: Vec<String>,
    /// `GATEWAY_MAX_CONCURRENT_CALLS`: tool calls running at once, default 256.
    max_concurrent_calls: usize,
    /// `GATEWAY_CALL_QUEUE`: calls waiting for a slot before new ones get 503, default 1024.
    call_queue: usize,
    /// `GATEWAY_MAX_STREAMS`: open SSE streams at most, default 1000.
    max_streams: usize,
    /// `GATEWAY_REQUEST_TIMEOUT_SECS`: deadline of requests that do not run a tool, default 30.
    request_timeout_secs: u64,
    /// `GATEWAY_HEADER_READ_TIMEOUT_SECS`: a connection must send a complete request head this soon after it
    /// opens or starts a new request, default 10.
    header_read_timeout_secs: u64,
    /// `GATEWAY_IDLE_TIMEOUT_SECS`: a keep-alive connection with no request for this long is closed, default 30.
    idle_timeout_secs: u64,
    /// `GATEWAY_UPSTREAM_MAX_ANSWER_BYTES`: largest upstream answer read (JSON APIs), default 16 MiB.
    upstream_max_answer_bytes: u64,
    /// `GATEWAY_MAX_JSON_DEPTH`: deepest nesting accepted in a request body, default 64.
    max_json_depth: usize,
    /// `GATEWAY_AUDIT`: record every tool call in `{data_dir}/audit.db`, default true.
    #[serde(deserialize_with = "flexible_bool")]
    audit: bool,
    /// `GATEWAY_AUDIT_ARGUMENTS`: also store call arguments (not only their hash), default false.
    #[serde(deserialize_with = "flexible_bool")]
    audit_arguments: bool,
    /// `GATEWAY_AUDIT_RETENTION_DAYS`: audit rows older than this are deleted, default 30.
    audit_retention_days: u32,
    /// `GATEWAY_SHUTDOWN_GRACE_SECS`: on SIGTERM, how long in-flight requests may finish, default 30.
    shutdown_grace_secs: u64,
    /// `GATEWAY_PROVIDER_CONCURRENCY`: requests in flight per upstream provider, default 64.
    provider_concurrency: usize,
    /// TOML `[provider_concurrency_overrides]` (env `GATEWAY_PROVIDER_CONCURRENCY_OVERRIDES="{elevenlabs=4}"`):
    /// per-provider caps replacing the default, default none.
    provider_concurrency_overrides: BTreeMap<String, usize>,
    /// `SUPABASE_URL`: the Supabase project URL for `supabase_rpc` tools, default none.
    supabase_url: Option<String>,
    /// `SUPABASE_API_KEY`: the key sent as `apikey` and bearer to PostgREST, default none.
    supabase_api_key: Option<String>,
    /// `DATABASE_WORKER_URL`: the FlowChat database worker (validation + persistence), default none.
    database_worker_url: Option<String>,
    /// `DOCUMENT_WORKER_URL`: the FlowChat document worker (PDF generation), default none.
    document_worker_url: Option<String>,
    /// `STORAGE_WORKER_URL`: the FlowChat storage worker (uploads), default none.
    storage_worker_url: Option<String>,
    /// `EMAIL_WORKER_URL`: the FlowChat email worker, default none.
    email_worker_url: Option<String>,
    /// `WORKER_AUTH_KEY`: the shared secret sent to every worker, default none.
    worker_auth_key: Option<String>,
    /// `WORKER_AUTH_HEADER`: the header that carries it, default `X-FlowChat-Worker-Auth`.
    worker_auth_header: String,
    /// `GATEWAY_WORKERS_DIR`: the folder scanned for `worker_*.db`, default `{data_dir}/sqlite3`.
    workers_dir: Option<PathBuf>,
    /// `GATEWAY_WORKERS_QUERY_TIMEOUT_MS`: deadline of one worker query, enforced inside SQLite, default 5000.
    workers_query_timeout_ms: u64,
    /// `GATEWAY_WORKERS_SUMMARY_LANGUAGE`: language of the spoken query summary, `fr` or `en`, default `fr`.
    workers_summary_language: String,
    /// `GATEWAY_REALTIME_BASE_URL` / `REALTIME_BASE_URL`: the Realtime provider, default `https://api.openai.com`.
    realtime_base_url: String,
    /// `GATEWAY_OPENAI_API_KEY` / `OPENAI_API_KEY` / `AI_PORTAL_TOKEN`: the long-lived key that mints Realtime
    /// client secrets; it never leaves the server. Default none (the realtime config answers `not_configured`).
    openai_api_key: Option<String>,
    /// `GATEWAY_REALTIME_MODEL` / `REALTIME_MODEL`: the Realtime model, default `gpt-realtime`.
    realtime_model: String,
    /// `GATEWAY_REALTIME_SECRET_TTL_SECS`: lifetime of a minted client secret (10 to 7200), default 600.
    realtime_secret_ttl_secs: u64,
    /// `GATEWAY_REALTIME_TRANSCRIPTION_MODEL`: the model transcribing the caller's speech, default
    /// `gpt-4o-mini-transcribe`.
    realtime_transcription_model: String,
    /// `ELEVENLABS_API_KEY`: the key sent as `xi-api-key` to ElevenLabs, default none.
    elevenlabs_api_key: Option<String>,
    /// `ELEVENLABS_BASE_URL`: ElevenLabs' API host (regional hosts exist), default `https://api.elevenlabs.io`.
    elevenlabs_base_url: String,
    /// `HIGGSFIELD_API_KEY`: the Higgsfield key id, default none.
    higgsfield_api_key: Option<String>,
    /// `HIGGSFIELD_API_SECRET`: the Higgsfield key secret, default none.
    higgsfield_api_secret: Option<String>,
    /// `HF_KEY`: `{key id}:{key secret}` in one value (higgsfield-client's name), used when the two above are
    /// unset, default none.
    hf_key: Option<String>,
    /// `HIGGSFIELD_BASE_URL`: Higgsfield's API host, default `https://platform.higgsfield.ai`.
    higgsfield_base_url: String,
    /// `STORAGE_DOWNLOAD_ENABLED` (seed 004): download finished media into `{data_dir}/Media`, default true;
    /// false keeps the provider's URL instead.
    #[serde(deserialize_with = "flexible_bool")]
    storage_download_enabled: bool,
    /// `GATEWAY_INLINE_MEDIA_MAX_BYTES`: media up to this size is also inlined as an MCP `image`/`audio`
    /// block, default 1 MiB (0 never inlines).
    inline_media_max_bytes: u64,
    /// `GATEWAY_MEDIA_MAX_DOWNLOAD_BYTES`: largest media file downloaded or stored, default 512 MiB.
    media_max_download_bytes: u64,
    /// `GATEWAY_PUBLIC_BASE_URL`: the gateway's public URL, used in asset links, default `http://{bind}`.
    public_base_url: Option<String>,
    /// `STORAGE_FTP_ENABLED` (seed 004): also upload every stored asset over SFTP, default false. Needs
    /// `ftp_host`, `ftp_user`, `ftp_password`, `ftp_public_base_url` and a host key setting.
    #[serde(deserialize_with = "flexible_bool")]
    storage_ftp_enabled: bool,
    /// `FTP_HOST` (seed 004): the SFTP server's host name or address, default none.
    ftp_host: Option<String>,
    /// `FTP_PORT` (seed 004): the SFTP server's port, default 22.
    ftp_port: u16,
    /// `FTP_USER` (seed 004): the login name, default none.
    ftp_user: Option<String>,
    /// `FTP_PASSWORD` (seed 004): the login password, default none; never printed or logged.
    ftp_password: Option<String>,
    /// `FTP_BASE_DIR` (seed 004): the remote folder uploads go under (`{base}/{project}/{type}/{file}`), default
    /// empty (the login folder).
    ftp_base_dir: String,
    /// `FTP_PUBLIC_BASE_URL` (seed 004): the public http(s) URL of `ftp_base_dir`, default none.
    ftp_public_base_url: Option<String>,
    /// `FTP_KNOWN_HOSTS`: an OpenSSH `known_hosts` file listing the server's host key, default none.
    ftp_known_hosts: Option<PathBuf>,
    /// `FTP_HOST_KEY_SHA256`: the server's host key fingerprint as `ssh-keygen -l` prints it (`SHA256:...`),
    /// default none. With `ftp_known_hosts`, a key either one trusts is accepted; without both, no key is.
    ftp_host_key_sha256: Option<String>,
    /// `GATEWAY_FTP_CONNECT_TIMEOUT_SECS`: connecting, the SSH handshake, the login and each SFTP request, and
    /// how long the server may stay silent, default 15.
    ftp_connect_timeout_secs: u64,
    /// `GATEWAY_FTP_UPLOAD_TIMEOUT_SECS`: the whole upload of one file, default 300.
    ftp_upload_timeout_secs: u64,
    /// `GATEWAY_JOB_POLL_INITIAL_MS`: first wait between two polls of a media job, default 2000.
    job_poll_initial_ms: u64,
    /// `GATEWAY_JOB_POLL_MAX_MS`: longest wait between two polls (the wait doubles up to it), default 15000.
    job_poll_max_ms: u64,
    /// `GATEWAY_JOB_MAX_AGE_SECS`: a job unfinished this long after submission is marked failed, default 3600.
    job_max_age_secs: u64,
    /// `SUPABASE_MCP_URL`: Supabase's MCP server, target of the `/mcp/...` passthrough, default
    /// `https://mcp.supabase.com/mcp`.
    supabase_mcp_url: String,
    /// `SUPABASE_PAT`: the personal access token the passthrough sends as its bearer, default none (the
    /// passthrough then answers 503 `not_configured`).
    supabase_pat: Option<String>,
    /// `SUPABASE_PROJECT_REF`: sent as `project_ref=` to the Supabase MCP server, default none.
    supabase_project_ref: Option<String>,
    /// `SUPABASE_MCP_READ_ONLY`: send `read_only=true` to the Supabase MCP server, default false.
    #[serde(deserialize_with = "flexible_bool")]
    supabase_mcp_read_only: bool,
    /// `SUPABASE_MCP_FEATURES`: feature groups sent as `features=` (comma list), default none.
    #[serde(deserialize_with = "string_list")]
    supabase_mcp_features: Vec<String>,
    /// `LLM_BASE_URL` / `LLM_ENDPOINT`: an OpenAI-compatible server, with or without `/v1`
    /// (`http://localhost:11434/v1` for Ollama), default none.
    llm_base_url: Option<String>,
    /// `LLM_API_KEY`: bearer key for the LLM server, default none (local servers need none).
    llm_api_key: Option<String>,
    /// `LLM_MODEL`: the model used when a call names none, default none.
    llm_model: Option<String>,
    /// `GATEWAY_LLM_TIMEOUT_SECS`: per-request timeout of one chat completion, default 120.
    llm_timeout_secs: u64,
    /// `GATEWAY_LLM_MAX_ROUNDS`: chat completions `call_llm` may make in one call (tool rounds included),
    /// default 5.
    llm_max_rounds: u32,
}

/// One key as written in configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    id: String,
    key: Option<String>,
    key_sha256: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

/// A rate: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl Rate {
    /// `200/minute`, `10/s`, `5000/hour`; `None` for `off`.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim().to_ascii_lowercase();
        if matches!(text.as_str(), "off" | "none" | "0" | "") {
            return Ok(None);
        }
        let (count, unit) = text.split_once('/').ok_or_else(|| format!("`{text}` is not like 200/minute"))?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| format!("`{count}` is not a positive count"))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            other => return Err(format!("`{other}` is not a period (second, minute, hour, day)")),
        };
        Ok(Some(Self { count, period }))
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            tool_specs: PathBuf::from("./tool_specs"),
            data_dir: PathBuf::from("./data"),
            environment: "development".into(),
            log_level: "info".into(),
            log_format: "text".into(),
            reload: false,
            max_body_bytes: 4 * 1024 * 1024,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            page_size: 100,
            call_timeout_secs: 300,
            session_idle_secs: 3600,
            max_sessions: 10_000,
            sse_keepalive_secs: 15,
            instructions: None,
            template_env: Vec::new(),
            keys: Vec::new(),
            proxy_key: None,
            flowchat_key: None,
            allow_anonymous: false,
            rate_limit: "200/minute".into(),
            category_rate_limits: BTreeMap::new(),
            trusted_proxies: Vec::new(),
            max_concurrent_calls: 256,
            call_queue: 1024,
            max_streams: 1000,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 30,
            upstream_max_answer_bytes: 16 * 1024 * 1024,
            max_json_depth: 64,
            audit: true,
            audit_arguments: false,
            audit_retention_days: 30,
            shutdown_grace_secs: 30,
            provider_concurrency: 64,
            provider_concurrency_overrides: BTreeMap::new(),
            supabase_url: None,
            supabase_api_key: None,
            database_worker_url: None,
            document_worker_url: None,
            storage_worker_url: None,
            email_worker_url: None,
            worker_auth_key: None,
            worker_auth_header: "X-FlowChat-Worker-Auth".into(),
            workers_dir: None,
            workers_query_timeout_ms: 5000,
            workers_summary_language: "fr".into(),
            realtime_base_url: "https://api.openai.com".into(),
            openai_api_key: None,
            realtime_model: "gpt-realtime".into(),
            realtime_secret_ttl_secs: 600,
            realtime_transcription_model: "gpt-4o-mini-transcribe".into(),
            elevenlabs_api_key: None,
            elevenlabs_base_url: "https://api.elevenlabs.io".into(),
            higgsfield_api_key: None,
            higgsfield_api_secret: None,
            hf_key: None,
            higgsfield_base_url: "https://platform.higgsfield.ai".into(),
            storage_download_enabled: true,
            inline_media_max_bytes: 1024 * 1024,
            media_max_download_bytes: 512 * 1024 * 1024,
            public_base_url: None,
            storage_ftp_enabled: false,
            ftp_host: None,
            ftp_port: 22,
            ftp_user: None,
            ftp_password: None,
            ftp_base_dir: String::new(),
            ftp_public_base_url: None,
            ftp_known_hosts: None,
            ftp_host_key_sha256: None,
            ftp_connect_timeout_secs: 15,
            ftp_upload_timeout_secs: 300,
            job_poll_initial_ms: 2000,
            job_poll_max_ms: 15_000,
            job_max_age_secs: 3600,
            supabase_mcp_url: "https://mcp.supabase.com/mcp".into(),
            supabase_pat: None,
            supabase_project_ref: None,
            supabase_mcp_read_only: false,
            supabase_mcp_features: Vec::new(),
            llm_base_url: None,
            llm_api_key: None,
            llm_model: None,
            llm_timeout_secs: 120,
            llm_max_rounds: 5,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration the application uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub tool_specs: PathBuf,
    pub data_dir: PathBuf,
    pub environment: String,
    /// A tracing `EnvFilter` directive, already checked.
    pub log_filter: String,
    pub log_format: LogFormat,
    pub reload: bool,
    pub max_body_bytes: usize,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub page_size: usize,
    pub call_timeout: Duration,
    pub session_idle: Duration,
    pub max_sessions: usize,
    pub sse_keepalive: Duration,
    pub instructions: Option<String>,
    /// The environment variables spec templates may read.
    pub template_env: TemplateEnv,
    /// Configured keys, including those from the seeds' `X_PROXY_KEY` and `FLOWCHAT_MCP_KEY`.
    pub keys: Vec<ApiKey>,
    pub allow_anonymous: bool,
    /// Per caller; `None` when off.
    pub rate_limit: Option<Rate>,
    /// Per caller and tool category.
    pub category_rate_limits: Vec<(String, Rate)>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_concurrent_calls: usize,
    pub call_queue: usize,
    pub max_streams: usize,
    pub request_timeout: Duration,
    /// How long a connection may take to send a complete request head.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait, with no request in flight, for its next request.
    pub idle_timeout: Duration,
    /// The largest upstream answer read into memory (JSON APIs; media downloads have their own cap).
    pub upstream_max_answer_bytes: u64,
    pub max_json_depth: usize,
    pub audit: bool,
    pub audit_arguments: bool,
    pub audit_retention_days: u32,
    pub shutdown_grace: Duration,
    /// `GATEWAY_*` environment variables that name no setting; reported at start, otherwise ignored.
    pub ignored_env: Vec<String>,
    /// Requests in flight per upstream provider, and per-provider overrides.
    pub provider_concurrency: usize,
    pub provider_concurrency_overrides: BTreeMap<String, usize>,
    /// Supabase (PostgREST) for `supabase_rpc` tools; `None` members make those tools answer `not_configured`.
    pub supabase: SupabaseSettings,
    /// The FlowChat worker services for `worker` tools.
    pub flowchat_workers: WorkerSettings,
    /// The voice workers: where their databases are and how queries run.
    pub workers: WorkersSettings,
    /// The Realtime provider that mints browser session secrets for the workers.
    pub realtime: RealtimeSettings,
    /// ElevenLabs for `elevenlabs` tools; without a key they answer `not_configured`.
    pub elevenlabs: ElevenLabsSettings,
    /// Higgsfield for `higgsfield` tools; without credentials they answer `not_configured`.
    pub higgsfield: HiggsfieldSettings,
    /// Where finished media goes and how it is linked.
    pub media: MediaSettings,
    /// How long media jobs are polled.
    pub jobs: JobSettings,
    /// Supabase's MCP server for the `/mcp/...` passthrough.
    pub supabase_mcp: SupabaseMcpSettings,
    /// The OpenAI-compatible LLM for `llm` bindings, `llm_chat` and `call_llm`.
    pub llm: LlmSettings,
}

/// Which environment variables `{{env.NAME}}` templates may read: names matching a `template_env` pattern, and
/// never one the gateway reads a secret from (checked when specs load, so a spec cannot send a key elsewhere).
#[derive(Debug, Clone, Default)]
pub struct TemplateEnv {
    patterns: Vec<NamePattern>,
}

impl TemplateEnv {
    /// From patterns as written (`INVENTORY_*`, `BILLING_URL`).
    #[must_use]
    pub fn new(patterns: &[&str]) -> Self {
        Self { patterns: patterns.iter().map(|p| NamePattern::new(p)).collect() }
    }

    /// The patterns, as written.
    #[must_use]
    pub fn patterns(&self) -> &[NamePattern] {
        &self.patterns
    }

    /// `Ok` when a template may read `name`; otherwise why not, in words a spec author can act on.
    pub fn check(&self, name: &str) -> Result<(), String> {
        // Case-blind: the configuration reads environment names without regard to case.
        if let Some(setting) =
            SECRET_SETTINGS.iter().find(|k| env_names(k).iter().any(|e| e.eq_ignore_ascii_case(name)))
        {
            return Err(format!(
                "`{name}` holds the gateway's own secret (setting `{setting}`); templates can never read it"
            ));
        }
        if self.patterns.iter().any(|p| p.matches(name)) {
            return Ok(());
        }
        let example = name.split_once('_').map_or_else(|| name.to_owned(), |(head, _)| format!("{head}_*"));
        let now = if self.patterns.is_empty() {
            "none is set".to_owned()
        } else {
            let listed: Vec<String> = self.patterns.iter().map(|p| format!("`{}`", p.as_str())).collect();
            format!("now {}", listed.join(", "))
        };
        Err(format!(
            "`{name}` is not readable by templates; allow it with a pattern such as `{example}` in template_env \
             (GATEWAY_TEMPLATE_ENV; {now})"
        ))
    }
}

/// The FlowChat workers' base URLs and shared secret; any may be missing (their tools then say which).
#[derive(Clone, Default)]
pub struct WorkerSettings {
    pub database: Option<String>,
    pub document: Option<String>,
    pub storage: Option<String>,
    pub email: Option<String>,
    pub auth_key: Option<String>,
    pub auth_header: String,
}

impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The shared secret is never printed.
        f.debug_struct("WorkerSettings")
            .field("database", &self.database)
            .field("document", &self.document)
            .field("storage", &self.storage)
            .field("email", &self.email)
            .field("auth_key_set", &self.auth_key.is_some())
            .field("auth_header", &self.auth_header)
            .finish()
    }
}

/// The language of spoken summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryLanguage {
    French,
    English,
}

/// Voice worker settings.
#[derive(Debug, Clone)]
pub struct WorkersSettings {
    /// The folder holding `worker_*.db`.
    pub dir: PathBuf,
    /// Deadline of one query, enforced by SQLite's progress handler.
    pub query_timeout: Duration,
    pub summary_language: SummaryLanguage,
}

/// Realtime provider settings; without a key the realtime config answers `not_configured`.
#[derive(Clone)]
pub struct RealtimeSettings {
    /// Without a trailing slash.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub secret_ttl: Duration,
    pub transcription_model: String,
}

impl std::fmt::Debug for RealtimeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("RealtimeSettings")
            .field("base_url", &self.base_url)
            .field("api_key_set", &self.api_key.is_some())
            .field("model", &self.model)
            .field("secret_ttl", &self.secret_ttl)
            .field("transcription_model", &self.transcription_model)
            .finish()
    }
}

/// ElevenLabs settings; the key may be missing (the tools then say so).
#[derive(Clone)]
pub struct ElevenLabsSettings {
    pub base_url: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ElevenLabsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("ElevenLabsSettings")
            .field("base_url", &self.base_url)
            .field("api_key_set", &self.api_key.is_some())
            .finish()
    }
}

/// Higgsfield settings: a key id and secret (from `HIGGSFIELD_API_KEY` / `_SECRET` or `HF_KEY=id:secret`).
#[derive(Clone)]
pub struct HiggsfieldSettings {
    pub base_url: String,
    pub key_id: Option<String>,
    pub key_secret: Option<String>,
}

impl std::fmt::Debug for HiggsfieldSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Both halves of the credentials are secret: never printed.
        f.debug_struct("HiggsfieldSettings")
            .field("base_url", &self.base_url)
            .field("key_id_set", &self.key_id.is_some())
            .field("key_secret_set", &self.key_secret.is_some())
            .finish()
    }
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
}

/// The SFTP server stored assets are copied to, and how its host key is trusted.
#[derive(Clone)]
pub struct SftpSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Sent only to the server, inside the encrypted session.
    pub password: String,
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

impl std::fmt::Debug for SftpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a secret: never printed.
        f.debug_struct("SftpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password_set", &!self.password.is_empty())
            .field("base_dir", &self.base_dir)
            .field("public_base_url", &self.public_base_url)
            .field("known_hosts", &self.known_hosts)
            .field("host_key_sha256_set", &self.host_key_sha256.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("upload_timeout", &self.upload_timeout)
            .finish()
    }
}

/// Polling of long media jobs.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub max_age: Duration,
}

/// Supabase settings; either may be missing (the tools then say which).
#[derive(Clone, Default)]
pub struct SupabaseSettings {
    pub url: Option<String>,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for SupabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("SupabaseSettings")
            .field("url", &self.url)
            .field("api_key_set", &self.api_key.is_some())
            .finish()
    }
}

/// The Supabase MCP passthrough: where to, with which token and query settings.
#[derive(Clone)]
pub struct SupabaseMcpSettings {
    /// The server's MCP endpoint, without a trailing `/`.
    pub url: String,
    /// The personal access token; `None` makes the passthrough answer `not_configured`.
    pub pat: Option<String>,
    pub project_ref: Option<String>,
    pub read_only: bool,
    pub features: Vec<String>,
}

impl std::fmt::Debug for SupabaseMcpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("SupabaseMcpSettings")
            .field("url", &self.url)
            .field("pat_set", &self.pat.is_some())
            .field("project_ref", &self.project_ref)
            .field("read_only", &self.read_only)
            .field("features", &self.features)
            .finish()
    }
}

/// The OpenAI-compatible LLM server; a missing base URL makes LLM tools answer `not_configured`.
#[derive(Clone)]
pub struct LlmSettings {
    /// The server's base URL, without a trailing `/` (with or without `/v1`).
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    /// The model used when a call names none.
    pub model: Option<String>,
    /// Per-request timeout of one chat completion.
    pub timeout: Duration,
    /// Chat completions one `call_llm` call may make.
    pub max_rounds: u32,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("api_key_set", &self.api_key.is_some())
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_rounds", &self.max_rounds)
            .finish()
    }
}

impl Config {
    /// Load from defaults, the TOML file (explicit path, else `GATEWAY_CONFIG`), and the environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the offending key when a value is missing, malformed or out of range.
    pub fn load(explicit_file: Option<&Path>) -> Result<Self, ConfigError> {
        let file =
            explicit_file.map(Path::to_path_buf).or_else(|| std::env::var_os("GATEWAY_CONFIG").map(PathBuf::from));
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(path) = &file {
            if !path.is_file() {
                return Err(ConfigError { message: format!("config file {} does not exist", path.display()) });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Unknown keys in a file are typos and fail; unknown GATEWAY_* variables are ignored (and reported), since
        // platforms inject variables of their own (Kubernetes adds <SERVICE>_PORT and friends for every Service).
        let known = known_keys();
        let ignored_env: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| name.starts_with("GATEWAY_") && name != "GATEWAY_CONFIG")
            .filter(|name| !known.iter().any(|k| k.eq_ignore_ascii_case(&name["GATEWAY_".len()..])))
            .collect();
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        figment = figment.merge(Env::prefixed("GATEWAY_").ignore(&["CONFIG"]).only(&known_refs));
        for (env, key) in SEED_ALIASES {
            figment = figment.merge(Env::raw().only(&[env]).map(move |_| (*key).into()));
        }
        // figment reads environment values as TOML-like values (`12345` a number, `[x]` an array, quotes
        // stripped); these are taken exactly as written, with the same precedence.
        for key in VERBATIM_ENV {
            let gateway_name = format!("GATEWAY_{}", key.to_ascii_uppercase());
            let aliases = SEED_ALIASES.iter().filter(|(_, k)| k == key).map(|(env, _)| *env);
            for name in std::iter::once(gateway_name.as_str()).chain(aliases) {
                if let Some(value) = std::env::var_os(name).and_then(|v| v.into_string().ok()) {
                    figment = figment.merge(Serialized::default(key, value));
                }
            }
        }
        let mut config = Self::from_figment(&figment)?;
        config.ignored_env = ignored_env;
        Ok(config)
    }

    fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let raw: RawConfig = figment.extract()?;
        raw.validate()
    }

    /// A configuration for tests: loopback on an ephemeral port, the given specs and data folders.
    #[must_use]
    pub fn for_tests(tool_specs: &Path, data_dir: &Path) -> Self {
        let raw = RawConfig {
            bind: "127.0.0.1:0".into(),
            tool_specs: tool_specs.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            environment: "test".into(),
            // Tests that exercise rate limits set them explicitly.
            rate_limit: "off".into(),
            ..RawConfig::default()
        };
        match raw.validate() {
            Ok(config) => config,
            Err(err) => panic!("test defaults must validate: {err}"),
        }
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let bind: SocketAddr = self.bind.parse().map_err(|e| {
            ConfigError::key("bind", format!("`{}` is not an address like 127.0.0.1:8080 ({e})", self.bind))
        })?;
        let log_filter = normalize_log_level(&self.log_level);
        // A bare word is read by tracing as a target name, so `loud` would silently mean "target loud".
        let bare_word = !log_filter.contains(['=', ',', ':', '[']);
        if bare_word && !matches!(log_filter.as_str(), "trace" | "debug" | "info" | "warn" | "error" | "off") {
            return Err(ConfigError::key(
                "log_level",
                format!("`{}` is not a level (trace, debug, info, warn, error, off)", self.log_level),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&log_filter).map_err(|e| {
            ConfigError::key("log_level", format!("`{}` is not a level or filter ({e})", self.log_level))
        })?;
        let log_format = match self.log_format.to_ascii_lowercase().as_str() {
            "text" | "pretty" | "" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(ConfigError::key("log_format", format!("`{other}` is neither `text` nor `json`"))),
        };
        let max_body_bytes = usize::try_from(self.max_body_bytes)
            .ok()
            .filter(|n| *n >= 1024)
            .ok_or_else(|| ConfigError::key("max_body_bytes", "must be at least 1024"))?;
        let positive = |key: &str, value: u64| {
            if value == 0 {
                Err(ConfigError::key(key, "must be greater than 0"))
            } else {
                Ok(Duration::from_secs(value))
            }
        };
        if self.page_size == 0 {
            return Err(ConfigError::key("page_size", "must be greater than 0"));
        }
        if self.provider_concurrency == 0 {
            return Err(ConfigError::key("provider_concurrency", "must be greater than 0"));
        }
        if let Some((provider, _)) = self.provider_concurrency_overrides.iter().find(|(_, cap)| **cap == 0) {
            return Err(ConfigError::key(
                "provider_concurrency_overrides",
                format!("{provider}: must be greater than 0"),
            ));
        }
        if self.max_sessions == 0 {
            return Err(ConfigError::key("max_sessions", "must be greater than 0"));
        }
        if self.environment.trim().is_empty() {
            return Err(ConfigError::key("environment", "must not be empty"));
        }
        let keys = self.api_keys()?;
        let template_env = self.template_env()?;
        let higgsfield = self.higgsfield_settings()?;
        let sftp = self.sftp_settings()?;
        if keys.is_empty() && !bind.ip().is_loopback() && !self.allow_anonymous {
            return Err(ConfigError::key(
                "keys",
                format!(
                    "no API keys are configured and {bind} is not a loopback address; add keys (GATEWAY_KEYS, \
                     FLOWCHAT_MCP_KEY) or set allow_anonymous = true (GATEWAY_ALLOW_ANONYMOUS=true) on purpose"
                ),
            ));
        }
        let rate_limit = Rate::parse(&self.rate_limit).map_err(|m| ConfigError::key("rate_limit", m))?;
        let mut category_rate_limits = Vec::new();
        for (category, rate) in &self.category_rate_limits {
            match Rate::parse(rate) {
                Ok(Some(rate)) => category_rate_limits.push((category.to_ascii_lowercase(), rate)),
                Ok(None) => {}
                Err(m) => return Err(ConfigError::key("category_rate_limits", format!("{category}: {m}"))),
            }
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::key("trusted_proxies", format!("`{p}` is not an IP address or CIDR")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (key, value) in [
            ("max_concurrent_calls", self.max_concurrent_calls),
            ("max_streams", self.max_streams),
            ("max_json_depth", self.max_json_depth),
        ] {
            if value == 0 {
                return Err(ConfigError::key(key, "must be greater than 0"));
            }
        }
        let workers_dir = self.workers_dir.clone().unwrap_or_else(|| self.data_dir.join("sqlite3"));
        Ok(Config {
            bind,
            tool_specs: self.tool_specs,
            data_dir: self.data_dir,
            environment: self.environment.to_ascii_lowercase(),
            log_filter,
            log_format,
            reload: self.reload,
            max_body_bytes,
            allowed_hosts: lowercase_all(self.allowed_hosts),
            allowed_origins: lowercase_all(self.allowed_origins),
            page_size: self.page_size,
            call_timeout: positive("call_timeout_secs", self.call_timeout_secs)?,
            session_idle: positive("session_idle_secs", self.session_idle_secs)?,
            max_sessions: self.max_sessions,
            sse_keepalive: positive("sse_keepalive_secs", self.sse_keepalive_secs)?,
            instructions: self.instructions.filter(|s| !s.trim().is_empty()),
            template_env,
            keys,
            allow_anonymous: self.allow_anonymous,
            rate_limit,
            category_rate_limits,
            trusted_proxies,
            max_concurrent_calls: self.max_concurrent_calls,
            call_queue: self.call_queue,
            max_streams: self.max_streams,
            request_timeout: positive("request_timeout_secs", self.request_timeout_secs)?,
            header_read_timeout: positive("header_read_timeout_secs", self.header_read_timeout_secs)?,
            idle_timeout: positive("idle_timeout_secs", self.idle_timeout_secs)?,
            upstream_max_answer_bytes: Some(self.upstream_max_answer_bytes)
                .filter(|n| *n >= 1024)
                .ok_or_else(|| ConfigError::key("upstream_max_answer_bytes", "must be at least 1024"))?,
            max_json_depth: self.max_json_depth,
            audit: self.audit,
            audit_arguments: self.audit_arguments,
            audit_retention_days: self.audit_retention_days,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            ignored_env: Vec::new(),
            provider_concurrency: self.provider_concurrency,
            provider_concurrency_overrides: self.provider_concurrency_overrides,
            supabase: SupabaseSettings {
                url: base_url("supabase_url", self.supabase_url)?,
                api_key: non_empty(self.supabase_api_key),
            },
            supabase_mcp: SupabaseMcpSettings {
                url: base_url("supabase_mcp_url", Some(self.supabase_mcp_url))?
                    .ok_or_else(|| ConfigError::key("supabase_mcp_url", "must not be empty"))?,
                pat: non_empty(self.supabase_pat),
                project_ref: non_empty(self.supabase_project_ref),
                read_only: self.supabase_mcp_read_only,
                features: self
                    .supabase_mcp_features
                    .iter()
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect(),
            },
            llm: LlmSettings {
                base_url: base_url("llm_base_url", self.llm_base_url)?,
                api_key: non_empty(self.llm_api_key),
                model: non_empty(self.llm_model),
                timeout: positive("llm_timeout_secs", self.llm_timeout_secs)?,
                max_rounds: match self.llm_max_rounds {
                    1..=50 => self.llm_max_rounds,
                    _ => return Err(ConfigError::key("llm_max_rounds", "must be between 1 and 50")),
                },
            },
            flowchat_workers: WorkerSettings {
                database: base_url("database_worker_url", self.database_worker_url)?,
                document: base_url("document_worker_url", self.document_worker_url)?,
                storage: base_url("storage_worker_url", self.storage_worker_url)?,
                email: base_url("email_worker_url", self.email_worker_url)?,
                auth_key: non_empty(self.worker_auth_key),
                auth_header: {
                    let name = self.worker_auth_header.trim();
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(ConfigError::key("worker_auth_header", format!("`{name}` is not a header name")));
                    }
                    name.to_owned()
                },
            },
            workers: WorkersSettings {
                dir: workers_dir,
                query_timeout: match self.workers_query_timeout_ms {
                    0 => return Err(ConfigError::key("workers_query_timeout_ms", "must be greater than 0")),
                    ms => Duration::from_millis(ms),
                },
                summary_language: match self.workers_summary_language.trim().to_ascii_lowercase().as_str() {
                    "fr" | "french" | "francais" | "français" => SummaryLanguage::French,
                    "en" | "english" => SummaryLanguage::English,
                    other => {
                        return Err(ConfigError::key(
                            "workers_summary_language",
                            format!("`{other}` is neither `fr` nor `en`"),
                        ));
                    }
                },
            },
            realtime: RealtimeSettings {
                base_url: http_url("realtime_base_url", &self.realtime_base_url)?,
                api_key: non_empty(self.openai_api_key),
                model: match self.realtime_model.trim() {
                    "" => return Err(ConfigError::key("realtime_model", "must not be empty")),
                    model => model.to_owned(),
                },
                secret_ttl: match self.realtime_secret_ttl_secs {
                    10..=7200 => Duration::from_secs(self.realtime_secret_ttl_secs),
                    _ => return Err(ConfigError::key("realtime_secret_ttl_secs", "must be 10 to 7200 seconds")),
                },
                transcription_model: self.realtime_transcription_model.trim().to_owned(),
            },
            elevenlabs: ElevenLabsSettings {
                base_url: http_url("elevenlabs_base_url", &self.elevenlabs_base_url)?,
                api_key: non_empty(self.elevenlabs_api_key),
            },
            higgsfield,
            media: MediaSettings {
                download_enabled: self.storage_download_enabled,
                inline_max_bytes: self.inline_media_max_bytes,
                max_download_bytes: match self.media_max_download_bytes {
                    0 => return Err(ConfigError::key("media_max_download_bytes", "must be greater than 0")),
                    n => n,
                },
                public_base_url: match non_empty(self.public_base_url) {
                    Some(url) => http_url("public_base_url", &url)?,
                    None => format!("http://{bind}"),
                },
                sftp,
            },
            jobs: JobSettings {
                poll_initial: Duration::from_millis(self.job_poll_initial_ms.max(1)),
                poll_max: Duration::from_millis(self.job_poll_max_ms.max(self.job_poll_initial_ms).max(1)),
                max_age: positive("job_max_age_secs", self.job_max_age_secs)?,
            },
        })
    }

    /// The `template_env` patterns: names of letters, digits and `_`, with `*` wildcards.
    fn template_env(&self) -> Result<TemplateEnv, ConfigError> {
        let patterns: Vec<&str> = self.template_env.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
        if let Some(bad) =
            patterns.iter().find(|p| !p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*')))
        {
            return Err(ConfigError::key(
                "template_env",
                format!("`{bad}` is not a variable name pattern (letters, digits, `_` and `*` only)"),
            ));
        }
        Ok(TemplateEnv::new(&patterns))
    }

    /// The SFTP copy when `storage_ftp_enabled`: every setting it needs, and at least one way to trust the
    /// server's host key (an unknown key is never accepted).
    fn sftp_settings(&self) -> Result<Option<SftpSettings>, ConfigError> {
        if !self.storage_ftp_enabled {
            return Ok(None);
        }
        let required = |key: &str, value: &Option<String>| {
            non_empty(value.clone()).ok_or_else(|| {
                ConfigError::key(key, "must be set when storage_ftp_enabled is true (STORAGE_FTP_ENABLED)")
            })
        };
        let host = required("ftp_host", &self.ftp_host)?;
        if host.contains(['/', ' ', '@']) {
            return Err(ConfigError::key("ftp_host", format!("`{host}` is not a host name or address")));
        }
        if self.ftp_port == 0 {
            return Err(ConfigError::key("ftp_port", "must be a port number (1 to 65535)"));
        }
        let user = required("ftp_user", &self.ftp_user)?;
        // The password is used as written: spaces may be part of it.
        let password = self.ftp_password.clone().filter(|p| !p.is_empty()).ok_or_else(|| {
            ConfigError::key("ftp_password", "must be set when storage_ftp_enabled is true (STORAGE_FTP_ENABLED)")
        })?;
        let public_base_url =
            http_url("ftp_public_base_url", &required("ftp_public_base_url", &self.ftp_public_base_url)?)?;
        let written = self.ftp_base_dir.trim();
        if written.split('/').any(|segment| segment == "..") || written.contains('\0') {
            return Err(ConfigError::key("ftp_base_dir", format!("`{written}` must not contain `..` or NUL")));
        }
        // Without its trailing `/`, except the root itself.
        let base_dir = match written.trim_end_matches('/') {
            "" if written.starts_with('/') => "/".to_owned(),
            trimmed => trimmed.to_owned(),
        };
        let known_hosts = self.ftp_known_hosts.clone().filter(|p| !p.as_os_str().is_empty());
        let host_key_sha256 = non_empty(self.ftp_host_key_sha256.clone())
            .map(|text| {
                parse_sha256_fingerprint(&text).ok_or_else(|| {
                    ConfigError::key(
                        "ftp_host_key_sha256",
                        format!("`{text}` is not a fingerprint like `ssh-keygen -l` prints (SHA256: and 43 base64 characters)"),
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
        let positive = |key: &str, secs: u64| {
            if secs == 0 { Err(ConfigError::key(key, "must be greater than 0")) } else { Ok(Duration::from_secs(secs)) }
        };
        Ok(Some(SftpSettings {
            host,
            port: self.ftp_port,
            user,
            password,
            base_dir,
            public_base_url,
            known_hosts,
            host_key_sha256,
            connect_timeout: positive("ftp_connect_timeout_secs", self.ftp_connect_timeout_secs)?,
            upload_timeout: positive("ftp_upload_timeout_secs", self.ftp_upload_timeout_secs)?,
        }))
    }

    /// Higgsfield credentials from the two settings, else from `HF_KEY=id:secret`.
    fn higgsfield_settings(&self) -> Result<HiggsfieldSettings, ConfigError> {
        let mut key_id = non_empty(self.higgsfield_api_key.clone());
        let mut key_secret = non_empty(self.higgsfield_api_secret.clone());
        if let Some(combined) = non_empty(self.hf_key.clone()) {
            let (id, secret) = combined
                .split_once(':')
                .filter(|(id, secret)| !id.trim().is_empty() && !secret.trim().is_empty())
                .ok_or_else(|| ConfigError::key("hf_key", "must be `{key id}:{key secret}`"))?;
            key_id = key_id.or_else(|| Some(id.trim().to_owned()));
            key_secret = key_secret.or_else(|| Some(secret.trim().to_owned()));
        }
        Ok(HiggsfieldSettings {
            base_url: http_url("higgsfield_base_url", &self.higgsfield_base_url)?,
            key_id,
            key_secret,
        })
    }

    /// Configured keys plus the seeds' two keys, checked: unique ids, one secret each, known scopes.
    fn api_keys(&self) -> Result<Vec<ApiKey>, ConfigError> {
        let mut raw = self.keys.clone();
        let seeds = [
            ("proxy", &self.proxy_key, vec!["proxy"]),
            ("flowchat", &self.flowchat_key, vec!["tools:list", "tools:call"]),
        ];
        for (id, secret, scopes) in seeds {
            if let Some(secret) = secret.as_ref().filter(|s| !s.trim().is_empty()) {
                raw.push(RawKey {
                    id: id.into(),
                    key: Some(secret.clone()),
                    key_sha256: None,
                    scopes: scopes.into_iter().map(str::to_owned).collect(),
                    allow: Vec::new(),
                    deny: Vec::new(),
                });
            }
        }
        let mut keys: Vec<ApiKey> = Vec::new();
        for (i, k) in raw.into_iter().enumerate() {
            let at = |m: String| ConfigError::key("keys", format!("key #{} (`{}`): {m}", i + 1, k.id));
            if k.id.trim().is_empty() {
                return Err(at("`id` must not be empty".into()));
            }
            if keys.iter().any(|existing| existing.id == k.id) {
                return Err(at("the id is used twice".into()));
            }
            let digest = match (&k.key, &k.key_sha256) {
                (Some(key), None) if !key.is_empty() => digest(key),
                (None, Some(hex_digest)) => {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(hex_digest.trim(), &mut out)
                        .map_err(|_| at("`key_sha256` must be 64 hex digits".into()))?;
                    out
                }
                _ => return Err(at("give exactly one of `key` or `key_sha256`".into())),
            };
            if k.scopes.is_empty() {
                return Err(at("`scopes` must name at least one scope".into()));
            }
            let scopes = k.scopes.iter().map(|s| Scope::parse(s)).collect::<Result<Vec<_>, _>>().map_err(at)?;
            let patterns = |list: &[String]| list.iter().map(|p| NamePattern::new(p)).collect();
            keys.push(ApiKey::new(k.id.clone(), digest, scopes, patterns(&k.allow), patterns(&k.deny)));
        }
        Ok(keys)
    }
}

/// An http(s) URL without its trailing slash.
fn http_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| ConfigError::key(key, format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::key(key, "must be an http or https URL"));
    }
    Ok(url.trim().trim_end_matches('/').to_owned())
}

/// The 32 digest bytes of an OpenSSH SHA-256 fingerprint, `SHA256:` then base64 with or without padding.
fn parse_sha256_fingerprint(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let encoded = text.trim().strip_prefix("SHA256:")?.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded).ok()?;
    bytes.try_into().ok()
}

/// The names of every setting, from the raw struct itself (so the list cannot drift).
fn known_keys() -> Vec<String> {
    match serde_json::to_value(RawConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// An optional http(s) base URL, without its trailing slash; empty means unset.
fn base_url(key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    value.filter(|u| !u.trim().is_empty()).map(|u| http_url(key, &u)).transpose()
}

/// An optional value (a secret, a name), trimmed; empty or blank means unset.
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn lowercase_all(items: Vec<String>) -> Vec<String> {
    items.into_iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
}

/// The seeds wrote Python level names (`INFO`, `WARNING`); tracing wants `info`, `warn`.
fn normalize_log_level(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "warning" => "warn".into(),
        "critical" | "fatal" => "error".into(),
        other => other.into(),
    }
}

/// Accepts `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (the seeds used `AUTO_RELOAD_TOOLS=1`).
fn flexible_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flexible {
        Bool(bool),
        Int(i64),
        Text(String),
    }
    match Flexible::deserialize(deserializer)? {
        Flexible::Bool(b) => Ok(b),
        Flexible::Int(0) => Ok(false),
        Flexible::Int(1) => Ok(true),
        Flexible::Int(n) => Err(serde::de::Error::custom(format!("expected a boolean, found {n}"))),
        Flexible::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!("expected a boolean, found `{other}`"))),
        },
    }
}

/// Accepts a list or a comma-separated string (how lists arrive through environment variables).
fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrString::deserialize(deserializer)? {
        ListOrString::List(items) => items,
        ListOrString::Text(s) => s.split(',').map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(figment: Figment) -> Result<Config, ConfigError> {
        Config::from_figment(&figment)
    }

    fn base() -> Figment {
        Figment::from(Serialized::defaults(RawConfig::default()))
    }

    #[test]
    fn defaults_bind_loopback_8080() {
        let config = load_with(base()).unwrap();
        assert_eq!(config.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.tool_specs, PathBuf::from("./tool_specs"));
        assert_eq!(config.max_body_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn seed_log_level_names_are_accepted() {
        let config = load_with(base().merge(("log_level", "WARNING"))).unwrap();
        assert_eq!(config.log_filter, "warn");
    }

    #[test]
    fn unknown_level_words_are_rejected_but_filters_pass() {
        let err = load_with(base().merge(("log_level", "loud"))).unwrap_err();
        assert!(err.message.contains("LOG_LEVEL"), "{}", err.message);
        let config = load_with(base().merge(("log_level", "info,mcp_gateway=debug"))).unwrap();
        assert_eq!(config.log_filter, "info,mcp_gateway=debug");
    }

    #[test]
    fn bad_bind_names_the_key_and_env_var() {
        let err = load_with(base().merge(("bind", "not-an-address"))).unwrap_err();
        assert!(err.message.contains("`bind`"), "{}", err.message);
        assert!(err.message.contains("GATEWAY_BIND"), "{}", err.message);
    }

    #[test]
    fn reload_accepts_seed_style_one() {
        let config = load_with(base().merge(("reload", "1"))).unwrap();
        assert!(config.reload);
        let err = load_with(base().merge(("reload", "maybe"))).unwrap_err();
        assert!(err.message.contains("reload"), "{}", err.message);
    }

    #[test]
    fn comma_lists_split_and_lowercase() {
        let config = load_with(base().merge(("allowed_hosts", "Gateway.Example.com, api.example.com"))).unwrap();
        assert_eq!(config.allowed_hosts, vec!["gateway.example.com", "api.example.com"]);
    }

    #[test]
    fn seed_keys_become_scoped_keys_and_public_binds_need_keys() {
        let config = load_with(base().merge(("flowchat_key", "fc-secret")).merge(("proxy_key", "px-secret"))).unwrap();
        let ids: Vec<&str> = config.keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, ["proxy", "flowchat"]);
        assert!(config.keys[1].has(&Scope::ToolsCall) && !config.keys[1].has(&Scope::Proxy));
        let err = load_with(base().merge(("bind", "0.0.0.0:8080"))).unwrap_err();
        assert!(err.message.contains("allow_anonymous"), "{}", err.message);
        assert!(load_with(base().merge(("bind", "0.0.0.0:8080")).merge(("allow_anonymous", true))).is_ok());
    }

    #[test]
    fn keys_are_checked() {
        let toml = r#"
            [[keys]]
            id = "ops"
            key_sha256 = "zz"
            scopes = ["admin"]
        "#;
        let err = load_with(base().merge(Toml::string(toml))).unwrap_err();
        assert!(err.message.contains("key_sha256"), "{}", err.message);
        let toml = "[[keys]]\nid = \"ops\"\nkey = \"k\"\nscopes = [\"root\"]";
        let err = load_with(base().merge(Toml::string(toml))).unwrap_err();
        assert!(err.message.contains("unknown scope"), "{}", err.message);
    }

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("200/minute").unwrap().unwrap().period, Duration::from_secs(60));
        assert_eq!(Rate::parse("off").unwrap(), None);
        assert!(Rate::parse("fast").is_err());
        assert!(Rate::parse("0/minute").is_err());
    }

    #[test]
    fn supabase_settings_are_checked_and_the_key_is_never_printed() {
        let config =
            load_with(base().merge(("supabase_url", "https://xyz.supabase.co/")).merge(("supabase_api_key", "k-123")))
                .unwrap();
        assert_eq!(config.supabase.url.as_deref(), Some("https://xyz.supabase.co"));
        assert!(!format!("{config:?}").contains("k-123"));
        let err = load_with(base().merge(("supabase_url", "xyz.supabase.co"))).unwrap_err();
        assert!(err.message.contains("SUPABASE_URL"), "{}", err.message);
    }

    #[test]
    fn workers_and_realtime_settings_default_validate_and_hide_the_key() {
        let config = load_with(base().merge(("data_dir", "/srv/gw"))).unwrap();
        assert_eq!(config.workers.dir, PathBuf::from("/srv/gw/sqlite3"));
        assert_eq!(config.workers.query_timeout, Duration::from_secs(5));
        assert_eq!(config.workers.summary_language, SummaryLanguage::French);
        assert_eq!(config.realtime.base_url, "https://api.openai.com");
        assert_eq!(config.realtime.model, "gpt-realtime");
        assert!(config.realtime.api_key.is_none());
        let config = load_with(
            base()
                .merge(("openai_api_key", "sk-secret-1"))
                .merge(("realtime_base_url", "http://127.0.0.1:9/"))
                .merge(("workers_summary_language", "EN")),
        )
        .unwrap();
        assert_eq!(config.realtime.base_url, "http://127.0.0.1:9");
        assert_eq!(config.workers.summary_language, SummaryLanguage::English);
        assert!(!format!("{config:?}").contains("sk-secret-1"));
        let err = load_with(base().merge(("realtime_secret_ttl_secs", 5))).unwrap_err();
        assert!(err.message.contains("realtime_secret_ttl_secs"), "{}", err.message);
        let err = load_with(base().merge(("workers_summary_language", "de"))).unwrap_err();
        assert!(err.message.contains("GATEWAY_WORKERS_SUMMARY_LANGUAGE"), "{}", err.message);
        let err = load_with(base().merge(("realtime_base_url", "ftp://x"))).unwrap_err();
        assert!(err.message.contains("REALTIME_BASE_URL"), "{}", err.message);
        let err = ConfigError::key("openai_api_key", "x");
        assert!(
            err.message.contains("OPENAI_API_KEY / AI_PORTAL_TOKEN"),
            "the seed aliases are named: {}",
            err.message
        );
    }

    #[test]
    fn worker_settings_are_checked_and_the_secret_is_never_printed() {
        let config = load_with(
            base()
                .merge(("database_worker_url", "http://db-worker:8001/"))
                .merge(("worker_auth_key", "shh-42"))
                .merge(("email_worker_url", "  ")),
        )
        .unwrap();
        assert_eq!(config.flowchat_workers.database.as_deref(), Some("http://db-worker:8001"));
        assert_eq!(config.flowchat_workers.email, None, "blank means unset");
        assert_eq!(config.flowchat_workers.auth_header, "X-FlowChat-Worker-Auth");
        assert!(!format!("{config:?}").contains("shh-42"));
        let err = load_with(base().merge(("storage_worker_url", "ftp://x"))).unwrap_err();
        assert!(err.message.contains("STORAGE_WORKER_URL"), "{}", err.message);
        let err = load_with(base().merge(("worker_auth_header", "bad header"))).unwrap_err();
        assert!(err.message.contains("WORKER_AUTH_HEADER"), "{}", err.message);
    }

    #[test]
    fn media_provider_settings_are_checked_and_secrets_never_printed() {
        let config = load_with(
            base()
                .merge(("elevenlabs_api_key", "xi-secret-1"))
                .merge(("hf_key", "kid-7:ksecret-9"))
                .merge(("elevenlabs_base_url", "https://api.eu.residency.elevenlabs.io/")),
        )
        .unwrap();
        assert_eq!(config.elevenlabs.base_url, "https://api.eu.residency.elevenlabs.io");
        assert_eq!(config.higgsfield.key_id.as_deref(), Some("kid-7"));
        assert_eq!(config.higgsfield.key_secret.as_deref(), Some("ksecret-9"));
        assert_eq!(config.media.public_base_url, "http://127.0.0.1:8080");
        assert!(config.media.download_enabled);
        let printed = format!("{config:?}");
        for secret in ["xi-secret-1", "kid-7", "ksecret-9"] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
        let err = load_with(base().merge(("hf_key", "no-colon"))).unwrap_err();
        assert!(err.message.contains("HF_KEY"), "{}", err.message);
        let err = load_with(base().merge(("higgsfield_base_url", "ftp://x"))).unwrap_err();
        assert!(err.message.contains("HIGGSFIELD_BASE_URL"), "{}", err.message);
        let off = load_with(base().merge(("storage_download_enabled", "false"))).unwrap();
        assert!(!off.media.download_enabled);
    }

    fn sftp_base() -> Figment {
        base()
            .merge(("storage_ftp_enabled", "true"))
            .merge(("ftp_host", "files.example.com"))
            .merge(("ftp_user", "media"))
            .merge(("ftp_password", " pw with spaces-83 "))
            .merge(("ftp_public_base_url", "https://cdn.example.com/media/"))
    }

    const FINGERPRINT: &str = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

    #[test]
    fn the_sftp_copy_needs_the_seed_settings_and_a_trusted_host_key() {
        assert!(load_with(base()).unwrap().media.sftp.is_none(), "off by default");
        let err = load_with(base().merge(("storage_ftp_enabled", "true"))).unwrap_err();
        assert!(err.message.contains("FTP_HOST") && err.message.contains("STORAGE_FTP_ENABLED"), "{}", err.message);
        let err = load_with(sftp_base()).unwrap_err();
        for named in ["FTP_HOST_KEY_SHA256", "FTP_KNOWN_HOSTS", "never accepts an unknown host key"] {
            assert!(err.message.contains(named), "{named}: {}", err.message);
        }
        let config = load_with(sftp_base().merge(("ftp_host_key_sha256", FINGERPRINT))).unwrap();
        let sftp = config.media.sftp.as_ref().unwrap();
        assert_eq!((sftp.host.as_str(), sftp.port, sftp.user.as_str()), ("files.example.com", 22, "media"));
        assert_eq!(sftp.password, " pw with spaces-83 ", "a password is used as written");
        assert_eq!(sftp.public_base_url, "https://cdn.example.com/media");
        assert_eq!(sftp.base_dir, "", "the login folder by default");
        assert_eq!(sftp.host_key_sha256.map(|d| d[0]), Some(0xe3), "SHA-256 of nothing starts e3 b0");
        assert_eq!((sftp.connect_timeout, sftp.upload_timeout), (Duration::from_secs(15), Duration::from_secs(300)));
        let printed = format!("{config:?}");
        assert!(!printed.contains("pw with spaces-83") && printed.contains("password_set: true"), "{printed}");
        let known = load_with(sftp_base().merge(("ftp_known_hosts", "/etc/ssh/ssh_known_hosts"))).unwrap();
        assert_eq!(known.media.sftp.unwrap().known_hosts, Some(PathBuf::from("/etc/ssh/ssh_known_hosts")));
    }

    #[test]
    fn sftp_values_are_checked_and_the_base_folder_normalised() {
        let with_key = || sftp_base().merge(("ftp_host_key_sha256", FINGERPRINT));
        for (dir, expected) in [("/srv/www/", "/srv/www"), ("/", "/"), ("//", "/"), ("media/", "media"), (" ", "")] {
            let config = load_with(with_key().merge(("ftp_base_dir", dir))).unwrap();
            assert_eq!(config.media.sftp.unwrap().base_dir, expected, "{dir:?}");
        }
        let cases = [
            ("ftp_host_key_sha256", "MD5:aa:bb", "FTP_HOST_KEY_SHA256"),
            ("ftp_host_key_sha256", "SHA256:short", "FTP_HOST_KEY_SHA256"),
            ("ftp_base_dir", "/srv/../etc", "FTP_BASE_DIR"),
            ("ftp_public_base_url", "ftp://files.example.com", "FTP_PUBLIC_BASE_URL"),
            ("ftp_host", "user@files.example.com", "FTP_HOST"),
        ];
        for (key, value, named) in cases {
            let err = load_with(with_key().merge((key, value))).unwrap_err();
            assert!(err.message.contains(named), "{key}={value}: {}", err.message);
        }
        for (key, named) in [("ftp_port", "FTP_PORT"), ("ftp_upload_timeout_secs", "GATEWAY_FTP_UPLOAD_TIMEOUT_SECS")] {
            let err = load_with(with_key().merge((key, 0))).unwrap_err();
            assert!(err.message.contains(named), "{key}=0: {}", err.message);
        }
        let padded = load_with(sftp_base().merge(("ftp_host_key_sha256", format!("{FINGERPRINT}=")))).unwrap();
        assert!(padded.media.sftp.unwrap().host_key_sha256.is_some(), "base64 padding is accepted");
    }

    #[test]
    fn llm_and_supabase_mcp_settings_are_checked_and_secrets_never_printed() {
        let config = load_with(
            base()
                .merge(("llm_base_url", "http://localhost:11434/v1/"))
                .merge(("llm_api_key", "sk-llm-123"))
                .merge(("supabase_pat", "sbp-456"))
                .merge(("supabase_mcp_features", "database, docs")),
        )
        .unwrap();
        assert_eq!(config.llm.base_url.as_deref(), Some("http://localhost:11434/v1"));
        assert_eq!((config.llm.max_rounds, config.llm.timeout), (5, Duration::from_secs(120)));
        assert_eq!(config.supabase_mcp.url, "https://mcp.supabase.com/mcp");
        assert_eq!(config.supabase_mcp.features, ["database", "docs"]);
        let printed = format!("{config:?}");
        assert!(!printed.contains("sk-llm-123") && !printed.contains("sbp-456"), "{printed}");
        let err = load_with(base().merge(("llm_base_url", "localhost:11434"))).unwrap_err();
        assert!(err.message.contains("LLM_ENDPOINT") && err.message.contains("LLM_BASE_URL"), "{}", err.message);
        let err = load_with(base().merge(("llm_max_rounds", 0))).unwrap_err();
        assert!(err.message.contains("GATEWAY_LLM_MAX_ROUNDS"), "{}", err.message);
    }

    #[test]
    fn template_env_allows_matching_names_and_never_the_gateways_secrets() {
        let config = load_with(base().merge(("template_env", "INVENTORY_*, BILLING_URL,*_KEY"))).unwrap();
        let env = &config.template_env;
        assert!(env.check("INVENTORY_URL").is_ok());
        assert!(env.check("BILLING_URL").is_ok());
        let refused = env.check("BILLING_TOKEN").unwrap_err();
        assert!(refused.contains("`BILLING_*`") && refused.contains("GATEWAY_TEMPLATE_ENV"), "{refused}");
        assert!(refused.contains("`INVENTORY_*`, `BILLING_URL`, `*_KEY`"), "the patterns in force: {refused}");
        // `*_KEY` matches these, yet the gateway's own secrets stay out of reach, whatever their case.
        for secret in ["SUPABASE_API_KEY", "ELEVENLABS_API_KEY", "GATEWAY_OPENAI_API_KEY", "llm_api_key"] {
            let err = env.check(secret).unwrap_err();
            assert!(err.contains("the gateway's own secret"), "{secret}: {err}");
        }
        let open = TemplateEnv::new(&["*"]);
        for secret in ["SUPABASE_PAT", "HF_KEY", "X_PROXY_KEY", "FLOWCHAT_MCP_KEY", "WORKER_AUTH_KEY", "GATEWAY_KEYS"] {
            assert!(open.check(secret).is_err(), "{secret} is readable through `*`");
        }
        assert!(open.check("AI_PORTAL_TOKEN").unwrap_err().contains("`openai_api_key`"), "aliases count too");
        assert!(open.check("SUPABASE_URL").is_ok(), "not a secret");
        assert!(TemplateEnv::default().check("INVENTORY_URL").unwrap_err().contains("none is set"));
        let err = load_with(base().merge(("template_env", "INVENTORY-*"))).unwrap_err();
        assert!(err.message.contains("GATEWAY_TEMPLATE_ENV"), "{}", err.message);
    }

    #[test]
    fn every_setting_that_looks_like_a_secret_is_one_templates_cannot_read() {
        let known = known_keys();
        for key in &known {
            let looks_secret =
                key == "keys" || ["_key", "_secret", "_pat", "_token", "_password"].iter().any(|suffix| key.ends_with(suffix));
            assert_eq!(SECRET_SETTINGS.contains(&key.as_str()), looks_secret, "{key}: list it in SECRET_SETTINGS");
        }
        for key in SECRET_SETTINGS {
            assert!(known.iter().any(|k| k == key), "{key} is not a setting");
        }
    }

    #[test]
    fn every_setting_is_a_known_key() {
        let known = known_keys();
        for key in ["bind", "tool_specs", "keys", "instructions", "shutdown_grace_secs", "category_rate_limits"] {
            assert!(known.iter().any(|k| k == key), "{key} missing from {known:?}");
        }
    }

    #[test]
    fn unknown_toml_keys_are_rejected() {
        let err = load_with(base().merge(Toml::string("bnid = \"x\""))).unwrap_err();
        assert!(err.message.contains("bnid"), "{}", err.message);
    }
}
