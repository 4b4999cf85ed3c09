//! Rate-limit budgets shared by every replica through Redis (`GATEWAY_REDIS_URL`).
//!
//! One GCRA per bucket, run atomically by a Lua script on the Redis server with the server's clock, so replicas
//! whose clocks differ still share one budget. A bucket is one key (`mcp-gateway:rate:{limit}:{caller}`) holding
//! its theoretical arrival time, which expires once the bucket is back to a full allowance: Redis keeps no idle
//! callers. Every exchange is bounded (`redis_link`); when Redis cannot answer, the check fails with a typed,
//! retryable `upstream_unavailable` error rather than letting the call through on a budget of this replica alone.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Rate;
use crate::error::GatewayError;
use crate::redis_link::RedisLink;

/// The GCRA over one bucket. KEYS[1]: the bucket; ARGV[1]: the emission interval, ARGV[2]: the burst tolerance
/// (both in microseconds). Answers 0 when the request passes (and records it), else the wait in microseconds.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + emission
local wait = next_tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 0
";

/// The budgets kept in Redis, over the gateway's one [`RedisLink`].
#[derive(Clone, Debug)]
pub struct SharedBudgets {
    link: RedisLink,
    script: Arc<redis::Script>,
}

impl SharedBudgets {
    #[must_use]
    pub fn new(link: RedisLink) -> Self {
        Self { link, script: Arc::new(redis::Script::new(GCRA)) }
    }

    /// Count one request of `caller` against `rate` in the budget named `limit`: `Ok(Err(wait))` when over it.
    pub async fn check(&self, limit: &str, caller: &str, rate: Rate) -> Result<Result<(), Duration>, GatewayError> {
        let emission = (rate.period.as_micros() / u128::from(rate.count.get())).max(1);
        let tolerance = emission * u128::from(rate.count.get());
        let key = format!("mcp-gateway:rate:{limit}:{caller}");
        let mut invocation = self.script.key(key);
        invocation.arg(emission.to_string()).arg(tolerance.to_string());
        let wait: u64 = self.link.invoke("the rate-limit script", &invocation).await?;
        Ok(if wait == 0 { Ok(()) } else { Err(Duration::from_micros(wait)) })
    }
}
