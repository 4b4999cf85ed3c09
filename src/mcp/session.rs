//! MCP sessions: what the gateway remembers between requests of one client, and the store that issues,
//! finds, expires and ends them.
//!
//! A session holds the negotiated version, the client link state ([`Peer`]: capabilities, log level, pending
//! server→client requests), the calls in flight (so `notifications/cancelled` can stop them), a broadcast
//! channel for server notifications on GET streams, and, for the legacy HTTP+SSE transport, the stream that
//! carries every outgoing message. Sessions live in this replica's memory; see ARCHITECTURE.md for what that
//! means behind a load balancer. Ids are random UUIDs (122 bits), visible ASCII as the spec requires.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::peer::Peer;
use super::version::ProtocolVersion;
use crate::error::{ErrorCode, GatewayError};
use crate::metrics::Metrics;

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
    /// For legacy HTTP+SSE sessions: the stream that carries every message to the client.
    pub legacy_stream: Option<mpsc::Sender<Value>>,
    /// Cancelled when the session ends: streams close, in-flight calls stop.
    pub ended: CancellationToken,
    last_seen_ms: AtomicU64,
    born: Instant,
}

impl Session {
    /// The negotiated version; legacy sessions report 2024-11-05 until `initialize` says otherwise.
    #[must_use]
    pub fn version(&self) -> ProtocolVersion {
        self.version.get().copied().unwrap_or(ProtocolVersion::V2024_11_05)
    }

    /// Record the outcome of `initialize` (first one wins; a session is initialized once).
    pub fn initialize(&self, version: ProtocolVersion, client_capabilities: Value) {
        let _ = self.version.set(version);
        self.peer.set_capabilities(client_capabilities);
    }

    /// Register a running request so it can be cancelled; the guard unregisters it.
    #[must_use]
    pub fn track(self: &Arc<Self>, request_id: &Value) -> (CancellationToken, InFlightGuard) {
        let token = self.ended.child_token();
        let key = request_id.to_string();
        self.lock_in_flight().insert(key.clone(), token.clone());
        (token, InFlightGuard { session: self.clone(), key })
    }

    /// Cancel a running request by its JSON-RPC id. Returns false when it is not running.
    pub fn cancel(&self, request_id: &Value) -> bool {
        self.lock_in_flight().get(&request_id.to_string()).map(CancellationToken::cancel).is_some()
    }

    /// Broadcast a notification to this session's GET streams.
    pub fn notify(&self, message: Value) {
        // No receivers simply means no stream is open.
        let _ = self.events.send(message);
    }

    /// Receive this session's broadcast notifications.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
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

/// Why a session could not be created.
#[derive(Debug, PartialEq, Eq)]
pub struct StoreFull;

/// The error a client sees when no session can be opened: overloaded, retry later.
#[must_use]
pub fn at_session_limit() -> GatewayError {
    GatewayError::new(ErrorCode::Overloaded, "the gateway is at its session limit; retry later")
}

/// All live sessions of this replica.
#[derive(Debug)]
pub struct SessionStore {
    sessions: RwLock<HashMap<Arc<str>, Arc<Session>>>,
    max: usize,
    idle: Duration,
    metrics: Arc<Metrics>,
}

impl SessionStore {
    #[must_use]
    pub fn new(max: usize, idle: Duration, metrics: Arc<Metrics>) -> Self {
        Self { sessions: RwLock::new(HashMap::new()), max, idle, metrics }
    }

    /// Create a Streamable HTTP session with its negotiated version, owned by `owner`.
    pub fn create(
        &self,
        version: ProtocolVersion,
        client_capabilities: Value,
        owner: &str,
    ) -> Result<Arc<Session>, StoreFull> {
        let session = self.insert(None, owner)?;
        session.initialize(version, client_capabilities);
        Ok(session)
    }

