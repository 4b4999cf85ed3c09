//! Stage one of loading: the raw, `deny_unknown_fields` settings as people write them (TOML keys, `GATEWAY_*`
//! variables), their defaults in one place, the seeds' environment names that alias them, and the lenient
//! deserializers (`1`/`yes` booleans, comma lists) that environment variables need. Nothing here is checked: that
//! is the sections' job.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// Seed environment names and the config key each is an alias of.
pub(super) const SEED_ALIASES: &[(&str, &str)] = &[
    ("LOG_LEVEL", "log_level"),
    ("LOG_FORMAT", "log_format"),
    ("AUTO_RELOAD_TOOLS", "reload"),
    ("ENVIRONMENT", "environment"),
    ("RATE_LIMIT", "rate_limit"),
    ("X_PROXY_KEY", "proxy_key"),
    ("FLOWCHAT_MCP_KEY", "flowchat_key"),
    ("SUPABASE_URL", "supabase_url"),
    ("REDIS_URL", "redis_url"),
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
    ("STORAGE_FTP_ENABLED", "storage_ftp_enabled"),
    ("FTP_HOST", "ftp_host"),
    ("FTP_PORT", "ftp_port"),
    ("FTP_USER", "ftp_user"),
    ("FTP_PASSWORD", "ftp_password"),
    ("FTP_BASE_DIR", "ftp_base_dir"),
    ("FTP_PUBLIC_BASE_URL", "ftp_public_base_url"),
    // The name the OAuth text uses for the public URL.
    ("GATEWAY_PUBLIC_URL", "public_base_url"),
    // Not the seed's: how the SFTP server's host key is trusted, named like the seed's FTP_* family.
    ("FTP_KNOWN_HOSTS", "ftp_known_hosts"),
    ("FTP_HOST_KEY_SHA256", "ftp_host_key_sha256"),
    // The AWS SDKs' names, so an environment set up for them (or for MinIO, Garage, Supabase Storage) works as is.
    ("AWS_ENDPOINT_URL", "s3_endpoint"),
    ("AWS_REGION", "s3_region"),
    ("AWS_ACCESS_KEY_ID", "s3_access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "s3_secret_access_key"),
];

/// The settings that hold secrets. Templates (`{{env.NAME}}` in specs) can never read the environment variables
/// these are read from, whatever `template_env` allows.
pub(super) const SECRET_SETTINGS: &[&str] = &[
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
    "request_state_secret",
    "redis_url",
    "s3_access_key_id",
    "s3_secret_access_key",
    "audit_url",
];

/// Settings whose environment values are strings exactly as written (a password may look like a number or a list).
pub(super) const VERBATIM_ENV: &[&str] = &["ftp_user", "ftp_password", "s3_access_key_id", "s3_secret_access_key"];

/// Every environment variable a setting is read from: `GATEWAY_{KEY}`, then its seed aliases.
pub(super) fn env_names(key: &str) -> Vec<String> {
    let mut names = vec![format!("GATEWAY_{}", key.to_ascii_uppercase())];
    names.extend(SEED_ALIASES.iter().filter(|(_, k)| *k == key).map(|(env, _)| (*env).to_owned()));
    names
}

/// The raw settings as written by people. Every field's doc names its env var and default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    /// `GATEWAY_BIND`, default `127.0.0.1:8080`.
    pub(super) bind: String,
    /// `GATEWAY_TOOL_SPECS`, default `./tool_specs`.
    pub(super) tool_specs: PathBuf,
    /// `GATEWAY_DATA_DIR`, default `./data`.
    pub(super) data_dir: PathBuf,
    /// `GATEWAY_ENVIRONMENT` / `ENVIRONMENT`, default `development`.
    pub(super) environment: String,
    /// `GATEWAY_LOG_LEVEL` / `LOG_LEVEL`: a level or a tracing filter directive, default `info`.
    pub(super) log_level: String,
    /// `GATEWAY_LOG_FORMAT` / `LOG_FORMAT`: `text` or `json`, default `text`.
    pub(super) log_format: String,
    /// `GATEWAY_RELOAD` / `AUTO_RELOAD_TOOLS`: watch the specs folder and reload on change, default false.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) reload: bool,
    /// `GATEWAY_MAX_BODY_BYTES`, default 4 MiB.
    pub(super) max_body_bytes: u64,
    /// `GATEWAY_ALLOWED_HOSTS`: extra Host names (comma list; `*` allows any), loopback always allowed.
    #[serde(deserialize_with = "string_list")]
    pub(super) allowed_hosts: Vec<String>,
    /// `GATEWAY_ALLOWED_ORIGINS`: extra browser origins (comma list; `*` allows any), loopback always allowed.
    #[serde(deserialize_with = "string_list")]
    pub(super) allowed_origins: Vec<String>,
    /// `GATEWAY_PAGE_SIZE`: items per `tools/list` page, default 100.
    pub(super) page_size: usize,
    /// `GATEWAY_CALL_TIMEOUT_SECS`: default deadline of one tool call, default 300.
    pub(super) call_timeout_secs: u64,
    /// `GATEWAY_SESSION_IDLE_SECS`: an MCP session unused this long is forgotten, default 3600.
    pub(super) session_idle_secs: u64,
    /// `GATEWAY_REQUEST_STATE_TTL_SECS`: how long the `requestState` of a 2026-07-28 multi-round-trip request
    /// stays valid (the time a person has to answer), default 600.
    pub(super) request_state_ttl_secs: u64,
    /// `GATEWAY_REQUEST_STATE_SECRET`: the key that seals `requestState` (set the same on every replica),
    /// default a random key kept in `{data_dir}/request_state.key`.
    pub(super) request_state_secret: Option<String>,
    /// `GATEWAY_MAX_SESSIONS`: live MCP sessions at most, default 10000.
    pub(super) max_sessions: usize,
    /// `GATEWAY_SSE_KEEPALIVE_SECS`: comment line sent on idle SSE streams, default 15.
    pub(super) sse_keepalive_secs: u64,
    /// `GATEWAY_INSTRUCTIONS`: text returned as `instructions` by `initialize`, default none.
    pub(super) instructions: Option<String>,
    /// `GATEWAY_TEMPLATE_ENV`: `*`-patterns of the environment variables `{{env.NAME}}` templates may read
    /// (comma list, e.g. `INVENTORY_*`), default none; the gateway's own secrets never.
    #[serde(deserialize_with = "string_list")]
    pub(super) template_env: Vec<String>,
    /// `GATEWAY_KEYS` / TOML `[[keys]]`: API keys `{id, key | key_sha256, scopes, allow?, deny?}`.
    pub(super) keys: Vec<RawKey>,
    /// `X_PROXY_KEY` (seed 002): becomes key `proxy` with scope `proxy`.
    pub(super) proxy_key: Option<String>,
    /// `FLOWCHAT_MCP_KEY` (seed 002): becomes key `flowchat` with scopes `tools:list`, `tools:call`.
    pub(super) flowchat_key: Option<String>,
    /// `GATEWAY_ALLOW_ANONYMOUS`: serve without keys on a non-loopback address, default false.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) allow_anonymous: bool,
    /// `GATEWAY_RATE_LIMIT` / `RATE_LIMIT`: per key (per client IP when anonymous), `N/second|minute|hour` or
    /// `off`, default `200/minute`.
    pub(super) rate_limit: String,
    /// `GATEWAY_CATEGORY_RATE_LIMITS` / TOML `[category_rate_limits]`: per key and tool category, e.g.
    /// `{write = "20/minute"}`.
    pub(super) category_rate_limits: BTreeMap<String, String>,
    /// `GATEWAY_TRUSTED_PROXIES`: CIDRs whose `X-Forwarded-For` is believed (comma list), default none.
    #[serde(deserialize_with = "string_list")]
    pub(super) trusted_proxies: Vec<String>,
    /// `GATEWAY_MAX_CONCURRENT_CALLS`: tool calls running at once, default 256.
    pub(super) max_concurrent_calls: usize,
    /// `GATEWAY_CALL_QUEUE`: calls waiting for a slot before new ones get 503, default 1024.
    pub(super) call_queue: usize,
    /// `GATEWAY_MAX_STREAMS`: open SSE streams at most, default 1000.
    pub(super) max_streams: usize,
    /// `GATEWAY_REQUEST_TIMEOUT_SECS`: deadline of requests that do not run a tool, default 30.
    pub(super) request_timeout_secs: u64,
    /// `GATEWAY_HEADER_READ_TIMEOUT_SECS`: a connection must send a complete request head this soon after it
    /// opens or starts a new request, default 10.
    pub(super) header_read_timeout_secs: u64,
    /// `GATEWAY_IDLE_TIMEOUT_SECS`: a keep-alive connection with no request for this long is closed, default 30.
    pub(super) idle_timeout_secs: u64,
    /// `GATEWAY_UPSTREAM_MAX_ANSWER_BYTES`: largest upstream answer read (JSON APIs), default 16 MiB.
    pub(super) upstream_max_answer_bytes: u64,
    /// `GATEWAY_MAX_JSON_DEPTH`: deepest nesting accepted in a request body, default 64.
    pub(super) max_json_depth: usize,
    /// `GATEWAY_AUDIT`: record every tool call in `{data_dir}/audit.db`, default true.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) audit: bool,
    /// `GATEWAY_AUDIT_ARGUMENTS`: also store call arguments (not only their hash), default false.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) audit_arguments: bool,
    /// `GATEWAY_AUDIT_RETENTION_DAYS`: audit rows older than this are deleted, default 30.
    pub(super) audit_retention_days: u32,
    /// `GATEWAY_AUDIT_URL`: `postgres://user:password@host:port/db`, the audit log every replica writes and reads;
    /// default none (SQLite in `{data_dir}/audit.db`).
    pub(super) audit_url: Option<String>,
    /// `GATEWAY_SHUTDOWN_GRACE_SECS`: on SIGTERM, how long in-flight requests may finish, default 30.
    pub(super) shutdown_grace_secs: u64,
    /// `GATEWAY_PROVIDER_CONCURRENCY`: requests in flight per upstream provider, default 64.
    pub(super) provider_concurrency: usize,
    /// TOML `[provider_concurrency_overrides]` (env `GATEWAY_PROVIDER_CONCURRENCY_OVERRIDES="{elevenlabs=4}"`):
    /// per-provider caps replacing the default, default none.
    pub(super) provider_concurrency_overrides: BTreeMap<String, usize>,
    /// `GATEWAY_REDIS_URL` / `REDIS_URL`: `redis://[user:password@]host:port[/db]`, the shared state of replicas
    /// (rate-limit budgets); default none (every budget kept in this process).
    pub(super) redis_url: Option<String>,
    /// `SUPABASE_URL`: the Supabase project URL for `supabase_rpc` tools, default none.
    pub(super) supabase_url: Option<String>,
    /// `SUPABASE_API_KEY`: the key sent as `apikey` and bearer to PostgREST, default none.
    pub(super) supabase_api_key: Option<String>,
    /// `DATABASE_WORKER_URL`: the FlowChat database worker (validation + persistence), default none.
    pub(super) database_worker_url: Option<String>,
    /// `DOCUMENT_WORKER_URL`: the FlowChat document worker (PDF generation), default none.
    pub(super) document_worker_url: Option<String>,
    /// `STORAGE_WORKER_URL`: the FlowChat storage worker (uploads), default none.
    pub(super) storage_worker_url: Option<String>,
    /// `EMAIL_WORKER_URL`: the FlowChat email worker, default none.
    pub(super) email_worker_url: Option<String>,
    /// `WORKER_AUTH_KEY`: the shared secret sent to every worker, default none.
    pub(super) worker_auth_key: Option<String>,
    /// `WORKER_AUTH_HEADER`: the header that carries it, default `X-FlowChat-Worker-Auth`.
    pub(super) worker_auth_header: String,
    /// `GATEWAY_WORKERS_DIR`: the folder scanned for `worker_*.db`, default `{data_dir}/sqlite3`.
    pub(super) workers_dir: Option<PathBuf>,
    /// `GATEWAY_WORKERS_QUERY_TIMEOUT_MS`: deadline of one worker query, enforced inside SQLite, default 5000.
    pub(super) workers_query_timeout_ms: u64,
    /// `GATEWAY_WORKERS_SUMMARY_LANGUAGE`: language of the spoken query summary, `fr` or `en`, default `fr`.
    pub(super) workers_summary_language: String,
    /// `GATEWAY_REALTIME_BASE_URL` / `REALTIME_BASE_URL`: the Realtime provider, default `https://api.openai.com`.
    pub(super) realtime_base_url: String,
    /// `GATEWAY_OPENAI_API_KEY` / `OPENAI_API_KEY` / `AI_PORTAL_TOKEN`: the long-lived key that mints Realtime
    /// client secrets; it never leaves the server. Default none (the realtime config answers `not_configured`).
    pub(super) openai_api_key: Option<String>,
    /// `GATEWAY_REALTIME_MODEL` / `REALTIME_MODEL`: the Realtime model, default `gpt-realtime`.
    pub(super) realtime_model: String,
    /// `GATEWAY_REALTIME_SECRET_TTL_SECS`: lifetime of a minted client secret (10 to 7200), default 600.
    pub(super) realtime_secret_ttl_secs: u64,
    /// `GATEWAY_REALTIME_TRANSCRIPTION_MODEL`: the model transcribing the caller's speech, default
    /// `gpt-4o-mini-transcribe`.
    pub(super) realtime_transcription_model: String,
    /// `ELEVENLABS_API_KEY`: the key sent as `xi-api-key` to ElevenLabs, default none.
    pub(super) elevenlabs_api_key: Option<String>,
    /// `ELEVENLABS_BASE_URL`: ElevenLabs' API host (regional hosts exist), default `https://api.elevenlabs.io`.
    pub(super) elevenlabs_base_url: String,
    /// `HIGGSFIELD_API_KEY`: the Higgsfield key id, default none.
    pub(super) higgsfield_api_key: Option<String>,
    /// `HIGGSFIELD_API_SECRET`: the Higgsfield key secret, default none.
    pub(super) higgsfield_api_secret: Option<String>,
    /// `HF_KEY`: `{key id}:{key secret}` in one value (higgsfield-client's name), used when the two above are
    /// unset, default none.
    pub(super) hf_key: Option<String>,
    /// `HIGGSFIELD_BASE_URL`: Higgsfield's API host, default `https://platform.higgsfield.ai`.
    pub(super) higgsfield_base_url: String,
    /// `STORAGE_DOWNLOAD_ENABLED` (seed 004): download finished media into `{data_dir}/Media`, default true;
    /// false keeps the provider's URL instead.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) storage_download_enabled: bool,
    /// `GATEWAY_INLINE_MEDIA_MAX_BYTES`: media up to this size is also inlined as an MCP `image`/`audio`
    /// block, default 1 MiB (0 never inlines).
    pub(super) inline_media_max_bytes: u64,
    /// `GATEWAY_MEDIA_MAX_DOWNLOAD_BYTES`: largest media file downloaded or stored, default 512 MiB.
    pub(super) media_max_download_bytes: u64,
    /// `GATEWAY_MEDIA_URL`: `s3://bucket[/prefix]` keeps stored media in S3-compatible object storage (shared by
    /// replicas), default none (the local folder `{data_dir}/Media`).
    pub(super) media_url: Option<String>,
    /// `GATEWAY_S3_ENDPOINT` / `AWS_ENDPOINT_URL`: the S3 API's URL (MinIO, Garage, Supabase Storage's
    /// `https://{ref}.supabase.co/storage/v1/s3`), default AWS's `https://s3.{region}.amazonaws.com`.
    pub(super) s3_endpoint: Option<String>,
    /// `GATEWAY_S3_REGION` / `AWS_REGION`: the region requests are signed for, default `us-east-1`.
    pub(super) s3_region: String,
    /// `GATEWAY_S3_ACCESS_KEY_ID` / `AWS_ACCESS_KEY_ID`: the access key id, default none.
    pub(super) s3_access_key_id: Option<String>,
    /// `GATEWAY_S3_SECRET_ACCESS_KEY` / `AWS_SECRET_ACCESS_KEY`: the secret access key, default none; never
    /// printed or logged.
    pub(super) s3_secret_access_key: Option<String>,
    /// `GATEWAY_S3_PATH_STYLE`: address the bucket as `{endpoint}/{bucket}` (true) or `{bucket}.{endpoint host}`
    /// (false), default true with an endpoint, false for AWS.
    #[serde(deserialize_with = "optional_bool")]
    pub(super) s3_path_style: Option<bool>,
    /// `GATEWAY_S3_TIMEOUT_SECS`: how long S3 may take to answer a request, and the longest silence in a
    /// transfer, default 15.
    pub(super) s3_timeout_secs: u64,
    /// `GATEWAY_S3_UPLOAD_TIMEOUT_SECS`: the whole upload of one stored file, default 300.
    pub(super) s3_upload_timeout_secs: u64,
    /// `GATEWAY_PUBLIC_BASE_URL` (or `GATEWAY_PUBLIC_URL`): the gateway's public URL, used in asset links and
    /// as the OAuth resource (`{url}/mcp`), default `http://{bind}`.
    pub(super) public_base_url: Option<String>,
    /// `GATEWAY_OAUTH_ISSUER`: outside OAuth issuers whose access tokens are accepted beside API keys (comma
    /// list of issuer URLs), default none.
    #[serde(deserialize_with = "string_list", alias = "oauth_issuer")]
    pub(super) oauth_issuers: Vec<String>,
    /// `GATEWAY_OAUTH`: `builtin` runs the gateway's own authorization server (issuer = the public URL), whose
    /// tokens stand for an API key the person signs in with; default off.
    pub(super) oauth: String,
    /// `GATEWAY_OAUTH_AUDIENCE`: the audience tokens must carry, default the resource (`{public URL}/mcp`).
    pub(super) oauth_audience: Option<String>,
    /// `GATEWAY_OAUTH_SCOPE_CLAIM`: the claim holding a token's scopes, default `scope` (`scp` is read too).
    pub(super) oauth_scope_claim: String,
    /// `GATEWAY_OAUTH_CALLER_CLAIM`: the claim naming the caller in logs and the audit log, default `sub`.
    pub(super) oauth_caller_claim: String,
    /// `GATEWAY_OAUTH_JWKS_REFRESH_SECS`: a token naming an unknown key id fetches its issuer's keys again at
    /// most this often (forged key ids cost one fetch), default 30.
    pub(super) oauth_jwks_refresh_secs: u64,
    /// `GATEWAY_JOB_POLL_INITIAL_MS`: first wait between two polls of a media job, default 2000.
    pub(super) job_poll_initial_ms: u64,
    /// `GATEWAY_JOB_POLL_MAX_MS`: longest wait between two polls (the wait doubles up to it), default 15000.
    pub(super) job_poll_max_ms: u64,
    /// `GATEWAY_JOB_MAX_AGE_SECS`: a job unfinished this long after submission is marked failed, default 3600.
    pub(super) job_max_age_secs: u64,
    /// `GATEWAY_JOB_LEASE_SECS`: with `GATEWAY_REDIS_URL`, how long a replica's claim on a job or tool task lasts
    /// unless it renews it; a replica that dies lets another take its jobs over after this long, default 30.
    pub(super) job_lease_secs: u64,
    /// `SUPABASE_MCP_URL`: Supabase's MCP server, target of the `/mcp/...` passthrough, default
    /// `https://mcp.supabase.com/mcp`.
    pub(super) supabase_mcp_url: String,
    /// `SUPABASE_PAT`: the personal access token the passthrough sends as its bearer, default none (the
    /// passthrough then answers 503 `not_configured`).
    pub(super) supabase_pat: Option<String>,
    /// `SUPABASE_PROJECT_REF`: sent as `project_ref=` to the Supabase MCP server, default none.
    pub(super) supabase_project_ref: Option<String>,
    /// `SUPABASE_MCP_READ_ONLY`: send `read_only=true` to the Supabase MCP server, default false.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) supabase_mcp_read_only: bool,
    /// `SUPABASE_MCP_FEATURES`: feature groups sent as `features=` (comma list), default none.
    #[serde(deserialize_with = "string_list")]
    pub(super) supabase_mcp_features: Vec<String>,
    /// `LLM_BASE_URL` / `LLM_ENDPOINT`: an OpenAI-compatible server, with or without `/v1`
    /// (`http://localhost:11434/v1` for Ollama), default none.
    pub(super) llm_base_url: Option<String>,
    /// `LLM_API_KEY`: bearer key for the LLM server, default none (local servers need none).
    pub(super) llm_api_key: Option<String>,
    /// `LLM_MODEL`: the model used when a call names none, default none.
    pub(super) llm_model: Option<String>,
    /// `GATEWAY_LLM_TIMEOUT_SECS`: per-request timeout of one chat completion, default 120.
    pub(super) llm_timeout_secs: u64,
    /// `GATEWAY_LLM_MAX_ROUNDS`: chat completions `call_llm` may make in one call (tool rounds included),
    /// default 5.
    pub(super) llm_max_rounds: u32,
    /// `STORAGE_FTP_ENABLED` (seed 004): also upload every stored asset over SFTP, default false. Needs
    /// `ftp_host`, `ftp_user`, `ftp_password`, `ftp_public_base_url` and a host key setting.
    #[serde(deserialize_with = "flexible_bool")]
    pub(super) storage_ftp_enabled: bool,
    /// `FTP_HOST` (seed 004): the SFTP server's host name or address, default none.
    pub(super) ftp_host: Option<String>,
    /// `FTP_PORT` (seed 004): the SFTP server's port, default 22.
    pub(super) ftp_port: u16,
    /// `FTP_USER` (seed 004): the login name, default none.
    pub(super) ftp_user: Option<String>,
    /// `FTP_PASSWORD` (seed 004): the login password, default none; never printed or logged.
    pub(super) ftp_password: Option<String>,
    /// `FTP_BASE_DIR` (seed 004): the remote folder uploads go under (`{base}/{project}/{type}/{file}`), default
    /// empty (the login folder).
    pub(super) ftp_base_dir: String,
    /// `FTP_PUBLIC_BASE_URL` (seed 004): the public http(s) URL of `ftp_base_dir`, default none.
    pub(super) ftp_public_base_url: Option<String>,
    /// `FTP_KNOWN_HOSTS`: an OpenSSH `known_hosts` file listing the server's host key, default none.
    pub(super) ftp_known_hosts: Option<PathBuf>,
    /// `FTP_HOST_KEY_SHA256`: the server's host key fingerprint as `ssh-keygen -l` prints it (`SHA256:...`),
    /// default none. With `ftp_known_hosts`, a key either one trusts is accepted; without both, no key is.
    pub(super) ftp_host_key_sha256: Option<String>,
    /// `GATEWAY_FTP_CONNECT_TIMEOUT_SECS`: connecting, the SSH handshake, the login and each SFTP request, and
    /// how long the server may stay silent, default 15.
    pub(super) ftp_connect_timeout_secs: u64,
    /// `GATEWAY_FTP_UPLOAD_TIMEOUT_SECS`: the whole upload of one file, default 300.
    pub(super) ftp_upload_timeout_secs: u64,
}

