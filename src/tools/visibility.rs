//! What one caller may see of a registry: the one rule every listing, description and lookup made for a caller
//! asks, so that no path can show more than another.
//!
//! [`Registry::visible_to`] gives a [`Visible`] view. Tools: a key with a call scope sees the tools it may call
//! (scope for the category, admitted by its `allow`/`deny` patterns); a list-only key sees the tools its
//! patterns admit. Prompts are matched by name, resources by URI and resource templates by URI template against
//! the same patterns (the `tools:list` scope, checked before dispatch, decides whether a key sees any at all).
//! Whatever the view leaves out does not exist for the caller: lookups answer `None`, which every adapter turns
//! into the answer it gives for an unknown name.
//!
//! Operator views (the CLI, `/ready`, `/admin/config`) and accounting (metrics, audit) read the registry
//! directly; anything answering a caller goes through here.

use std::sync::Arc;

use serde_json::Value;

use super::catalog::{Prompt, Resource, ResourceTemplate};
use super::registry::{Registry, Tool};
use super::upstream_binding::UpstreamItem;
use crate::auth::Caller;

/// A registry as one caller may see it.
#[derive(Debug, Clone, Copy)]
pub struct Visible<'a> {
    registry: &'a Registry,
    caller: &'a Caller,
}

impl Registry {
    /// The registry as `caller` may see it.
    #[must_use]
    pub fn visible_to<'a>(&'a self, caller: &'a Caller) -> Visible<'a> {
        Visible { registry: self, caller }
    }
}

