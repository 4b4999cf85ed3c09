//! The registry: every tool, resource, template and prompt loaded from the specs folder, immutable once built.
//!
//! Loading walks `*.json` files recursively (sorted, hidden files skipped), parses each with [`super::spec`],
//! compiles schemas once, and collects every problem with its file and JSON path rather than stopping at the
//! first. A registry is either wholly valid or not built. Swapping registries is [`super::handle`]'s job.
//!
//! The accessors here return everything, for operator views and accounting. Whatever answers a caller (a
//! listing, a schema, a lookup by name) goes through [`Registry::visible_to`] ([`super::visibility`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use super::catalog::{Prompt, Resource, ResourceTemplate};
use super::spec::{SpecItem, SpecProblem, ToolSpec, parse_item, pointer_to_path};
use super::upstream_binding::UpstreamCatalog;
use super::upstream_spec::UpstreamSpec;
use crate::config::TemplateEnv;
use crate::error::GatewayError;

/// A loaded tool: its checked spec and where it came from.
#[derive(Debug)]
pub struct Tool {
    pub spec: ToolSpec,
    /// The spec file, relative to the specs folder.
    pub source: String,
}

impl Tool {
    #[must_use]
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Check arguments against the input schema; the error says which field is wrong and why.
    pub fn validate_arguments(&self, args: &Value) -> Result<(), GatewayError> {
        let errors: Vec<(String, String)> = self
            .spec
            .input_validator
            .iter_errors(args)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                (pointer, e.to_string())
            })
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let described: Vec<String> = errors
            .iter()
            .map(|(pointer, msg)| {
                if pointer.is_empty() {
                    msg.clone()
                } else {
                    format!("`{}`: {msg}", pointer_to_path(pointer).trim_start_matches('.'))
                }
            })
            .collect();
        let details: Vec<Value> =
            errors.iter().map(|(pointer, msg)| json!({"path": pointer, "message": msg})).collect();
        Err(GatewayError::invalid_params(format!(
            "invalid arguments for tool `{}`: {}",
            self.spec.name,
            described.join("; ")
        ))
        .with_details(json!({ "errors": details })))
    }

    /// Check a result against the declared output schema, if any.
    pub fn validate_output(&self, value: &Value) -> Result<(), GatewayError> {
        let Some(validator) = &self.spec.output_validator else { return Ok(()) };
        let errors: Vec<String> = validator.iter_errors(value).map(|e| e.to_string()).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(GatewayError::new(
                crate::error::ErrorCode::UpstreamError,
                format!("the result of `{}` does not match its output schema: {}", self.spec.name, errors.join("; ")),
            ))
        }
    }

    /// The MCP `Tool` object for `tools/list`.
    #[must_use]
    pub fn describe(&self) -> Value {
        let spec = &self.spec;
        let mut out = json!({
            "name": spec.name,
            "description": spec.description,
            "inputSchema": spec.input_schema,
        });
        if let Some(title) = &spec.title {
            out["title"] = json!(title);
        }
        if let Some(schema) = &spec.output_schema {
            out["outputSchema"] = schema.clone();
        }
        if spec.annotations.as_object().is_some_and(|a| !a.is_empty()) {
            out["annotations"] = spec.annotations.clone();
        }
        if let Some(icons) = &spec.icons {
            out["icons"] = icons.clone();
        }
        // Tool calls run as tasks only in the 2026-07-28 era, which adds their `execution` to its list.
        if spec.binding.runs_as_job() {
            out["execution"] = json!({"taskSupport": "optional"});
        }
        out
    }
}

/// Everything the specs folder declares.
#[derive(Debug, Default)]
pub struct Registry {
    tools: Vec<Arc<Tool>>,
    by_name: HashMap<String, usize>,
    resources: Arc<Vec<Resource>>,
    templates: Arc<Vec<ResourceTemplate>>,
    prompts: Arc<Vec<Prompt>>,
    upstreams: Vec<Arc<UpstreamSpec>>,
    /// What upstream servers serve besides tools ([`Registry::with_upstreams`]).
    upstream_items: UpstreamCatalog,
}

