//! Tools: spec parsing and checking, the registry and its hot reload, argument validation, the call pipeline,
//! binding executors and built-in tools. Nothing here knows about HTTP or JSON-RPC transports.

pub mod ask_builtin;
pub mod binding;
pub mod builtins;
pub mod catalog;
pub mod catalogue_md;
pub mod client;
pub mod context;
pub mod elevenlabs_binding;
pub mod engine;
pub mod executor;
pub mod handle;
pub mod header_params;
pub mod higgsfield_binding;
pub mod http_binding;
pub mod llm_agent;
pub mod llm_binding;
pub mod media;
pub mod output;
pub mod registry;
pub mod spec;
pub mod supabase_binding;
pub mod template;
pub mod to_end;
pub mod upstream_binding;
pub mod upstream_spec;
pub mod visibility;
pub mod watch;
pub mod worker_binding;
pub mod workflow;

pub use client::{Ask, ChannelFuture, ClientChannel, ClientLink, LogLevel, Progress, Question};
pub use context::CallCtx;
pub use engine::{Engine, EngineOptions};
pub use handle::RegistryHandle;
pub use output::ToolOutput;
pub use registry::{Registry, Tool};
