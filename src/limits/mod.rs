//! Admission control: per-caller rate limits, the concurrent-call gate and per-provider concurrency caps.

pub mod gate;
pub mod provider;
pub mod rate;

pub use gate::{CallGate, Slot};
pub use provider::ProviderCaps;
pub use rate::KeyedLimit;
