//! Per-caller rate limits on governor's GCRA: `count` requests per `period`, with bursts up to `count`.
//! Keys are caller ids (`key:<id>`, `ip:<addr>`); idle keys are pruned periodically so memory stays bounded.

use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Rate;

/// A keyed limiter for one rate.
#[derive(Debug)]
pub struct KeyedLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    rate: Rate,
}

impl KeyedLimit {
    #[must_use]
    pub fn new(rate: Rate) -> Self {
        let replenish = rate.period / rate.count.get();
        let quota = Quota::with_period(replenish.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(rate.count))
            .allow_burst(rate.count);
        Self { limiter: RateLimiter::keyed(quota), rate }
    }

    /// `Err(wait)` when `key` is over its rate; `wait` is how long until the next request would pass.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The configured rate, for messages.
    #[must_use]
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Forget keys that are back to full allowance.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn burst_then_refuse_with_a_wait() {
        let limit = KeyedLimit::new(Rate { count: NonZeroU32::new(3).unwrap(), period: Duration::from_secs(60) });
        for _ in 0..3 {
            assert!(limit.check("key:a").is_ok());
        }
        let wait = limit.check("key:a").unwrap_err();
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limit.check("key:b").is_ok(), "buckets are per key");
    }
}
