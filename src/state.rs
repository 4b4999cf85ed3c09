//! The composition root: [`AppState`] builds and holds the configuration, the one pooled HTTP client, the
//! metrics, the tool engine and registry, and the MCP session store, and starts their background tasks
//! (hot reload, session expiry). Only the edge (`http/`, `mcp/` transports) sees it; domain modules receive
//! the explicit handles they need.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::auth::KeyRing;
use crate::config::Config;
use crate::federation::Federation;
use crate::federation::dial::Dialer;
use crate::jobs::{Jobs, JobsOptions};
use crate::limits::{KeyedLimit, ProviderCaps, SharedBudgets};
use crate::mcp::request_state::StateKey;
use crate::mcp::session::SessionStore;
use crate::mcp::shared_sessions::SharedSessions;
use crate::mcp::{Mcp, McpHandle};
use crate::metrics::Metrics;
use crate::oauth::TokenVerifier;
use crate::oauth::builtin::{AuthServer, AuthServerParts};
use crate::providers::s3::S3Bucket;
use crate::providers::sftp::Sftp;
use crate::redis_link::RedisLink;
use crate::tools::spec::SpecProblem;
use crate::tools::watch::{self, WatchGuard};
use crate::tools::{Engine, EngineOptions, RegistryHandle};
use crate::voice_workers::Workers;

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{} problem(s) in tool specs:\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Specs(Vec<SpecProblem>),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot watch the specs folder for hot reload: {0}")]
    Watch(String),
    #[error("cannot open the audit log: {0}")]
    Audit(String),
    #[error("cannot set up the SFTP copy of media: {0}")]
    Sftp(String),
    #[error("cannot use the S3 bucket of media (GATEWAY_MEDIA_URL, GATEWAY_S3_ENDPOINT): {0}")]
    MediaBucket(String),
    #[error("cannot read or make the request state key ({{data_dir}}/request_state.key): {0}")]
    RequestState(String),
    #[error("cannot use the Redis URL (GATEWAY_REDIS_URL): {0}")]
    Redis(String),
    #[error("cannot open the built-in authorization server's key or database (in the data folder): {0}")]
    AuthServer(String),
}

/// Everything the request handlers share.
#[derive(Debug)]
pub struct App {
    pub config: Arc<Config>,
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
    /// The MCP layer's share of the application (sessions, SSE stream permits, ...).
    pub mcp: McpHandle,
    pub http: reqwest::Client,
    pub keys: Arc<KeyRing>,
    /// Verifies access tokens of the configured OAuth issuers; `None`: API keys only.
    pub tokens: Option<Arc<TokenVerifier>>,
    /// The built-in authorization server (`GATEWAY_OAUTH=builtin`).
    pub auth_server: Option<Arc<AuthServer>>,
    /// The per-caller rate limit, when configured.
    pub rate_limit: Option<Arc<KeyedLimit>>,
    /// The connection to Redis holding the replicas' shared state (`GATEWAY_REDIS_URL`), for `/ready`.
    pub redis: Option<RedisLink>,
    pub audit: Option<Arc<AuditLog>>,
    /// The upstream MCP servers whose tools are served (started inside a runtime).
    pub federation: Option<Arc<Federation>>,
    /// Cancelled on shutdown: SSE streams end, so the server can drain.
    pub shutdown: CancellationToken,
    _watch: Option<WatchGuard>,
}

