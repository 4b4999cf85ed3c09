//! Back-ends the gateway calls. `upstream` is the shared client (request id, timeouts, retries, error
//! mapping); provider modules build on it: `supabase` (PostgREST RPC), `supabase_mcp` (the passthrough's
//! target), `llm` (OpenAI-compatible chat completions).

pub mod llm;
pub mod supabase;
pub mod supabase_mcp;
pub mod upstream;
