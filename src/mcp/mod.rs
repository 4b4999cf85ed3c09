//! The Model Context Protocol layer: JSON-RPC shapes, version rules, sessions, method dispatch, and the two
//! transports (Streamable HTTP, legacy HTTP+SSE). HTTP handlers in `http/` only route to these functions.

pub mod dispatch;
pub mod jsonrpc;
pub mod legacy_sse;
pub mod modern;
pub mod peer;
pub mod session;
pub mod sse;
pub mod streamable;
pub mod tasks;
pub mod version;
