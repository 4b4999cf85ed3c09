//! Per-provider concurrency caps: one semaphore per upstream provider, so a slow back-end holds at most its
//! share of connections while other providers' calls go on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

/// Requests in flight allowed per provider: a default and per-provider overrides.
#[derive(Debug)]
pub struct ProviderCaps {
    default: usize,
    overrides: BTreeMap<String, usize>,
    caps: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl ProviderCaps {
    #[must_use]
    pub fn new(default: usize, overrides: BTreeMap<String, usize>) -> Self {
        Self { default, overrides, caps: Mutex::new(HashMap::new()) }
    }

    /// The semaphore of `provider`, created on first use with its configured size.
    #[must_use]
    pub fn cap(&self, provider: &str) -> Arc<Semaphore> {
        let mut caps = self.caps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cap) = caps.get(provider) {
            return cap.clone();
        }
        let size = self.overrides.get(provider).copied().unwrap_or(self.default);
        let cap = Arc::new(Semaphore::new(size));
        caps.insert(provider.to_owned(), cap.clone());
        cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_has_its_own_cap_and_overrides_apply() {
        let caps = ProviderCaps::new(4, BTreeMap::from([("elevenlabs".to_owned(), 1)]));
        assert_eq!(caps.cap("supabase").available_permits(), 4);
        assert_eq!(caps.cap("elevenlabs").available_permits(), 1);
        let held = caps.cap("elevenlabs").try_acquire_owned().unwrap();
        assert_eq!(caps.cap("elevenlabs").available_permits(), 0, "the same semaphore is handed out again");
        assert_eq!(caps.cap("supabase").available_permits(), 4);
        drop(held);
    }
}
