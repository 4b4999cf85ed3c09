//! Rate-limit budgets shared by every replica through Redis (`GATEWAY_REDIS_URL`).
//!
//! One GCRA per bucket, run atomically by a Lua script on the Redis server with the server's clock, so replicas
//! whose clocks differ still share one budget. A bucket is one key (`mcp-gateway:rate:{limit}:{caller}`) holding
//! its theoretical arrival time, which expires once the bucket is back to a full allowance: Redis keeps no idle
//! callers. Every exchange is bounded; when Redis cannot answer, the check fails with a typed, retryable
//! `upstream_unavailable` error rather than letting the call through on a budget of this replica alone.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::config::{Rate, Secret};
use crate::error::{ErrorCode, GatewayError};

/// How long one exchange with Redis (connecting included) may take before the check fails.
const REDIS_TIMEOUT: Duration = Duration::from_millis(1500);

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

/// The connection to Redis every shared budget uses: opened on first use (so the gateway starts while Redis is
/// down), then kept and reconnected by redis-rs's connection manager.
#[derive(Clone)]
pub struct SharedBudgets {
    client: redis::Client,
    connection: Arc<OnceCell<ConnectionManager>>,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for SharedBudgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only the address is shown.
        let info = self.client.get_connection_info();
        f.debug_struct("SharedBudgets").field("redis", &info.addr.to_string()).finish_non_exhaustive()
    }
}

impl SharedBudgets {
    /// Check the URL; nothing is opened yet.
    pub fn new(url: &Secret) -> Result<Self, String> {
        let client = redis::Client::open(url.expose()).map_err(|e| format!("invalid Redis URL: {}", e.category()))?;
        Ok(Self { client, connection: Arc::new(OnceCell::new()), script: Arc::new(redis::Script::new(GCRA)) })
    }

    /// Count one request of `caller` against `rate` in the budget named `limit`: `Ok(Err(wait))` when over it.
    pub async fn check(&self, limit: &str, caller: &str, rate: Rate) -> Result<Result<(), Duration>, GatewayError> {
        let emission = (rate.period.as_micros() / u128::from(rate.count.get())).max(1);
        let tolerance = emission * u128::from(rate.count.get());
        let key = format!("mcp-gateway:rate:{limit}:{caller}");
        let mut connection = self.connection().await?;
        let mut invocation = self.script.key(key);
        invocation.arg(emission.to_string()).arg(tolerance.to_string());
        let wait: u64 = tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| unavailable("Redis did not answer in time".into()))?
            .map_err(|e| unavailable(format!("Redis refused the rate-limit script: {}", e.category())))?;
        Ok(if wait == 0 { Ok(()) } else { Err(Duration::from_micros(wait)) })
    }

    /// Does Redis answer a PING now? For `/ready`.
    pub async fn ping(&self) -> Result<(), String> {
        let mut connection = self.connection().await.map_err(|e| e.message)?;
        let pong: redis::RedisResult<String> =
            tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async(&mut connection))
                .await
                .map_err(|_| "Redis did not answer PING in time".to_owned())?;
        pong.map(drop).map_err(|e| format!("Redis refused PING: {}", e.category()))
    }

    /// The shared connection, opened now if it is not yet (once: callers meanwhile wait for that attempt, and a
    /// failed attempt leaves the next caller to try again). Once open, reading it takes no lock.
    async fn connection(&self) -> Result<ConnectionManager, GatewayError> {
        let open = || async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(REDIS_TIMEOUT)
                .set_response_timeout(REDIS_TIMEOUT)
                .set_number_of_retries(1);
            ConnectionManager::new_with_config(self.client.clone(), config)
                .await
                .map_err(|e| unavailable(format!("cannot connect to Redis: {}", e.category())))
        };
        tokio::time::timeout(REDIS_TIMEOUT * 2, self.connection.get_or_try_init(open))
            .await
            .map_err(|_| unavailable("connecting to Redis took too long".into()))?
            .cloned()
    }
}

/// The typed answer when the shared budgets cannot be checked: retryable, and the call does not run.
fn unavailable(cause: String) -> GatewayError {
    GatewayError::new(
        ErrorCode::UpstreamUnavailable,
        "the shared rate-limit store (Redis) is unavailable; retry shortly",
    )
    .retryable(true)
    .with_cause(cause)
}
