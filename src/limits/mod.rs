//! Admission control: per-caller rate limits (in this process or shared through Redis), the concurrent-call gate and per-provider concurrency caps.

pub mod gate;
pub mod provider;
pub mod rate;
pub mod shared;

pub use gate::{CallGate, Slot};
pub use provider::ProviderCaps;
pub use rate::{KeyedLimit, Refused};
pub use shared::SharedBudgets;
