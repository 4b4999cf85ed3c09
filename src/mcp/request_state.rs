//! The `requestState` of multi-round-trip requests (2026-07-28, basic/patterns/mrtr): what a call that asked its
//! client something carries into the client's retry, so any replica can continue it with nothing kept in memory.
//!
//! The state is the answers gathered in earlier rounds, bound to the request that asked: the caller (principal),
//! the method and its target (tool, prompt or resource) and a digest of the arguments, with an expiry. It is
//! serialized as JSON and sealed with HMAC-SHA-256 under the gateway's key: `base64url(json) "." base64url(tag)`.
//! The client echoes it without reading it; a state that was altered, expired, issued to another caller or for
//! another request is refused (the spec treats it as attacker-controlled input). Its size and the number of
//! answers it holds are bounded. It is integrity-protected, not encrypted: it only carries what this client
//! itself answered.
//!
//! The key comes from `GATEWAY_REQUEST_STATE_SECRET`, shared by replicas; without it, a random key is made once
//! and kept in `{data_dir}/request_state.key`, so a restart keeps accepting the states it issued.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The largest sealed state accepted or issued.
pub const MAX_STATE_BYTES: usize = 64 * 1024;
/// The most answers one state carries (rounds times questions per round).
pub const MAX_ANSWERS: usize = 32;

/// What a state is bound to: a retry must present the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The caller's id.
    pub principal: String,
    pub method: String,
    /// The tool, prompt or resource the request names.
    pub target: String,
    /// SHA-256 of the canonical JSON of the request's arguments.
    pub digest: String,
}

impl Binding {
    /// The binding of a request: `arguments` is digested in canonical form (object keys sorted), so a client that
    /// re-serializes them in another order still matches.
    #[must_use]
    pub fn of(principal: &str, method: &str, target: &str, arguments: &Value) -> Self {
        let mut canonical = Vec::new();
        write_canonical(arguments, &mut canonical);
        let digest = hex(&Sha256::digest(&canonical));
        Self { principal: principal.to_owned(), method: method.to_owned(), target: target.to_owned(), digest }
    }
}

/// The content of a state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundState {
    #[serde(rename = "b")]
    pub binding: Binding,
    /// Unix milliseconds after which the state is refused.
    #[serde(rename = "exp")]
    pub expires_ms: u64,
    /// The answers of earlier rounds, by question key.
    #[serde(rename = "a")]
    pub answers: Map<String, Value>,
}

/// Why a presented state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateRefused {
    #[error("the requestState is not one this server issued (malformed)")]
    Malformed,
    #[error("the requestState failed its integrity check")]
    Tampered,
    #[error("the requestState has expired; send the request again without it")]
    Expired,
    #[error("the requestState was issued for another caller or another request")]
    Mismatch,
    #[error("the requestState is larger than {MAX_STATE_BYTES} bytes")]
    TooLarge,
}

/// Why a state could not be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateTooBig {
    #[error("the request gathered more than {MAX_ANSWERS} answers")]
    Answers,
    #[error("the request's answers do not fit in {MAX_STATE_BYTES} bytes of requestState")]
    Bytes,
}

/// The key states are sealed with: the HMAC keyed once, cloned for each state.
#[derive(Clone)]
pub struct StateKey(Hmac<Sha256>);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

impl StateKey {
    /// A key derived from a configured secret (any length; hashed to 32 bytes).
    #[must_use]
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"mcp-gateway request state v1\0");
        hasher.update(secret);
        // HMAC pads a key shorter than its 64-byte block with zeros, so the padded digest is the same key; the
        // fixed-size constructor cannot fail.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&hasher.finalize());
        Self(<Hmac<Sha256> as KeyInit>::new(&block.into()))
    }

    /// The key kept in `path`, made (random, file mode 0600) when the file does not exist.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        // Two v4 UUIDs from the operating system's seeded CSPRNG: 244 random bits.
        let generate = || [uuid::Uuid::new_v4().into_bytes(), uuid::Uuid::new_v4().into_bytes()].concat();
        let bytes = crate::key_file::load_or_create(path, generate)?;
        if bytes.len() < 32 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} holds fewer than 32 bytes", path.display()),
            ));
        }
        Ok(Self::from_secret(&bytes))
    }

    fn tag(&self, payload: &[u8]) -> Hmac<Sha256> {
        self.0.clone().chain_update(payload)
    }

    /// Seal a state for the client to echo.
    pub fn seal(&self, state: &RoundState) -> Result<String, StateTooBig> {
        if state.answers.len() > MAX_ANSWERS {
            return Err(StateTooBig::Answers);
        }
        let payload = serde_json::to_vec(state).unwrap_or_default();
        let tag = self.tag(&payload).finalize().into_bytes();
        let sealed = format!("{}.{}", B64.encode(&payload), B64.encode(tag));
        if sealed.len() > MAX_STATE_BYTES {
            return Err(StateTooBig::Bytes);
        }
        Ok(sealed)
    }

    /// Open a presented state: its seal must verify, it must not have expired at `now_ms`, and it must be bound
    /// to `expected`.
    pub fn open(&self, sealed: &str, expected: &Binding, now_ms: u64) -> Result<RoundState, StateRefused> {
        if sealed.len() > MAX_STATE_BYTES {
            return Err(StateRefused::TooLarge);
        }
        let (payload, tag) = sealed.split_once('.').ok_or(StateRefused::Malformed)?;
        let payload = B64.decode(payload).map_err(|_| StateRefused::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| StateRefused::Malformed)?;
        self.tag(&payload).verify_slice(&tag).map_err(|_| StateRefused::Tampered)?;
        let state: RoundState = serde_json::from_slice(&payload).map_err(|_| StateRefused::Malformed)?;
        if now_ms > state.expires_ms {
            return Err(StateRefused::Expired);
        }
        if &state.binding != expected {
            return Err(StateRefused::Mismatch);
        }
        Ok(state)
    }
}