impl Registry {
    /// Load every spec under `dir`, whose templates may read the environment variables `env` allows. All
    /// problems are returned together.
    pub fn load(dir: &Path, env: &TemplateEnv) -> Result<Self, Vec<SpecProblem>> {
        let files = match list_json_files(dir) {
            Ok(files) => files,
            Err(message) => {
                return Err(vec![SpecProblem { file: dir.display().to_string(), path: "$".into(), message }]);
            }
        };
        let mut problems = Vec::new();
        let mut registry = Self::default();
        let mut seen: HashMap<(&'static str, String), String> = HashMap::new();
        let (mut resources, mut templates, mut prompts) = (Vec::new(), Vec::new(), Vec::new());
        for path in files {
            let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            let problem = |path: &str, message: String| SpecProblem { file: rel.clone(), path: path.into(), message };
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(problem("$", format!("cannot read: {e}")));
                    continue;
                }
            };
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(problem("$", format!("not valid JSON: {e}")));
                    continue;
                }
            };
            let folder = path.parent().unwrap_or(dir);
            let item = match parse_item(value, folder, env) {
                Ok(item) => item,
                Err(e) => {
                    problems.push(problem(&e.path, e.message));
                    continue;
                }
            };
            let key = match &item {
                SpecItem::Tool(t) => ("tool", t.name.clone()),
                SpecItem::Resource(r) => ("resource", r.uri.clone()),
                SpecItem::ResourceTemplate(t) => ("resource template", t.uri_template.clone()),
                SpecItem::Prompt(p) => ("prompt", p.name.clone()),
                SpecItem::Upstream(u) => ("upstream", u.name.clone()),
            };
            if let Some(first) = seen.get(&key) {
                let id_path = match key.0 {
                    "tool" | "prompt" | "upstream" => "$.name",
                    "resource" => "$.uri",
                    _ => "$.uriTemplate",
                };
                problems.push(problem(id_path, format!("{} `{}` is already declared in {first}", key.0, key.1)));
                continue;
            }
            seen.insert(key, rel.clone());
            match item {
                SpecItem::Tool(spec) => registry.tools.push(Arc::new(Tool { spec: *spec, source: rel.clone() })),
                SpecItem::Resource(r) => resources.push(r),
                SpecItem::ResourceTemplate(t) => templates.push(t),
                SpecItem::Prompt(p) => prompts.push(p),
                SpecItem::Upstream(u) => {
                    if let Some(other) = registry.upstreams.iter().find(|o| o.prefix == u.prefix) {
                        problems.push(problem(
                            "$.prefix",
                            format!("prefix `{}` is already the prefix of upstream `{}`", u.prefix, other.name),
                        ));
                        continue;
                    }
                    registry.upstreams.push(Arc::from(u));
                }
            }
        }
        problems.extend(check_tool_references(&registry.tools));
        if !problems.is_empty() {
            return Err(problems);
        }
        resources.sort_by(|a, b| a.uri.cmp(&b.uri));
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        registry.resources = Arc::new(resources);
        registry.templates = Arc::new(templates);
        registry.prompts = Arc::new(prompts);
        registry.upstreams.sort_by(|a, b| a.name.cmp(&b.name));
        registry.index();
        Ok(registry)
    }

    /// Sort the tools and index them by name.
    fn index(&mut self) {
        self.tools.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        self.by_name = self.tools.iter().enumerate().map(|(i, t)| (t.spec.name.clone(), i)).collect();
    }

    /// This registry with what upstream servers serve added (see `federation`). A tool, prompt, resource or
    /// template whose name or URI is already taken (a declared one, or an earlier upstream's) is left out:
    /// declared items always win.
    #[must_use]
    pub fn with_upstreams<'a>(
        &self,
        extra: impl IntoIterator<Item = Arc<Tool>>,
        catalogs: impl IntoIterator<Item = &'a UpstreamCatalog>,
    ) -> Self {
        let mut tools = self.tools.clone();
        let mut names: HashSet<String> = tools.iter().map(|t| t.spec.name.clone()).collect();
        for tool in extra {
            if names.insert(tool.spec.name.clone()) {
                tools.push(tool);
            }
        }
        let mut items = UpstreamCatalog::default();
        let mut prompts: HashSet<String> = self.prompts.iter().map(|p| p.name.clone()).collect();
        let mut uris: HashSet<String> = self.resources.iter().map(|r| r.uri.clone()).collect();
        let mut patterns: HashSet<String> = self.templates.iter().map(|t| t.uri_template.clone()).collect();
        for catalog in catalogs {
            items.prompts.extend(catalog.prompts.iter().filter(|p| prompts.insert(p.key.clone())).cloned());
            items.resources.extend(catalog.resources.iter().filter(|r| uris.insert(r.key.clone())).cloned());
            items.templates.extend(catalog.templates.iter().filter(|t| patterns.insert(t.key.clone())).cloned());
        }
        let mut registry = Self {
            upstream_items: items,
            tools,
            by_name: HashMap::new(),
            resources: self.resources.clone(),
            templates: self.templates.clone(),
            prompts: self.prompts.clone(),
            upstreams: self.upstreams.clone(),
        };
        registry.index();
        registry
    }

    /// Any tool by name, visible to the caller or not (see [`Registry::visible_to`]).
    #[must_use]
    pub fn tool(&self, name: &str) -> Option<&Arc<Tool>> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// Every tool, sorted by name.
    #[must_use]
    pub fn tools(&self) -> &[Arc<Tool>] {
        &self.tools
    }

    /// The settings a call of `tool` needs: its binding's and those of every tool its workflow steps (and their
    /// compensations) call, sorted, each once.
    #[must_use]
    pub fn required_settings<'a>(&'a self, tool: &'a Tool) -> Vec<&'a str> {
        let mut settings = BTreeSet::new();
        let mut visited = HashSet::new();
        let mut pending = vec![tool];
        while let Some(tool) = pending.pop() {
            if !visited.insert(tool.name()) {
                continue;
            }
            settings.extend(tool.spec.binding.required_settings());
            pending.extend(
                tool.spec
                    .binding
                    .tool_references()
                    .into_iter()
                    .filter_map(|(_, name)| self.tool(name).map(AsRef::as_ref)),
            );
        }
        settings.into_iter().collect()
    }

    /// Every fixed resource, sorted by URI.
    #[must_use]
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// Every resource template.
    #[must_use]
    pub fn templates(&self) -> &[ResourceTemplate] {
        &self.templates
    }

    /// Every upstream MCP server declared, sorted by name.
    #[must_use]
    pub fn upstreams(&self) -> &[Arc<UpstreamSpec>] {
        &self.upstreams
    }

    /// What upstream servers serve besides tools (resources, templates, prompts).
    #[must_use]
    pub fn upstream_items(&self) -> &UpstreamCatalog {
        &self.upstream_items
    }

    /// Every prompt, sorted by name.
    #[must_use]
    pub fn prompts(&self) -> &[Prompt] {
        &self.prompts
    }
}

