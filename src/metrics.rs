//! Prometheus metrics: the families the gateway records and their text exposition for `/metrics`.
//!
//! Label values are bounded: routes are matched route templates (never raw paths), tools are registry names,
//! outcomes are error codes. Recording is lock-free on the hot path after a label set's first use.

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
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        let upstream_retries = Family::<ProviderLabels, Counter>::default();
        let audit_dropped = Counter::default();
        let sessions = Gauge::default();
        let streams = Gauge::default();
        registry.register("gateway_http_requests", "HTTP requests by route, method and status", http_requests.clone());
        registry.register("gateway_tool_calls", "Tool calls by tool and outcome", tool_calls.clone());
        registry.register("gateway_tool_call_duration_seconds", "Tool call latency", tool_duration.clone());
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
}
