//! Back-ends the gateway calls. `upstream` is the shared client (request id, timeouts, retries, error
//! mapping); provider modules build on it: `supabase` (PostgREST RPC), `supabase_mcp` (the passthrough's
//! target), `workers` (the FlowChat worker services), `elevenlabs` and `higgsfield` (media), `llm`
//! (OpenAI-compatible chat completions), `realtime` (OpenAI Realtime client secrets), `sftp` (uploads of stored
//! media over SSH), `s3` (stored media in S3-compatible object storage).

pub mod elevenlabs;
pub mod flowchat_workers;
pub mod higgsfield;
pub mod job_status;
pub mod llm;
pub mod realtime;
pub mod s3;
pub mod sftp;
pub mod supabase;
pub mod supabase_mcp;
pub mod upstream;
