//! Handshake-era sessions shared by every replica through Redis (`GATEWAY_REDIS_URL`): the session records, and
//! the events that reach the replica holding what cannot be shared.
//!
//! A record is one hash, `mcp-gateway:session:{id}`, with the owner key id, the negotiated version, the client's
//! capabilities, its log level and whether it is a legacy HTTP+SSE session. It expires after the configured idle
//! time, refreshed by every read. Events travel on one pub/sub channel, `mcp-gateway:events`, as
//! `{from, session, kind, ...}`: a session ended, a request cancelled, an answer to a server→client request, a
//! notification for GET streams, a message for a legacy stream, a new log level. Each replica applies those of the
//! sessions it holds something of (see `session::SessionStore::apply`) and skips its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::version::ProtocolVersion;
use crate::error::GatewayError;
use crate::redis_link::RedisLink;
use crate::tools::LogLevel;

/// The pub/sub channel of session events.
pub const CHANNEL: &str = "mcp-gateway:events";

/// Sets one field of a record that still exists (a record that expired or ended is not brought back).
const SET_FIELD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

/// A new replica id: random, so ids one replica makes never collide with another's (even two in one process).
#[must_use]
pub fn new_replica_id() -> Arc<str> {
    uuid::Uuid::new_v4().simple().to_string()[..12].into()
}

/// What every replica knows of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub owner: String,
    /// `None` for a legacy session not yet initialized.
    pub version: Option<ProtocolVersion>,
    pub capabilities: Value,
    pub log_level: LogLevel,
    pub legacy: bool,
}

impl Record {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("owner", self.owner.clone()),
            ("version", self.version.map(|v| v.as_str().to_owned()).unwrap_or_default()),
            ("capabilities", self.capabilities.to_string()),
            ("level", self.log_level.as_str().to_owned()),
            ("legacy", if self.legacy { "1" } else { "0" }.to_owned()),
        ]
    }

    /// A record read back; `None` when the hash is empty (no such session) or not one of ours.
    fn from_fields(mut fields: HashMap<String, String>) -> Option<Self> {
        Some(Self {
            owner: fields.remove("owner")?,
            version: fields.get("version").and_then(|v| ProtocolVersion::parse(v)),
            capabilities: fields.get("capabilities").and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null),
            log_level: fields.get("level").and_then(|l| LogLevel::parse(l)).unwrap_or(LogLevel::Info),
            legacy: fields.get("legacy").is_some_and(|l| l == "1"),
        })
    }
}

/// One event between replicas about one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The session was deleted: close its streams, cancel its calls.
    Ended,
    /// `notifications/cancelled` for a request running somewhere.
    Cancel { request: Value },
    /// The client's answer to a server→client request pending somewhere.
    Answer { id: Value, result: Option<Value>, error: Option<Value> },
    /// A message for the session's GET streams.
    Notify { message: Value },
    /// A message for the legacy HTTP+SSE stream, wherever it is held.
    Legacy { message: Value },
    /// `logging/setLevel` was called.
    Level { level: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    session: String,
    #[serde(flatten)]
    event: Event,
}

/// The records and events of shared sessions, over the gateway's one Redis link.
#[derive(Debug)]
pub struct SharedSessions {
    link: RedisLink,
    /// This replica, as its events name it.
    replica: Arc<str>,
    idle: Duration,
    set_field: redis::Script,
}

impl SharedSessions {
    #[must_use]
    pub fn new(link: RedisLink, idle: Duration) -> Self {
        Self { link, replica: new_replica_id(), idle, set_field: redis::Script::new(SET_FIELD) }
    }

    /// This replica's id.
    #[must_use]
    pub fn replica(&self) -> &Arc<str> {
        &self.replica
    }

    /// The link, for listening to events.
    #[must_use]
    pub fn link(&self) -> &RedisLink {
        &self.link
    }

    fn key(id: &str) -> String {
        format!("mcp-gateway:session:{id}")
    }

    fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle.as_millis()).unwrap_or(i64::MAX)
    }

    /// Store a new session's record, expiring after the idle time.
    pub async fn create(&self, id: &str, record: &Record) -> Result<(), GatewayError> {
        let key = Self::key(id);
        let mut pipe = redis::pipe();
        pipe.atomic().hset_multiple(&key, &record.fields()).ignore().pexpire(&key, self.idle_ms()).ignore();
        self.link.pipeline("the new session record", &pipe).await
    }

    /// Read a session's record and restart its idle time; `None` when it ended or expired.
    pub async fn read(&self, id: &str) -> Result<Option<Record>, GatewayError> {
        let key = Self::key(id);
        let mut pipe = redis::pipe();
        pipe.atomic().hgetall(&key).pexpire(&key, self.idle_ms()).ignore();
        let (fields,): (HashMap<String, String>,) = self.link.pipeline("the session record", &pipe).await?;
        Ok(Record::from_fields(fields))
    }

    /// Restart a session's idle time (for a legacy stream held open). False when it is gone.
    pub async fn keep_alive(&self, id: &str) -> Result<bool, GatewayError> {
        let mut command = redis::cmd("PEXPIRE");
        command.arg(Self::key(id)).arg(self.idle_ms());
        self.link.query("the session's expiry", &command).await
    }

    /// Does the session still exist? (Its idle time is left as it is.)
    pub async fn exists(&self, id: &str) -> Result<bool, GatewayError> {
        let mut command = redis::cmd("EXISTS");
        command.arg(Self::key(id));
        self.link.query("the session's existence", &command).await
    }

    /// Record the negotiated version and capabilities (a legacy session's `initialize`).
    pub async fn initialize(
        &self,
        id: &str,
        version: ProtocolVersion,
        capabilities: &Value,
    ) -> Result<(), GatewayError> {
        self.set(id, "version", version.as_str()).await?;
        self.set(id, "capabilities", &capabilities.to_string()).await
    }

    /// Record the client's log level, and tell the replicas running its calls.
    pub async fn set_log_level(&self, id: &str, level: LogLevel) -> Result<(), GatewayError> {
        self.set(id, "level", level.as_str()).await?;
        self.publish(id, Event::Level { level: level.as_str().to_owned() }).await
    }

    async fn set(&self, id: &str, field: &str, value: &str) -> Result<(), GatewayError> {
        let mut invocation = self.set_field.key(Self::key(id));
        invocation.arg(field).arg(value);
        let _updated: i64 = self.link.invoke("the session record update", &invocation).await?;
        Ok(())
    }

    /// Delete a session's record and tell every replica. False when it was already gone.
    pub async fn end(&self, id: &str) -> Result<bool, GatewayError> {
        let mut command = redis::cmd("DEL");
        command.arg(Self::key(id));
        let deleted: i64 = self.link.query("the session deletion", &command).await?;
        self.publish(id, Event::Ended).await?;
        Ok(deleted > 0)
    }

    /// Tell the other replicas something about `session`.
    pub async fn publish(&self, session: &str, event: Event) -> Result<(), GatewayError> {
        let envelope = Envelope { from: self.replica.to_string(), session: session.to_owned(), event };
        let payload = serde_json::to_string(&envelope).unwrap_or_default();
        let mut command = redis::cmd("PUBLISH");
        command.arg(CHANNEL).arg(payload);
        let _receivers: i64 = self.link.query("the session event", &command).await?;
        Ok(())
    }

    /// An event published by another replica: `(session, event)`; `None` for this replica's own or a malformed
    /// one.
    #[must_use]
    pub fn decode(&self, payload: &[u8]) -> Option<(String, Event)> {
        let envelope: Envelope = serde_json::from_slice(payload).ok()?;
        (*envelope.from != *self.replica).then_some((envelope.session, envelope.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_round_trip_through_their_fields() {
        let record = Record {
            owner: "k".into(),
            version: Some(ProtocolVersion::LATEST),
            capabilities: json!({"sampling": {}}),
            log_level: LogLevel::Error,
            legacy: true,
        };
        let fields = record.fields().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(Record::from_fields(fields), Some(record));
        assert_eq!(Record::from_fields(HashMap::new()), None, "an empty hash is no session");
    }

    #[test]
    fn events_of_other_replicas_decode_and_our_own_are_skipped() {
        let url = crate::config::Secret::from_setting(Some("redis://127.0.0.1:1/".into())).unwrap();
        let shared = SharedSessions::new(RedisLink::new(&url).unwrap(), Duration::from_secs(60));
        let event = Event::Cancel { request: json!(7) };
        let ours = json!({"from": shared.replica().as_ref(), "session": "s", "kind": "cancel", "request": 7});
        assert_eq!(shared.decode(ours.to_string().as_bytes()), None);
        let theirs = json!({"from": "other", "session": "s", "kind": "cancel", "request": 7}).to_string();
        assert_eq!(shared.decode(theirs.as_bytes()), Some(("s".to_owned(), event)));
        assert_eq!(shared.decode(b"not json"), None);
    }
}