/// Cheap-to-clone handle on [`App`].
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// Build the application state: load the registry (every spec problem fails start-up), build the pooled
    /// client, and, inside a tokio runtime, start hot reload (when configured) and session expiry.
    pub fn new(config: Config) -> Result<Self, StartupError> {
        let registry = Arc::new(
            RegistryHandle::load(&config.tool_specs, config.template_env.clone()).map_err(StartupError::Specs)?,
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("mcp-gateway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            // Every upstream request carries credentials; none may follow a redirect to another host.
            // Credential-free media downloads follow redirects themselves (jobs/storage.rs).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartupError::HttpClient(e.to_string()))?;
        let metrics = Arc::new(Metrics::new());
        let audit = match (config.audit.enabled, &config.audit_url) {
            (false, _) => None,
            (true, Some(url)) => {
                Some(Arc::new(AuditLog::open_postgres(url, config.audit.retention_days).map_err(StartupError::Audit)?))
            }
            (true, None) => {
                let path = config.data_dir.join("audit.db");
                Some(Arc::new(AuditLog::open(&path, config.audit.retention_days).map_err(StartupError::Audit)?))
            }
        };
        let shutdown = CancellationToken::new();
        let provider_caps = Arc::new(ProviderCaps::new(
            config.limits.provider_concurrency,
            config.limits.provider_concurrency_overrides.clone(),
        ));
        let redis = config.redis_url.as_ref().map(RedisLink::new).transpose().map_err(StartupError::Redis)?;
        let shared_budgets = redis.clone().map(SharedBudgets::new);
        let sftp = config.media.sftp.clone().map(Sftp::new).transpose().map_err(StartupError::Sftp)?;
        let media_bucket = match &config.media.s3 {
            Some(s3) => Some(S3Bucket::new(s3, http.clone()).map_err(StartupError::MediaBucket)?),
            None => None,
        };
        let jobs = Jobs::open(JobsOptions {
            data_dir: config.data_dir.clone(),
            elevenlabs: config.elevenlabs.clone(),
            higgsfield: config.higgsfield.clone(),
            media: config.media.clone(),
            settings: config.jobs,
            http: http.clone(),
            metrics: metrics.clone(),
            caps: provider_caps.clone(),
            max_answer_bytes: config.limits.upstream_max_answer_bytes,
            sftp,
            media_bucket,
            redis: redis.clone(),
            shutdown: shutdown.clone(),
        });
        let options = EngineOptions {
            shared_budgets: shared_budgets.clone(),
            default_timeout: config.limits.call_timeout,
            max_concurrent_calls: config.limits.max_concurrent_calls,
            call_queue: config.limits.call_queue,
            category_rate_limits: config.security.category_rate_limits.clone(),
            audit: audit.clone(),
            audit_arguments: config.audit.arguments,
            supabase: config.supabase.clone(),
            flowchat_workers: config.flowchat_workers.clone(),
            workers: Arc::new(Workers::new(config.voice_workers.clone())),
            provider_caps,
            max_answer_bytes: config.limits.upstream_max_answer_bytes,
            jobs: jobs.clone(),
            llm: config.llm.clone(),
        };
        let engine = Arc::new(Engine::new(registry.clone(), http.clone(), metrics.clone(), options));
        let in_runtime = tokio::runtime::Handle::try_current().is_ok();
        let federation = in_runtime.then(|| {
            let dialer = Dialer { client: http.clone(), max_answer_bytes: config.limits.upstream_max_answer_bytes };
            let pins = crate::federation::pins::Pins::path_in(&config.data_dir);
            Federation::start(registry.clone(), dialer, pins, shutdown.clone())
        });
        let watch = if config.reload && in_runtime {
            Some(watch::spawn(registry).map_err(|e| StartupError::Watch(e.to_string()))?)
        } else {
            None
        };
        let (max_sessions, idle) = (config.limits.max_sessions, config.limits.session_idle);
        let sessions = Arc::new(match &redis {
            Some(link) => {
                SessionStore::shared(max_sessions, idle, metrics.clone(), SharedSessions::new(link.clone(), idle))
            }
            None => SessionStore::new(max_sessions, idle, metrics.clone()),
        });
        let keys = Arc::new(KeyRing::new(config.security.keys.clone()));
        let auth_server = match config.oauth.as_ref().and_then(|o| o.builtin_issuer.as_deref().map(|i| (o, i))) {
            Some((oauth, issuer)) => Some(Arc::new(
                AuthServer::open(AuthServerParts {
                    issuer,
                    resource: &oauth.resource,
                    data_dir: &config.data_dir,
                    keys: keys.clone(),
                    http: http.clone(),
                    metrics: metrics.clone(),
                })
                .map_err(StartupError::AuthServer)?,
            )),
            None => None,
        };
        let tokens = config
            .oauth
            .clone()
            .map(|settings| Arc::new(TokenVerifier::new(settings, auth_server.clone(), &http, &metrics)));
        let rate_limit = config
            .security
            .rate_limit
            .map(|rate| Arc::new(KeyedLimit::local_or_shared(rate, shared_budgets.as_ref(), "requests")));
        let streams = Arc::new(Semaphore::new(config.limits.max_streams));
        let request_state = match &config.security.request_state_secret {
            Some(secret) => StateKey::from_secret(secret.expose().as_bytes()),
            None => StateKey::load_or_create(&config.data_dir.join("request_state.key"))
                .map_err(|e| StartupError::RequestState(e.to_string()))?,
        };
        let config = Arc::new(config);
        let mcp = Arc::new(Mcp {
            config: config.clone(),
            engine: engine.clone(),
            metrics: metrics.clone(),
            sessions,
            shutdown: shutdown.clone(),
            streams,
            request_state,
            live_tasks: Arc::default(),
        });
        let app = App {
            config,
            engine,
            metrics,
            mcp,
            http,
            keys,
            tokens,
            auth_server,
            rate_limit,
            redis,
            audit,
            federation,
            shutdown,
            _watch: watch,
        };
        let state = Self(Arc::new(app));
        if in_runtime {
            state.mcp.sessions.listen(state.shutdown.clone());
            spawn_housekeeping(Arc::downgrade(&state.0));
            tokio::spawn(async move { jobs.resume().await });
        }
        Ok(state)
    }

    /// Begin shutting down: end SSE streams and stop new calls from waiting.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Flush what must not be lost (the audit log). Call once the server has drained.
    pub fn finish_shutdown(&self) {
        if let Some(audit) = &self.audit {
            audit.close();
        }
    }
}

/// Once a minute, until the app is dropped: expire idle sessions, prune idle rate-limit buckets.
fn spawn_housekeeping(app: Weak<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(app) = app.upgrade() else { break };
            let expired = app.mcp.sessions.expire_idle() + app.mcp.sessions.end_vanished().await;
            if expired > 0 {
                tracing::info!(expired, "idle MCP sessions expired");
            }
            if let Some(limit) = &app.rate_limit {
                limit.prune();
            }
            app.engine.prune_limits();
        }
    });
}
