//! The `higgsfield` binding: submit a generation to a model path declared in the spec, then poll it as a job.
//!
//! ```json
//! {"kind": "higgsfield", "model": "{{args.model ?? \"higgsfield-ai/soul/standard\"}}", "media": "image",
//!  "body": {"prompt": "{{args.prompt}}", "aspect_ratio": "{{args.aspect_ratio ?? \"1:1\"}}"},
//!  "status_path": "/requests/{id}/status", "cancel_path": "/requests/{id}/cancel", "auth": "key",
//!  "timeout_secs": 30}
//! ```
//!
//! The submit goes to `POST /{model}`; `status_path` and `cancel_path` (`null`: no cancel) hold `{id}`, the
//! provider's request id; `auth` is `key` (`Authorization: Key id:secret`) or `headers` (`hf-api-key` and
//! `hf-secret`). So the older API (`/v1/text2image/soul`, `/v1/job-sets/{id}`) is a spec, not code. The submit
//! is never sent twice; `wait_for_completion` decides whether the call polls or returns the queued job at once.

use std::time::Duration;

use serde_json::{Map, Value};

use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::media::{MediaArgs, job_error, job_output, safe_path, wait_for_higgsfield};
use super::output::ToolOutput;
use super::spec::{PathError, binding_timeout, reject_unknown_keys};
use super::template::{Bindings, Known, MissingSetting, Template, render_for_call};
use crate::error::GatewayError;
use crate::jobs::{JobRecord, JobStatus, MediaKind, UpstreamRequest};
use crate::providers::higgsfield::{self, Auth, Target};
use crate::providers::upstream::RetryPolicy;

const DEFAULT_STATUS_PATH: &str = "/requests/{id}/status";
const DEFAULT_CANCEL_PATH: &str = "/requests/{id}/cancel";

/// A checked `higgsfield` binding.
#[derive(Debug)]
pub struct HiggsfieldBinding {
    model: Template,
    body: Template,
    media: MediaKind,
    status_path: String,
    cancel_path: Option<String>,
    auth: Auth,
    timeout: Duration,
}

/// A path template with `{id}` whose other characters are URL-safe.
fn id_path(obj: &Map<String, Value>, key: &str, default: &str) -> Result<Option<String>, PathError> {
    let path = format!("$.binding.{key}");
    match obj.get(key) {
        None => Ok(Some(default.to_owned())),
        Some(Value::Null) if key == "cancel_path" => Ok(None),
        Some(Value::String(p)) if p.contains("{id}") && safe_path(&p.replace("{id}", "id")) => Ok(Some(p.clone())),
        Some(_) => Err(PathError::new(path, "must be a path like /requests/{id}/status (URL-safe, with {id})")),
    }
}

impl HiggsfieldBinding {
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(
            obj,
            &["kind", "model", "body", "media", "status_path", "cancel_path", "auth", "timeout_secs"],
            "$.binding",
        )?;
        let model = match obj.get("model") {
            Some(m @ Value::String(_)) => Template::parse(m, "$.binding.model", known)?,
            _ => {
                return Err(PathError::new(
                    "$.binding.model",
                    "is required: the model path, e.g. higgsfield-ai/soul/standard",
                ));
            }
        };
        if let Template::Literal(Value::String(literal)) = &model {
            if !safe_path(&format!("/{}", literal.trim_start_matches('/'))) {
                return Err(PathError::new("$.binding.model", "must hold only URL-safe segments, none of them `..`"));
            }
        }
        let body = match obj.get("body") {
            Some(b @ Value::Object(_)) => Template::parse(b, "$.binding.body", known)?,
            _ => return Err(PathError::new("$.binding.body", "is required: the object sent to the model")),
        };
        let media = match obj.get("media").and_then(Value::as_str) {
            Some("image") => MediaKind::Image,
            Some("video") => MediaKind::Video,
            _ => return Err(PathError::new("$.binding.media", "must be `image` or `video`")),
        };
        let status_path = id_path(obj, "status_path", DEFAULT_STATUS_PATH)?.unwrap_or_default();
        let cancel_path = id_path(obj, "cancel_path", DEFAULT_CANCEL_PATH)?;
        let auth = match obj.get("auth").map(Value::as_str) {
            None | Some(Some("key")) => Auth::Key,
            Some(Some("headers")) => Auth::Headers,
            Some(_) => return Err(PathError::new("$.binding.auth", "must be `key` or `headers`")),
        };
        let timeout = binding_timeout(obj)?;
        Ok(Self { model, body, media, status_path, cancel_path, auth, timeout })
    }
}

