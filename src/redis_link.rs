//! The one connection to Redis (`GATEWAY_REDIS_URL`) that every piece of replica-shared state uses: the
//! rate-limit budgets (`limits::shared`) and the job records with their leases (`jobs::record_redis`).
//!
//! The connection opens on first use, so the gateway starts while Redis is down, and redis-rs's connection
//! manager reconnects after a failure. Every exchange is bounded ([`REDIS_TIMEOUT`]); when Redis cannot answer,
//! callers get a typed, retryable `upstream_unavailable` naming what could not be done, never a silent fallback
//! to this replica's own state.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::config::Secret;
use crate::error::{ErrorCode, GatewayError};

/// How long one exchange with Redis (connecting included) may take.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(1500);

/// The shared connection.
#[derive(Clone)]
pub struct RedisLink {
    client: redis::Client,
    connection: Arc<OnceCell<ConnectionManager>>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only the address is shown.
        let info = self.client.get_connection_info();
        f.debug_struct("RedisLink").field("redis", &info.addr.to_string()).finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Check the URL; nothing is opened yet.
    pub fn new(url: &Secret) -> Result<Self, String> {
        let client = redis::Client::open(url.expose()).map_err(|e| format!("invalid Redis URL: {}", e.category()))?;
        Ok(Self { client, connection: Arc::new(OnceCell::new()) })
    }

    /// Run one exchange, bounded: `what` names it in the error ("the rate-limit script", "a job record").
    pub async fn run<T, F>(
        &self,
        what: &str,
        store: &str,
        exchange: impl FnOnce(ConnectionManager) -> F,
    ) -> Result<T, GatewayError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection(store).await?;
        tokio::time::timeout(REDIS_TIMEOUT, exchange(connection))
            .await
            .map_err(|_| unavailable(store, format!("Redis did not answer {what} in time")))?
            .map_err(|e| unavailable(store, format!("Redis refused {what}: {}", e.category())))
    }

    /// Does Redis answer a PING now? For `/ready`.
    pub async fn ping(&self) -> Result<(), String> {
        self.run("PING", "shared state", |mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
            .map_err(|e| e.cause.as_deref().unwrap_or(&e.message).to_owned())
    }

    /// The shared connection, opened now if it is not yet (once: callers meanwhile wait for that attempt, and a
    /// failed attempt leaves the next caller to try again). Once open, reading it takes no lock.
    async fn connection(&self, store: &str) -> Result<ConnectionManager, GatewayError> {
        let open = || async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(REDIS_TIMEOUT)
                .set_response_timeout(REDIS_TIMEOUT)
                .set_number_of_retries(1);
            ConnectionManager::new_with_config(self.client.clone(), config)
                .await
                .map_err(|e| unavailable(store, format!("cannot connect to Redis: {}", e.category())))
        };
        tokio::time::timeout(REDIS_TIMEOUT * 2, self.connection.get_or_try_init(open))
            .await
            .map_err(|_| unavailable(store, "connecting to Redis took too long".into()))?
            .cloned()
    }
}

/// The typed answer when Redis cannot serve `store` ("rate-limit", "job"): retryable, and nothing ran.
fn unavailable(store: &str, cause: String) -> GatewayError {
    GatewayError::new(
        ErrorCode::UpstreamUnavailable,
        format!("the shared {store} store (Redis) is unavailable; retry shortly"),
    )
    .retryable(true)
    .with_cause(cause)
}
