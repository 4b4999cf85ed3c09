//! Tracing set-up: readable lines by default, JSON lines with `LOG_FORMAT=json`; the filter comes from
//! `LOG_LEVEL`. Span fields (the request id) appear on every line logged inside a request.
//!
//! With the `otlp` cargo feature, spans are also exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set (service name from `OTEL_SERVICE_NAME`, default `mcp-gateway`). Spans carry the request id, routes and
//! tool names, never keys or arguments.
//!
//! Whatever the filter says, the SSH crates log at `info` at most: russh's debug lines print the bytes of the
//! authentication request, the SFTP password among them.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{Config, LogFormat};

/// Keeps exporters alive; dropping it flushes what they hold.
#[derive(Debug, Default)]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("OTLP exporter did not flush: {e}");
            }
        }
    }
}

/// Install the global subscriber. Later calls are ignored (the first subscriber stays).
#[must_use]
pub fn init(config: &Config) -> Telemetry {
    // The filter was validated when the config loaded.
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    #[cfg(feature = "otlp")]
    let (export, telemetry) = match otlp::layer() {
        Some((layer, provider)) => (Some(layer), Telemetry { provider: Some(provider) }),
        None => (None, Telemetry::default()),
    };
    #[cfg(not(feature = "otlp"))]
    let (export, telemetry): (Option<Box<dyn Layer<Registry> + Send + Sync>>, _) = (None, Telemetry::default());
    let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = std::iter::once(lines).chain(export).collect();
    let _ = tracing_subscriber::registry().with(layers).with(filter).with(filter_fn(allowed)).try_init();
    telemetry
}

/// Crates whose debug output may carry secrets.
const QUIETED: &[&str] = &["russh", "russh_sftp"];

/// Whether an event or span may be recorded at all: not above `info` from [`QUIETED`] crates.
fn allowed(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    let quieted = QUIETED
        .iter()
        .any(|name| target.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with("::")));
    !quieted || *metadata.level() <= Level::INFO
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::{Layer, Registry};

    /// The OTLP layer, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and the exporter can be built.
    pub fn layer() -> Option<(Box<dyn Layer<Registry> + Send + Sync>, SdkTracerProvider)> {
        std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let exporter = match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => exporter,
            Err(e) => {
                eprintln!("OTLP export disabled: {e}");
                return None;
            }
        };
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "mcp-gateway".into());
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(service).build();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        let tracer = provider.tracer("mcp-gateway");
        Some((tracing_opentelemetry::layer().with_tracer(tracer).boxed(), provider))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::Context;

    use super::*;

    /// Records the target of every event that reaches it.
    struct Targets(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Targets {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            self.0.lock().unwrap().push(event.metadata().target().to_owned());
        }
    }

    #[test]
    fn ssh_crates_never_log_debug_lines_even_when_the_filter_asks_for_them() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(Targets(seen.clone()))
            .with(EnvFilter::new("debug,russh=trace"))
            .with(filter_fn(allowed));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "russh::client::encrypted", "enc: password bytes");
            tracing::trace!(target: "russh", "trace");
            tracing::debug!(target: "russh_sftp::client", "debug");
            tracing::info!(target: "russh::client", "kept");
            tracing::debug!(target: "russhy", "another crate");
            tracing::debug!(target: "mcp_gateway::jobs", "ours");
        });
        assert_eq!(*seen.lock().unwrap(), ["russh::client", "russhy", "mcp_gateway::jobs"]);
    }
}
