//! Back-ends the gateway calls. `upstream` is the shared client (request id, timeouts, retries, error
//! mapping); provider modules build on it: `supabase` (PostgREST RPC), `realtime` (OpenAI Realtime client
//! secrets).

pub mod realtime;
pub mod supabase;
pub mod upstream;
