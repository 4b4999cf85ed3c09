//! MCP sessions: what the gateway remembers between requests of one client, and the store that issues,
//! finds, expires and ends them.
//!
//! A session holds the negotiated version, the client link state ([`Peer`]: capabilities, log level, pending
//! server→client requests), the calls in flight (so `notifications/cancelled` can stop them), a broadcast
//! channel for server notifications on GET streams, and, for the legacy HTTP+SSE transport, the stream that
//! carries every outgoing message. Without Redis, sessions live in this replica's memory. With
//! `GATEWAY_REDIS_URL`, what can be shared lives in Redis (`shared_sessions`: owner, version, capabilities, log
//! level) and every replica finds every session; the [`Session`] here is then this replica's cache of what cannot
//! be shared (cancellation tokens, GET-stream channel, pending requests), made on demand for a known id and reached
//! from other replicas by events. Ids are random UUIDs (122 bits), visible ASCII as the spec requires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::peer::Peer;
use super::shared_sessions::{self, Event, Record, SharedSessions};
use super::version::ProtocolVersion;
use crate::error::{ErrorCode, GatewayError};
use crate::metrics::Metrics;
use crate::tools::LogLevel;

/// One client's session.
#[derive(Debug)]
pub struct Session {
    pub id: Arc<str>,
    /// The caller (key id) that created the session; only it may use the session.
    pub owner: String,
    version: OnceLock<ProtocolVersion>,
    pub peer: Arc<Peer>,
    in_flight: Mutex<HashMap<String, CancellationToken>>,
    events: broadcast::Sender<Value>,
    /// For legacy HTTP+SSE sessions: the stream that carries every message to the client (or, on a replica that
    /// does not hold it, a channel forwarding to the one that does).
    pub legacy_stream: Option<mpsc::Sender<Value>>,
    /// This replica holds the legacy stream itself.
    holds_stream: bool,
    /// Cancelled when the session ends: streams close, in-flight calls stop.
    pub ended: CancellationToken,
    shared: Option<Arc<SharedSessions>>,
    last_seen_ms: AtomicU64,
    born: Instant,
}

impl Session {
    /// The negotiated version; legacy sessions report 2024-11-05 until `initialize` says otherwise.
    #[must_use]
    pub fn version(&self) -> ProtocolVersion {
        self.version.get().copied().unwrap_or(ProtocolVersion::V2024_11_05)
    }

    /// Record the outcome of `initialize` (first one wins; a session is initialized once), for every replica.
    pub async fn initialize(&self, version: ProtocolVersion, client_capabilities: Value) -> Result<(), GatewayError> {
        if let Some(shared) = &self.shared {
            shared.initialize(&self.id, version, &client_capabilities).await?;
        }
        self.initialize_here(version, client_capabilities);
        Ok(())
    }

    fn initialize_here(&self, version: ProtocolVersion, client_capabilities: Value) {
        let _ = self.version.set(version);
        self.peer.set_capabilities(client_capabilities);
    }

    /// Set the level of log lines the client wants, for its calls on every replica.
    pub async fn set_log_level(&self, level: LogLevel) -> Result<(), GatewayError> {
        if let Some(shared) = &self.shared {
            shared.set_log_level(&self.id, level).await?;
        }
        self.peer.set_log_level(level);
        Ok(())
    }

    /// Register a running request so it can be cancelled; the guard unregisters it.
    #[must_use]
    pub fn track(self: &Arc<Self>, request_id: &Value) -> (CancellationToken, InFlightGuard) {
        let token = self.ended.child_token();
        let key = request_id.to_string();
        self.lock_in_flight().insert(key.clone(), token.clone());
        (token, InFlightGuard { session: self.clone(), key })
    }

    /// Cancel a running request by its JSON-RPC id, here or on the replica running it. False when it runs on no
    /// replica this one knows of (with Redis: not here, and the others were told).
    pub async fn cancel(&self, request_id: &Value) -> bool {
        if self.cancel_here(request_id) {
            return true;
        }
        self.tell_others(Event::Cancel { request: request_id.clone() }).await;
        false
    }

