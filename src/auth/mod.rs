//! Who may do what: API keys (kept as SHA-256 digests, compared in constant time), scopes, name patterns,
//! and the [`Caller`] a request runs as. Pure logic: no HTTP, no configuration loading.

pub mod keys;
pub mod scope;

pub use keys::{ApiKey, Caller, KeyRing, KeySpec, digest};
pub use scope::{NamePattern, Scope};
