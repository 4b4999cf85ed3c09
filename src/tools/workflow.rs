//! The `workflow` binding: a DAG of steps, each a gateway tool or an inline binding, with a result template.
//!
//! ```json
//! {"kind": "workflow",
//!  "steps": [
//!    {"id": "facture", "tool": "get_facture_by_id", "args": {"facture_id": "{{args.facture_id}}"}},
//!    {"id": "pdf", "args": {"facture": "{{steps.facture}}"},
//!     "binding": {"kind": "worker", "worker": "document", "path": "/generate/facture",
//!                 "body": {"facture": "{{args.facture}}"}}},
//!    {"id": "create", "tool": "create_facture", "args": {...},
//!     "compensate": {"tool": "delete_facture", "args": {"facture_id": "{{steps.create.id}}"}}}
//!  ],
//!  "result": {"pdf": "{{steps.pdf}}"}}
//! ```
//!
//! A step runs once every step it depends on has finished: those named in `after` and those its `args` or
//! `when` reference. A step whose `when` renders to null, false or nothing is skipped (its output is null).
//! Steps may only refer to steps declared before them, so a workflow is acyclic by construction, and steps
//! without a dependency between them run concurrently, unless `sequential` (a template of the arguments, read
//! like `when`) holds: then one step runs at a time, in declaration order, each starting after every earlier one
//! finished or was skipped. The result template may read `{{run}}`: `{mode: "parallel" | "sequential", order:
//! [{step, started_at, finished_at}] in the order the steps started, skipped: [ids]}`. A tool step goes through
//! the engine (the caller's permissions and argument validation apply); an inline binding sees its step's
//! rendered `args` as `{{args.*}}`. Each finished step is reported as MCP progress.
//!
//! When a step fails, no further step starts; steps already running finish, so the outcome of every write is
//! known. Completed steps with a `compensate` action are then undone, newest first, and the error names the
//! failed step, what completed, what was compensated, and what was left in place. A part of the deadline is kept
//! back for compensation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::binding::Binding;
use super::context::CallCtx;
use super::engine::Engine;
use super::executor::{BindingKind, Call};
use super::output::ToolOutput;
use super::spec::{PathError, reject_unknown_keys};
use super::template::{Known, Template, render_with_steps};
use crate::error::{ErrorCode, GatewayError};
use crate::timestamp::now_rfc3339;

/// What a step (or a compensation) does.
#[derive(Debug)]
enum Action {
    /// A gateway tool, by name (checked against the registry when specs load).
    Tool(String),
    /// An inline binding whose `{{args.*}}` are the step's rendered arguments.
    Inline(Box<Binding>),
}

#[derive(Debug)]
struct Step {
    id: String,
    /// Indices of the steps that must finish first.
    deps: Vec<usize>,
    /// Run the step only when this renders to something other than null, false or absent.
    when: Option<Template>,
    args: Template,
    action: Action,
    compensate: Option<Compensation>,
}

#[derive(Debug)]
struct Compensation {
    args: Template,
    action: Action,
}

/// Where a failed run stopped: step outputs, which steps completed (in order), which were running when it stopped
/// (their effect unknown), the step that failed and why.
struct Failure {
    outputs: HashMap<String, Value>,
    completed: Vec<usize>,
    unknown: Vec<usize>,
    failed: usize,
    cause: GatewayError,
}

/// A checked `workflow` binding.
#[derive(Debug)]
pub struct WorkflowBinding {
    steps: Vec<Step>,
    /// When it holds, steps run one at a time in declaration order.
    sequential: Option<Template>,
    result: Option<Template>,
}

/// When the steps of one run started (in that order) and finished, for `{{run}}`.
struct RunLog {
    sequential: bool,
    /// Step index and start time, in the order the steps started.
    started: Vec<(usize, String)>,
    finished: Vec<Option<String>>,
}

impl RunLog {
    fn record(&self, steps: &[Step], skipped: &[usize]) -> Value {
        let order: Vec<Value> = self
            .started
            .iter()
            .map(|(i, at)| json!({"step": steps[*i].id, "started_at": at, "finished_at": self.finished[*i]}))
            .collect();
        let skipped: Vec<&str> = skipped.iter().map(|i| steps[*i].id.as_str()).collect();
        json!({"mode": if self.sequential { "sequential" } else { "parallel" }, "order": order, "skipped": skipped})
    }
}

