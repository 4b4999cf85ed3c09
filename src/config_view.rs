//! The effective configuration as JSON for people (`GET /admin/config`, the control panel's configuration
//! view), with every secret reduced to `"set"` or `"unset"`.
//!
//! The view is an allow-list: each setting is written out here on purpose, so a setting added to
//! [`Config`] stays out of the view until someone decides how to show it. Secrets (API keys, provider keys,
//! tokens) never appear, not even a prefix or a digest; URLs lose any userinfo and query string.

use serde_json::{Value, json};

use crate::config::{Config, ExposeOption, LogFormat, S3Settings, SftpSettings, SummaryLanguage};
use crate::providers::upstream::redact_url;

/// How a secret is shown.
fn presence(secret: Option<&str>) -> &'static str {
    if secret.is_some_and(|s| !s.is_empty()) { "set" } else { "unset" }
}

/// The configuration with secrets masked.
#[must_use]
pub fn masked(config: &Config) -> Value {
    let keys: Vec<Value> = config
        .security
        .keys
        .iter()
        .map(|key| {
            let (allow, deny) = key.patterns();
            json!({
                "id": key.id,
                "secret": "set",
                "scopes": key.scopes().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "allow": allow.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "deny": deny.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let rate = |rate: &crate::config::Rate| format!("{}/{}s", rate.count, rate.period.as_secs());
    let category_rate_limits: serde_json::Map<String, Value> =
        config.security.category_rate_limits.iter().map(|(category, r)| (category.clone(), json!(rate(r)))).collect();
    json!({
        "server": {
            "bind": config.bind.to_string(),
            "environment": config.environment,
            "tool_specs": config.tool_specs.display().to_string(),
            "data_dir": config.data_dir.display().to_string(),
            "reload": config.reload,
            "log_level": config.log_filter,
            "log_format": match config.log_format { LogFormat::Text => "text", LogFormat::Json => "json" },
            "instructions": config.instructions,
        },
        "security": {
            "keys": keys,
            "allow_anonymous": config.security.allow_anonymous,
            "allowed_hosts": config.security.allowed_hosts,
            "allowed_origins": config.security.allowed_origins,
            "trusted_proxies": config.security.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "rate_limit": config.security.rate_limit.as_ref().map_or_else(|| "off".to_owned(), rate),
            "category_rate_limits": category_rate_limits,
            // The URL may carry a password: only whether the budgets are shared.
            "rate_limit_store": if config.redis_url.is_some() { "redis" } else { "memory" },
            "template_env": config.template_env.patterns().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        },
        "limits": {
            "max_body_bytes": config.limits.max_body_bytes,
            "max_json_depth": config.limits.max_json_depth,
            "page_size": config.page_size,
            "call_timeout_secs": config.limits.call_timeout.as_secs(),
            "request_timeout_secs": config.limits.request_timeout.as_secs(),
            "session_idle_secs": config.limits.session_idle.as_secs(),
            "max_sessions": config.limits.max_sessions,
            "sse_keepalive_secs": config.limits.sse_keepalive.as_secs(),
            "max_concurrent_calls": config.limits.max_concurrent_calls,
            "call_queue": config.limits.call_queue,
            "max_streams": config.limits.max_streams,
            "shutdown_grace_secs": config.shutdown_grace.as_secs(),
        },
        "audit": {
            "enabled": config.audit.enabled,
            "arguments": config.audit.arguments,
            "retention_days": config.audit.retention_days,
            // The URL may carry a password: only where the log is kept.
            "audit_store": if config.audit_url.is_some() { "postgres" } else { "sqlite" },
        },
        "workers": {
            "dir": config.voice_workers.dir.display().to_string(),
            "query_timeout_ms": config.voice_workers.query_timeout.as_millis(),
            "summary_language": match config.voice_workers.summary_language {
                SummaryLanguage::French => "fr",
                SummaryLanguage::English => "en",
            },
        },
        "providers": {
            "supabase": {
                "url": config.supabase.url.as_deref().map(redact_url),
                "api_key": presence(config.supabase.api_key.exposed()),
            },
            "realtime": {
                "base_url": redact_url(&config.realtime.base_url),
                "api_key": presence(config.realtime.api_key.exposed()),
                "model": config.realtime.model,
                "transcription_model": config.realtime.transcription_model,
                "secret_ttl_secs": config.realtime.secret_ttl.as_secs(),
            },
            "flowchat_workers": {
                "database": config.flowchat_workers.database.as_deref().map(redact_url),
                "document": config.flowchat_workers.document.as_deref().map(redact_url),
                "storage": config.flowchat_workers.storage.as_deref().map(redact_url),
                "email": config.flowchat_workers.email.as_deref().map(redact_url),
                "auth_key": presence(config.flowchat_workers.auth_key.exposed()),
                "auth_header": config.flowchat_workers.auth_header,
            },
            "elevenlabs": {
                "base_url": redact_url(&config.elevenlabs.base_url),
                "api_key": presence(config.elevenlabs.api_key.exposed()),
            },
            "higgsfield": {
                "base_url": redact_url(&config.higgsfield.base_url),
                "key_id": presence(config.higgsfield.key_id.exposed()),
                "key_secret": presence(config.higgsfield.key_secret.exposed()),
            },
            "llm": {
                "base_url": config.llm.base_url.as_deref().map(redact_url),
                "api_key": presence(config.llm.api_key.exposed()),
                "model": config.llm.model,
                "timeout_secs": config.llm.timeout.as_secs(),
                "max_rounds": config.llm.max_rounds,
            },
            "supabase_mcp": {
                "url": redact_url(&config.supabase_mcp.url),
                "pat": presence(config.supabase_mcp.pat.exposed()),
                "project_ref": config.supabase_mcp.project_ref,
                "read_only": config.supabase_mcp.read_only,
                "features": config.supabase_mcp.features,
            },
            "concurrency": {
                "default": config.limits.provider_concurrency,
                "overrides": config.limits.provider_concurrency_overrides,
            },
        },
        "media": {
            "media_store": if config.media.s3.is_some() { "s3" } else { "local" },
            "s3": config.media.s3.as_ref().map(s3),
            "download_enabled": config.media.download_enabled,
            "inline_max_bytes": config.media.inline_max_bytes,
            "max_download_bytes": config.media.max_download_bytes,
            "public_base_url": redact_url(&config.media.public_base_url),
            "job_poll_initial_ms": config.jobs.poll_initial.as_millis(),
            "job_poll_max_ms": config.jobs.poll_max.as_millis(),
            "job_max_age_secs": config.jobs.max_age.as_secs(),
            "sftp": sftp(config.media.sftp.as_ref()),
        },
    })
}

/// The media bucket: where it is and how it is addressed; the keys only as set.
fn s3(settings: &S3Settings) -> Value {
    json!({
        "bucket": settings.bucket,
        "prefix": settings.prefix,
        "endpoint": redact_url(&settings.endpoint),
        "region": settings.region,
        "path_style": settings.path_style,
        "access_key_id": presence(Some(settings.access_key_id.expose())),
        "secret_access_key": presence(Some(settings.secret_access_key.expose())),
        "timeout_secs": settings.timeout.as_secs(),
        "upload_timeout_secs": settings.upload_timeout.as_secs(),
    })
}

/// The SFTP copy: where to, the password and the pinned fingerprint as set/unset.
fn sftp(settings: Option<&SftpSettings>) -> Value {
    let Some(s) = settings else { return json!({"enabled": false}) };
    json!({
        "enabled": true,
        "host": s.host,
        "port": s.port,
        "user": s.user,
        "password": presence(Some(s.password.expose())),
        "base_dir": s.base_dir,
        "public_base_url": redact_url(&s.public_base_url),
        "known_hosts": s.known_hosts.as_ref().map(|p| p.display().to_string()),
        "host_key_sha256": if s.host_key_sha256.is_some() { "set" } else { "unset" },
        "connect_timeout_secs": s.connect_timeout.as_secs(),
        "upload_timeout_secs": s.upload_timeout.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_only_whether_they_are_set() {
        assert_eq!(presence(Some("k")), "set");
        assert_eq!(presence(Some("")), "unset");
        assert_eq!(presence(None), "unset");
    }

    #[test]
    fn the_audit_store_is_named_without_its_url() {
        let dir = std::path::Path::new("/tmp");
        let mut config = Config::for_tests(dir, dir);
        assert_eq!(masked(&config)["audit"]["audit_store"], "sqlite");
        config.audit_url = crate::config::Secret::from_setting(Some("postgres://gw:hunter2-pg@db/audit".into()));
        let view = masked(&config);
        assert_eq!(view["audit"]["audit_store"], "postgres");
        assert!(!view.to_string().contains("hunter2-pg"), "{view}");
    }

    #[test]
    fn the_sftp_copy_shows_where_it_goes_but_not_the_password() {
        let dir = std::path::Path::new("/tmp");
        let mut config = Config::for_tests(dir, dir);
        assert_eq!(masked(&config)["media"]["sftp"], json!({"enabled": false}));
        config.media.sftp = Some(SftpSettings {
            host: "files.example.com".into(),
            port: 2222,
            user: "media".into(),
            password: "hunter2-sftp-pw".into(),
            base_dir: "/srv/www".into(),
            public_base_url: "https://cdn.example.com/m".into(),
            known_hosts: None,
            host_key_sha256: Some([1; 32]),
            connect_timeout: std::time::Duration::from_secs(15),
            upload_timeout: std::time::Duration::from_secs(300),
        });
        let view = masked(&config);
        let sftp = &view["media"]["sftp"];
        assert_eq!(sftp["host"], "files.example.com");
        assert_eq!(sftp["port"], 2222);
        assert_eq!(sftp["password"], "set");
        assert_eq!(sftp["host_key_sha256"], "set");
        assert_eq!(sftp["public_base_url"], "https://cdn.example.com/m");
        assert!(!view.to_string().contains("hunter2-sftp-pw"), "{view}");
    }

    #[test]
    fn the_media_bucket_shows_where_it_is_but_not_the_keys() {
        let dir = std::path::Path::new("/tmp");
        let mut config = Config::for_tests(dir, dir);
        assert_eq!(masked(&config)["media"]["media_store"], "local");
        config.media.s3 = Some(S3Settings {
            bucket: "media".into(),
            prefix: "gw".into(),
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            path_style: true,
            access_key_id: "AKID-shown-never-3".into(),
            secret_access_key: "s3-secret-never-shown-9".into(),
            timeout: std::time::Duration::from_secs(15),
            upload_timeout: std::time::Duration::from_secs(300),
        });
        let view = masked(&config);
        assert_eq!(view["media"]["media_store"], "s3");
        let s3 = &view["media"]["s3"];
        assert_eq!((s3["bucket"].as_str(), s3["endpoint"].as_str()), (Some("media"), Some("http://127.0.0.1:9000")));
        assert_eq!((s3["access_key_id"].as_str(), s3["secret_access_key"].as_str()), (Some("set"), Some("set")));
        let text = view.to_string();
        assert!(!text.contains("AKID-shown-never-3") && !text.contains("s3-secret-never-shown-9"), "{text}");
    }
}
