//! One upstream, kept connected: [`UpstreamLink`] owns the wire, starts a [`Connection`], lists the upstream's
//! tools, and serves them through the registry; it reconnects with backoff when the connection ends, refreshes
//! on `list_changed`, and answers the calls of its tools ([`UpstreamCaller`]).
//!
//! While the upstream is down its tools stay listed as last seen, and their calls answer a retryable
//! `upstream_unavailable` at once (a reconnect is under way); the state, the error and any problem with its
//! tools are in [`UpstreamLink::status`] for `/ready`, `/admin/config` and `/admin/upstreams`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::connection::{Connection, Era, Failure, garbage, unavailable};
use super::dial::Dialer;
use super::shape::{included, served_name, shape};
use crate::error::{ErrorCode, GatewayError};
use crate::tools::upstream_binding::{UpstreamCaller, UpstreamCatalog, UpstreamItem};
use crate::tools::upstream_spec::UpstreamSpec;
use crate::tools::{Ask, CallCtx, ChannelFuture, Question, RegistryHandle, ToolOutput};

/// Most pages of `tools/list` read; an upstream that pages on past it is cut off there.
const MAX_PAGES: usize = 20;
/// Most tools (or resources, templates, prompts) one upstream may list.
const MAX_ITEMS: usize = 1000;
/// Most rounds of `input_required` one call may go through.
const MAX_ROUNDS: usize = 8;
/// The longest wait between reconnect attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How often the tools are listed again anyway (a stateless upstream may change without saying so).
const REFRESH_EVERY: Duration = Duration::from_secs(300);
/// How long one `subscriptions/listen` request may stay open before it is made anew.
const LISTEN_FOR: Duration = Duration::from_secs(3600);

/// Where an upstream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Ready,
    Failed,
}

impl State {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// What operators see of an upstream.
#[derive(Debug, Clone)]
pub struct Status {
    pub state: State,
    pub era: Option<String>,
    pub error: Option<String>,
    /// Tools left out, and why.
    pub problems: Vec<String>,
    /// How many tools are served.
    pub served: usize,
    /// Tools held back because their definition changed since it was pinned.
    pub held: Vec<Value>,
}

/// A live upstream.
#[derive(Debug)]
pub struct UpstreamLink {
    pub spec: Arc<UpstreamSpec>,
    dialer: Dialer,
    registry: Arc<RegistryHandle>,
    pins: Option<Arc<super::pins::Pins>>,
    connection: Mutex<Option<Arc<Connection>>>,
    connecting: tokio::sync::Mutex<()>,
    status: Mutex<Status>,
    /// Wakes the supervisor: reconnect now, or list again.
    wake: Notify,
    stop: CancellationToken,
    /// This link, for the tools it serves (which must not keep a removed link alive).
    weak: Weak<UpstreamLink>,
}

impl UpstreamLink {
    /// A link, not yet connected: [`UpstreamLink::run`] keeps it so.
    #[must_use]
    pub fn new(
        spec: Arc<UpstreamSpec>,
        dialer: Dialer,
        registry: Arc<RegistryHandle>,
        pins: Option<Arc<super::pins::Pins>>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|weak| Self {
            weak: weak.clone(),
            spec,
            dialer,
            registry,
            pins,
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            status: Mutex::new(Status {
                state: State::Connecting,
                era: None,
                error: None,
                problems: Vec::new(),
                served: 0,
                held: Vec::new(),
            }),
            wake: Notify::new(),
            stop: CancellationToken::new(),
        })
    }

