//! The `elevenlabs` binding: an ElevenLabs request declared in a spec, audio stored as a media job.
//!
//! ```json
//! {"kind": "elevenlabs", "path": "/v1/text-to-speech/{{args.voice_id ?? \"21m00Tcm4TlvDq8ikWAM\"}}",
//!  "query": {"output_format": "{{args.output_format ?? \"mp3_44100_128\"}}"},
//!  "body": {"text": "{{args.text}}", "model_id": "{{args.model_id ?? \"eleven_multilingual_v2\"}}"},
//!  "model": "{{args.model_id ?? \"eleven_multilingual_v2\"}}", "timeout_secs": 120}
//! ```
//!
//! `method` (default POST), `query`, `body` and `model` (recorded in the job) are templates checked at load.
//! `seconds_to_ms` maps body fields to templates given in seconds and sent in milliseconds (the seed's music
//! `duration` becomes `music_length_ms`). `output`: `audio` (default: a media job; the answer must be audio
//! bytes) or `json` (the answer is the result, e.g. `GET /v1/voices`). Rendered paths may only hold URL-safe
//! characters and no `..` segment.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::media::{Handoff, MediaArgs, OnAbandon, job_output, safe_path, template_pairs, with_job};
use super::output::ToolOutput;
use super::spec::{PathError, binding_timeout, reject_unknown_keys};
use super::template::{Bindings, Known, MissingSetting, Template, render_for_call};
use crate::error::GatewayError;
use crate::jobs::{JobRecord, MediaKind};
use crate::providers::elevenlabs::{self, Request};
use crate::providers::upstream::RetryPolicy;

/// What the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Audio,
    Json,
}

/// A checked `elevenlabs` binding.
#[derive(Debug)]
pub struct ElevenLabsBinding {
    method: reqwest::Method,
    path: Template,
    query: Vec<(String, Template)>,
    body: Option<Template>,
    seconds_to_ms: Vec<(String, Template)>,
    model: Option<Template>,
    output: Output,
    timeout: Duration,
}

impl ElevenLabsBinding {
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(
            obj,
            &["kind", "method", "path", "query", "body", "seconds_to_ms", "model", "output", "timeout_secs"],
            "$.binding",
        )?;
        let method = match obj.get("method").map(|m| m.as_str().map(str::to_ascii_uppercase)) {
            None => reqwest::Method::POST,
            Some(Some(m)) if m == "POST" => reqwest::Method::POST,
            Some(Some(m)) if m == "GET" => reqwest::Method::GET,
            Some(_) => return Err(PathError::new("$.binding.method", "must be GET or POST")),
        };
        let path = match obj.get("path") {
            Some(p @ Value::String(text)) if text.starts_with('/') => Template::parse(p, "$.binding.path", known)?,
            _ => return Err(PathError::new("$.binding.path", "is required: the API path, e.g. /v1/sound-generation")),
        };
        if let Template::Literal(Value::String(literal)) = &path {
            if !safe_path(literal) {
                return Err(PathError::new("$.binding.path", "must hold only URL-safe segments, none of them `..`"));
            }
        }
        let query = template_pairs(obj, "query", known)?;
        let body = obj.get("body").map(|b| Template::parse(b, "$.binding.body", known)).transpose()?;
        if body.as_ref().is_some_and(|b| !matches!(b, Template::Object(_))) {
            return Err(PathError::new("$.binding.body", "must be an object"));
        }
        let seconds_to_ms = template_pairs(obj, "seconds_to_ms", known)?;
        let model = match obj.get("model") {
            None => None,
            Some(m @ Value::String(_)) => Some(Template::parse(m, "$.binding.model", known)?),
            Some(_) => return Err(PathError::new("$.binding.model", "must be a string template")),
        };
        let output = match obj.get("output").map(Value::as_str) {
            None | Some(Some("audio")) => Output::Audio,
            Some(Some("json")) => Output::Json,
            Some(_) => return Err(PathError::new("$.binding.output", "must be `audio` or `json`")),
        };
        if output == Output::Audio && method != reqwest::Method::POST {
            return Err(PathError::new("$.binding.method", "audio generations are POST requests"));
        }
        let timeout = match obj.get("timeout_secs") {
            None => Duration::from_secs(120),
            Some(_) => binding_timeout(obj)?,
        };
        Ok(Self { method, path, query, body, seconds_to_ms, model, output, timeout })
    }

    /// Whether calls produce audio (a media job) rather than JSON.
    #[must_use]
    pub fn produces_media(&self) -> bool {
        self.output == Output::Audio
    }
}