/// One key as written in configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    pub(super) id: String,
    pub(super) key: Option<String>,
    pub(super) key_sha256: Option<String>,
    #[serde(default)]
    pub(super) scopes: Vec<String>,
    #[serde(default)]
    pub(super) allow: Vec<String>,
    #[serde(default)]
    pub(super) deny: Vec<String>,
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
            request_state_ttl_secs: 600,
            request_state_secret: None,
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
            audit_url: None,
            shutdown_grace_secs: 30,
            provider_concurrency: 64,
            provider_concurrency_overrides: BTreeMap::new(),
            redis_url: None,
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
            media_url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_path_style: None,
            s3_timeout_secs: 15,
            s3_upload_timeout_secs: 300,
            oauth_issuers: Vec::new(),
            oauth: String::new(),
            oauth_audience: None,
            oauth_scope_claim: "scope".into(),
            oauth_caller_claim: "sub".into(),
            oauth_jwks_refresh_secs: 30,
            job_poll_initial_ms: 2000,
            job_poll_max_ms: 15_000,
            job_max_age_secs: 3600,
            job_lease_secs: 30,
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
        }
    }
}

/// The names of every setting, from the raw struct itself (so the list cannot drift).
pub(super) fn known_keys() -> Vec<String> {
    match serde_json::to_value(RawConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
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

/// [`flexible_bool`] for a setting whose default depends on others (unset: `None`).
fn optional_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    struct Flexible(#[serde(deserialize_with = "flexible_bool")] bool);
    Ok(Option::<Flexible>::deserialize(deserializer)?.map(|Flexible(value)| value))
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
