//! Prometheus metrics: the families the gateway records and their text exposition for `/metrics`.
//!
//! Label values are bounded: routes are matched route templates (never raw paths), tools and categories come from
//! the registry, callers are configured key ids (or `anonymous`, `(unauthenticated)`; never an address), outcomes
//! are error codes, job statuses and providers are the gateway's own names. Recording is lock-free on the hot path
//! after a label set's first use.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolCallLabels {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallerLabels {
    caller: String,
    category: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RateLimitLabels {
    limit: String,
    category: String,
    caller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    provider: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    provider: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
}

/// The category label of a tool without one (and of refusals that are not per category).
pub const NO_CATEGORY: &str = "(none)";

/// Which limit refused a request, for [`Metrics::record_rate_limited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// The per-caller request rate of every gated route (`rate_limit`).
    Requests,
    /// A per-caller rate of one tool category (`category_rate_limits`).
    Category,
}

impl RateLimit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Category => "category",
        }
    }
}

type HistogramFamily = Family<ToolLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric family, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    tool_calls: Family<ToolCallLabels, Counter>,
    tool_duration: HistogramFamily,
    caller_calls: Family<CallerLabels, Counter>,
    rate_limited: Family<RateLimitLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_retries: Family<ProviderLabels, Counter>,
    audit_dropped: Counter,
    sessions: Gauge,
    streams: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let tool_calls = Family::<ToolCallLabels, Counter>::default();
        let tool_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let caller_calls = Family::<CallerLabels, Counter>::default();
        let rate_limited = Family::<RateLimitLabels, Counter>::default();
        let jobs = Family::<JobLabels, Counter>::default();
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        let upstream_retries = Family::<ProviderLabels, Counter>::default();
        let audit_dropped = Counter::default();
        let sessions = Gauge::default();
        let streams = Gauge::default();
        registry.register("gateway_http_requests", "HTTP requests by route, method and status", http_requests.clone());
        registry.register("gateway_tool_calls", "Tool calls by tool and outcome", tool_calls.clone());
        registry.register("gateway_tool_call_duration_seconds", "Tool call latency", tool_duration.clone());
        registry.register(
            "gateway_caller_calls",
            "Tool calls by caller (API key id), tool category and outcome",
            caller_calls.clone(),
        );
        registry.register(
            "gateway_rate_limited",
            "Requests refused by a rate limit (requests or category), by category and caller",
            rate_limited.clone(),
        );
        registry.register("gateway_jobs", "Media jobs entering each status, by provider", jobs.clone());
        registry.register(
            "gateway_upstream_requests",
            "Upstream requests by provider and status (or connect_error, timeout)",
            upstream_requests.clone(),
        );
        registry.register("gateway_upstream_retries", "Upstream requests sent again", upstream_retries.clone());
        registry.register(
            "gateway_audit_dropped",
            "Audit entries dropped because the queue was full",
            audit_dropped.clone(),
        );
        registry.register("gateway_mcp_sessions", "Live MCP sessions", sessions.clone());
        registry.register("gateway_sse_streams", "Open SSE streams", streams.clone());
        Self {
            registry,
            http_requests,
            tool_calls,
            tool_duration,
            caller_calls,
            rate_limited,
            jobs,
            upstream_requests,
            upstream_retries,
            audit_dropped,
            sessions,
            streams,
        }
    }

    pub fn record_http(&self, route: &str, method: &str, status: u16) {
        self.http_requests.get_or_create(&HttpLabels { route: route.into(), method: method.into(), status }).inc();
    }

    pub fn record_tool_call(&self, tool: &str, outcome: &str, seconds: f64) {
        self.tool_calls.get_or_create(&ToolCallLabels { tool: tool.into(), outcome: outcome.into() }).inc();
        self.tool_duration.get_or_create(&ToolLabels { tool: tool.into() }).observe(seconds);
    }

    /// A finished call, by who made it: `caller` is a key id (or `anonymous`), `category` the tool's (or
    /// [`NO_CATEGORY`]).
    pub fn record_caller_call(&self, caller: &str, category: &str, outcome: &str) {
        self.caller_calls
            .get_or_create(&CallerLabels { caller: caller.into(), category: category.into(), outcome: outcome.into() })
            .inc();
    }

    /// A request refused by `limit`; `category` is [`NO_CATEGORY`] for the request rate.
    pub fn record_rate_limited(&self, limit: RateLimit, category: &str, caller: &str) {
        self.rate_limited
            .get_or_create(&RateLimitLabels {
                limit: limit.as_str().into(),
                category: category.into(),
                caller: caller.into(),
            })
            .inc();
    }

    /// A media job saved in a new status.
    pub fn record_job(&self, provider: &str, status: &str) {
        self.jobs.get_or_create(&JobLabels { provider: provider.into(), status: status.into() }).inc();
    }

    pub fn record_upstream(&self, provider: &str, status: &str) {
        self.upstream_requests
            .get_or_create(&UpstreamLabels { provider: provider.into(), status: status.into() })
            .inc();
    }

    pub fn record_upstream_retry(&self, provider: &str) {
        self.upstream_retries.get_or_create(&ProviderLabels { provider: provider.into() }).inc();
    }

    pub fn record_audit_dropped(&self) {
        self.audit_dropped.inc();
    }

    /// Live-session gauge, moved by the session store.
    #[must_use]
    pub fn sessions(&self) -> &Gauge {
        &self.sessions
    }

    /// Open-stream gauge, moved by the SSE transports.
    #[must_use]
    pub fn streams(&self) -> &Gauge {
        &self.streams
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_recorded_series() {
        let metrics = Metrics::new();
        metrics.record_http("/mcp", "POST", 200);
        metrics.record_tool_call("ping", "ok", 0.002);
        let text = metrics.render();
        assert!(text.contains(r#"gateway_http_requests_total{route="/mcp",method="POST",status="200"} 1"#), "{text}");
        assert!(text.contains(r#"gateway_tool_calls_total{tool="ping",outcome="ok"} 1"#), "{text}");
        assert!(text.contains("gateway_tool_call_duration_seconds_bucket"), "{text}");
    }

    #[test]
    fn render_shows_callers_refusals_and_jobs() {
        let metrics = Metrics::new();
        metrics.record_caller_call("agent", NO_CATEGORY, "ok");
        metrics.record_rate_limited(RateLimit::Requests, NO_CATEGORY, "agent");
        metrics.record_rate_limited(RateLimit::Category, "write", "agent");
        metrics.record_job("higgsfield", "queued");
        metrics.record_job("higgsfield", "queued");
        let text = metrics.render();
        for line in [
            r#"gateway_caller_calls_total{caller="agent",category="(none)",outcome="ok"} 1"#,
            r#"gateway_rate_limited_total{limit="requests",category="(none)",caller="agent"} 1"#,
            r#"gateway_rate_limited_total{limit="category",category="write",caller="agent"} 1"#,
            r#"gateway_jobs_total{provider="higgsfield",status="queued"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
