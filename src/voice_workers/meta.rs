//! A worker's description, read from its `job_meta(skey, svalue)` table, and the seed's listing shape.
//!
//! Text fields are taken as written; JSON fields (`gallery`, `tags`, `kpis`, `recent_tools`,
//! `recent_transcripts`, `working_hours`, `turn_detection_json`) and `latency_hint_ms` are parsed, and a
//! malformed value becomes `null` with a warning naming the worker and the key, never a failed listing.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};

/// The voice used when `job_meta` names none.
pub const DEFAULT_VOICE: &str = "alloy";

/// Keys whose values are JSON documents.
const JSON_KEYS: &[&str] = &["gallery", "tags", "kpis", "recent_tools", "recent_transcripts", "working_hours"];
/// Keys whose values are plain text, listed as they are.
const TEXT_KEYS: &[&str] = &["avatar_url", "statut", "job", "employeur", "employe_depuis", "email", "bio", "timezone"];

/// One worker: its id, its database file, and what `job_meta` says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    /// The file stem after `worker_`, lower-cased.
    pub id: String,
    /// The database file (never shown to callers).
    pub path: PathBuf,
    /// The file's size in bytes.
    pub db_size: u64,
    pub name: String,
    pub voice: String,
    /// The first-person persona text, when set.
    pub persona: Option<String>,
    /// `turn_detection_json`, parsed, when set and valid.
    pub turn_detection: Option<Value>,
    /// Text fields by key (`null` when absent).
    text: HashMap<&'static str, Option<String>>,
    /// JSON fields by key (`null` when absent or malformed).
    documents: HashMap<&'static str, Value>,
    latency_hint_ms: Option<f64>,
}

impl Worker {
    /// Build from `job_meta` pairs; malformed JSON values are logged and become `null`.
    #[must_use]
    pub fn from_meta(id: String, path: PathBuf, db_size: u64, meta: &HashMap<String, String>) -> Self {
        let text_of = |key: &str| meta.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let json_of = |key: &str| -> Option<Value> {
            let raw = text_of(key)?;
            match serde_json::from_str(&raw) {
                Ok(value) => Some(value),
                Err(e) => {
                    tracing::warn!(worker = %id, key, error = %e, "job_meta value is not valid JSON; listed as null");
                    None
                }
            }
        };
        let name = text_of("worker_name").or_else(|| text_of("name")).unwrap_or_else(|| capitalized(&id));
        let voice = text_of("voice").unwrap_or_else(|| DEFAULT_VOICE.to_owned());
        let latency_hint_ms = text_of("latency_hint_ms").and_then(|raw| match raw.parse::<f64>() {
            Ok(ms) if ms.is_finite() && ms >= 0.0 => Some(ms),
            _ => {
                tracing::warn!(worker = %id, key = "latency_hint_ms", value = %raw, "not a number; listed as null");
                None
            }
        });
        let text = TEXT_KEYS.iter().map(|key| (*key, text_of(key))).collect();
        let documents = JSON_KEYS.iter().map(|key| (*key, json_of(key).unwrap_or(Value::Null))).collect();
        Self {
            persona: text_of("persona"),
            turn_detection: json_of("turn_detection_json").filter(Value::is_object),
            id,
            path,
            db_size,
            name,
            voice,
            text,
            documents,
            latency_hint_ms,
        }
    }

    /// A text field (`job`, `employeur`, `bio`, ...), when set.
    #[must_use]
    pub fn text(&self, key: &str) -> Option<&str> {
        self.text.get(key).and_then(Option::as_deref)
    }

    /// A JSON field (`kpis`, `tags`, ...), `null` when absent or malformed.
    #[must_use]
    pub fn document(&self, key: &str) -> &Value {
        self.documents.get(key).unwrap_or(&Value::Null)
    }

    /// The seed's listing entry.
    #[must_use]
    pub fn to_listing(&self) -> Value {
        let mut entry = json!({
            "id": self.id,
            "name": self.name,
            "voice": self.voice,
            "has_persona": self.persona.is_some(),
            "db_size": self.db_size,
            "latency_hint_ms": self.latency_hint_ms,
        });
        for key in TEXT_KEYS {
            entry[*key] = json!(self.text(key));
        }
        for key in JSON_KEYS {
            entry[*key] = self.document(key).clone();
        }
        entry
    }
}

fn capitalized(id: &str) -> String {
    let mut chars = id.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_fill_what_job_meta_leaves_out() {
        let worker = Worker::from_meta("alain".into(), PathBuf::from("x"), 10, &meta(&[]));
        let listing = worker.to_listing();
        assert_eq!(listing["name"], "Alain");
        assert_eq!(listing["voice"], "alloy");
        assert_eq!(listing["has_persona"], false);
        assert_eq!(listing["tags"], Value::Null);
        assert_eq!(listing["job"], Value::Null);
    }

    #[test]
    fn malformed_json_becomes_null_and_good_json_is_kept() {
        let pairs = [("tags", "[\"vente\""), ("kpis", "{\"ca\": 12}"), ("latency_hint_ms", "fast")];
        let listing = Worker::from_meta("b".into(), PathBuf::from("x"), 0, &meta(&pairs)).to_listing();
        assert_eq!(listing["tags"], Value::Null);
        assert_eq!(listing["kpis"], json!({"ca": 12}));
        assert_eq!(listing["latency_hint_ms"], Value::Null);
    }
}
