//! Tracing set-up: readable lines by default, JSON lines with `LOG_FORMAT=json`; the filter comes from
//! `LOG_LEVEL`. Span fields (the request id) appear on every line logged inside a request.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Install the global subscriber. Safe to call once; later calls are ignored.
pub fn init(config: &Config) {
    // The filter was validated when the config loaded.
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
}
