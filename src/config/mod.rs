//! Typed configuration, loaded in two stages.
//!
//! Stage one deserializes a raw, `deny_unknown_fields` struct with figment, layered (lowest first):
//! built-in defaults < an optional TOML file (`--config PATH` or `GATEWAY_CONFIG`) < `GATEWAY_*` environment
//! variables < the seeds' environment names (`LOG_LEVEL`, `AUTO_RELOAD_TOOLS`, ...), which keep working as
//! aliases. Stage two validates the raw values into [`Config`]; any error names the key and where it came from.
//! Relative paths are kept as written and so resolve against the working directory.
//!
//! This module only reads and checks settings; it never opens files, sockets or clients.
//!
//! The module is split by concern: `raw` (the raw struct, its defaults, the seeds' aliases), one file per typed
//! section (`security`, `limits`, `template_env`, `providers`), `values` (shared checks) and `secret` (the type
//! every secret setting has, so none can be printed). Each section validates itself from the raw settings.

mod limits;
mod media_store;
mod oauth;
mod providers;
mod raw;
mod secret;
mod security;
mod template_env;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

pub use limits::LimitSettings;
pub use media_store::S3Settings;
pub use oauth::OAuthSettings;
pub use providers::{
    ElevenLabsSettings, FlowChatWorkerSettings, HiggsfieldSettings, JobSettings, LlmSettings, MediaSettings,
    RealtimeSettings, SftpSettings, SummaryLanguage, SupabaseMcpSettings, SupabaseSettings, VoiceWorkersSettings,
};
use raw::{RawConfig, SEED_ALIASES, VERBATIM_ENV, env_names, known_keys};
pub use secret::{ExposeOption, Secret};
pub use security::{Rate, SecuritySettings};
pub use template_env::TemplateEnv;
use values::normalize_log_level;

/// A configuration problem, naming the key and, when known, the source that set it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {message}")]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    pub(super) fn key(key: &str, message: impl std::fmt::Display) -> Self {
        Self { message: format!("`{key}` ({}): {message}", env_names(key).join(" / ")) }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        Self { message: messages.join("; ") }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The audit log: whether every call is recorded, with what, for how long.
#[derive(Debug, Clone, Copy)]
pub struct AuditSettings {
    /// Record every tool call (in `{data_dir}/audit.db`, or on PostgreSQL with `audit_url`).
    pub enabled: bool,
    /// Store call arguments, not only their hash.
    pub arguments: bool,
    /// Rows older than this many days are deleted.
    pub retention_days: u32,
}

