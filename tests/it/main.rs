//! The integration tests, one binary: each module is one area, driving the real application over real HTTP
//! (`common::TestApp`), real SQLite files and in-process fake upstreams (`media_fakes`, `common::fake_llm`,
//! `workers_fixture`), or the real binary (`cli`, `process`). One crate links the application once, where a
//! crate per file linked it thirty times.

mod common;
mod media_fakes;
mod workers_fixture;

mod activity;
mod assets;
mod bad_input;
mod call_llm;
mod cli;
mod elevenlabs;
mod federation;
mod federation_wires;
mod flowchat_read;
mod flowchat_write;
mod higgsfield;
mod hostile;
mod hostile_upstreams;
mod http_binding;
mod jobs;
mod llm;
mod mcp_client_link;
mod mcp_legacy_sse;
mod mcp_modern;
mod mcp_modern_tasks;
mod mcp_streamable;
mod oauth;
mod oauth_builtin;
mod ops;
mod pages;
mod passthrough;
mod pipelines;
mod process;
mod registry_reload;
mod rest_compat;
mod security;
mod sftp;
mod shared_audit;
mod shared_jobs;
mod shared_limits;
mod shared_media;
mod shared_sessions;
mod slow_clients;
mod supabase_rpc;
mod visibility;
mod workers_query;
mod workers_realtime;
mod workers_scanner;
mod workflow;