/// JSON with object keys sorted at every level.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn binding() -> Binding {
        Binding::of("key-a", "tools/call", "book", &json!({"when": "today", "seats": 2}))
    }

    fn state(answers: Map<String, Value>) -> RoundState {
        RoundState { binding: binding(), expires_ms: 10_000, answers }
    }

    #[test]
    fn a_sealed_state_opens_for_the_same_request_only() {
        let key = StateKey::from_secret(b"s");
        let mut answers = Map::new();
        answers.insert("q1".into(), json!({"action": "accept"}));
        let sealed = key.seal(&state(answers.clone())).unwrap();
        assert_eq!(key.open(&sealed, &binding(), 9_999).unwrap().answers, answers);
        let reordered = Binding::of("key-a", "tools/call", "book", &json!({"seats": 2, "when": "today"}));
        assert!(key.open(&sealed, &reordered, 0).is_ok(), "key order does not change the digest");
        let other_args = Binding::of("key-a", "tools/call", "book", &json!({"when": "today", "seats": 3}));
        assert_eq!(key.open(&sealed, &other_args, 0), Err(StateRefused::Mismatch));
        let other_caller = Binding { principal: "key-b".into(), ..binding() };
        assert_eq!(key.open(&sealed, &other_caller, 0), Err(StateRefused::Mismatch));
        assert_eq!(key.open(&sealed, &binding(), 10_001), Err(StateRefused::Expired));
        assert_eq!(StateKey::from_secret(b"t").open(&sealed, &binding(), 0), Err(StateRefused::Tampered));
    }

    #[test]
    fn the_padded_key_is_the_digest_as_hmac_keys_it() {
        let mut hasher = Sha256::new();
        hasher.update(b"mcp-gateway request state v1\0");
        hasher.update(b"s");
        let digest = hasher.finalize();
        let by_slice = <Hmac<Sha256> as KeyInit>::new_from_slice(&digest).unwrap().chain_update(b"x").finalize();
        assert_eq!(StateKey::from_secret(b"s").tag(b"x").finalize().into_bytes(), by_slice.into_bytes());
    }

    #[test]
    fn any_altered_byte_is_refused() {
        let key = StateKey::from_secret(b"s");
        let sealed = key.seal(&state(Map::new())).unwrap();
        let (payload, tag) = sealed.split_once('.').unwrap();
        let mut json = B64.decode(payload).unwrap();
        let at = json.iter().position(|&b| b == b'k').unwrap();
        json[at] = b'j';
        let forged = format!("{}.{tag}", B64.encode(&json));
        assert_eq!(key.open(&forged, &binding(), 0), Err(StateRefused::Tampered));
        assert_eq!(key.open("not a state", &binding(), 0), Err(StateRefused::Malformed));
        assert_eq!(key.open(&format!("{sealed}x"), &binding(), 0), Err(StateRefused::Tampered), "a longer tag");
        assert_eq!(key.open(&"a".repeat(MAX_STATE_BYTES + 1), &binding(), 0), Err(StateRefused::TooLarge));
    }

    #[test]
    fn states_are_bounded_in_answers_and_bytes() {
        let key = StateKey::from_secret(b"s");
        let many: Map<String, Value> = (0..=MAX_ANSWERS).map(|i| (format!("q{i}"), json!(i))).collect();
        assert_eq!(key.seal(&state(many)), Err(StateTooBig::Answers));
        let mut big = Map::new();
        big.insert("q".into(), json!("x".repeat(MAX_STATE_BYTES)));
        assert_eq!(key.seal(&state(big)), Err(StateTooBig::Bytes));
    }

    #[test]
    fn the_key_file_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/request_state.key");
        let first = StateKey::load_or_create(&path).unwrap();
        let again = StateKey::load_or_create(&path).unwrap();
        let sealed = first.seal(&state(Map::new())).unwrap();
        assert!(again.open(&sealed, &binding(), 0).is_ok(), "the same key after a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