/// Whether a rendered condition (`when`, `sequential`) holds: anything but null, false or nothing.
/// The key a step's result is remembered under across the rounds of one request: the workflow, the step and
/// a digest of the arguments it ran with (different arguments are a different step run).
fn memo_key(workflow: &str, step: &str, args: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(args).unwrap_or_default());
    let short: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("workflow:{workflow}:{step}:{short}")
}

/// A remembered step result: its value and the media blocks it passed on.
fn from_memo(memo: Value) -> Option<(Value, Vec<Value>)> {
    let Value::Object(mut memo) = memo else { return None };
    let value = memo.remove("value")?;
    let blocks = match memo.remove("blocks") {
        Some(Value::Array(blocks)) => blocks,
        _ => Vec::new(),
    };
    Some((value, blocks))
}

fn holds(rendered: Option<&Value>) -> bool {
    !matches!(rendered, None | Some(Value::Null | Value::Bool(false)))
}

fn is_step_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl WorkflowBinding {
    /// Parse `$.binding`; `known` holds the tool's arguments (steps are added here, in order).
    pub fn parse(obj: &Map<String, Value>, known: &Known<'_>) -> Result<Self, PathError> {
        reject_unknown_keys(obj, &["kind", "steps", "sequential", "result"], "$.binding")?;
        let Some(Value::Array(raw_steps)) = obj.get("steps") else {
            return Err(PathError::new("$.binding.steps", "a workflow needs an array of steps"));
        };
        if raw_steps.is_empty() {
            return Err(PathError::new("$.binding.steps", "a workflow needs at least one step"));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(raw_steps.len());
        for (i, raw) in raw_steps.iter().enumerate() {
            let at = format!("$.binding.steps[{i}]");
            let earlier: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
            let step = parse_step(raw, &at, known, &earlier)?;
            steps.push(step);
        }
        // Read before any step runs: the arguments and settings only.
        let sequential =
            obj.get("sequential").map(|s| Template::parse(s, "$.binding.sequential", known)).transpose()?;
        let result = match obj.get("result") {
            None => None,
            Some(template) => {
                let known = Known {
                    args: known.args.clone(),
                    steps: steps.iter().map(|s| s.id.as_str()).collect(),
                    env: known.env,
                    run: true,
                };
                Some(Template::parse(template, "$.binding.result", &known)?)
            }
        };
        Ok(Self { steps, sequential, result })
    }
}

impl BindingKind for WorkflowBinding {
    fn kind(&self) -> &'static str {
        "workflow"
    }

    /// Settings the inline bindings need (tool steps are checked when they are called).
    fn required_settings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for step in &self.steps {
            let compensation = step.compensate.as_ref().map(|c| &c.action);
            for action in std::iter::once(&step.action).chain(compensation) {
                if let Action::Inline(binding) = action {
                    for setting in binding.required_settings() {
                        if !out.contains(&setting) {
                            out.push(setting);
                        }
                    }
                }
            }
        }
        out
    }

    /// The tools the steps and compensations name, with the JSON path of each reference.
    fn tool_references(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            if let Action::Tool(name) = &step.action {
                out.push((format!("$.binding.steps[{i}].tool"), name.as_str()));
            }
            if let Some(Compensation { action: Action::Tool(name), .. }) = &step.compensate {
                out.push((format!("$.binding.steps[{i}].compensate.tool"), name.as_str()));
            }
        }
        out
    }

    async fn run(&self, engine: &Engine, call: Call<'_>) -> Result<ToolOutput, GatewayError> {
        let Call { name, ctx, args, deadline } = call;
        let args = &args;
        let total = self.steps.len();
        let sequential = match &self.sequential {
            Some(condition) => holds(render_with_steps(args, &HashMap::new(), None, |b| condition.render(b))?.as_ref()),
            None => false,
        };
        let mut log = RunLog { sequential, started: Vec::new(), finished: vec![None; total] };
        // Keep part of the time for compensation: a fifth of what is left, at most 5 s.
        let reserve = (deadline.saturating_duration_since(Instant::now()) / 5).min(Duration::from_secs(5));
        let steps_deadline = deadline.checked_sub(reserve).unwrap_or(deadline);
        let mut outputs: HashMap<String, Value> = HashMap::new();
        let mut started = vec![false; total];
        let mut completed: Vec<usize> = Vec::new();
        let mut skipped: Vec<usize> = Vec::new();
        // Per step, the content blocks worth passing on (links to and inline copies of produced media).
        let mut media: Vec<Vec<Value>> = vec![Vec::new(); total];
        let mut failure: Option<(usize, GatewayError)> = None;
        let mut running = FuturesUnordered::new();
        loop {
            if failure.is_none() {
                for (i, step) in self.steps.iter().enumerate() {
                    let done = |j: &usize| completed.contains(j) || skipped.contains(j);
                    let waits_for_earlier = sequential && !(0..i).all(|j| done(&j));
                    if started[i] || waits_for_earlier || !step.deps.iter().all(done) {
                        continue;
                    }
                    started[i] = true;
                    if let Some(condition) = &step.when {
                        match render_with_steps(args, &outputs, None, |b| condition.render(b)) {
                            Ok(rendered) if !holds(rendered.as_ref()) => {
                                skipped.push(i);
                                outputs.insert(step.id.clone(), Value::Null);
                                let done = completed.len() + skipped.len();
                                let message = format!("step `{}` skipped ({done}/{total})", step.id);
                                ctx.progress(done as f64, Some(total as f64), Some(&message)).await;
                                continue;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                failure = Some((i, e));
                                break;
                            }
                        }
                    }
                    match render_with_steps(args, &outputs, None, |b| step.args.render_value(b)) {
                        Ok(step_args) => {
                            log.started.push((i, now_rfc3339()));
                            running.push(async move {
                                // A step that ran in an earlier round of this request (the client answered a
                                // later step's question and repeated the request) is not run again.
                                let key = memo_key(name, &step.id, &step_args);
                                if let Some(done) = ctx.recall(&key).and_then(from_memo) {
                                    return (i, Ok(done));
                                }
                                let outcome = self
                                    .run_action(engine, ctx, &step.id, &step.action, step_args, steps_deadline)
                                    .await;
                                if let Ok((value, blocks)) = &outcome {
                                    ctx.remember(&key, json!({"value": value, "blocks": blocks}));
                                }
                                (i, outcome)
                            });
                        }
                        Err(e) => {
                            failure = Some((i, e));
                            break;
                        }
                    }
                }
            }
            let next = tokio::time::timeout_at(steps_deadline.into(), running.next()).await;
            match next {
                Ok(None) => break,
                Ok(Some((i, Ok((value, blocks))))) => {
                    log.finished[i] = Some(now_rfc3339());
                    outputs.insert(self.steps[i].id.clone(), value);
                    media[i] = blocks;
                    completed.push(i);
                    let done = completed.len() + skipped.len();
                    let message = format!("step `{}` done ({done}/{total})", self.steps[i].id);
                    ctx.progress(done as f64, Some(total as f64), Some(&message)).await;
                }
                Ok(Some((i, Err(e)))) => {
                    if failure.is_none() {
                        failure = Some((i, e));
                    }
                }
                Err(_elapsed) => {
                    let unfinished =
                        (0..total).find(|i| started[*i] && !completed.contains(i) && !skipped.contains(i)).unwrap_or(0);
                    let err = GatewayError::new(
                        ErrorCode::Timeout,
                        "did not finish before the workflow's deadline; its effect is unknown",
                    );
                    failure = Some((failure.map_or(unfinished, |(i, _)| i), err));
                    // Dropping the running steps abandons them; they are reported as "unknown".
                    break;
                }
            }
        }
        let unknown: Vec<usize> =
            (0..total).filter(|i| started[*i] && !completed.contains(i) && !skipped.contains(i)).collect();
        drop(running);
        let Some((failed, cause)) = failure else {
            let value = match &self.result {
                Some(template) => {
                    let run = log.record(&self.steps, &skipped);
                    render_with_steps(args, &outputs, Some(&run), |b| template.render_value(b))?
                }
                None => Value::Object(outputs.into_iter().collect()),
            };
            let media: Vec<Value> = media.into_iter().flatten().collect();
            let mut output = ToolOutput::json(value);
            if !media.is_empty() {
                output.content = output.content_blocks();
                output.content.extend(media);
            }
            return Ok(output);
        };
        if cause.code == ErrorCode::InputRequired {
            // Not a failure: the client answers and repeats the request; completed steps are recalled then.
            return Err(cause);
        }
        let failure = Failure { outputs, completed, unknown, failed, cause };
        Err(self.undo(engine, ctx, args, failure, deadline).await)
    }
}

