//! Argument templating: JSON templates whose strings may reference call arguments (`{{args.limit}}`), earlier
//! workflow steps (`{{steps.create.id}}`), environment settings (`{{env.INVENTORY_URL}}`) and, in a workflow's
//! result, the run itself (`{{run.mode}}`, `{{run.order}}`), with defaults (`{{args.limit ?? 10}}`, the default
//! being a JSON literal).
//!
//! A string that is exactly one reference yields the referenced JSON value itself, keeping its type (a number
//! stays a number, an object an object); references inside longer strings are interpolated as text. An
//! object member whose whole value is a missing optional argument is left out, so optional parameters are
//! only sent when given. Templates are parsed and every reference is checked when the spec loads (an `env.NAME`
//! must be one the `template_env` setting allows, never one of the gateway's own secrets); rendering can then
//! only fail on a missing setting.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::spec::PathError;
use crate::config::TemplateEnv;
use crate::error::{ErrorCode, GatewayError};

/// Where a reference points.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A call argument, then a path inside it.
    Args,
    /// An earlier workflow step's output, by step id.
    Step(String),
    /// An environment setting.
    Env,
    /// The workflow's own run record (mode, order of the steps), in its result.
    Run,
}

/// One `{{...}}` reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub source: Source,
    /// Path segments after the source (for `env`, the variable name).
    pub path: Vec<String>,
    pub default: Option<Value>,
}

/// Part of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Ref(Reference),
}

/// A parsed JSON template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Literal(Value),
    /// A string that is exactly one reference: renders to the referenced value.
    Whole(Reference),
    /// Text with references interpolated.
    Text(Vec<Piece>),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

/// What a reference may point at, checked at load.
pub struct Known<'a> {
    /// Top-level argument names declared by the tool's input schema.
    pub args: Vec<&'a str>,
    /// Step ids that may be referenced here (earlier steps of a workflow).
    pub steps: Vec<&'a str>,
    /// The environment variables templates may read.
    pub env: &'a TemplateEnv,
    /// Whether `{{run.*}}` may be referenced (a workflow's result).
    pub run: bool,
}

impl<'a> Known<'a> {
    /// The top-level arguments a tool's input schema declares, and no steps (a binding outside a workflow).
    #[must_use]
    pub fn arguments_of(input_schema: &'a Value, env: &'a TemplateEnv) -> Self {
        let args = input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        Self { args, steps: Vec::new(), env, run: false }
    }
}

/// Values for rendering.
pub struct Bindings<'a> {
    pub args: &'a Value,
    pub steps: &'a HashMap<String, Value>,
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The workflow's run record, when rendering its result.
    pub run: Option<&'a Value>,
}

/// A setting a template needs but the environment lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSetting(pub String);

