//! A secret setting (a provider key, a token, a shared secret): its `Debug` never shows the value, it has no
//! `Display` or `Serialize`, so it cannot reach a log line, an answer or `/admin/config` by accident. Reading it
//! is explicit and easy to find: [`Secret::expose`].

/// A secret value, non-empty and trimmed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// A trimmed value; `None` when blank (a blank secret means unset).
    #[must_use]
    pub fn from_setting(value: Option<String>) -> Option<Self> {
        value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).map(|v| Self(v.into()))
    }

    /// The value, for the one place that sends it where it belongs.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(set)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.into())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value.into())
    }
}

/// `Option<Secret>` as `Option<&str>`, the shape callers pass on.
pub trait ExposeOption {
    fn exposed(&self) -> Option<&str>;
}

impl ExposeOption for Option<Secret> {
    fn exposed(&self) -> Option<&str> {
        self.as_ref().map(Secret::expose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value_and_blank_means_unset() {
        let secret = Secret::from_setting(Some("  sk-live-123  ".into())).unwrap();
        assert_eq!(secret.expose(), "sk-live-123");
        assert_eq!(format!("{secret:?}"), "Secret(set)");
        assert_eq!(format!("{:?}", Some(secret)), "Some(Secret(set))");
        assert!(Secret::from_setting(Some("   ".into())).is_none());
        assert!(Secret::from_setting(None).is_none());
    }
}
