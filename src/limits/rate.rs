//! Per-caller rate limits, GCRA: `count` requests per `period`, with bursts up to `count`. Keys are caller ids
//! (`key:<id>`, `ip:<addr>`). In this process (governor; idle keys pruned periodically so memory stays bounded),
//! or, with `GATEWAY_REDIS_URL`, one budget shared by every replica ([`SharedBudgets`]).

use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::shared::SharedBudgets;
use crate::config::Rate;
use crate::error::GatewayError;

/// A keyed limiter for one rate.
#[derive(Debug)]
pub struct KeyedLimit {
    budgets: Budgets,
    rate: Rate,
}

/// Where the budgets live.
#[derive(Debug)]
enum Budgets {
    Local(DefaultKeyedRateLimiter<String>),
    /// In Redis, under this limit's name.
    Shared(SharedBudgets, String),
}

/// Why a request does not pass.
#[derive(Debug)]
pub enum Refused {
    /// Over the rate: the next request would pass after this wait.
    Wait(Duration),
    /// The shared budgets cannot be checked now (never a silent pass on this replica's budget alone).
    Unavailable(GatewayError),
}

impl KeyedLimit {
    /// Budgets kept in this process.
    #[must_use]
    pub fn new(rate: Rate) -> Self {
        let replenish = rate.period / rate.count.get();
        let quota = Quota::with_period(replenish.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(rate.count))
            .allow_burst(rate.count);
        Self { budgets: Budgets::Local(RateLimiter::keyed(quota)), rate }
    }

    /// Budgets in this process, or in Redis under `name` when `shared` is given (one budget for every replica
    /// using the same name).
    #[must_use]
    pub fn local_or_shared(rate: Rate, shared: Option<&SharedBudgets>, name: &str) -> Self {
        match shared {
            Some(budgets) => Self { budgets: Budgets::Shared(budgets.clone(), name.to_owned()), rate },
            None => Self::new(rate),
        }
    }

    /// Count one request of `key`: refused when over its rate, or when shared budgets cannot be checked.
    pub async fn check(&self, key: &str) -> Result<(), Refused> {
        match &self.budgets {
            Budgets::Local(limiter) => check_local(limiter, key),
            Budgets::Shared(budgets, name) => match budgets.check(name, key, self.rate).await {
                Ok(passed) => passed.map_err(Refused::Wait),
                Err(err) => Err(Refused::Unavailable(err)),
            },
        }
    }

    /// [`check`](Self::check) without waiting, when the budgets are in this process; `None` when they are
    /// shared (asking Redis takes a round trip).
    pub fn check_now(&self, key: &str) -> Option<Result<(), Refused>> {
        match &self.budgets {
            Budgets::Local(limiter) => Some(check_local(limiter, key)),
            Budgets::Shared(..) => None,
        }
    }

    /// The configured rate, for messages.
    #[must_use]
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Forget keys that are back to full allowance (Redis expires shared ones by itself).
    pub fn prune(&self) {
        if let Budgets::Local(limiter) = &self.budgets {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn check_local(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> Result<(), Refused> {
    limiter
        .check_key(&key.to_owned())
        .map_err(|not_until| Refused::Wait(not_until.wait_time_from(DefaultClock::default().now())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[tokio::test]
    async fn burst_then_refuse_with_a_wait() {
        let limit = KeyedLimit::new(Rate { count: NonZeroU32::new(3).unwrap(), period: Duration::from_secs(60) });
        for _ in 0..3 {
            assert!(limit.check("key:a").await.is_ok());
        }
        let Err(Refused::Wait(wait)) = limit.check("key:a").await else { panic!("the fourth request passed") };
        assert!(wait > Duration::from_secs(1) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limit.check("key:b").await.is_ok(), "buckets are per key");
    }
}