/// Render a binding's templates at call time, with the call's arguments and the process environment; a missing
/// setting becomes the `not_configured` error naming it.
pub fn render_for_call<T>(
    args: &Value,
    render: impl FnOnce(&Bindings<'_>) -> Result<T, MissingSetting>,
) -> Result<T, GatewayError> {
    render_with_steps(args, &HashMap::new(), None, render)
}

/// [`render_for_call`] with the outputs of earlier workflow steps and, for a workflow's result, its run record.
pub fn render_with_steps<T>(
    args: &Value,
    steps: &HashMap<String, Value>,
    run: Option<&Value>,
    render: impl FnOnce(&Bindings<'_>) -> Result<T, MissingSetting>,
) -> Result<T, GatewayError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    render(&Bindings { args, steps, env: &env, run }).map_err(|MissingSetting(name)| {
        GatewayError::new(ErrorCode::NotConfigured, format!("this tool needs the `{name}` setting, which is not set"))
            .with_details(serde_json::json!({"missing": name}))
    })
}

impl Template {
    /// Parse and check a template found at `path` in the spec.
    pub fn parse(value: &Value, path: &str, known: &Known<'_>) -> Result<Self, PathError> {
        match value {
            Value::String(s) => parse_string(s, path, known),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Self::parse(v, &format!("{path}[{i}]"), known))
                .collect::<Result<_, _>>()
                .map(Self::Array),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), Self::parse(v, &format!("{path}.{k}"), known)?)))
                .collect::<Result<_, _>>()
                .map(Self::Object),
            other => Ok(Self::Literal(other.clone())),
        }
    }

    /// Render with values. `Ok(None)` means "absent" (a missing optional argument in whole position).
    pub fn render(&self, bindings: &Bindings<'_>) -> Result<Option<Value>, MissingSetting> {
        Ok(match self {
            Self::Literal(v) => Some(v.clone()),
            Self::Whole(reference) => resolve(reference, bindings)?,
            Self::Text(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Ref(r) => match resolve(r, bindings)? {
                            Some(Value::String(s)) => out.push_str(&s),
                            Some(Value::Null) | None => {}
                            Some(other) => out.push_str(&other.to_string()),
                        },
                    }
                }
                Some(Value::String(out))
            }
            Self::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(item.render(bindings)?.unwrap_or(Value::Null));
                }
                Some(Value::Array(out))
            }
            Self::Object(members) => {
                let mut out = Map::new();
                for (key, template) in members {
                    if let Some(value) = template.render(bindings)? {
                        out.insert(key.clone(), value);
                    }
                }
                Some(Value::Object(out))
            }
        })
    }

    /// Render to a value, absent becoming `null`.
    pub fn render_value(&self, bindings: &Bindings<'_>) -> Result<Value, MissingSetting> {
        self.render(bindings).map(|v| v.unwrap_or(Value::Null))
    }

    /// The environment settings this template cannot do without (references with no default).
    #[must_use]
    pub fn required_settings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |r| {
            if r.source == Source::Env && r.default.is_none() {
                out.extend(r.path.first().map(String::as_str));
            }
        });
        out
    }

    /// The workflow steps this template reads.
    #[must_use]
    pub fn referenced_steps(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |r| {
            if let Source::Step(step) = &r.source {
                out.push(step.as_str());
            }
        });
        out
    }

    fn visit<'s>(&'s self, f: &mut impl FnMut(&'s Reference)) {
        match self {
            Self::Literal(_) => {}
            Self::Whole(r) => f(r),
            Self::Text(pieces) => pieces.iter().for_each(|p| {
                if let Piece::Ref(r) = p {
                    f(r);
                }
            }),
            Self::Array(items) => items.iter().for_each(|t| t.visit(f)),
            Self::Object(members) => members.iter().for_each(|(_, t)| t.visit(f)),
        }
    }
}