/// Tools named by other tools (workflow steps) must exist, and no tool may reach itself through them.
fn check_tool_references(tools: &[Arc<Tool>]) -> Vec<SpecProblem> {
    let index: HashMap<&str, &Tool> = tools.iter().map(|t| (t.spec.name.as_str(), t.as_ref())).collect();
    let mut problems = Vec::new();
    for tool in tools {
        for (path, name) in tool.spec.binding.tool_references() {
            if !index.contains_key(name) {
                problems.push(SpecProblem {
                    file: tool.source.clone(),
                    path,
                    message: format!("names tool `{name}`, which no spec declares"),
                });
            }
        }
    }
    for tool in tools {
        if let Some(cycle) = cycle_from(tool.spec.name.as_str(), &index) {
            problems.push(SpecProblem {
                file: tool.source.clone(),
                path: "$.binding".into(),
                message: format!("workflow steps call back into this tool: {}", cycle.join(" -> ")),
            });
        }
    }
    problems
}

/// A path of tool references from `start` back to itself, if there is one.
fn cycle_from<'a>(start: &'a str, index: &HashMap<&'a str, &'a Tool>) -> Option<Vec<&'a str>> {
    let mut stack: Vec<(Vec<&'a str>, &'a str)> = vec![(vec![start], start)];
    let mut seen: HashSet<&'a str> = HashSet::new();
    while let Some((path, name)) = stack.pop() {
        let Some(&tool) = index.get(name) else { continue };
        for (_, next) in tool.spec.binding.tool_references() {
            let mut longer = path.clone();
            longer.push(next);
            if next == start {
                return Some(longer);
            }
            if seen.insert(next) {
                stack.push((longer, next));
            }
        }
    }
    None
}

