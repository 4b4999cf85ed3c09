//! Back-ends the gateway calls. `upstream` is the shared client (request id, timeouts, retries, error
//! mapping); provider modules build on it.

pub mod elevenlabs;
pub mod higgsfield;
pub mod supabase;
pub mod upstream;
