//! API keys, the key ring that recognises them, and the caller a request runs as.
//!
//! Keys are kept only as SHA-256 digests; a presented key is hashed and compared against every digest in
//! constant time, without stopping at the first match, so timing reveals neither which key nor how much of it
//! matched.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::scope::{NamePattern, Scope};

/// One configured key: an id for logs and audit, its digest, scopes, and name patterns (tool and prompt names,
/// resource URIs).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
    allow: Vec<NamePattern>,
    deny: Vec<NamePattern>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the digest: it is as good as the key for an offline guess.
        f.debug_struct("ApiKey").field("id", &self.id).field("scopes", &self.scopes).finish_non_exhaustive()
    }
}

/// SHA-256 of a key, as used for storage and comparison.
#[must_use]
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A key as configuration describes it: the key itself or its SHA-256 (hex), scope names, name patterns.
#[derive(Clone)]
pub struct KeySpec {
    pub id: String,
    pub key: Option<String>,
    pub key_sha256: Option<String>,
    pub scopes: Vec<String>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl ApiKey {
    /// Build a key from its description: exactly one of the key or its digest, at least one known scope.
    /// The key itself is hashed here and not kept.
    ///
    /// # Errors
    /// What is wrong with the description, in words for a configuration message.
    pub fn from_spec(spec: &KeySpec) -> Result<Self, String> {
        if spec.id.trim().is_empty() {
            return Err("`id` must not be empty".into());
        }
        let digest = match (&spec.key, &spec.key_sha256) {
            (Some(key), None) if !key.is_empty() => digest(key),
            (None, Some(hex_digest)) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(hex_digest.trim(), &mut out)
                    .map_err(|_| "`key_sha256` must be 64 hex digits".to_owned())?;
                out
            }
            _ => return Err("give exactly one of `key` or `key_sha256`".into()),
        };
        if spec.scopes.is_empty() {
            return Err("`scopes` must name at least one scope".into());
        }
        let scopes = spec.scopes.iter().map(|s| Scope::parse(s)).collect::<Result<Vec<_>, _>>()?;
        let patterns = |list: &[String]| list.iter().map(|p| NamePattern::new(p)).collect();
        Ok(Self::new(spec.id.clone(), digest, scopes, patterns(&spec.allow), patterns(&spec.deny)))
    }

    #[must_use]
    pub fn new(
        id: String,
        digest: [u8; 32],
        scopes: Vec<Scope>,
        allow: Vec<NamePattern>,
        deny: Vec<NamePattern>,
    ) -> Self {
        Self { id, digest, scopes, allow, deny }
    }

    /// The caller an access token stands for: its scopes, no name patterns, and no key material (a token
    /// caller is never in the key ring, so nothing can authenticate as it but its token).
    #[must_use]
    pub fn for_token(id: String, scopes: Vec<Scope>) -> Self {
        Self::new(id, [0; 32], scopes, Vec::new(), Vec::new())
    }

    /// The caller a token issued for this key stands for: this key's id and name patterns, the token's scopes
    /// (already within this key's), and no key material.
    #[must_use]
    pub fn narrowed(&self, scopes: Vec<Scope>) -> Self {
        Self::new(self.id.clone(), [0; 32], scopes, self.allow.clone(), self.deny.clone())
    }

    /// Holds `scope` (directly, or through `admin`; `tools:call` covers every `tools:call:<category>`).
    #[must_use]
    pub fn has(&self, scope: &Scope) -> bool {
        self.scopes.iter().any(|s| {
            s == &Scope::Admin || s == scope || (s == &Scope::ToolsCall && matches!(scope, Scope::ToolsCallCategory(_)))
        })
    }

    /// The scopes, as configured.
    #[must_use]
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The `allow` and `deny` name patterns.
    #[must_use]
    pub fn patterns(&self) -> (&[NamePattern], &[NamePattern]) {
        (&self.allow, &self.deny)
    }

    fn admits(&self, tool: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| p.matches(tool)))
            && !self.deny.iter().any(|p| p.matches(tool))
    }

    fn can_call_category(&self, category: Option<&str>) -> bool {
        self.has(&Scope::ToolsCall) || category.is_some_and(|c| self.has(&Scope::ToolsCallCategory(c.to_owned())))
    }

    fn has_any_call_scope(&self) -> bool {
        self.scopes.iter().any(|s| matches!(s, Scope::Admin | Scope::ToolsCall | Scope::ToolsCallCategory(_)))
    }
}