fn list_json_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.is_dir() {
        return Err(format!("the specs folder {} does not exist or is not a folder", dir.display()));
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, value: &Value) {
        std::fs::write(dir.join(name), serde_json::to_vec_pretty(value).unwrap()).unwrap();
    }

    fn tool(name: &str) -> Value {
        json!({"name": name, "description": "d", "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
               "binding": {"kind": "builtin", "name": "ping"}})
    }

    #[test]
    fn loads_sorted_and_reports_every_problem_with_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.json", &tool("beta"));
        write(dir.path(), "a.json", &tool("alpha"));
        assert_eq!(
            Registry::load(dir.path(), &TemplateEnv::default())
                .unwrap()
                .tools()
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>(),
            ["alpha", "beta"]
        );

        write(dir.path(), "c.json", &tool("alpha"));
        std::fs::write(dir.path().join("d.json"), "{not json").unwrap();
        let problems = Registry::load(dir.path(), &TemplateEnv::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.file == "c.json" && p.path == "$.name" && p.message.contains("a.json")));
        assert!(problems.iter().any(|p| p.file == "d.json" && p.message.contains("not valid JSON")));
    }

    #[test]
    fn argument_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", &tool("alpha"));
        let registry = Registry::load(dir.path(), &TemplateEnv::default()).unwrap();
        let tool = registry.tool("alpha").unwrap();
        let err = tool.validate_arguments(&json!({"n": "seven"})).unwrap_err();
        assert!(err.message.contains("`n`"), "{}", err.message);
        assert!(err.message.contains("integer"), "{}", err.message);
        let err = tool.validate_arguments(&json!({})).unwrap_err();
        assert!(err.message.contains("\"n\" is a required property"), "{}", err.message);
        assert!(tool.validate_arguments(&json!({"n": 7})).is_ok());
    }

    fn workflow(name: &str, calls: &[&str]) -> Value {
        let steps: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"id": format!("s{i}"), "tool": t, "args": {"n": 1}}))
            .collect();
        json!({"name": name, "description": "d", "binding": {"kind": "workflow", "steps": steps}})
    }

    #[test]
    fn workflows_must_name_existing_tools_and_never_reach_themselves() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", &tool("alpha"));
        write(dir.path(), "w.json", &workflow("wf", &["alpha", "ghost"]));
        let problems = Registry::load(dir.path(), &TemplateEnv::default()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].file.as_str(), problems[0].path.as_str()), ("w.json", "$.binding.steps[1].tool"));
        assert!(problems[0].message.contains("ghost"));

        write(dir.path(), "w.json", &workflow("wf", &["alpha", "wf2"]));
        write(dir.path(), "w2.json", &workflow("wf2", &["wf"]));
        let problems = Registry::load(dir.path(), &TemplateEnv::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "both workflows of the cycle are named: {problems:?}");
        assert!(problems.iter().any(|p| p.file == "w.json" && p.message.contains("wf -> wf2 -> wf")));

        write(dir.path(), "w2.json", &workflow("wf2", &["alpha"]));
        assert!(Registry::load(dir.path(), &TemplateEnv::default()).is_ok(), "a workflow may call another workflow");
    }

    #[test]
    fn upstreams_load_with_unique_names_and_prefixes() {
        let upstream = |name: &str, prefix: &str| {
            json!({"kind": "upstream", "name": name, "prefix": prefix, "transport": "streamable_http",
                   "url": "http://127.0.0.1:9/mcp"})
        };
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", &tool("alpha"));
        write(dir.path(), "crm.json", &upstream("crm", "crm_"));
        let registry = Registry::load(dir.path(), &TemplateEnv::default()).unwrap();
        assert_eq!(registry.upstreams().iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["crm"]);
        assert_eq!(registry.tools().len(), 1, "an upstream adds no tool of its own at load");

        write(dir.path(), "crm2.json", &upstream("crm", "other_"));
        write(dir.path(), "erp.json", &upstream("erp", "crm_"));
        let problems = Registry::load(dir.path(), &TemplateEnv::default()).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.file == "crm2.json" && p.path == "$.name"));
        assert!(problems.iter().any(|p| p.file == "erp.json" && p.path == "$.prefix"));
    }

    #[test]
    fn missing_folder_is_one_problem() {
        let problems = Registry::load(Path::new("/nonexistent/specs"), &TemplateEnv::default()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("does not exist"));
    }
}
