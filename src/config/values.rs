//! Small checks shared by the sections: URLs, optional values, durations, lists.

use std::time::Duration;

use super::ConfigError;

/// An http(s) URL without its trailing slash.
pub(super) fn http_url(key: &str, url: &str) -> Result<String, ConfigError> {
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|e| ConfigError::key(key, format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::key(key, "must be an http or https URL"));
    }
    Ok(url.trim().trim_end_matches('/').to_owned())
}

/// An optional http(s) base URL, without its trailing slash; empty means unset.
pub(super) fn base_url(key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    value.filter(|u| !u.trim().is_empty()).map(|u| http_url(key, &u)).transpose()
}

/// An optional value (a secret, a name), trimmed; empty or blank means unset.
pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub(super) fn lowercase_all(items: Vec<String>) -> Vec<String> {
    items.into_iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
}

/// The seeds wrote Python level names (`INFO`, `WARNING`); tracing wants `info`, `warn`.
pub(super) fn normalize_log_level(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "warning" => "warn".into(),
        "critical" | "fatal" => "error".into(),
        other => other.into(),
    }
}

/// Whole seconds that must not be 0.
pub(super) fn positive_secs(key: &str, value: u64) -> Result<Duration, ConfigError> {
    if value == 0 { Err(ConfigError::key(key, "must be greater than 0")) } else { Ok(Duration::from_secs(value)) }
}

/// A count that must not be 0.
pub(super) fn positive(key: &str, value: usize) -> Result<usize, ConfigError> {
    if value == 0 { Err(ConfigError::key(key, "must be greater than 0")) } else { Ok(value) }
}