fn parse_string(s: &str, path: &str, known: &Known<'_>) -> Result<Template, PathError> {
    if !s.contains("{{") {
        return Ok(Template::Literal(Value::String(s.to_owned())));
    }
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let end =
            rest[start..].find("}}").ok_or_else(|| PathError::new(path, format!("`{s}` has an unclosed `{{{{`")))?
                + start;
        pieces.push(Piece::Ref(parse_reference(rest[start + 2..end].trim(), path, known)?));
        rest = &rest[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(match pieces.as_slice() {
        [Piece::Ref(r)] => Template::Whole(r.clone()),
        _ => Template::Text(pieces),
    })
}

fn parse_reference(text: &str, path: &str, known: &Known<'_>) -> Result<Reference, PathError> {
    let (target, default) = match text.split_once("??") {
        Some((target, default)) => {
            let default: Value = serde_json::from_str(default.trim()).map_err(|_| {
                PathError::new(
                    path,
                    format!("the default in `{{{{{text}}}}}` must be a JSON literal (\"text\", 10, true)"),
                )
            })?;
            (target.trim(), Some(default))
        }
        None => (text, None),
    };
    let mut segments = target.split('.').map(str::to_owned);
    let head = segments.next().unwrap_or_default();
    let rest: Vec<String> = segments.collect();
    if rest.iter().any(String::is_empty) {
        return Err(PathError::new(path, format!("`{target}` has an empty path segment")));
    }
    let (source, path_segments) = match head.as_str() {
        "args" => {
            let name =
                rest.first().ok_or_else(|| PathError::new(path, "`args` needs an argument name: {{args.name}}"))?;
            if !known.args.contains(&name.as_str()) {
                return Err(PathError::new(
                    path,
                    format!("`{{{{{target}}}}}` names `{name}`, which is not a property of the tool's inputSchema"),
                ));
            }
            (Source::Args, rest)
        }
        "steps" => {
            let step = rest.first().ok_or_else(|| PathError::new(path, "`steps` needs a step id: {{steps.id}}"))?;
            if !known.steps.contains(&step.as_str()) {
                return Err(PathError::new(
                    path,
                    format!("`{{{{{target}}}}}` names step `{step}`, which is not an earlier step"),
                ));
            }
            (Source::Step(step.clone()), rest[1..].to_vec())
        }
        "env" => match rest.as_slice() {
            [name] if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                known.env.check(name).map_err(|m| PathError::new(path, format!("`{{{{{target}}}}}`: {m}")))?;
                (Source::Env, rest)
            }
            _ => return Err(PathError::new(path, format!("`{target}` must be env.NAME with a plain variable name"))),
        },
        "run" if known.run => (Source::Run, rest),
        "run" => {
            return Err(PathError::new(
                path,
                "`run` (the workflow's mode and order) is only known in a workflow's result",
            ));
        }
        other => {
            return Err(PathError::new(
                path,
                format!("unknown reference `{other}` in `{{{{{text}}}}}`; use args., steps. or env."),
            ));
        }
    };
    Ok(Reference { source, path: path_segments, default })
}

fn resolve(reference: &Reference, bindings: &Bindings<'_>) -> Result<Option<Value>, MissingSetting> {
    let found = match &reference.source {
        Source::Env => {
            let name = reference.path.first().map_or("", String::as_str);
            match ((bindings.env)(name), &reference.default) {
                (Some(value), _) => Some(Value::String(value)),
                (None, Some(default)) => Some(default.clone()),
                (None, None) => return Err(MissingSetting(name.to_owned())),
            }
        }
        Source::Args => lookup(bindings.args, &reference.path),
        Source::Step(step) => bindings.steps.get(step).and_then(|v| lookup(v, &reference.path)),
        Source::Run => bindings.run.and_then(|v| lookup(v, &reference.path)),
    };
    Ok(found.filter(|v| !v.is_null()).or_else(|| reference.default.clone()))
}