impl BindingKind for ElevenLabsBinding {
    fn kind(&self) -> &'static str {
        "elevenlabs"
    }

    fn runs_as_job(&self) -> bool {
        self.produces_media()
    }

    /// Settings a call needs.
    fn required_settings(&self) -> Vec<&str> {
        vec!["ELEVENLABS_API_KEY"]
    }

    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: tool, ctx, args, deadline } = call;
        let args = &args;
        let jobs = engine.jobs();
        elevenlabs::check_configured(jobs.elevenlabs())?;
        let (request, model) = render_for_call(args, |bindings| self.build(bindings))?;
        if !safe_path(&request.path) {
            return Err(GatewayError::invalid_params(format!(
                "`{}` is not a usable ElevenLabs path: an argument holds characters a path segment cannot",
                request.path
            )));
        }
        if self.output == Output::Json {
            let upstream = jobs.upstream("elevenlabs", RetryPolicy::retrying(elevenlabs::TRANSIENT));
            let value =
                elevenlabs::fetch_json(jobs.elevenlabs(), &upstream, &request, &ctx.request_id, deadline).await?;
            return Ok(ToolOutput::json(value));
        }
        let media = MediaArgs::read(args);
        let mut params = request.body.clone().unwrap_or_else(|| json!({}));
        for (name, value) in &request.query {
            params[name] = json!(value);
        }
        let mut record =
            JobRecord::new(ctx.caller.id(), "elevenlabs", tool, model, MediaKind::Audio, media.project, params);
        jobs.save(&record).await?;
        if !media.wait {
            jobs.spawn_elevenlabs(record.clone(), request, ctx.request_id.to_string(), self.timeout);
            return Ok(job_output(jobs, &record).await);
        }
        let mut handoff = Handoff::new(jobs, &record.job_id, ctx, OnAbandon::Fail);
        let outcome = jobs.run_elevenlabs(&mut record, &request, &ctx.request_id, deadline).await;
        handoff.disarm();
        outcome.map_err(|err| with_job(err, &record))?;
        Ok(job_output(jobs, &record).await)
    }
}

impl ElevenLabsBinding {
    fn build(&self, bindings: &Bindings<'_>) -> Result<(Request, Option<String>), MissingSetting> {
        let path = match self.path.render_value(bindings)? {
            Value::String(path) => path,
            other => other.to_string(),
        };
        let mut query = Vec::new();
        for (name, template) in &self.query {
            match template.render(bindings)? {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => query.push((name.clone(), s)),
                Some(other) => query.push((name.clone(), other.to_string())),
            }
        }
        let mut body = self.body.as_ref().map(|b| b.render_value(bindings)).transpose()?;
        for (field, template) in &self.seconds_to_ms {
            let seconds = template.render(bindings)?.and_then(|v| v.as_f64());
            if let (Some(Value::Object(map)), Some(seconds)) = (body.as_mut(), seconds) {
                if !map.contains_key(field) {
                    #[expect(clippy::cast_possible_truncation, reason = "milliseconds of a bounded duration")]
                    map.insert(field.clone(), json!((seconds * 1000.0).round() as i64));
                }
            }
        }
        let model = match self.model.as_ref().map(|m| m.render_value(bindings)).transpose()? {
            Some(Value::String(m)) if !m.is_empty() => Some(m),
            _ => None,
        };
        let request = Request { method: self.method.clone(), path, query, body, timeout: self.timeout };
        Ok((request, model))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::binding::Binding;
    use super::*;

    fn parse(binding: Value) -> Result<Binding, PathError> {
        let schema =
            json!({"type": "object", "properties": {"text": {"type": "string"}, "voice_id": {"type": "string"}}});
        Binding::parse(&binding, &schema, &crate::config::TemplateEnv::default())
    }

    #[test]
    fn a_good_binding_loads() {
        let ok = parse(json!({"kind": "elevenlabs", "path": "/v1/text-to-speech/{{args.voice_id ?? \"v\"}}",
                              "body": {"text": "{{args.text}}"}, "query": {"output_format": "mp3_44100_128"}}));
        assert!(matches!(ok, Ok(Binding::ElevenLabs(_))), "{ok:?}");
    }

    #[test]
    fn bad_bindings_are_rejected_at_their_json_path() {
        for (binding, path, needle) in [
            (json!({"kind": "elevenlabs"}), "$.binding.path", "required"),
            (json!({"kind": "elevenlabs", "path": "v1/music"}), "$.binding.path", "required"),
            (json!({"kind": "elevenlabs", "path": "/v1/../admin"}), "$.binding.path", "URL-safe"),
            (
                json!({"kind": "elevenlabs", "path": "/v1/music", "body": {"text": "{{args.txt}}"}}),
                "$.binding.body.text",
                "not a property",
            ),
            (json!({"kind": "elevenlabs", "path": "/v1/music", "body": "{{args.text}}"}), "$.binding.body", "object"),
            (
                json!({"kind": "elevenlabs", "path": "/v1/music", "query": {"f": "{{env.bad-name}}"}}),
                "$.binding.query.f",
                "env.NAME",
            ),
            (json!({"kind": "elevenlabs", "path": "/v1/music", "output": "video"}), "$.binding.output", "audio"),
            (json!({"kind": "elevenlabs", "path": "/v1/voices", "method": "GET"}), "$.binding.method", "POST"),
            (json!({"kind": "elevenlabs", "path": "/v1/music", "method": "PATCH"}), "$.binding.method", "GET or POST"),
            (
                json!({"kind": "elevenlabs", "path": "/v1/music", "timeout_secs": 0}),
                "$.binding.timeout_secs",
                "seconds",
            ),
            (json!({"kind": "elevenlabs", "path": "/v1/music", "voice": "x"}), "$.binding.voice", "unknown field"),
            (
                json!({"kind": "elevenlabs", "path": "/v1/music", "seconds_to_ms": {"music_length_ms": "{{args.secs}}"}}),
                "$.binding.seconds_to_ms.music_length_ms",
                "not a property",
            ),
        ] {
            let err = parse(binding.clone()).unwrap_err();
            assert_eq!(err.path, path, "{binding}: {err:?}");
            assert!(err.message.contains(needle), "{binding}: {}", err.message);
        }
    }

    #[test]
    fn only_url_safe_paths_pass() {
        assert!(safe_path("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"));
        for bad in ["/v1/x/../y", "/v1//x", "/v1/x?y=1", "/v1/a b", "v1/x", "/v1/%2e%2e"] {
            assert!(!safe_path(bad), "{bad}");
        }
    }
}