#[cfg(test)]
impl ApiKey {
    /// A key `k` (secret `secret`) with `scopes` and patterns, for unit tests.
    pub(crate) fn for_tests(scopes: &[&str], allow: &[&str], deny: &[&str]) -> Self {
        Self::new(
            "k".into(),
            digest("secret"),
            scopes.iter().map(|s| Scope::parse(s).expect("a known scope")).collect(),
            allow.iter().map(|p| NamePattern::new(p)).collect(),
            deny.iter().map(|p| NamePattern::new(p)).collect(),
        )
    }
}

/// All configured keys.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<Arc<ApiKey>>,
}

impl KeyRing {
    #[must_use]
    pub fn new(keys: Vec<ApiKey>) -> Self {
        Self { keys: keys.into_iter().map(Arc::new).collect() }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The configured key with this id (tokens of the built-in authorization server name their key by id).
    #[must_use]
    pub fn by_id(&self, id: &str) -> Option<Arc<ApiKey>> {
        self.keys.iter().find(|key| key.id == id).cloned()
    }

    /// The key matching `presented`, compared in constant time against every key.
    #[must_use]
    pub fn authenticate(&self, presented: &str) -> Option<Arc<ApiKey>> {
        let presented = digest(presented);
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&presented)) {
                found = Some(key.clone());
            }
        }
        found
    }
}

/// Who a request runs as.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No keys are configured (loopback, or `allow_anonymous`): everything is allowed.
    Anonymous,
    Key(Arc<ApiKey>),
}

impl Caller {
    /// For logs, audit and rate-limit buckets.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Key(key) => &key.id,
        }
    }

    #[must_use]
    pub fn has(&self, scope: &Scope) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Key(key) => key.has(scope),
        }
    }

    /// May call `tool` (of `category`): a call scope for it, admitted by allow/deny.
    #[must_use]
    pub fn may_call(&self, tool: &str, category: Option<&str>) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Key(key) => key.can_call_category(category) && key.admits(tool),
        }
    }

    /// Holds some scope that lets it call tools (`tools:call`, `tools:call:<category>` or `admin`).
    #[must_use]
    pub fn may_call_some_tool(&self) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Key(key) => key.has_any_call_scope(),
        }
    }

    /// May see `tool` in listings: what it may call; a list-only key sees what its patterns admit.
    #[must_use]
    pub fn may_see(&self, tool: &str, category: Option<&str>) -> bool {
        match self {
            Self::Key(key) if key.has_any_call_scope() => self.may_call(tool, category),
            _ => self.admits(tool),
        }
    }

    /// The `allow` / `deny` patterns admit `name` (a tool or prompt name, a resource URI); anonymous callers
    /// are admitted everywhere. Listings ask [`crate::tools::visibility`], which applies this and the scopes.
    #[must_use]
    pub fn admits(&self, name: &str) -> bool {
        match self {
            Self::Anonymous => true,
            Self::Key(key) => key.admits(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[&str], allow: &[&str], deny: &[&str]) -> ApiKey {
        ApiKey::for_tests(scopes, allow, deny)
    }

    #[test]
    fn ring_finds_the_matching_key_only() {
        let ring = KeyRing::new(vec![key(&["admin"], &[], &[])]);
        assert!(ring.authenticate("secret").is_some());
        assert!(ring.authenticate("secreT").is_none());
        assert!(ring.authenticate("").is_none());
    }

    #[test]
    fn category_scopes_and_patterns_decide_calls() {
        let caller = Caller::Key(Arc::new(key(&["tools:list", "tools:call:read"], &[], &["*_secret"])));
        assert!(caller.may_call("search", Some("read")));
        assert!(!caller.may_call("upsert", Some("write")));
        assert!(!caller.may_call("get_secret", Some("read")));
        assert!(!caller.may_see("upsert", Some("write")));
        let lister = Caller::Key(Arc::new(key(&["tools:list"], &["search_*"], &[])));
        assert!(lister.may_see("search_x", Some("write")));
        assert!(!lister.may_see("delete_x", Some("write")));
        assert!(!lister.may_call("search_x", Some("write")));
    }

    #[test]
    fn admin_implies_everything() {
        let admin = key(&["admin"], &[], &[]);
        assert!(admin.has(&Scope::Workers) && admin.has(&Scope::ToolsCallCategory("x".into())));
        assert!(format!("{admin:?}").contains("\"k\"") && !format!("{admin:?}").contains("digest"));
    }
}
