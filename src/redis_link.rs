//! The one link to Redis (`GATEWAY_REDIS_URL`) that every shared piece of state uses: rate-limit budgets
//! (`limits::shared`) and handshake-era MCP sessions (`mcp::session`).
//!
//! Commands go through one lazily opened connection manager (so the gateway starts while Redis is down, and
//! redis-rs reconnects it), every exchange bounded to [`REDIS_TIMEOUT`]; when Redis cannot answer, the caller gets a
//! typed, retryable `upstream_unavailable` error, never a silent per-replica fallback. Events between replicas
//! travel on a dedicated pub/sub connection that reconnects with backoff ([`RedisLink::listen`]).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::error::{ErrorCode, GatewayError};

/// How long one exchange with Redis (connecting included) may take before it fails.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(1500);

/// The longest wait between two attempts to reopen the pub/sub connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The shared Redis connection: cheap to clone, one connection behind every clone.
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

    /// Run one command, bounded in time; `what` names it in the error's cause.
    pub async fn query<T: redis::FromRedisValue>(&self, what: &str, command: &redis::Cmd) -> Result<T, GatewayError> {
        let mut connection = self.connection().await?;
        bounded(what, command.query_async(&mut connection)).await
    }

    /// Run a pipeline (atomic when built so), bounded in time.
    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        what: &str,
        pipeline: &redis::Pipeline,
    ) -> Result<T, GatewayError> {
        let mut connection = self.connection().await?;
        bounded(what, pipeline.query_async(&mut connection)).await
    }

    /// Run a Lua script, bounded in time.
    pub async fn invoke<T: redis::FromRedisValue>(
        &self,
        what: &str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, GatewayError> {
        let mut connection = self.connection().await?;
        bounded(what, invocation.invoke_async(&mut connection)).await
    }

    /// Does Redis answer a PING now? For `/ready`.
    pub async fn ping(&self) -> Result<(), String> {
        let pong: String = self.query("PING", &redis::cmd("PING")).await.map_err(|e| e.message)?;
        if pong == "PONG" { Ok(()) } else { Err(format!("Redis answered PING with `{pong}`")) }
    }

    /// Receive every message published on `channel` until `stop`, on a connection of its own, reopened with a
    /// growing backoff (up to 5 s) whenever it drops. Messages published while it is down are lost.
    pub fn listen(&self, channel: &'static str, stop: CancellationToken, on_message: impl Fn(&[u8]) + Send + 'static) {
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let opened = tokio::time::timeout(REDIS_TIMEOUT, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                })
                .await;
                match opened {
                    Ok(Ok(pubsub)) => {
                        tracing::info!(channel, "listening to Redis events");
                        backoff = Duration::from_millis(100);
                        let mut messages = pubsub.into_on_message();
                        loop {
                            tokio::select! {
                                () = stop.cancelled() => return,
                                message = messages.next() => match message {
                                    Some(message) => on_message(message.get_payload_bytes()),
                                    None => break,
                                },
                            }
                        }
                        tracing::warn!(channel, "the Redis events connection dropped; reopening it");
                    }
                    Ok(Err(e)) => tracing::warn!(channel, error = %e.category(), "cannot listen to Redis events"),
                    Err(_) => tracing::warn!(channel, "opening the Redis events connection took too long"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {},
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
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

async fn bounded<T>(what: &str, exchange: impl Future<Output = redis::RedisResult<T>>) -> Result<T, GatewayError> {
    tokio::time::timeout(REDIS_TIMEOUT, exchange)
        .await
        .map_err(|_| unavailable(format!("Redis did not answer {what} in time")))?
        .map_err(|e| unavailable(format!("Redis refused {what}: {}", e.category())))
}

/// The typed answer when Redis cannot answer: retryable, and what needed it does not happen.
fn unavailable(cause: String) -> GatewayError {
    GatewayError::new(ErrorCode::UpstreamUnavailable, "the shared state store (Redis) is unavailable; retry shortly")
        .retryable(true)
        .with_cause(cause)
}