impl WorkflowBinding {
    /// Compensate completed steps, newest first, and describe what happened.
    async fn undo(
        &self,
        engine: &Engine,
        ctx: &CallCtx,
        args: &Value,
        failure: Failure,
        deadline: Instant,
    ) -> GatewayError {
        let Failure { outputs, completed, unknown, failed, cause } = failure;
        let outputs = &outputs;
        let mut compensated = Vec::new();
        let mut compensation_failed = Vec::new();
        let mut left_in_place = Vec::new();
        for &i in completed.iter().rev() {
            let step = &self.steps[i];
            let Some(compensation) = &step.compensate else {
                left_in_place.push(step.id.as_str());
                continue;
            };
            let outcome = match render_with_steps(args, outputs, None, |b| compensation.args.render_value(b)) {
                Ok(comp_args) => {
                    self.run_action(engine, ctx, &step.id, &compensation.action, comp_args, deadline).await.map(|_| ())
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(_) => compensated.push(step.id.as_str()),
                Err(e) => {
                    tracing::warn!(step = step.id, error = %e.message, "workflow compensation failed");
                    compensation_failed.push(json!({"step": step.id, "code": e.code.as_str(), "message": e.message}));
                }
            }
        }
        let names = |list: &[&str]| if list.is_empty() { "none".to_owned() } else { list.join(", ") };
        let completed_ids: Vec<&str> = completed.iter().map(|i| self.steps[*i].id.as_str()).collect();
        let unknown_ids: Vec<&str> =
            unknown.iter().filter(|i| **i != failed).map(|i| self.steps[*i].id.as_str()).collect();
        let not_started: Vec<&str> = (0..self.steps.len())
            .filter(|i| !completed.contains(i) && !unknown.contains(i) && *i != failed)
            .map(|i| self.steps[i].id.as_str())
            .collect();
        let step_id = &self.steps[failed].id;
        let mut message = format!(
            "workflow step `{step_id}` failed: {}. Completed: {}; compensated: {}; left in place: {}",
            cause.message,
            names(&completed_ids),
            names(&compensated),
            names(&left_in_place)
        );
        if !compensation_failed.is_empty() {
            message.push_str(&format!("; {} compensation(s) failed", compensation_failed.len()));
        }
        // Retrying is only safe when nothing the workflow did is still in place.
        let clean = left_in_place.is_empty() && compensation_failed.is_empty() && unknown_ids.is_empty();
        GatewayError::new(cause.code, message)
            .with_details(json!({
                "failed_step": step_id,
                "error": {"code": cause.code.as_str(), "message": cause.message, "details": cause.details},
                "completed": completed_ids,
                "compensated": compensated,
                "compensation_failed": compensation_failed,
                "left_in_place": left_in_place,
                "unknown": unknown_ids,
                "not_started": not_started,
            }))
            .retryable(cause.retryable && clean)
    }

    /// Run a step's (or a compensation's) action; `label` names it for the jobs and assets it may produce. The
    /// answer is the action's JSON value and its non-text content blocks (resource links, images, audio).
    async fn run_action(
        &self,
        engine: &Engine,
        ctx: &CallCtx,
        label: &str,
        action: &Action,
        args: Value,
        deadline: Instant,
    ) -> Result<(Value, Vec<Value>), GatewayError> {
        let output = match action {
            Action::Tool(name) => {
                // Through the whole pipeline as the caller (permissions, validation, audit), one level deeper.
                let nested = ctx.nested()?;
                let call = engine.call_boxed(&nested, name, args);
                tokio::time::timeout_at(deadline.into(), call).await.map_err(|_| {
                    GatewayError::new(
                        ErrorCode::Timeout,
                        format!("`{name}` did not finish before the workflow's deadline"),
                    )
                })??
            }
            Action::Inline(binding) => {
                let run = binding.run(engine, Call { name: label, ctx, args, deadline });
                tokio::time::timeout_at(deadline.into(), run).await.map_err(|_| {
                    GatewayError::new(ErrorCode::Timeout, "the step did not finish before the workflow's deadline")
                })??
            }
        };
        let blocks: Vec<Value> =
            output.content.iter().filter(|b| b.get("type").and_then(Value::as_str) != Some("text")).cloned().collect();
        Ok((output.into_rest()?, blocks))
    }
}

fn parse_step(raw: &Value, at: &str, tool: &Known<'_>, earlier: &[&str]) -> Result<Step, PathError> {
    let Value::Object(obj) = raw else {
        return Err(PathError::new(at, "a step is an object with an `id` and a `tool` or `binding`"));
    };
    reject_unknown_keys(obj, &["id", "tool", "binding", "args", "after", "when", "compensate"], at)?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| is_step_id(id))
        .ok_or_else(|| PathError::new(format!("{at}.id"), "a step needs an id (letters, digits, _)"))?
        .to_owned();
    if earlier.contains(&id.as_str()) {
        return Err(PathError::new(format!("{at}.id"), format!("step id `{id}` is used twice")));
    }
    let mut deps: Vec<usize> = Vec::new();
    match obj.get("after") {
        None => {}
        Some(Value::Array(names)) => {
            for (j, name) in names.iter().enumerate() {
                let index = name.as_str().and_then(|n| earlier.iter().position(|e| *e == n)).ok_or_else(|| {
                    PathError::new(format!("{at}.after[{j}]"), format!("{name} is not the id of an earlier step"))
                })?;
                deps.push(index);
            }
        }
        Some(_) => return Err(PathError::new(format!("{at}.after"), "must be an array of earlier step ids")),
    }
    let known = Known { args: tool.args.clone(), steps: earlier.to_vec(), env: tool.env, run: false };
    let (step_args, action) = parse_action(obj, at, &known)?;
    let when = obj.get("when").map(|w| Template::parse(w, &format!("{at}.when"), &known)).transpose()?;
    let when_refs = when.iter().flat_map(Template::referenced_steps);
    for referenced in step_args.referenced_steps().into_iter().chain(when_refs) {
        if let Some(index) = earlier.iter().position(|e| *e == referenced) {
            if !deps.contains(&index) {
                deps.push(index);
            }
        }
    }
    let compensate = match obj.get("compensate") {
        None => None,
        Some(Value::Object(comp)) => {
            let comp_at = format!("{at}.compensate");
            reject_unknown_keys(comp, &["tool", "binding", "args"], &comp_at)?;
            let mut with_self = earlier.to_vec();
            with_self.push(&id);
            let known = Known { args: tool.args.clone(), steps: with_self, env: tool.env, run: false };
            let (args, action) = parse_action(comp, &comp_at, &known)?;
            Some(Compensation { args, action })
        }
        Some(_) => return Err(PathError::new(format!("{at}.compensate"), "must be an object with a tool or binding")),
    };
    Ok(Step { id, deps, when, args: step_args, action, compensate })
}

