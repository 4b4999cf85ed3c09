//! What a tool call does: the `binding` of a spec, parsed and fully checked when the spec loads.
//!
//! Each kind is a variant holding a type that implements [`BindingKind`]; every method dispatches through one
//! exhaustive match (`each_kind!`), so adding a kind means its file, a variant, its parser line and its line in
//! that match, and no check can silently skip it.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use super::builtins::Builtin;
use super::elevenlabs_binding::ElevenLabsBinding;
use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::higgsfield_binding::HiggsfieldBinding;
use super::http_binding::HttpBinding;
use super::llm_binding::LlmBinding;
use super::output::ToolOutput;
use super::spec::{PathError, reject_unknown_keys};
use super::supabase_binding::SupabaseBinding;
use super::template::{Known, Template, render_for_call};
use super::upstream_binding::UpstreamBinding;
use super::worker_binding::WorkerBinding;
use super::workflow::WorkflowBinding;
use crate::config::TemplateEnv;
use crate::error::GatewayError;

/// Every kind a spec may name.
const KINDS: &[&str] =
    &["builtin", "static", "http", "supabase_rpc", "worker", "workflow", "elevenlabs", "higgsfield", "llm"];

/// A checked binding.
#[derive(Debug)]
pub enum Binding {
    /// A native handler, by name, with options checked at load.
    Builtin(Builtin),
    /// Fixed content blocks: stubs, demos, protocol fixtures.
    Static(StaticBinding),
    /// Any REST call, declared with templates.
    Http(Box<HttpBinding>),
    /// A Postgres function through Supabase's PostgREST.
    SupabaseRpc(Box<SupabaseBinding>),
    /// A FlowChat worker service (database writes with `require_validated`, documents, storage, email).
    Worker(Box<WorkerBinding>),
    /// Steps (tools or inline bindings) run as a DAG, with compensation.
    Workflow(Box<WorkflowBinding>),
    /// ElevenLabs audio (a media job) or JSON.
    ElevenLabs(Box<ElevenLabsBinding>),
    /// A Higgsfield generation, polled as a media job.
    Higgsfield(Box<HiggsfieldBinding>),
    /// A chat completion from prompt templates.
    Llm(Box<LlmBinding>),
    /// A tool an upstream MCP server serves (built by the federation, never declared in a spec).
    Upstream(Box<UpstreamBinding>),
}

/// The one exhaustive match every [`Binding`] method dispatches through: `$body` with `$kind` bound to the
/// binding of whatever kind it is. A new variant fails to compile until it has its line here.
macro_rules! each_kind {
    ($binding:expr, $kind:ident => $body:expr) => {
        match $binding {
            Binding::Builtin($kind) => $body,
            Binding::Static($kind) => $body,
            Binding::Http($kind) => $body,
            Binding::SupabaseRpc($kind) => $body,
            Binding::Worker($kind) => $body,
            Binding::Workflow($kind) => $body,
            Binding::ElevenLabs($kind) => $body,
            Binding::Higgsfield($kind) => $body,
            Binding::Llm($kind) => $body,
            Binding::Upstream($kind) => $body,
        }
    };
}