    fn cancel_here(&self, request_id: &Value) -> bool {
        self.lock_in_flight().get(&request_id.to_string()).map(CancellationToken::cancel).is_some()
    }

    /// Deliver a client's answer to a server→client request, waiting here or on another replica.
    pub async fn resolve(&self, id: &Value, outcome: Result<Value, Value>) -> bool {
        if self.peer.resolve(id, outcome.clone()) {
            return true;
        }
        let (result, error) = match outcome {
            Ok(result) => (Some(result), None),
            Err(error) => (None, Some(error)),
        };
        self.tell_others(Event::Answer { id: id.clone(), result, error }).await;
        false
    }

    /// Broadcast a notification to this session's GET streams, on every replica.
    pub async fn notify(&self, message: Value) {
        self.tell_others(Event::Notify { message: message.clone() }).await;
        // No receivers simply means no stream is open.
        let _ = self.events.send(message);
    }

    /// Receive this session's broadcast notifications.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }

    /// Best effort: an event lost while Redis is away leaves the other replica as it was.
    async fn tell_others(&self, event: Event) {
        if let Some(shared) = &self.shared {
            if let Err(err) = shared.publish(&self.id, event).await {
                tracing::warn!(session = %self.id, error = %err.message, "cannot tell the other replicas");
            }
        }
    }

    /// Apply an event from another replica.
    fn apply(&self, event: Event) {
        match event {
            Event::Ended => self.ended.cancel(),
            Event::Cancel { request } => {
                self.cancel_here(&request);
            }
            Event::Answer { id, result, error } => {
                self.peer.resolve(&id, result.ok_or_else(|| error.unwrap_or(Value::Null)));
            }
            Event::Notify { message } => {
                let _ = self.events.send(message);
            }
            Event::Legacy { message } => {
                let stream = self.legacy_stream.as_ref().filter(|_| self.holds_stream);
                if stream.is_some_and(|s| s.try_send(message).is_err()) {
                    tracing::warn!(session = %self.id, "legacy stream full or closed; a forwarded message is lost");
                }
            }
            Event::Level { level } => {
                if let Some(level) = LogLevel::parse(&level) {
                    self.peer.set_log_level(level);
                }
            }
        }
    }

    /// Nothing lives here but what Redis also holds: dropping this cache loses nothing.
    fn is_quiet(&self) -> bool {
        !self.holds_stream
            && self.events.receiver_count() == 0
            && self.lock_in_flight().is_empty()
            && !self.peer.awaits_answers()
    }