impl<'a> Visible<'a> {
    /// The tools the caller may see, sorted by name.
    pub fn tools(self) -> impl Iterator<Item = &'a Arc<Tool>> {
        self.registry.tools().iter().filter(move |t| self.sees(t))
    }

    /// A tool the caller may see (listings, schemas).
    #[must_use]
    pub fn tool(self, name: &str) -> Option<&'a Arc<Tool>> {
        self.registry.tool(name).filter(|t| self.sees(t))
    }

    /// A tool the caller may call: the pipeline's lookup, and what tools that call tools may offer.
    #[must_use]
    pub fn callable(self, name: &str) -> Option<&'a Arc<Tool>> {
        self.registry.tool(name).filter(|t| self.may_call(t))
    }

    /// Whether the caller may call `tool` (see [`Visible::callable`]).
    #[must_use]
    pub fn may_call(self, tool: &Tool) -> bool {
        self.caller.may_call(tool.name(), tool.spec.category.as_deref())
    }

    /// The fixed resources the caller may see, by URI.
    pub fn resources(self) -> impl Iterator<Item = &'a Resource> {
        self.registry.resources().iter().filter(move |r| self.caller.admits(&r.uri))
    }

    /// The resource templates the caller may see, by URI template.
    pub fn templates(self) -> impl Iterator<Item = &'a ResourceTemplate> {
        self.registry.templates().iter().filter(move |t| self.caller.admits(&t.uri_template))
    }

    /// The prompts the caller may see, by name.
    pub fn prompts(self) -> impl Iterator<Item = &'a Prompt> {
        self.registry.prompts().iter().filter(move |p| self.caller.admits(&p.name))
    }

    /// A visible resource template by its URI template (for completion).
    #[must_use]
    pub fn template(self, uri_template: &str) -> Option<&'a ResourceTemplate> {
        self.templates().find(|t| t.uri_template == uri_template)
    }

    /// A visible prompt by name.
    #[must_use]
    pub fn prompt(self, name: &str) -> Option<&'a Prompt> {
        self.prompts().find(|p| p.name == name)
    }

    /// The `contents` of a resource: a visible fixed one first, then the first visible matching template.
    #[must_use]
    pub fn read_resource(self, uri: &str) -> Option<Value> {
        self.resources()
            .find(|r| r.uri == uri)
            .map(Resource::contents)
            .or_else(|| self.templates().find_map(|t| t.read(uri)))
    }

    /// The upstream resources the caller may see, by URI.
    pub fn upstream_resources(self) -> impl Iterator<Item = &'a UpstreamItem> {
        self.registry.upstream_items().resources.iter().filter(move |r| self.caller.admits(&r.key))
    }

    /// The upstream resource templates the caller may see, by URI template.
    pub fn upstream_templates(self) -> impl Iterator<Item = &'a UpstreamItem> {
        self.registry.upstream_items().templates.iter().filter(move |t| self.caller.admits(&t.key))
    }

    /// The upstream prompts the caller may see, by name.
    pub fn upstream_prompts(self) -> impl Iterator<Item = &'a UpstreamItem> {
        self.registry.upstream_items().prompts.iter().filter(move |p| self.caller.admits(&p.key))
    }

    /// The upstream serving a resource the caller may read: a listed resource, else a matching template (the
    /// URI must be one the caller's patterns admit as well).
    #[must_use]
    pub fn upstream_resource(self, uri: &str) -> Option<&'a UpstreamItem> {
        if !self.caller.admits(uri) {
            return None;
        }
        self.upstream_resources()
            .find(|r| r.key == uri)
            .or_else(|| self.upstream_templates().find(|t| t.template_matches(uri)))
    }

    fn sees(self, tool: &Tool) -> bool {
        self.caller.may_see(tool.name(), tool.spec.category.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::auth::ApiKey;

    fn write(dir: &Path, name: &str, value: &Value) {
        std::fs::write(dir.join(name), value.to_string()).unwrap();
    }

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        for (name, category) in [("search_a", "read"), ("delete_a", "write")] {
            write(
                dir.path(),
                &format!("{name}.json"),
                &json!({"name": name, "description": "d", "category": category,
                        "binding": {"kind": "builtin", "name": "ping"}}),
            );
        }
        let message = json!({"role": "user", "content": {"type": "text", "text": "hi"}});
        let prompt = |name: &str| json!({"kind": "prompt", "name": name, "messages": [message]});
        write(dir.path(), "p1.json", &prompt("search_help"));
        write(dir.path(), "p2.json", &prompt("admin_notes"));
        write(dir.path(), "r1.json", &json!({"kind": "resource", "uri": "docs://public/a", "text": "a"}));
        write(dir.path(), "r2.json", &json!({"kind": "resource", "uri": "docs://private/b", "text": "b"}));
        write(
            dir.path(),
            "t1.json",
            &json!({"kind": "resource_template", "uriTemplate": "docs://private/{id}", "text": "secret {id}"}),
        );
        let registry = Registry::load(dir.path(), &crate::config::TemplateEnv::default()).unwrap();
        (dir, registry)
    }

    fn key(scopes: &[&str], allow: &[&str], deny: &[&str]) -> Caller {
        Caller::Key(Arc::new(ApiKey::for_tests(scopes, allow, deny)))
    }

    #[test]
    fn patterns_and_call_scopes_decide_every_kind_of_item() {
        let (_dir, registry) = registry();
        let narrow = key(&["tools:list", "tools:call"], &["search_*", "docs://public/*"], &[]);
        let view = registry.visible_to(&narrow);
        assert_eq!(view.tools().map(|t| t.name()).collect::<Vec<_>>(), ["search_a"]);
        assert!(view.tool("delete_a").is_none() && view.callable("delete_a").is_none());
        assert_eq!(view.prompts().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["search_help"]);
        assert!(view.prompt("admin_notes").is_none());
        assert_eq!(view.resources().map(|r| r.uri.as_str()).collect::<Vec<_>>(), ["docs://public/a"]);
        assert_eq!(view.templates().count(), 0);
        assert!(view.template("docs://private/{id}").is_none());
        assert!(view.read_resource("docs://private/b").is_none(), "a hidden fixed resource cannot be read");
        assert!(view.read_resource("docs://private/x").is_none(), "nor through a hidden template");
        assert!(view.read_resource("docs://public/a").is_some());

        let reader = key(&["tools:list", "tools:call:read"], &[], &[]);
        let view = registry.visible_to(&reader);
        assert_eq!(view.tools().map(|t| t.name()).collect::<Vec<_>>(), ["search_a"], "only what it may call");
        assert_eq!(view.prompts().count(), 2, "no patterns: every prompt");
        assert_eq!(view.read_resource("docs://private/x").unwrap()[0]["text"], "secret x");

        let lister = key(&["tools:list"], &[], &["search_*"]);
        assert_eq!(registry.visible_to(&lister).tools().map(|t| t.name()).collect::<Vec<_>>(), ["delete_a"]);
        assert!(registry.visible_to(&lister).callable("delete_a").is_none(), "seen, not callable");
        assert_eq!(registry.visible_to(&Caller::Anonymous).tools().count(), 2);
    }
}