    #[must_use]
    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn set_status(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    fn current(&self) -> Option<Arc<Connection>> {
        self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone().filter(|c| !c.is_closed())
    }

    /// List the tools again soon (after an approval recorded elsewhere, say).
    pub fn refresh(&self) {
        self.wake.notify_one();
    }

    /// List the tools again now, on the connection in use (after an approval made here); without one, soon.
    pub async fn relist(&self) {
        match self.current() {
            Some(connection) => {
                if let Err(err) = self.publish(&connection).await {
                    tracing::warn!(upstream = %self.spec.name, error = %err.message, "listing the upstream's tools failed");
                    self.wake.notify_one();
                }
            }
            None => self.wake.notify_one(),
        }
    }

    /// A call found the upstream unreachable: say so, and have the supervisor look (and reconnect).
    /// A call that finds no connection: the recorded error (a whole message that already names the upstream), and
    /// the link is woken to reconnect now.
    fn not_connected(&self) -> GatewayError {
        self.wake.notify_one();
        let mut err = unavailable(&self.spec.name, "it is not connected yet");
        if let Some(said) = self.status().error {
            err.message = said;
        }
        err
    }

    fn unreachable(&self, err: &GatewayError) {
        if err.code == ErrorCode::UpstreamUnavailable {
            self.set_status(|s| {
                s.state = State::Failed;
                s.error = Some(err.message.clone());
            });
            self.wake.notify_one();
        }
    }

    /// Stop the supervisor and close the connection; the upstream's tools leave the registry.
    pub async fn stop(&self) {
        self.stop.cancel();
        let connection = self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(connection) = connection {
            connection.close().await;
        }
        self.registry.set_upstream(&self.spec.name, None);
    }

    /// Keep the upstream connected and its tools listed until stopped.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        while !self.stop.is_cancelled() {
            let connection = match self.connect().await {
                Ok(connection) => connection,
                Err(err) => {
                    tracing::warn!(upstream = %self.spec.name, error = %err.message, "upstream unavailable; retrying");
                    self.set_status(|s| {
                        s.state = State::Failed;
                        s.error = Some(err.message.clone());
                    });
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.wake.notified() => {}
                        () = self.stop.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            backoff = Duration::from_secs(1);
            loop {
                tokio::select! {
                    () = connection.closed() => break,
                    () = connection.changed() => {}
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(REFRESH_EVERY) => {}
                    () = self.stop.cancelled() => return,
                }
                if connection.is_closed() {
                    break;
                }
                // A listing that fails means the session is not worth keeping: start a new one (with backoff).
                if let Err(err) = self.publish(&connection).await {
                    tracing::warn!(upstream = %self.spec.name, error = %err.message, "listing the upstream's tools failed");
                    self.set_status(|s| {
                        s.state = State::Failed;
                        s.error = Some(err.message.clone());
                    });
                    break;
                }
            }
            let why = connection.closed_reason();
            connection.close().await;
            tracing::warn!(upstream = %self.spec.name, reason = ?why, "upstream connection lost; reconnecting");
            if let Some(why) = why {
                let message = unavailable(&self.spec.name, &why).message;
                self.set_status(|s| {
                    s.state = State::Connecting;
                    s.error = Some(message);
                });
            }
            // Not at once: an upstream that fails every listing would be asked in a loop.
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Start a new connection (one at a time) and list its tools; the connection in use meanwhile is replaced.
    async fn connect(&self) -> Result<Arc<Connection>, GatewayError> {
        let _one = self.connecting.lock().await;
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        self.set_status(|s| s.state = State::Connecting);
        let wire = self.dialer.dial(&self.spec)?;
        let connection = Arc::new(Connection::start(&self.spec.name, wire, self.spec.timeout).await?);
        let replaced =
            self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner).replace(connection.clone());
        if let Some(old) = replaced {
            old.close().await;
        }
        self.publish(&connection).await?;
        let era = connection.era().version().to_owned();
        self.set_status(|s| {
            s.state = State::Ready;
            s.era = Some(era);
            s.error = None;
        });
        tracing::info!(upstream = %self.spec.name, era = %connection.era().version(), "upstream connected");
        if *connection.era() == Era::Modern
            && connection.capabilities.pointer("/tools/listChanged") == Some(&json!(true))
        {
            tokio::spawn(listen(self.weak.clone(), connection.clone()));
        }
        Ok(connection)
    }

    /// A new session after the upstream forgot ours (404): the old one is dropped and a new one started.
    async fn renew(&self, stale: &Arc<Connection>) -> Result<Arc<Connection>, GatewayError> {
        {
            let mut current = self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, stale)) {
                *current = None;
            }
        }
        self.connect().await
    }

