//! Typed configuration, loaded in two stages.
//!
//! Stage one deserializes a raw, `deny_unknown_fields` struct with figment, layered (lowest first):
//! built-in defaults < an optional TOML file (`--config PATH` or `GATEWAY_CONFIG`) < `GATEWAY_*` environment
//! variables < the seeds' environment names (`LOG_LEVEL`, `AUTO_RELOAD_TOOLS`, ...), which keep working as
//! aliases. Stage two validates the raw values into [`Config`]; any error names the key and where it came from.
//! Relative paths are kept as written and so resolve against the working directory.
//!
//! This module only reads and checks settings; it never opens files, sockets or clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

/// Seed environment names and the config key each is an alias of.
const SEED_ALIASES: &[(&str, &str)] = &[
    ("LOG_LEVEL", "log_level"),
    ("LOG_FORMAT", "log_format"),
    ("AUTO_RELOAD_TOOLS", "reload"),
    ("ENVIRONMENT", "environment"),
];

/// A configuration problem, naming the key and, when known, the source that set it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {message}")]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    fn key(key: &str, message: impl std::fmt::Display) -> Self {
        let env = format!("GATEWAY_{}", key.to_ascii_uppercase());
        let aliases: Vec<&str> = SEED_ALIASES.iter().filter(|(_, k)| *k == key).map(|(e, _)| *e).collect();
        let env_names = if aliases.is_empty() { env } else { format!("{env} / {}", aliases.join(" / ")) };
        Self { message: format!("`{key}` ({env_names}): {message}") }
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
        figment = figment.merge(Env::prefixed("GATEWAY_").ignore(&["CONFIG"]));
        for (env, key) in SEED_ALIASES {
            figment = figment.merge(Env::raw().only(&[env]).map(move |_| (*key).into()));
        }
        Self::from_figment(&figment)
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
        if self.max_sessions == 0 {
            return Err(ConfigError::key("max_sessions", "must be greater than 0"));
        }
        if self.environment.trim().is_empty() {
            return Err(ConfigError::key("environment", "must not be empty"));
        }
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
        })
    }
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
    fn unknown_toml_keys_are_rejected() {
        let err = load_with(base().merge(Toml::string("bnid = \"x\""))).unwrap_err();
        assert!(err.message.contains("bnid"), "{}", err.message);
    }
}