impl Binding {
    /// The kind's name as written in specs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        each_kind!(self, kind => kind.kind())
    }

    /// Whether a call can run as a media job, answered later (MCP tasks): the media kinds that produce media.
    #[must_use]
    pub fn runs_as_job(&self) -> bool {
        each_kind!(self, kind => kind.runs_as_job())
    }

    /// Whether a task call asks its client over the request before it becomes a task (an `ask` builtin with
    /// `rounds_before_task`); every other task call is a task from its start.
    #[must_use]
    pub fn asks_before_task(&self) -> bool {
        matches!(self, Self::Builtin(Builtin::Ask(o)) if o.asks_before_task())
    }

    /// Environment settings a call needs; an unset one makes the call answer `not_configured`.
    #[must_use]
    pub fn required_settings(&self) -> Vec<&str> {
        each_kind!(self, kind => kind.required_settings())
    }

    /// Tools this binding calls by name, with the JSON path of each reference (checked across specs at load).
    #[must_use]
    pub fn tool_references(&self) -> Vec<(String, &str)> {
        each_kind!(self, kind => kind.tool_references())
    }

    /// Run one call of this binding (a tool's, or a workflow step's inline one). The kind's future is behind a
    /// pointer: kinds' futures differ widely in size (a workflow or an LLM agent holds far more than `ping`), and
    /// inline, every future above this one (the pipeline's, the transport's) would be as large as the largest
    /// kind's and copied whole each time it moves; a workflow may also run a workflow, and a future cannot
    /// contain itself.
    pub fn run<'a>(
        &'a self,
        engine: &'a Engine,
        call: Call<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<ToolOutput, GatewayError>> + Send + 'a>> {
        each_kind!(self, kind => Box::pin(kind.run(engine, call)))
    }

    /// Parse `$.binding`. `input_schema` is the tool's, for kinds that refer to arguments; `env` names the
    /// environment variables templates may read.
    pub fn parse(value: &Value, input_schema: &Value, env: &TemplateEnv) -> Result<Self, PathError> {
        let Value::Object(obj) = value else {
            return Err(PathError::new("$.binding", "must be an object with a `kind`"));
        };
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| PathError::new("$.binding.kind", format!("is required: one of {}", KINDS.join(", "))))?;
        let known = Known::arguments_of(input_schema, env);
        match kind {
            "builtin" => {
                reject_unknown_keys(obj, &["kind", "name", "options"], "$.binding")?;
                let name = obj
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| PathError::new("$.binding.name", "a builtin binding names its handler"))?;
                let options = obj.get("options").cloned().unwrap_or(Value::Object(Map::new()));
                Builtin::parse(name, &options, input_schema).map(Self::Builtin)
            }
            "static" => StaticBinding::parse(obj, &known).map(Self::Static),
            "http" => HttpBinding::parse(obj, &known).map(|b| Self::Http(Box::new(b))),
            "supabase_rpc" => SupabaseBinding::parse(obj, &known).map(|b| Self::SupabaseRpc(Box::new(b))),
            "worker" => WorkerBinding::parse(obj, &known).map(|b| Self::Worker(Box::new(b))),
            "workflow" => WorkflowBinding::parse(obj, &known).map(|b| Self::Workflow(Box::new(b))),
            "elevenlabs" => ElevenLabsBinding::parse(obj, &known).map(|b| Self::ElevenLabs(Box::new(b))),
            "higgsfield" => HiggsfieldBinding::parse(obj, &known).map(|b| Self::Higgsfield(Box::new(b))),
            "llm" => LlmBinding::parse(obj, &known).map(|b| Self::Llm(Box::new(b))),
            other => Err(PathError::new(
                "$.binding.kind",
                format!("unknown binding kind `{other}`; known: {}", KINDS.join(", ")),
            )),
        }
    }
}

/// Fixed output: MCP content blocks and/or a JSON result, optionally flagged as an error result. Their strings
/// are templates like any binding's (`"Hello, {{args.name}}!"`), so a static tool can echo its arguments.
#[derive(Debug, Clone)]
pub struct StaticBinding {
    /// The content blocks (an array template).
    pub content: Template,
    pub result: Option<Template>,
    pub is_error: bool,
}

impl BindingKind for StaticBinding {
    fn kind(&self) -> &'static str {
        "static"
    }

    fn required_settings(&self) -> Vec<&str> {
        let mut settings = self.content.required_settings();
        settings.extend(self.result.iter().flat_map(Template::required_settings));
        settings
    }

    async fn run(&self, _: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let (content, value) = render_for_call(&call.args, |bindings| {
            let content = self.content.render_value(bindings)?;
            let value = self.result.as_ref().map(|r| r.render_value(bindings)).transpose()?;
            Ok((content, value))
        })?;
        let content = match content {
            Value::Array(blocks) => blocks,
            _ => Vec::new(),
        };
        Ok(ToolOutput { value: value.unwrap_or(Value::Null), content, is_error: self.is_error })
    }
}