    /// List the upstream's tools, hold back changed ones, and serve the rest.
    async fn publish(&self, connection: &Connection) -> Result<(), GatewayError> {
        let listed = self.list_all(connection, "tools/list", "tools").await?;
        let offered: Vec<Value> =
            listed.into_iter().filter(|t| t["name"].as_str().is_some_and(|n| included(&self.spec.tools, n))).collect();
        let (admitted, held) = self.admit(offered).await?;
        let declared = self.registry.declared();
        let mut taken: HashSet<String> = declared.tools().iter().map(|t| t.name().to_owned()).collect();
        // Other upstreams' tools are taken too; this upstream's own current tools are about to be replaced.
        let own = format!("upstream:{}", self.spec.name);
        taken.extend(self.registry.snapshot().tools().iter().filter(|t| t.source != own).map(|t| t.name().to_owned()));
        let caller: Arc<dyn UpstreamCaller> = Arc::new(CallerOf { link: self.weak.clone() });
        let (tools, mut problems) = shape(&self.spec, &admitted, &mut taken, &caller);
        let catalog = self.catalog(connection, &caller, &mut problems).await;
        for problem in &problems {
            tracing::warn!(upstream = %self.spec.name, %problem, "upstream item left out");
        }
        let served = tools.len();
        self.registry.set_upstream(&self.spec.name, Some((tools, catalog)));
        self.set_status(|s| {
            s.problems = problems;
            s.served = served;
            s.held = held;
            s.error = None;
        });
        Ok(())
    }

