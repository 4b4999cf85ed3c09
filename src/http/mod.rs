//! The HTTP edge: the router, middleware (request id, authentication and admission, access log, origin
//! policy and request deadlines in one guard per route family), the error encodings (`errors`), body reading, the handlers that adapt each family of endpoints to the MCP layer
//! or the call pipeline, the OAuth resource metadata and challenges (`oauth`), the built-in authorization server's endpoints
//! (`oauth_server`, `consent`), the Supabase MCP passthrough, generated media (`assets`) and the embedded web pages
//! (`pages`, `static_files`).

pub mod access_log;
pub mod action;
pub mod admin;
pub mod admin_upstreams;
pub mod assets;
pub mod auth;
pub mod body;
pub mod consent;
pub mod errors;
pub mod guard;
pub mod health;
pub mod in_place;
pub mod mcp_routes;
pub mod oauth;
pub mod oauth_server;
pub mod origin;
pub mod pages;
pub mod passthrough;
pub mod request_id;
pub mod rest;
pub mod router;
pub mod server;
pub mod static_files;
pub mod voice_workers;