impl StaticBinding {
    fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(obj, &["kind", "content", "result", "isError"], "$.binding")?;
        let content = match obj.get("content") {
            None => Vec::new(),
            Some(Value::Array(blocks)) => {
                for (i, block) in blocks.iter().enumerate() {
                    check_content_block(block, &format!("$.binding.content[{i}]"))?;
                }
                blocks.clone()
            }
            Some(_) => return Err(PathError::new("$.binding.content", "must be an array of content blocks")),
        };
        let result = obj.get("result");
        if content.is_empty() && result.is_none() {
            return Err(PathError::new("$.binding", "a static binding needs `content` or `result`"));
        }
        let is_error = match obj.get("isError") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(PathError::new("$.binding.isError", "must be a boolean")),
        };
        let content = Template::parse(&Value::Array(content), "$.binding.content", known)?;
        let result = result.map(|r| Template::parse(r, "$.binding.result", known)).transpose()?;
        Ok(Self { content, result, is_error })
    }
}

/// Check one MCP content block has the fields its type needs.
pub fn check_content_block(block: &Value, path: &str) -> Result<(), PathError> {
    let has_str = |key: &str| block.get(key).is_some_and(Value::is_string);
    let need = |ok: bool, what: &str| {
        if ok { Ok(()) } else { Err(PathError::new(path, format!("a block of this type needs {what}"))) }
    };
    match block.get("type").and_then(Value::as_str) {
        Some("text") => need(has_str("text"), "`text`"),
        Some("image" | "audio") => need(has_str("data") && has_str("mimeType"), "base64 `data` and `mimeType`"),
        Some("resource_link") => need(has_str("uri") && has_str("name"), "`uri` and `name`"),
        Some("resource") => {
            let resource = block.get("resource");
            let ok = resource.is_some_and(|r| {
                r.get("uri").is_some_and(Value::is_string)
                    && (r.get("text").is_some_and(Value::is_string) || r.get("blob").is_some_and(Value::is_string))
            });
            need(ok, "`resource` with `uri` and `text` or `blob`")
        }
        Some(other) => Err(PathError::new(
            format!("{path}.type"),
            format!("unknown content type `{other}`; expected text, image, audio, resource_link or resource"),
        )),
        None => Err(PathError::new(format!("{path}.type"), "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(binding: Value) -> Result<Binding, PathError> {
        Binding::parse(&binding, &json!({"type": "object"}), &TemplateEnv::default())
    }

    #[test]
    fn static_content_may_reference_declared_arguments_only() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        let text = |text: &str| json!({"kind": "static", "content": [{"type": "text", "text": text}]});
        let env = TemplateEnv::default();
        assert!(Binding::parse(&text("Hello, {{args.name}}!"), &schema, &env).is_ok());
        let err = Binding::parse(&text("{{args.other}}"), &schema, &env).unwrap_err();
        assert!(err.path.starts_with("$.binding.content[0]"), "{err:?}");
    }

    #[test]
    fn unknown_kind_is_rejected_at_kind_path() {
        let err = parse(json!({"kind": "soap"})).unwrap_err();
        assert_eq!(err.path, "$.binding.kind");
        assert!(err.message.contains("soap"));
    }

    #[test]
    fn unknown_builtin_is_rejected_at_name_path() {
        let err = parse(json!({"kind": "builtin", "name": "nope"})).unwrap_err();
        assert_eq!(err.path, "$.binding.name");
    }

    #[test]
    fn static_blocks_are_checked() {
        let err = parse(json!({"kind": "static", "content": [{"type": "image", "data": "AA=="}]})).unwrap_err();
        assert_eq!(err.path, "$.binding.content[0]");
        let ok =
            parse(json!({"kind": "static", "content": [{"type": "text", "text": "hi"}], "isError": true})).unwrap();
        assert!(matches!(ok, Binding::Static(StaticBinding { is_error: true, .. })));
    }
}