/// The validated configuration the application uses: the server's own settings, then one typed section per
/// concern.
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
    /// Items per `tools/list` page.
    pub page_size: usize,
    /// Returned as `instructions` by `initialize`.
    pub instructions: Option<String>,
    /// On SIGTERM, how long in-flight requests may finish.
    pub shutdown_grace: Duration,
    /// `GATEWAY_*` environment variables that name no setting; reported at start, otherwise ignored.
    pub ignored_env: Vec<String>,
    /// The environment variables spec templates may read.
    pub template_env: TemplateEnv,
    /// Keys, rate limits, trusted proxies, allowed hosts and origins.
    pub security: SecuritySettings,
    /// Sizes, deadlines, concurrency, sessions, streams, upstream answers.
    pub limits: LimitSettings,
    pub audit: AuditSettings,
    /// Outside OAuth issuers and the built-in authorization server whose tokens are accepted; `None`: API keys
    /// only.
    pub oauth: Option<OAuthSettings>,
    /// `GATEWAY_REDIS_URL`: where replicas share their rate-limit budgets; `None`: each process keeps its own.
    pub redis_url: Option<Secret>,
    /// `GATEWAY_AUDIT_URL`: the audit log on PostgreSQL, shared by replicas; `None`: SQLite in the data dir.
    pub audit_url: Option<Secret>,
    /// Supabase (PostgREST) for `supabase_rpc` tools; `None` members make those tools answer `not_configured`.
    pub supabase: SupabaseSettings,
    /// The FlowChat worker services for `worker` tools.
    pub flowchat_workers: FlowChatWorkerSettings,
    /// The voice workers: where their databases are and how queries run.
    pub voice_workers: VoiceWorkersSettings,
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
            // `GATEWAY_PUBLIC_URL` and the like: aliases of a setting, read below.
            .filter(|name| !SEED_ALIASES.iter().any(|(alias, _)| alias == name))
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
    /// Stage two: the server's own settings here, then each section from the raw settings.
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
        if self.page_size == 0 {
            return Err(ConfigError::key("page_size", "must be greater than 0"));
        }
        if self.environment.trim().is_empty() {
            return Err(ConfigError::key("environment", "must not be empty"));
        }
        let security = SecuritySettings::validate(&self, bind)?;
        let limits = LimitSettings::validate(&self)?;
        let template_env = TemplateEnv::validate(&self)?;
        let providers = providers::Providers::validate(&self, bind)?;
        let oauth = OAuthSettings::validate(&self, &providers.media.public_base_url)?;
        if oauth.as_ref().is_some_and(|o| o.builtin_issuer.is_some()) && security.keys.is_empty() {
            return Err(ConfigError::key("oauth", "`builtin` signs people in with an API key: configure `keys` too"));
        }
        let redis_url = Secret::from_setting(self.redis_url.clone());
        if let Some(url) = &redis_url
            && !url.expose().starts_with("redis://")
        {
            return Err(ConfigError::key(
                "redis_url",
                "must be a `redis://` URL (TLS `rediss://` is not supported yet)",
            ));
        }
        let audit_url = Secret::from_setting(self.audit_url.clone());
        if let Some(url) = &audit_url
            && !["postgres://", "postgresql://"].iter().any(|scheme| url.expose().starts_with(scheme))
        {
            return Err(ConfigError::key("audit_url", "must be a `postgres://` or `postgresql://` URL"));
        }
        Ok(Config {
            redis_url,
            audit_url,
            bind,
            environment: self.environment.to_ascii_lowercase(),
            log_filter,
            log_format,
            reload: self.reload,
            page_size: self.page_size,
            instructions: self.instructions.filter(|s| !s.trim().is_empty()),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            ignored_env: Vec::new(),
            template_env,
            security,
            limits,
            audit: AuditSettings {
                enabled: self.audit,
                arguments: self.audit_arguments,
                retention_days: self.audit_retention_days,
            },
            oauth,
            supabase: providers.supabase,
            supabase_mcp: providers.supabase_mcp,
            flowchat_workers: providers.flowchat_workers,
            voice_workers: providers.voice_workers,
            realtime: providers.realtime,
            elevenlabs: providers.elevenlabs,
            higgsfield: providers.higgsfield,
            media: providers.media,
            jobs: providers.jobs,
            llm: providers.llm,
            tool_specs: self.tool_specs,
            data_dir: self.data_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::raw::SECRET_SETTINGS;
    use super::*;
    use crate::auth::Scope;

    fn load_with(figment: Figment) -> Result<Config, ConfigError> {
        Config::from_figment(&figment)
    }

    fn base() -> Figment {
        Figment::from(Serialized::defaults(RawConfig::default()))
    }

    #[test]
    fn the_audit_url_must_be_a_postgres_url() {
        assert!(load_with(base()).unwrap().audit_url.is_none(), "SQLite by default");
        for url in ["postgres://gw:pw@db:5432/audit", "postgresql://db/audit"] {
            let config = load_with(base().merge(("audit_url", url))).unwrap();
            assert_eq!(config.audit_url.as_ref().map(Secret::expose), Some(url));
        }
        let err = load_with(base().merge(("audit_url", "mysql://gw:pw@db/audit"))).unwrap_err();
        assert!(err.message.contains("postgres://") && !err.message.contains(":pw@"), "{}", err.message);
    }

    #[test]
    fn defaults_bind_loopback_8080() {
        let config = load_with(base()).unwrap();
        assert_eq!(config.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.tool_specs, PathBuf::from("./tool_specs"));
        assert_eq!(config.limits.max_body_bytes, 4 * 1024 * 1024);
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
        assert_eq!(config.security.allowed_hosts, vec!["gateway.example.com", "api.example.com"]);
    }

    #[test]
    fn seed_keys_become_scoped_keys_and_public_binds_need_keys() {
        let config = load_with(base().merge(("flowchat_key", "fc-secret")).merge(("proxy_key", "px-secret"))).unwrap();
        let ids: Vec<&str> = config.security.keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, ["proxy", "flowchat"]);
        assert!(config.security.keys[1].has(&Scope::ToolsCall) && !config.security.keys[1].has(&Scope::Proxy));
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
        assert_eq!(config.voice_workers.dir, PathBuf::from("/srv/gw/sqlite3"));
        assert_eq!(config.voice_workers.query_timeout, Duration::from_secs(5));
        assert_eq!(config.voice_workers.summary_language, SummaryLanguage::French);
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
        assert_eq!(config.voice_workers.summary_language, SummaryLanguage::English);
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
        assert_eq!(config.higgsfield.key_id.exposed(), Some("kid-7"));
        assert_eq!(config.higgsfield.key_secret.exposed(), Some("ksecret-9"));
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
            // `redis_url` and `audit_url` may carry a password (`redis://user:password@host`); an S3 key id is
            // half a credential.
            let looks_secret = key == "keys"
                || key == "redis_url"
                || key == "audit_url"
                || key == "s3_access_key_id"
                || ["_key", "_secret", "_pat", "_token", "_password"].iter().any(|suffix| key.ends_with(suffix));
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
        assert_eq!(sftp.password.expose(), " pw with spaces-83 ", "a password is used as written");
        assert_eq!(sftp.public_base_url, "https://cdn.example.com/media");
        assert_eq!(sftp.base_dir, "", "the login folder by default");
        assert_eq!(sftp.host_key_sha256.map(|d| d[0]), Some(0xe3), "SHA-256 of nothing starts e3 b0");
        assert_eq!((sftp.connect_timeout, sftp.upload_timeout), (Duration::from_secs(15), Duration::from_secs(300)));
        let printed = format!("{config:?}");
        assert!(!printed.contains("pw with spaces-83") && printed.contains("password: Secret(set)"), "{printed}");
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
    fn media_on_s3_needs_credentials_defaults_its_addressing_and_never_prints_the_keys() {
        assert!(load_with(base()).unwrap().media.s3.is_none(), "the local folder by default");
        let err = load_with(base().merge(("media_url", "s3://media/gw"))).unwrap_err();
        assert!(err.message.contains("AWS_ACCESS_KEY_ID") && err.message.contains("GATEWAY_MEDIA_URL"), "{err}");
        let with_keys = || {
            base()
                .merge(("media_url", "s3://media/gw/"))
                .merge(("s3_access_key_id", "AKIDEXAMPLE7"))
                .merge(("s3_secret_access_key", "wJalr/EXAMPLEKEY+s3cr3t"))
        };
        let aws = load_with(with_keys()).unwrap().media.s3.unwrap();
        assert_eq!((aws.bucket.as_str(), aws.prefix.as_str(), aws.region.as_str()), ("media", "gw", "us-east-1"));
        assert_eq!(aws.endpoint, "https://s3.us-east-1.amazonaws.com");
        assert!(!aws.path_style, "virtual-hosted addressing on AWS");
        assert_eq!((aws.timeout, aws.upload_timeout), (Duration::from_secs(15), Duration::from_secs(300)));
        let local = with_keys().merge(("s3_endpoint", "http://127.0.0.1:9000/")).merge(("s3_region", "garage"));
        let config = load_with(local.clone()).unwrap();
        let s3 = config.media.s3.as_ref().unwrap();
        assert_eq!(
            (s3.endpoint.as_str(), s3.region.as_str(), s3.path_style),
            ("http://127.0.0.1:9000", "garage", true)
        );
        let printed = format!("{config:?}");
        assert!(!printed.contains("AKIDEXAMPLE7") && !printed.contains("EXAMPLEKEY"), "{printed}");
        assert!(!load_with(local.merge(("s3_path_style", "false"))).unwrap().media.s3.unwrap().path_style);
        for (key, value, named) in [
            ("media_url", "https://media.example.com", "GATEWAY_MEDIA_URL"),
            ("media_url", "s3://user:pw@media", "GATEWAY_MEDIA_URL"),
            ("s3_endpoint", "127.0.0.1:9000", "AWS_ENDPOINT_URL"),
            ("s3_region", "eu west", "AWS_REGION"),
            ("s3_path_style", "sometimes", "s3_path_style"),
        ] {
            let err = load_with(with_keys().merge((key, value))).unwrap_err();
            assert!(err.message.contains(named), "{key}={value}: {}", err.message);
        }
    }

    #[test]
    fn the_builtin_authorization_server_needs_an_https_public_url_and_keys() {
        let no_keys = load_with(base().merge(("oauth", "builtin")).merge(("public_base_url", "https://a.example")));
        assert!(no_keys.unwrap_err().to_string().contains("keys"));
        let builtin = base().merge(("oauth", "builtin")).merge(("proxy_key", "px-secret"));
        let err = load_with(builtin.clone().merge(("public_base_url", "http://mcp.example.com"))).unwrap_err();
        assert!(err.to_string().contains("public_base_url"), "{err}");
        let config = load_with(builtin.clone().merge(("public_base_url", "https://mcp.example.com/"))).unwrap();
        let oauth = config.oauth.unwrap();
        assert_eq!(oauth.builtin_issuer.as_deref(), Some("https://mcp.example.com"));
        assert_eq!(oauth.resource, "https://mcp.example.com/mcp");
        assert!(oauth.issuers.is_empty());
        let loopback = load_with(builtin.merge(("public_base_url", "http://127.0.0.1:8080"))).unwrap();
        assert!(loopback.oauth.is_some(), "plain http on loopback, to try it out");
        assert!(load_with(base().merge(("oauth", "keycloak"))).is_err());
        assert!(load_with(base()).unwrap().oauth.is_none(), "off by default");
    }
}
