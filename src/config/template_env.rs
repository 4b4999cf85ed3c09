//! Which environment variables spec templates (`{{env.NAME}}`) may read: the `template_env` patterns, and never
//! a variable the gateway reads one of its own secrets from.

use super::ConfigError;
use super::raw::{RawConfig, SECRET_SETTINGS, env_names};
use crate::auth::NamePattern;

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

impl TemplateEnv {
    /// The `template_env` patterns: names of letters, digits and `_`, with `*` wildcards.
    pub(super) fn validate(raw: &RawConfig) -> Result<Self, ConfigError> {
        let patterns: Vec<&str> = raw.template_env.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
        if let Some(bad) =
            patterns.iter().find(|p| !p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*')))
        {
            return Err(ConfigError::key(
                "template_env",
                format!("`{bad}` is not a variable name pattern (letters, digits, `_` and `*` only)"),
            ));
        }
        Ok(Self::new(&patterns))
    }
}
