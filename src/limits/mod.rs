//! Admission control: per-caller rate limits and the concurrent-call gate.

pub mod gate;
pub mod rate;

pub use gate::{CallGate, Slot};
pub use rate::KeyedLimit;