    /// Every page of a listing (`method`, items under `field`), bounded in pages and items.
    async fn list_all(&self, connection: &Connection, method: &str, field: &str) -> Result<Vec<Value>, GatewayError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let deadline = Instant::now() + self.spec.timeout;
            let page = match connection.request(method, params, None, deadline).await {
                Ok(page) => page,
                Err(Failure::Error(err)) => return Err(err),
                Err(Failure::SessionExpired) => {
                    return Err(unavailable(&self.spec.name, "the upstream forgot the session while listing"));
                }
            };
            let Some(items) = page[field].as_array() else {
                return Err(garbage(&self.spec.name, &format!("its `{method}` result has no `{field}` array")));
            };
            if all.len() + items.len() > MAX_ITEMS {
                return Err(garbage(&self.spec.name, &format!("it lists more than {MAX_ITEMS} {field}")));
            }
            all.extend(items.iter().cloned());
            cursor = page["nextCursor"].as_str().filter(|c| !c.is_empty()).map(str::to_owned);
            if cursor.is_none() {
                return Ok(all);
            }
        }
        tracing::warn!(upstream = %self.spec.name, pages = MAX_PAGES, method, "an upstream listing was cut at the page bound");
        Ok(all)
    }

    /// The upstream's resources, resource templates and prompts, when its capabilities offer them. Prompts are
    /// prefixed like tools; resources keep their URIs (a URI is what clients read). A listing that fails is a
    /// problem of this upstream, not a failed connection: its tools are still served.
    async fn catalog(
        &self,
        connection: &Connection,
        caller: &Arc<dyn UpstreamCaller>,
        problems: &mut Vec<String>,
    ) -> UpstreamCatalog {
        let mut catalog = UpstreamCatalog::default();
        let offers = |what: &str| connection.capabilities.get(what).is_some_and(Value::is_object);
        let item =
            |key: String, remote: String, listed: Value| UpstreamItem { key, remote, listed, caller: caller.clone() };
        let listing = |outcome: Result<Vec<Value>, GatewayError>, problems: &mut Vec<String>| match outcome {
            Ok(items) => items,
            Err(err) => {
                problems.push(err.message);
                Vec::new()
            }
        };
        if offers("resources") {
            for listed in listing(self.list_all(connection, "resources/list", "resources").await, problems) {
                match listed["uri"].as_str() {
                    Some(uri) => catalog.resources.push(item(uri.to_owned(), uri.to_owned(), listed.clone())),
                    None => problems.push("a listed resource has no uri".into()),
                }
            }
            let templates = self.list_all(connection, "resources/templates/list", "resourceTemplates").await;
            for listed in listing(templates, problems) {
                match listed["uriTemplate"].as_str() {
                    Some(t) => catalog.templates.push(item(t.to_owned(), t.to_owned(), listed.clone())),
                    None => problems.push("a listed resource template has no uriTemplate".into()),
                }
            }
        }
        if offers("prompts") {
            for mut listed in listing(self.list_all(connection, "prompts/list", "prompts").await, problems) {
                let Some(name) = listed["name"].as_str().map(str::to_owned) else {
                    problems.push("a listed prompt has no name".into());
                    continue;
                };
                let served = format!("{}{name}", self.spec.prefix);
                if let Err(why) = crate::tools::spec::check_name(&served) {
                    problems.push(format!("prompt `{name}` is not served: {why}"));
                    continue;
                }
                listed["name"] = json!(served);
                catalog.prompts.push(item(served, name, listed));
            }
        }
        catalog
    }

    /// The tools whose definitions match their pins (or are new, and are pinned now), and the held ones.
    async fn admit(&self, offered: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), GatewayError> {
        let Some(pins) = self.pins.clone().filter(|_| self.spec.pin) else { return Ok((offered, Vec::new())) };
        let upstream = self.spec.name.clone();
        let spec = self.spec.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let mut admitted = Vec::new();
            let mut held = Vec::new();
            for tool in offered {
                let name = tool["name"].as_str().unwrap_or_default().to_owned();
                let definition = super::pins::Pins::definition(&tool);
                match pins.check(&upstream, &name, &definition)? {
                    super::pins::Verdict::New | super::pins::Verdict::Same => admitted.push(tool),
                    super::pins::Verdict::Changed { pinned } => held.push(json!({
                        "tool": name,
                        "served_as": served_name(&spec, &name),
                        "pinned": pinned,
                        "offered": definition,
                    })),
                }
            }
            Ok::<_, String>((admitted, held))
        })
        .await
        .map_err(|e| GatewayError::internal("checking pinned definitions", &e))?;
        checked.map_err(|e| GatewayError::internal("checking pinned definitions", &e))
    }

    /// Send a request on as it is (a resource read, a prompt), starting a new session once if the upstream forgot
    /// ours.
    async fn forward(
        &self,
        method: &str,
        params: Value,
        ctx: Option<&CallCtx>,
        deadline: Instant,
    ) -> Result<Value, GatewayError> {
        let Some(mut connection) = self.current() else { return Err(self.not_connected()) };
        for renewed in [false, true] {
            match connection.request(method, params.clone(), ctx, deadline).await {
                Ok(result) => return Ok(result),
                Err(Failure::SessionExpired) if !renewed => connection = self.renew(&connection).await?,
                Err(Failure::SessionExpired) => break,
                Err(Failure::Error(err)) => {
                    self.unreachable(&err);
                    return Err(err);
                }
            }
        }
        Err(unavailable(&self.spec.name, "the upstream forgot the new session too"))
    }

    /// Call a tool on the upstream: `tools/call`, answering a 2026 upstream's `input_required` rounds through the
    /// call's client, and starting a new session once when the upstream forgot ours.
    async fn call(
        &self,
        tool: &str,
        args: Value,
        ctx: &CallCtx,
        deadline: Instant,
    ) -> Result<ToolOutput, GatewayError> {
        let Some(mut connection) = self.current() else { return Err(self.not_connected()) };
        let mut params = json!({"name": tool, "arguments": args});
        let mut renewed = false;
        for _ in 0..MAX_ROUNDS {
            let result = match connection.request("tools/call", params.clone(), Some(ctx), deadline).await {
                Ok(result) => result,
                Err(Failure::SessionExpired) if !renewed => {
                    renewed = true;
                    connection = self.renew(&connection).await?;
                    continue;
                }
                Err(Failure::SessionExpired) => {
                    return Err(unavailable(&self.spec.name, "the upstream forgot the new session too"));
                }
                Err(Failure::Error(err)) => {
                    self.unreachable(&err);
                    return Err(err);
                }
            };
            if result["resultType"] != "input_required" || *connection.era() != Era::Modern {
                return output_of(&self.spec.name, result);
            }
            let answers = answer_rounds(&self.spec.name, &result, ctx).await?;
            params["inputResponses"] = Value::Object(answers);
            params["requestState"] = result["requestState"].clone();
        }
        Err(garbage(&self.spec.name, &format!("it asked for input more than {MAX_ROUNDS} times in one call")))
    }
}

/// A 2026 upstream's `subscriptions/listen`, kept open while the link and the connection last: its
/// `list_changed` notifications reach [`Connection::changed`] through the router. When it ends (the upstream
/// restarted, say), it is opened again with backoff, and the tools are listed again, since a change may
/// have been missed meanwhile.
async fn listen(link: Weak<UpstreamLink>, connection: Arc<Connection>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(stop) = link.upgrade().map(|l| l.stop.clone()) else { return };
        if stop.is_cancelled() || connection.is_closed() {
            return;
        }
        let params = json!({"notifications": {"toolsListChanged": true}});
        let opened = Instant::now();
        let ended = tokio::select! {
            ended = connection.request("subscriptions/listen", params, None, Instant::now() + LISTEN_FOR) => ended,
            () = stop.cancelled() => return,
        };
        if let Err(Failure::Error(err)) = &ended {
            tracing::debug!(error = %err.message, "an upstream's subscription ended");
        }
        if opened.elapsed() > Duration::from_secs(5) {
            backoff = Duration::from_secs(1);
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
        if let Some(link) = link.upgrade() {
            link.refresh();
        }
    }
}