impl BindingKind for HiggsfieldBinding {
    fn kind(&self) -> &'static str {
        "higgsfield"
    }

    fn runs_as_job(&self) -> bool {
        true
    }

    /// Settings a call needs.
    fn required_settings(&self) -> Vec<&str> {
        vec!["HIGGSFIELD_API_KEY", "HIGGSFIELD_API_SECRET"]
    }

    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name: tool, ctx, args, deadline } = call;
        let args = &args;
        let jobs = engine.jobs();
        higgsfield::credentials(jobs.higgsfield())?;
        let (model, body) = render_for_call(args, |bindings| self.build(bindings))?;
        let submit_path = format!("/{}", model.trim_start_matches('/'));
        if !safe_path(&submit_path) {
            return Err(GatewayError::invalid_params(format!(
                "`{model}` is not a usable Higgsfield model path (URL-safe segments only, none of them `..`)"
            )));
        }
        let media = MediaArgs::read(args);
        let upstream = jobs.upstream("higgsfield", RetryPolicy::retrying(higgsfield::TRANSIENT));
        let target = Target { auth: self.auth, path: &submit_path, timeout: self.timeout };
        let provider_id =
            higgsfield::submit(jobs.higgsfield(), &upstream, target, &body, &ctx.request_id, deadline).await?;
        let mut record =
            JobRecord::new(ctx.caller.id(), "higgsfield", tool, Some(model), self.media, media.project, body);
        record.upstream = Some(UpstreamRequest {
            status_path: self.status_path.replace("{id}", &provider_id),
            cancel_path: self.cancel_path.as_ref().map(|p| p.replace("{id}", &provider_id)),
            request_id: provider_id,
            auth: self.auth,
        });
        jobs.save(&record).await?;
        if !media.wait {
            jobs.spawn_polling(record.job_id.clone());
            return Ok(job_output(jobs, &record).await);
        }
        let record = wait_for_higgsfield(jobs, ctx, record, deadline).await?;
        if record.status.is_terminal() && record.status != JobStatus::Completed {
            return Err(job_error(&record));
        }
        Ok(job_output(jobs, &record).await)
    }
}

impl HiggsfieldBinding {
    fn build(&self, bindings: &Bindings<'_>) -> Result<(String, Value), MissingSetting> {
        let model = match self.model.render_value(bindings)? {
            Value::String(model) => model,
            other => other.to_string(),
        };
        Ok((model, self.body.render_value(bindings)?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::binding::Binding;
    use super::*;

    fn parse(binding: Value) -> Result<Binding, PathError> {
        let schema =
            json!({"type": "object", "properties": {"prompt": {"type": "string"}, "model": {"type": "string"}}});
        Binding::parse(&binding, &schema, &crate::config::TemplateEnv::default())
    }

    #[test]
    fn the_older_api_is_a_configuration() {
        let legacy = parse(json!({"kind": "higgsfield", "media": "image", "model": "v1/text2image/soul",
                                  "body": {"prompt": "{{args.prompt}}"}, "status_path": "/v1/job-sets/{id}",
                                  "cancel_path": null, "auth": "headers"}))
        .unwrap();
        let Binding::Higgsfield(binding) = legacy else { panic!("a higgsfield binding") };
        assert_eq!(binding.status_path, "/v1/job-sets/{id}");
        assert_eq!(binding.cancel_path, None);
        assert_eq!(binding.auth, Auth::Headers);
    }

    #[test]
    fn bad_bindings_are_rejected_at_their_json_path() {
        let body = json!({"prompt": "{{args.prompt}}"});
        for (binding, path, needle) in [
            (json!({"kind": "higgsfield", "media": "image", "body": body}), "$.binding.model", "required"),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "../admin", "body": body}),
                "$.binding.model",
                "URL-safe",
            ),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "{{args.modle}}", "body": body}),
                "$.binding.model",
                "not a property",
            ),
            (json!({"kind": "higgsfield", "media": "image", "model": "m/x"}), "$.binding.body", "required"),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "m/x", "body": {"p": "{{args.promt}}"}}),
                "$.binding.body.p",
                "not a property",
            ),
            (json!({"kind": "higgsfield", "media": "audio", "model": "m/x", "body": body}), "$.binding.media", "image"),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "m/x", "body": body, "status_path": "/requests/status"}),
                "$.binding.status_path",
                "{id}",
            ),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "m/x", "body": body, "status_path": null}),
                "$.binding.status_path",
                "{id}",
            ),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "m/x", "body": body, "cancel_path": "/../{id}"}),
                "$.binding.cancel_path",
                "URL-safe",
            ),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "m/x", "body": body, "auth": "bearer"}),
                "$.binding.auth",
                "key",
            ),
            (
                json!({"kind": "higgsfield", "media": "image", "model": "m/x", "body": body, "webhook": "x"}),
                "$.binding.webhook",
                "unknown field",
            ),
        ] {
            let err = parse(binding.clone()).unwrap_err();
            assert_eq!(err.path, path, "{binding}: {err:?}");
            assert!(err.message.contains(needle), "{binding}: {}", err.message);
        }
    }
}
