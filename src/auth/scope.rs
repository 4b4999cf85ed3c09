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

/// A `*`-wildcard pattern on tool names (`search_*`, `*_facture`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    #[must_use]
    pub fn new(pattern: &str) -> Self {
        Self(pattern.to_owned())
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