/// Put a 2026 upstream's `inputRequests` to the call's client; the answers by the upstream's keys.
async fn answer_rounds(upstream: &str, result: &Value, ctx: &CallCtx) -> Result<Map<String, Value>, GatewayError> {
    let Some(requests) = result["inputRequests"].as_object() else {
        return Err(garbage(upstream, "its `input_required` result has no `inputRequests`"));
    };
    let mut keys = Vec::with_capacity(requests.len());
    let mut questions = Vec::with_capacity(requests.len());
    for (key, request) in requests {
        let params = request.get("params").cloned().unwrap_or(Value::Null);
        let question = match request["method"].as_str() {
            Some("sampling/createMessage") => Question::Sampling(params),
            Some("elicitation/create") => Question::Elicitation(params),
            Some("roots/list") => Question::Roots,
            other => {
                return Err(garbage(
                    upstream,
                    &format!("it asked for `{}`, which is no client request", other.unwrap_or("?")),
                ));
            }
        };
        keys.push(key.clone());
        questions.push(Ask { key: format!("{upstream}:{key}"), question, optional: false });
    }
    let answers = ctx.ask_all(questions).await?;
    Ok(keys.into_iter().zip(answers).collect())
}

/// An upstream's `CallToolResult` as the gateway's tool output.
fn output_of(upstream: &str, mut result: Value) -> Result<ToolOutput, GatewayError> {
    let Some(content) = result.get_mut("content").and_then(Value::as_array_mut).map(std::mem::take) else {
        return Err(garbage(upstream, "its `tools/call` result has no `content` array"));
    };
    let is_error = result["isError"].as_bool().unwrap_or(false);
    // Another mcp-gateway says which typed error ended the call: the caller gets that error, in its own format.
    if let Some(typed) = result.pointer("/_meta/mcp-gateway~1error").filter(|_| is_error) {
        if let Ok(code) = serde_json::from_value::<ErrorCode>(typed["code"].clone()) {
            let message = typed["message"].as_str().unwrap_or("the upstream's tool failed").to_owned();
            let mut details = json!({"upstream": upstream});
            if !typed["details"].is_null() {
                details["details"] = typed["details"].clone();
            }
            return Err(GatewayError::new(code, format!("upstream `{upstream}`: {message}"))
                .retryable(typed["retryable"].as_bool().unwrap_or(false))
                .with_details(details));
        }
    }
    let value = result.get_mut("structuredContent").map(Value::take).unwrap_or(Value::Null);
    Ok(ToolOutput { value, content, is_error })
}

/// The answer of an item whose upstream left the specs since the caller's snapshot of the registry.
fn removed() -> GatewayError {
    GatewayError::new(ErrorCode::UpstreamUnavailable, "this upstream was removed from the specs").retryable(true)
}

/// What the registry's upstream tools call: the link, while it lives.
#[derive(Debug)]
struct CallerOf {
    link: Weak<UpstreamLink>,
}

impl UpstreamCaller for CallerOf {
    fn call_tool<'a>(
        &'a self,
        tool: &'a str,
        args: Value,
        ctx: &'a CallCtx,
        deadline: Instant,
    ) -> ChannelFuture<'a, Result<ToolOutput, GatewayError>> {
        Box::pin(async move {
            let Some(link) = self.link.upgrade() else { return Err(removed()) };
            link.call(tool, args, ctx, deadline).await
        })
    }

    fn forward<'a>(
        &'a self,
        method: &'a str,
        params: Value,
        ctx: Option<&'a CallCtx>,
        deadline: Instant,
    ) -> ChannelFuture<'a, Result<Value, GatewayError>> {
        Box::pin(async move {
            let Some(link) = self.link.upgrade() else { return Err(removed()) };
            link.forward(method, params, ctx, deadline).await
        })
    }
}