fn lookup(value: &Value, path: &[String]) -> Option<Value> {
    let mut current = value;
    for segment in path {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static ENV: std::sync::LazyLock<TemplateEnv> =
        std::sync::LazyLock::new(|| TemplateEnv::new(&["BASE", "MISSING_*", "OPTIONAL", "*_API_KEY"]));

    fn known() -> Known<'static> {
        Known { args: vec!["limit", "q", "filters"], steps: vec!["create"], env: &ENV, run: false }
    }

    fn render(template: &Value, args: &Value) -> Value {
        let steps = HashMap::from([("create".to_owned(), json!({"id": 42, "items": [{"sku": "a"}]}))]);
        let env = |name: &str| (name == "BASE").then(|| "http://up".to_owned());
        let bindings = Bindings { args, steps: &steps, env: &env, run: None };
        Template::parse(template, "$.binding.body", &known()).unwrap().render_value(&bindings).unwrap()
    }

    #[test]
    fn whole_references_keep_json_types_and_text_interpolates() {
        let template = json!({"p_limit": "{{args.limit}}", "p_filters": "{{args.filters}}", "label": "q={{args.q}}!"});
        let out = render(&template, &json!({"limit": 5, "filters": {"a": [1]}, "q": "x"}));
        assert_eq!(out, json!({"p_limit": 5, "p_filters": {"a": [1]}, "label": "q=x!"}));
    }

    #[test]
    fn missing_optionals_are_left_out_and_defaults_apply() {
        let template = json!({"p_limit": "{{args.limit ?? 10}}", "p_q": "{{args.q}}", "url": "{{env.BASE}}/x"});
        assert_eq!(render(&template, &json!({})), json!({"p_limit": 10, "url": "http://up/x"}));
    }

    #[test]
    fn the_run_record_resolves_where_it_is_known() {
        let known = Known { run: true, ..known() };
        let template = Template::parse(&json!({"m": "{{run.mode}}", "all": "{{run}}"}), "$", &known).unwrap();
        let run = json!({"mode": "sequential", "order": []});
        let steps = HashMap::new();
        let env = |_: &str| None;
        let bindings = Bindings { args: &json!({}), steps: &steps, env: &env, run: Some(&run) };
        assert_eq!(template.render_value(&bindings).unwrap(), json!({"m": "sequential", "all": run}));
    }

    #[test]
    fn steps_and_nested_paths_resolve() {
        let out = render(&json!(["{{steps.create.id}}", "{{steps.create.items.0.sku}}"]), &json!({}));
        assert_eq!(out, json!([42, "a"]));
    }

    #[test]
    fn unknown_references_are_rejected_at_load_with_their_path() {
        for (bad, needle) in [
            ("{{args.nope}}", "not a property"),
            ("{{steps.later.id}}", "not an earlier step"),
            ("{{secrets.x}}", "unknown reference"),
            ("{{args.limit ?? ten}}", "JSON literal"),
            ("{{args.limit", "unclosed"),
            ("{{env.INVENTORY_URL}}", "not readable by templates"),
            ("{{run.order}}", "only known in a workflow's result"),
            ("Bearer {{env.SUPABASE_API_KEY}}", "the gateway's own secret"),
        ] {
            let err = Template::parse(&json!({"x": bad}), "$.binding.body", &known()).unwrap_err();
            assert_eq!(err.path, "$.binding.body.x", "{bad}");
            assert!(err.message.contains(needle), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn env_references_are_checked_against_template_env_even_with_a_default() {
        let err = Template::parse(&json!("{{env.OTHER_URL ?? \"x\"}}"), "$.binding.url", &known()).unwrap_err();
        assert_eq!(err.path, "$.binding.url");
        assert!(err.message.starts_with("`{{env.OTHER_URL}}`: `OTHER_URL` is not readable"), "{}", err.message);
        assert!(err.message.contains("`OTHER_*`"), "it says how to allow it: {}", err.message);
        // `*_API_KEY` is allowed, yet the gateway's own keys are not, even in a longer string.
        let err =
            Template::parse(&json!({"h": "x {{env.ELEVENLABS_API_KEY}}"}), "$.binding.headers", &known()).unwrap_err();
        assert_eq!(err.path, "$.binding.headers.h");
        assert!(err.message.contains("setting `elevenlabs_api_key`"), "{}", err.message);
        let allowed = Template::parse(&json!("{{env.INVENTORY_API_KEY}}"), "$", &known()).unwrap();
        assert_eq!(allowed.required_settings(), ["INVENTORY_API_KEY"]);
    }

    #[test]
    fn a_missing_setting_without_default_is_reported_by_name() {
        let template = Template::parse(&json!("{{env.MISSING_URL}}/x"), "$", &known()).unwrap();
        let env = |_: &str| None;
        let steps = HashMap::new();
        let bindings = Bindings { args: &json!({}), steps: &steps, env: &env, run: None };
        assert_eq!(template.render(&bindings).unwrap_err(), MissingSetting("MISSING_URL".into()));
        assert_eq!(template.required_settings(), ["MISSING_URL"]);
        let with_default = Template::parse(&json!("{{env.OPTIONAL ?? \"x\"}}"), "$", &known()).unwrap();
        assert!(with_default.required_settings().is_empty());
    }
}