    fn touch(&self) {
        self.last_seen_ms.store(elapsed_ms(self.born), Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        Duration::from_millis(elapsed_ms(self.born).saturating_sub(self.last_seen_ms.load(Ordering::Relaxed)))
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Unregisters an in-flight request when dropped.
pub struct InFlightGuard {
    session: Arc<Session>,
    key: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.session.lock_in_flight().remove(&self.key);
    }
}

/// The error a client sees when no session can be opened: overloaded, retry later.
#[must_use]
pub fn at_session_limit() -> GatewayError {
    GatewayError::new(ErrorCode::Overloaded, "the gateway is at its session limit; retry later")
}

/// What a new session is made of.
struct Parts {
    id: Arc<str>,
    owner: String,
    version: Option<ProtocolVersion>,
    capabilities: Option<Value>,
    log_level: LogLevel,
    legacy_stream: Option<mpsc::Sender<Value>>,
    holds_stream: bool,
}

/// The live sessions of this replica (with Redis: its caches of shared sessions).
///
/// `max` caps what this replica holds in memory. With Redis it stays a per-replica cap on caches rather than a
/// counter in Redis: records expire silently in Redis, so a shared counter would drift, and memory is what a cap
/// protects; a quiet cache (holding nothing Redis lacks) is dropped to make room.
#[derive(Debug)]
pub struct SessionStore {
    sessions: RwLock<HashMap<Arc<str>, Arc<Session>>>,
    max: usize,
    idle: Duration,
    metrics: Arc<Metrics>,
    /// This replica's id, in its server→client request ids (and, with Redis, its events).
    replica: Arc<str>,
    shared: Option<Arc<SharedSessions>>,
}

impl SessionStore {
    /// Sessions in this replica's memory.
    #[must_use]
    pub fn new(max: usize, idle: Duration, metrics: Arc<Metrics>) -> Self {
        let replica = shared_sessions::new_replica_id();
        Self { sessions: RwLock::new(HashMap::new()), max, idle, metrics, replica, shared: None }
    }

    /// Sessions shared through Redis; call [`Self::listen`] once a runtime runs.
    #[must_use]
    pub fn shared(max: usize, idle: Duration, metrics: Arc<Metrics>, shared: SharedSessions) -> Self {
        Self { replica: shared.replica().clone(), shared: Some(Arc::new(shared)), ..Self::new(max, idle, metrics) }
    }

    /// With Redis: apply the other replicas' events to the sessions held here, until `stop`.
    pub fn listen(self: &Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let Some(shared) = &self.shared else { return };
        let store = Arc::downgrade(self);
        shared.link().listen(shared_sessions::CHANNEL, stop, move |payload| {
            let Some(store) = store.upgrade() else { return };
            let Some((id, event)) = store.shared.as_ref().and_then(|s| s.decode(payload)) else { return };
            store.apply(&id, event);
        });
    }

    fn apply(&self, id: &str, event: Event) {
        let Some(session) = self.local(id) else { return };
        let ended = event == Event::Ended;
        session.apply(event);
        if ended {
            self.forget(id);
        }
    }

    /// Create a Streamable HTTP session with its negotiated version, owned by `owner`.
    pub async fn create(
        &self,
        version: ProtocolVersion,
        client_capabilities: Value,
        owner: &str,
    ) -> Result<Arc<Session>, GatewayError> {
        let record = Record {
            owner: owner.to_owned(),
            version: Some(version),
            capabilities: client_capabilities,
            log_level: LogLevel::Info,
            legacy: false,
        };
        self.create_with(record, None).await
    }

    /// Create a legacy HTTP+SSE session whose messages travel on `stream`, owned by `owner`.
    pub async fn create_legacy(&self, stream: mpsc::Sender<Value>, owner: &str) -> Result<Arc<Session>, GatewayError> {
        let record = Record {
            owner: owner.to_owned(),
            version: None,
            capabilities: Value::Null,
            log_level: LogLevel::Info,
            legacy: true,
        };
        self.create_with(record, Some(stream)).await
    }

    async fn create_with(
        &self,
        record: Record,
        stream: Option<mpsc::Sender<Value>>,
    ) -> Result<Arc<Session>, GatewayError> {
        let id: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let holds_stream = stream.is_some();
        let parts = Parts {
            id: id.clone(),
            owner: record.owner.clone(),
            version: record.version,
            capabilities: (!record.capabilities.is_null()).then(|| record.capabilities.clone()),
            log_level: record.log_level,
            legacy_stream: stream,
            holds_stream,
        };
        let session = self.insert(parts)?;
        if let Some(shared) = &self.shared {
            if let Err(err) = shared.create(&id, &record).await {
                self.forget(&id);
                return Err(err);
            }
        }
        Ok(session)
    }

    fn insert(&self, parts: Parts) -> Result<Arc<Session>, GatewayError> {
        let mut sessions = self.write();
        // Two requests may make the cache of one shared session at once: the first one made is the one.
        if let Some(made) = sessions.get(&parts.id) {
            return Ok(made.clone());
        }
        if sessions.len() >= self.max {
            drop(sessions);
            self.expire_idle();
            sessions = self.write();
            if sessions.len() >= self.max {
                return Err(at_session_limit());
            }
        }
        let session = Arc::new(Session {
            id: parts.id.clone(),
            owner: parts.owner,
            version: OnceLock::new(),
            peer: Arc::new(Peer::of_replica(self.replica.clone())),
            in_flight: Mutex::new(HashMap::new()),
            events: broadcast::channel(64).0,
            legacy_stream: parts.legacy_stream,
            holds_stream: parts.holds_stream,
            ended: CancellationToken::new(),
            shared: self.shared.clone(),
            last_seen_ms: AtomicU64::new(0),
            born: Instant::now(),
        });
        if let (Some(version), Some(capabilities)) = (parts.version, parts.capabilities) {
            session.initialize_here(version, capabilities);
        }
        session.peer.set_log_level(parts.log_level);
        sessions.insert(parts.id, session.clone());
        self.metrics.sessions().set(i64::try_from(sessions.len()).unwrap_or(i64::MAX));
        Ok(session)
    }

    /// Find a live session of `owner` and mark it used. Another caller's session is as good as unknown. With
    /// Redis, the record decides (this replica's cache is made or refreshed from it); Redis away is an error, not
    /// an unknown session, since the session may well exist.
    pub async fn get(&self, id: &str, owner: &str) -> Result<Option<Arc<Session>>, GatewayError> {
        let Some(shared) = &self.shared else {
            let session = self.local(id).filter(|s| s.owner == owner);
            if let Some(session) = &session {
                session.touch();
            }
            return Ok(session);
        };
        let Some(record) = shared.read(id).await? else {
            // Ended or expired elsewhere (an `ended` event may have been lost): end what is held here.
            if let Some(stale) = self.forget(id) {
                stale.ended.cancel();
            }
            return Ok(None);
        };
        if record.owner != owner {
            return Ok(None);
        }
        let session = match self.local(id) {
            Some(session) => {
                session.peer.set_log_level(record.log_level);
                if let Some(version) = record.version {
                    session.initialize_here(version, record.capabilities);
                }
                session
            }
            None => self.cache(id, shared, record)?,
        };
        session.touch();
        Ok(Some(session))
    }

    /// This replica's cache of a session known from its record. A legacy session's messages go through a
    /// channel that forwards them to the replica holding the stream.
    fn cache(&self, id: &str, shared: &Arc<SharedSessions>, record: Record) -> Result<Arc<Session>, GatewayError> {
        let forward = record.legacy.then(|| {
            let (tx, mut rx) = mpsc::channel::<Value>(64);
            let shared = shared.clone();
            let session = id.to_owned();
            tokio::spawn(async move {
                // Ends when the cache and the calls using its channel are gone.
                while let Some(message) = rx.recv().await {
                    if let Err(err) = shared.publish(&session, Event::Legacy { message }).await {
                        tracing::warn!(%session, error = %err.message, "cannot forward to the legacy stream");
                    }
                }
            });
            tx
        });
        self.insert(Parts {
            id: id.into(),
            owner: record.owner,
            version: record.version,
            capabilities: Some(record.capabilities),
            log_level: record.log_level,
            legacy_stream: forward,
            holds_stream: false,
        })
    }

    /// End `owner`'s session everywhere (DELETE): false when it is unknown or another caller's.
    pub async fn end(&self, id: &str, owner: &str) -> Result<bool, GatewayError> {
        if self.get(id, owner).await?.is_none() {
            return Ok(false);
        }
        self.remove(id).await
    }

    /// End a session: its streams close and its calls are cancelled, on every replica. False when unknown.
    pub async fn remove(&self, id: &str) -> Result<bool, GatewayError> {
        let removed = self.forget(id);
        if let Some(session) = &removed {
            session.ended.cancel();
        }
        match &self.shared {
            Some(shared) => shared.end(id).await,
            None => Ok(removed.is_some()),
        }
    }

    /// Restart the idle time of a session whose legacy stream this replica holds open.
    pub async fn keep_alive(&self, id: &str) {
        let Some(shared) = &self.shared else { return };
        if let Err(err) = shared.keep_alive(id).await {
            tracing::warn!(session = id, error = %err.message, "cannot renew a legacy session's expiry");
        }
    }

    fn local(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    /// Drop this replica's entry for a session, without ending it.
    fn forget(&self, id: &str) -> Option<Arc<Session>> {
        let mut sessions = self.write();
        let removed = sessions.remove(id);
        self.metrics.sessions().set(i64::try_from(sessions.len()).unwrap_or(i64::MAX));
        removed
    }

    /// Every session held here, for broadcasts.
    #[must_use]
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.sessions.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }

    /// Forget sessions idle longer than the configured limit. Returns how many ended. With Redis, the record's
    /// own expiry ends a session; here only quiet caches are dropped (a busy one is ended by an `ended` event, by
    /// its record's absence on the next read, or by [`Self::end_vanished`]).
    pub fn expire_idle(&self) -> usize {
        let expired: Vec<Arc<str>> = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|s| s.idle_for() > self.idle && !s.holds_stream)
            .filter(|s| self.shared.is_none() || s.is_quiet())
            .map(|s| s.id.clone())
            .collect();
        expired.iter().filter_map(|id| self.forget(id)).map(|s| s.ended.cancel()).count()
    }

    /// With Redis: end the busy caches (a GET stream, a call) left idle here whose record expired or ended
    /// unseen (an `ended` event lost while the events connection reopened). Returns how many ended.
    pub async fn end_vanished(&self) -> usize {
        let Some(shared) = &self.shared else { return 0 };
        let idle: Vec<Arc<Session>> =
            self.all().into_iter().filter(|s| s.idle_for() > self.idle && !s.holds_stream && !s.is_quiet()).collect();
        let mut ended = 0;
        for session in idle {
            // Redis away: nothing is known, so nothing ends.
            if matches!(shared.exists(&session.id).await, Ok(false)) && self.forget(&session.id).is_some() {
                session.ended.cancel();
                ended += 1;
            }
        }
        ended
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<Session>>> {
        self.sessions.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(max: usize, idle: Duration) -> SessionStore {
        SessionStore::new(max, idle, Arc::new(Metrics::new()))
    }

    #[tokio::test]
    async fn ids_are_visible_ascii_and_unique() {
        let store = store(10, Duration::from_secs(60));
        let a = store.create(ProtocolVersion::LATEST, json!({}), "k").await.unwrap();
        let b = store.create(ProtocolVersion::LATEST, json!({}), "k").await.unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        assert!(store.get(&a.id, "k").await.unwrap().is_some());
        assert!(store.get(&a.id, "someone-else").await.unwrap().is_none(), "sessions belong to their creator");
        assert!(!store.end(&a.id, "someone-else").await.unwrap(), "nor can another caller end them");
        assert!(store.end(&a.id, "k").await.unwrap());
        assert!(store.get(&a.id, "k").await.unwrap().is_none());
        assert!(a.ended.is_cancelled());
    }

    #[tokio::test]
    async fn full_store_refuses_after_expiring_idle_sessions() {
        let store = store(1, Duration::from_secs(3600));
        store.create(ProtocolVersion::LATEST, json!({}), "k").await.unwrap();
        let refused = store.create(ProtocolVersion::LATEST, json!({}), "k").await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Overloaded);
        let store = super::SessionStore::new(1, Duration::ZERO, Arc::new(Metrics::new()));
        store.create(ProtocolVersion::LATEST, json!({}), "k").await.unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(store.create(ProtocolVersion::LATEST, json!({}), "k").await.is_ok(), "idle session made room");
    }

    #[tokio::test]
    async fn cancel_reaches_a_tracked_request_until_its_guard_drops() {
        let store = store(10, Duration::from_secs(60));
        let session = store.create(ProtocolVersion::LATEST, json!({}), "k").await.unwrap();
        let (token, guard) = session.track(&json!(7));
        assert!(session.cancel(&json!(7)).await);
        assert!(token.is_cancelled());
        drop(guard);
        assert!(!session.cancel(&json!(7)).await);
    }
}
