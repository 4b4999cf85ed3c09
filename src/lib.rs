//! mcp-gateway: one binary that serves a company's back-ends as Model Context Protocol tools.
//!
//! [`build_app`] builds the whole HTTP application from an [`AppState`]; `main.rs` only parses the command
//! line, loads configuration and serves. Tests use exactly [`build_app`].

pub mod audit;
pub mod auth;
pub mod config;
pub mod config_view;
pub mod error;
pub mod federation;
pub mod http;
pub mod jobs;
pub mod key_file;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod providers;
pub mod redis_link;
pub mod sqlite_file;
pub mod state;
pub mod telemetry;
pub mod timestamp;
pub mod tools;
pub mod voice_workers;

pub use state::{AppState, StartupError};

/// The HTTP application over a built state.
pub fn build_app(state: AppState) -> axum::Router {
    http::router::router(state)
}
