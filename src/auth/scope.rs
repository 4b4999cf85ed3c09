//! Scopes: what a key may do. `admin` implies every other scope.

/// One permission a key can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// See tools (and resources, prompts): `tools/list`, `/mcp/tools/list`, `/tools`.
    ToolsList,
    /// Call any tool the key's allow/deny patterns admit.
    ToolsCall,
    /// Call tools of one category only (`tools:call:read`).
    ToolsCallCategory(String),
    /// Use the Supabase MCP passthrough.
    Proxy,
    /// Use the voice-worker endpoints.
    Workers,
    /// Read `/metrics`.
    Metrics,
    /// Everything, including `/admin/*`.
    Admin,
}

impl Scope {
    /// Parse `tools:list`, `tools:call`, `tools:call:<category>`, `proxy`, `workers`, `metrics`, `admin`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "tools:list" => Ok(Self::ToolsList),
            "tools:call" => Ok(Self::ToolsCall),
            "proxy" => Ok(Self::Proxy),
            "workers" => Ok(Self::Workers),
            "metrics" => Ok(Self::Metrics),
            "admin" => Ok(Self::Admin),
            other => match other.strip_prefix("tools:call:") {
                Some(category) if !category.is_empty() => Ok(Self::ToolsCallCategory(category.to_ascii_lowercase())),
                _ => Err(format!(
                    "unknown scope `{other}`; known: tools:list, tools:call, tools:call:<category>, proxy, workers, metrics, admin"
                )),
            },
        }
    }
}

impl std::fmt::Display for Scope {
    /// The name [`Scope::parse`] reads.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ToolsList => f.write_str("tools:list"),
            Self::ToolsCall => f.write_str("tools:call"),
            Self::ToolsCallCategory(category) => write!(f, "tools:call:{category}"),
            Self::Proxy => f.write_str("proxy"),
            Self::Workers => f.write_str("workers"),
            Self::Metrics => f.write_str("metrics"),
            Self::Admin => f.write_str("admin"),
        }
    }
}

/// A `*`-wildcard pattern on names: tools and prompts, resource URIs (`search_*`, `*_facture`, `docs://public/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    #[must_use]
    pub fn new(pattern: &str) -> Self {
        Self(pattern.to_owned())
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = name.strip_prefix(first) else { return false };
        let pieces: Vec<&str> = parts.collect();
        let Some((last, middle)) = pieces.split_last() else { return rest.is_empty() };
        for piece in middle {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_reject_unknown() {
        assert_eq!(Scope::parse("tools:call:READ").unwrap(), Scope::ToolsCallCategory("read".into()));
        assert!(Scope::parse("tools:call:").is_err());
        assert!(Scope::parse("root").unwrap_err().contains("unknown scope"));
        for name in ["tools:list", "tools:call", "tools:call:read", "proxy", "workers", "metrics", "admin"] {
            assert_eq!(Scope::parse(name).unwrap().to_string(), name, "names read back as written");
        }
    }

    #[test]
    fn patterns_match_with_wildcards() {
        let p = NamePattern::new("search_*");
        assert!(p.matches("search_factures"));
        assert!(!p.matches("get_search_x"));
        assert!(NamePattern::new("*").matches("anything"));
        assert!(NamePattern::new("*_facture*").matches("create_facture_pdf"));
        assert!(NamePattern::new("ping").matches("ping"));
        assert!(!NamePattern::new("ping").matches("pings"));
        assert!(!NamePattern::new("a*a").matches("a"));
    }
}