    /// Create a legacy HTTP+SSE session whose messages travel on `stream`, owned by `owner`.
    pub fn create_legacy(&self, stream: mpsc::Sender<Value>, owner: &str) -> Result<Arc<Session>, StoreFull> {
        self.insert(Some(stream), owner)
    }

    fn insert(&self, legacy_stream: Option<mpsc::Sender<Value>>, owner: &str) -> Result<Arc<Session>, StoreFull> {
        let mut sessions = self.write();
        if sessions.len() >= self.max {
            drop(sessions);
            self.expire_idle();
            sessions = self.write();
            if sessions.len() >= self.max {
                return Err(StoreFull);
            }
        }
        let id: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        let session = Arc::new(Session {
            id: id.clone(),
            owner: owner.to_owned(),
            version: OnceLock::new(),
            peer: Arc::new(Peer::default()),
            in_flight: Mutex::new(HashMap::new()),
            events: broadcast::channel(64).0,
            legacy_stream,
            ended: CancellationToken::new(),
            last_seen_ms: AtomicU64::new(0),
            born: Instant::now(),
        });
        sessions.insert(id, session.clone());
        self.metrics.sessions().set(i64::try_from(sessions.len()).unwrap_or(i64::MAX));
        Ok(session)
    }

    /// Find a live session of `owner` and mark it used. Another caller's session is as good as unknown.
    #[must_use]
    pub fn get(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        let session = self.sessions.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()?;
        if session.owner != owner {
            return None;
        }
        session.touch();
        Some(session)
    }

    /// End a session: its streams close and its calls are cancelled. Returns false when unknown.
    pub fn remove(&self, id: &str) -> bool {
        let mut sessions = self.write();
        let removed = sessions.remove(id);
        self.metrics.sessions().set(i64::try_from(sessions.len()).unwrap_or(i64::MAX));
        drop(sessions);
        removed.map(|s| s.ended.cancel()).is_some()
    }

    /// Every live session, for broadcasts.
    #[must_use]
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.sessions.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect()
    }

    /// Forget sessions idle longer than the configured limit. Returns how many ended.
    pub fn expire_idle(&self) -> usize {
        let expired: Vec<Arc<str>> = self
            .sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter(|s| s.idle_for() > self.idle && s.legacy_stream.is_none())
            .map(|s| s.id.clone())
            .collect();
        expired.iter().filter(|id| self.remove(id)).count()
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

    #[test]
    fn ids_are_visible_ascii_and_unique() {
        let store = store(10, Duration::from_secs(60));
        let a = store.create(ProtocolVersion::LATEST, json!({}), "k").unwrap();
        let b = store.create(ProtocolVersion::LATEST, json!({}), "k").unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        assert!(store.get(&a.id, "k").is_some());
        assert!(store.get(&a.id, "someone-else").is_none(), "sessions belong to their creator");
        assert!(store.remove(&a.id));
        assert!(store.get(&a.id, "k").is_none());
        assert!(a.ended.is_cancelled());
    }

    #[test]
    fn full_store_refuses_after_expiring_idle_sessions() {
        let store = store(1, Duration::from_secs(3600));
        store.create(ProtocolVersion::LATEST, json!({}), "k").unwrap();
        assert_eq!(store.create(ProtocolVersion::LATEST, json!({}), "k").unwrap_err(), StoreFull);
        let store = super::SessionStore::new(1, Duration::ZERO, Arc::new(Metrics::new()));
        store.create(ProtocolVersion::LATEST, json!({}), "k").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(store.create(ProtocolVersion::LATEST, json!({}), "k").is_ok(), "idle session made room");
    }

    #[test]
    fn cancel_reaches_a_tracked_request_until_its_guard_drops() {
        let store = store(10, Duration::from_secs(60));
        let session = store.create(ProtocolVersion::LATEST, json!({}), "k").unwrap();
        let (token, guard) = session.track(&json!(7));
        assert!(session.cancel(&json!(7)));
        assert!(token.is_cancelled());
        drop(guard);
        assert!(!session.cancel(&json!(7)));
    }
}