/// A step's or compensation's `args` template and its `tool` or inline `binding`.
fn parse_action(obj: &Map<String, Value>, at: &str, known: &Known<'_>) -> Result<(Template, Action), PathError> {
    let args_value = obj.get("args").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let args = Template::parse(&args_value, &format!("{at}.args"), known)?;
    let action = match (obj.get("tool"), obj.get("binding")) {
        (Some(Value::String(name)), None) => Action::Tool(name.clone()),
        (None, Some(binding)) => {
            let Value::Object(arg_map) = &args_value else {
                return Err(PathError::new(format!("{at}.args"), "an inline binding's args must be an object"));
            };
            if binding.get("kind").and_then(Value::as_str) == Some("workflow") {
                return Err(PathError::new(
                    format!("{at}.binding.kind"),
                    "a workflow step cannot be an inline workflow; make it a tool and name it in `tool`",
                ));
            }
            // The inline binding's `{{args.*}}` are the step's own arguments.
            let properties: Map<String, Value> = arg_map.keys().map(|k| (k.clone(), json!({}))).collect();
            let schema = json!({"type": "object", "properties": properties});
            let parsed = Binding::parse(binding, &schema, known.env).map_err(|e| PathError {
                path: e.path.replacen("$.binding", &format!("{at}.binding"), 1),
                message: e.message,
            })?;
            Action::Inline(Box::new(parsed))
        }
        (Some(_), None) => return Err(PathError::new(format!("{at}.tool"), "must be a tool name")),
        _ => return Err(PathError::new(at, "needs exactly one of `tool` or `binding`")),
    };
    Ok((args, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(binding: Value) -> Result<WorkflowBinding, PathError> {
        let Value::Object(obj) = binding else { unreachable!() };
        let schema = json!({"type": "object", "properties": {"id": {"type": "string"}}});
        WorkflowBinding::parse(&obj, &Known::arguments_of(&schema, &crate::config::TemplateEnv::default()))
    }

    #[test]
    fn dependencies_come_from_after_and_references() {
        let wf = parse(json!({"kind": "workflow", "steps": [
            {"id": "a", "tool": "t", "args": {"x": "{{args.id}}"}},
            {"id": "b", "tool": "t"},
            {"id": "c", "tool": "t", "after": ["b"], "args": {"y": "{{steps.a.value}}"}}
        ]}))
        .unwrap();
        assert!(wf.steps[0].deps.is_empty() && wf.steps[1].deps.is_empty(), "a and b are independent");
        let mut deps = wf.steps[2].deps.clone();
        deps.sort_unstable();
        assert_eq!(deps, vec![0, 1]);
        assert_eq!(wf.tool_references().len(), 3);
    }

    #[test]
    fn bad_workflows_are_rejected_with_their_path() {
        let cases = [
            (json!({"kind": "workflow", "steps": []}), "$.binding.steps"),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "tool": "t", "args": {"x": "{{steps.b}}"}}, {"id": "b", "tool": "t"}]}),
                "$.binding.steps[0].args.x",
            ),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "tool": "t"}, {"id": "a", "tool": "t"}]}),
                "$.binding.steps[1].id",
            ),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "tool": "t", "after": ["z"]}]}),
                "$.binding.steps[0].after[0]",
            ),
            (json!({"kind": "workflow", "steps": [{"id": "a"}]}), "$.binding.steps[0]"),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "args": {"q": 1}, "binding": {"kind": "http", "url": "{{args.nope}}"}}]}),
                "$.binding.steps[0].binding.url",
            ),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "binding": {"kind": "workflow", "steps": []}}]}),
                "$.binding.steps[0].binding.kind",
            ),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "tool": "t"}], "result": "{{steps.zz}}"}),
                "$.binding.result",
            ),
            (
                json!({"kind": "workflow", "sequential": "{{steps.a}}", "steps": [{"id": "a", "tool": "t"}]}),
                "$.binding.sequential",
            ),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "tool": "t", "args": {"x": "{{run.order}}"}}]}),
                "$.binding.steps[0].args.x",
            ),
            (
                json!({"kind": "workflow", "steps": [{"id": "a", "tool": "t", "compensate": {"tool": "u", "args": {"x": "{{steps.b}}"}}}]}),
                "$.binding.steps[0].compensate.args.x",
            ),
        ];
        for (binding, path) in cases {
            let err = parse(binding.clone()).unwrap_err();
            assert_eq!(err.path, path, "{binding}: {}", err.message);
        }
    }

    #[test]
    fn a_compensation_may_read_its_own_step() {
        let wf = parse(json!({"kind": "workflow", "steps": [
            {"id": "create", "tool": "create", "compensate": {"tool": "delete", "args": {"id": "{{steps.create.id}}"}}}
        ]}))
        .unwrap();
        assert_eq!(wf.tool_references()[1], ("$.binding.steps[0].compensate.tool".to_owned(), "delete"));
    }
}
