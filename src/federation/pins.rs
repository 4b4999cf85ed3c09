//! The pinned definitions of upstream tools, in SQLite (`{data_dir}/upstream_pins.db`, WAL, 5 s busy timeout):
//! the first definition seen of each upstream tool is pinned; a later different one is held (the tool is not
//! served) until an operator approves it, from `POST /admin/upstreams/{name}/approve` or from the CLI
//! (`mcp-gateway upstream approve`), which writes the same file from another process.
//!
//! What is pinned of a tool is its name, title, description, inputSchema, outputSchema and annotations as the
//! upstream gives them ([`Pins::definition`]), compared by the SHA-256 of their canonical JSON (object keys
//! sorted, [`Pins::digest`]), so an upstream that reorders keys changes nothing.
//!
//! A running gateway notices approvals made by another process through [`Pins::approvals_generation`]: a counter
//! in the `meta` table that every approval increments in the same transaction. `PRAGMA data_version` would not
//! do: it changes on every commit of any other connection, the gateway's own checks included, so it cannot tell
//! an approval from a recorded offer.
//!
//! Every call is blocking (one connection behind a mutex): on async paths, call from a blocking thread.
//! The schema is versioned with `PRAGMA user_version`; a file written by a newer schema is refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::{Map, Value};

use crate::audit::now_ms;

/// The file's name in the data dir.
const FILE_NAME: &str = "upstream_pins.db";

/// The version of [`SCHEMA`], kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "PRAGMA busy_timeout = 5000;
     CREATE TABLE IF NOT EXISTS pins (
         upstream TEXT NOT NULL,
         tool TEXT NOT NULL,
         definition TEXT NOT NULL,
         digest TEXT NOT NULL,
         pinned_ms INTEGER NOT NULL,
         PRIMARY KEY (upstream, tool)
     );
     -- an offered definition that differs from the pin, one per tool (a newer offer replaces it)
     CREATE TABLE IF NOT EXISTS held (
         upstream TEXT NOT NULL,
         tool TEXT NOT NULL,
         offered TEXT NOT NULL,
         digest TEXT NOT NULL,
         seen_ms INTEGER NOT NULL,
         PRIMARY KEY (upstream, tool)
     );
     -- 'approvals': incremented by every approval
     CREATE TABLE IF NOT EXISTS meta (
         key TEXT PRIMARY KEY,
         value INTEGER NOT NULL
     );";

/// The fields of a tool that are pinned, in the order the CLI reports changes.
const PINNED_FIELDS: [&str; 6] = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"];

/// What [`Pins::check`] found for an offered definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// First sight: the definition is now the pin.
    New,
    /// The pinned definition.
    Same,
    /// Another definition than the pinned one: it is held until approved.
    Changed { pinned: Value },
}

/// A held change: the pinned definition of a tool and the different one its upstream offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub upstream: String,
    pub tool: String,
    pub pinned: Value,
    pub offered: Value,
    /// When this offer was first seen (milliseconds since the epoch).
    pub seen_ms: i64,
}

/// A pinned tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub upstream: String,
    pub tool: String,
    /// SHA-256 (hex) of the pinned definition's canonical JSON.
    pub digest: String,
    /// When the definition was pinned (first seen or approved).
    pub pinned_ms: i64,
}

/// The pins database.
#[derive(Debug, Clone)]
pub struct Pins {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl Pins {
    /// Open (creating) the database at `path` with its schema.
    pub fn open(path: &Path) -> Result<Self, String> {
        let conn = crate::sqlite_file::open_wal(path, SCHEMA)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| format!("cannot read the schema version of {}: {e}", path.display()))?;
        if version > SCHEMA_VERSION {
            return Err(format!(
                "{} has schema version {version}, newer than this gateway's {SCHEMA_VERSION}",
                path.display()
            ));
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
                .map_err(|e| format!("cannot set the schema version of {}: {e}", path.display()))?;
        }
        Ok(Self { path: path.to_path_buf(), conn: Arc::new(Mutex::new(conn)) })
    }

    /// The database of a data dir (`{data_dir}/upstream_pins.db`).
    #[must_use]
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// The definition an upstream gives for a tool (one entry of its `tools/list`), reduced to what is pinned:
    /// name, title, description, inputSchema, outputSchema and annotations, those it has.
    #[must_use]
    pub fn definition(tool: &Value) -> Value {
        let pinned: Map<String, Value> = PINNED_FIELDS
            .iter()
            .filter_map(|field| tool.get(field).map(|value| ((*field).to_owned(), value.clone())))
            .collect();
        Value::Object(pinned)
    }

    /// SHA-256 (hex) of the canonical JSON of a definition (compact, object keys sorted).
    #[must_use]
    pub fn digest(definition: &Value) -> String {
        crate::audit::hash_arguments(definition)
    }

    /// Record or compare an offered definition: the first one seen of a tool is pinned ([`Verdict::New`]); the
    /// pinned one again is [`Verdict::Same`] (and drops a held change the upstream no longer offers); another one
    /// is held, replacing an earlier held one, and answers [`Verdict::Changed`] with the pinned definition.
    pub fn check(&self, upstream: &str, tool: &str, definition: &Value) -> Result<Verdict, String> {
        let digest = Self::digest(definition);
        self.write("checking a tool definition", |tx| {
            let pinned = tx
                .query_row(
                    "SELECT digest, definition FROM pins WHERE upstream = ?1 AND tool = ?2",
                    params![upstream, tool],
                    |row| Ok((row.get::<_, String>(0)?, json_column(row, 1)?)),
                )
                .optional()?;
            let now = now_ms();
            match pinned {
                None => {
                    tx.execute(
                        "INSERT INTO pins (upstream, tool, definition, digest, pinned_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![upstream, tool, definition.to_string(), digest, now],
                    )?;
                    Ok(Verdict::New)
                }
                Some((pinned_digest, _)) if pinned_digest == digest => {
                    tx.execute("DELETE FROM held WHERE upstream = ?1 AND tool = ?2", params![upstream, tool])?;
                    Ok(Verdict::Same)
                }
                Some((_, pinned)) => {
                    // The same offer again keeps when it was first seen.
                    tx.execute(
                        "INSERT INTO held (upstream, tool, offered, digest, seen_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (upstream, tool) DO UPDATE SET
                             offered = excluded.offered, digest = excluded.digest, seen_ms = excluded.seen_ms
                         WHERE held.digest <> excluded.digest",
                        params![upstream, tool, definition.to_string(), digest, now],
                    )?;
                    Ok(Verdict::Changed { pinned })
                }
            }
        })
    }

    /// Approve the held changes of `upstream` (all, or only those of `tools`, upstream names): each offered
    /// definition becomes the pin. Answers the tools approved, sorted; none when nothing (of those) is held.
    pub fn approve(&self, upstream: &str, tools: Option<&[String]>) -> Result<Vec<String>, String> {
        self.write("approving held changes", |tx| {
            let held: Vec<(String, String, String)> = tx
                .prepare("SELECT tool, offered, digest FROM held WHERE upstream = ?1 ORDER BY tool")?
                .query_map([upstream], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let now = now_ms();
            let mut approved = Vec::new();
            for (tool, offered, digest) in held {
                if tools.is_some_and(|wanted| !wanted.contains(&tool)) {
                    continue;
                }
                tx.execute(
                    "INSERT INTO pins (upstream, tool, definition, digest, pinned_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (upstream, tool) DO UPDATE SET
                         definition = excluded.definition, digest = excluded.digest, pinned_ms = excluded.pinned_ms",
                    params![upstream, tool, offered, digest, now],
                )?;
                tx.execute("DELETE FROM held WHERE upstream = ?1 AND tool = ?2", params![upstream, tool])?;
                approved.push(tool);
            }
            if !approved.is_empty() {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('approvals', 1)
                     ON CONFLICT (key) DO UPDATE SET value = value + 1",
                    [],
                )?;
            }
            Ok(approved)
        })
    }

    /// The held changes (of one upstream, or of all), by upstream and tool.
    pub fn held(&self, upstream: Option<&str>) -> Result<Vec<Held>, String> {
        self.read("reading held changes", |conn| {
            conn.prepare(
                "SELECT held.upstream, held.tool, pins.definition, held.offered, held.seen_ms
                 FROM held LEFT JOIN pins USING (upstream, tool)
                 WHERE ?1 IS NULL OR held.upstream = ?1 ORDER BY held.upstream, held.tool",
            )?
            .query_map([upstream], |row| {
                Ok(Held {
                    upstream: row.get(0)?,
                    tool: row.get(1)?,
                    // Null for a held change without a pin, which `check` never records.
                    pinned: json_column(row, 2)?,
                    offered: json_column(row, 3)?,
                    seen_ms: row.get(4)?,
                })
            })?
            .collect()
        })
    }

    /// Every pin, by upstream and tool.
    pub fn list(&self) -> Result<Vec<Pin>, String> {
        self.read("listing pins", |conn| {
            conn.prepare("SELECT upstream, tool, digest, pinned_ms FROM pins ORDER BY upstream, tool")?
                .query_map([], |row| {
                    Ok(Pin { upstream: row.get(0)?, tool: row.get(1)?, digest: row.get(2)?, pinned_ms: row.get(3)? })
                })?
                .collect()
        })
    }

    /// A number that changes whenever an approval is recorded, by this process or another on the same file:
    /// polling it is one indexed read.
    pub fn approvals_generation(&self) -> Result<i64, String> {
        self.read("reading the approvals generation", |conn| {
            conn.query_row("SELECT value FROM meta WHERE key = 'approvals'", [], |row| row.get(0))
                .optional()
                .map(Option::unwrap_or_default)
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<T>(&self, what: &str, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, String> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn).map_err(|e| self.failure(what, &e))
    }

    /// Run `f` in a write transaction taken at once (IMMEDIATE), so a concurrent writer in another process
    /// waits for the busy timeout instead of failing on a lock upgrade.
    fn write<T>(
        &self,
        what: &str,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let run = |conn: &mut Connection| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut conn).map_err(|e| self.failure(what, &e))
    }

    fn failure(&self, what: &str, error: &rusqlite::Error) -> String {
        format!("{what} in {}: {error}", self.path.display())
    }
}

/// What differs between a pinned and an offered definition, one readable item per field: `description changed`,
/// `inputSchema changed (+limit, -page, ~query, required)` (properties added, removed, changed), `title added`.
#[must_use]
pub fn changes(pinned: &Value, offered: &Value) -> Vec<String> {
    PINNED_FIELDS
        .iter()
        .filter_map(|field| match (pinned.get(field), offered.get(field)) {
            (before, after) if before == after => None,
            (None, _) => Some(format!("{field} added")),
            (_, None) => Some(format!("{field} removed")),
            (Some(before), Some(after)) => {
                let details = if field.ends_with("Schema") {
                    schema_changes(before, after)
                } else {
                    key_changes(before.as_object(), after.as_object())
                };
                Some(if details.is_empty() {
                    format!("{field} changed")
                } else {
                    format!("{field} changed ({})", details.join(", "))
                })
            }
        })
        .collect()
}

/// The properties added, removed or changed between two JSON Schemas, and `required` if it differs.
fn schema_changes(before: &Value, after: &Value) -> Vec<String> {
    let properties = |schema: &Value| schema.get("properties").and_then(Value::as_object).cloned();
    let mut details = key_changes(properties(before).as_ref(), properties(after).as_ref());
    if before.get("required") != after.get("required") {
        details.push("required".to_owned());
    }
    details
}

/// The keys added (`+k`), removed (`-k`) or changed (`~k`) between two objects; none unless both are objects.
fn key_changes(before: Option<&Map<String, Value>>, after: Option<&Map<String, Value>>) -> Vec<String> {
    let (Some(before), Some(after)) = (before, after) else { return Vec::new() };
    let added = after.keys().filter(|key| !before.contains_key(*key)).map(|key| format!("+{key}"));
    let removed_or_changed = before.iter().filter_map(|(key, value)| match after.get(key) {
        None => Some(format!("-{key}")),
        Some(other) if other != value => Some(format!("~{key}")),
        Some(_) => None,
    });
    added.chain(removed_or_changed).collect()
}

/// A column holding JSON text (SQL NULL: JSON null).
fn json_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Value> {
    match row.get::<_, Option<String>>(index)? {
        None => Ok(Value::Null),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn open() -> (tempfile::TempDir, Pins) {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::open(&Pins::path_in(dir.path())).unwrap();
        (dir, pins)
    }

    fn add(description: &str) -> Value {
        Pins::definition(&json!({
            "name": "add", "description": description,
            "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                            "required": ["a", "b"]},
            "annotations": {"readOnlyHint": true},
            "_meta": {"not": "pinned"}, "icons": []
        }))
    }

    #[test]
    fn the_definition_keeps_only_the_pinned_fields() {
        let tool = json!({"name": "t", "title": "T", "description": "d", "inputSchema": {"type": "object"},
                          "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true},
                          "_meta": {"x": 1}, "icons": [], "execution": {"taskSupport": "optional"}});
        assert_eq!(
            Pins::definition(&tool),
            json!({"name": "t", "title": "T", "description": "d", "inputSchema": {"type": "object"},
                   "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}})
        );
        assert_eq!(Pins::definition(&json!({"name": "bare"})), json!({"name": "bare"}));
    }

    #[test]
    fn the_digest_ignores_key_order_but_not_values() {
        let one: Value =
            serde_json::from_str(r#"{"name": "t", "inputSchema": {"type": "object", "required": []}}"#).unwrap();
        let other: Value =
            serde_json::from_str(r#"{"inputSchema": {"required": [], "type": "object"}, "name": "t"}"#).unwrap();
        assert_eq!(Pins::digest(&one), Pins::digest(&other));
        assert_eq!(Pins::digest(&one).len(), 64);
        assert_ne!(Pins::digest(&one), Pins::digest(&json!({"name": "t", "inputSchema": {"type": "object"}})));
    }

    #[test]
    fn first_sight_pins_then_the_same_definition_is_same() {
        let (_dir, pins) = open();
        assert_eq!(pins.check("crm", "add", &add("Add two numbers")).unwrap(), Verdict::New);
        assert_eq!(pins.check("crm", "add", &add("Add two numbers")).unwrap(), Verdict::Same);
        assert_eq!(pins.check("erp", "add", &add("Something else")).unwrap(), Verdict::New, "pins are per upstream");
        let listed = pins.list().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!((listed[0].upstream.as_str(), listed[0].tool.as_str()), ("crm", "add"));
        assert_eq!(listed[0].digest, Pins::digest(&add("Add two numbers")));
        assert!(pins.held(None).unwrap().is_empty());
    }

    #[test]
    fn a_changed_definition_is_held_with_the_pinned_one() {
        let (_dir, pins) = open();
        pins.check("crm", "add", &add("Add two numbers")).unwrap();
        let changed = add("Add two numbers and send them to evil.example");
        assert_eq!(pins.check("crm", "add", &changed).unwrap(), Verdict::Changed { pinned: add("Add two numbers") });
        let held = pins.held(Some("crm")).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].upstream.as_str(), held[0].tool.as_str()), ("crm", "add"));
        assert_eq!((&held[0].pinned, &held[0].offered), (&add("Add two numbers"), &changed));
        assert!(pins.held(Some("erp")).unwrap().is_empty());
        // Still held on the next look, first seen when it was first seen; the pin is unchanged.
        let seen = held[0].seen_ms;
        assert!(matches!(pins.check("crm", "add", &changed).unwrap(), Verdict::Changed { .. }));
        assert_eq!(pins.held(None).unwrap()[0].seen_ms, seen);
        assert_eq!(pins.list().unwrap()[0].digest, Pins::digest(&add("Add two numbers")));
    }

    #[test]
    fn a_newer_offer_replaces_the_held_one() {
        let (_dir, pins) = open();
        pins.check("crm", "add", &add("v1")).unwrap();
        pins.check("crm", "add", &add("v2")).unwrap();
        pins.check("crm", "add", &add("v3")).unwrap();
        let held = pins.held(None).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!((&held[0].pinned, &held[0].offered), (&add("v1"), &add("v3")));
        assert_eq!(pins.approve("crm", None).unwrap(), vec!["add".to_owned()]);
        assert_eq!(pins.check("crm", "add", &add("v3")).unwrap(), Verdict::Same);
    }

    #[test]
    fn the_pinned_definition_offered_again_drops_the_held_change() {
        let (_dir, pins) = open();
        pins.check("crm", "add", &add("v1")).unwrap();
        pins.check("crm", "add", &add("v2")).unwrap();
        assert_eq!(pins.check("crm", "add", &add("v1")).unwrap(), Verdict::Same);
        assert!(pins.held(None).unwrap().is_empty());
        assert_eq!(pins.approve("crm", None).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn approving_one_tool_leaves_the_others_held() {
        let (_dir, pins) = open();
        for tool in ["add", "sub"] {
            pins.check("crm", tool, &add("v1")).unwrap();
            pins.check("crm", tool, &add("v2")).unwrap();
        }
        assert_eq!(pins.approve("crm", Some(&["sub".to_owned(), "absent".to_owned()])).unwrap(), vec!["sub"]);
        assert_eq!(pins.check("crm", "sub", &add("v2")).unwrap(), Verdict::Same, "the approved offer is the pin");
        let held = pins.held(None).unwrap();
        assert_eq!(held.iter().map(|h| h.tool.as_str()).collect::<Vec<_>>(), ["add"]);
        assert!(matches!(pins.check("crm", "add", &add("v2")).unwrap(), Verdict::Changed { .. }));
    }

    #[test]
    fn approving_all_pins_every_offer_and_nothing_held_approves_nothing() {
        let (_dir, pins) = open();
        for tool in ["add", "sub"] {
            pins.check("crm", tool, &add("v1")).unwrap();
            pins.check("crm", tool, &add("v2")).unwrap();
        }
        pins.check("erp", "add", &add("v1")).unwrap();
        pins.check("erp", "add", &add("v2")).unwrap();
        assert_eq!(pins.approve("crm", None).unwrap(), vec!["add", "sub"]);
        for tool in ["add", "sub"] {
            assert_eq!(pins.check("crm", tool, &add("v2")).unwrap(), Verdict::Same);
        }
        assert_eq!(pins.held(None).unwrap().len(), 1, "the other upstream's change is still held");
        assert_eq!(pins.approve("crm", None).unwrap(), Vec::<String>::new());
        assert_eq!(pins.approve("nobody", None).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn another_handle_on_the_file_sees_approvals_through_the_generation() {
        let (dir, gateway) = open();
        let cli = Pins::open(&Pins::path_in(dir.path())).unwrap();
        gateway.check("crm", "add", &add("v1")).unwrap();
        gateway.check("crm", "add", &add("v2")).unwrap();
        let before = gateway.approvals_generation().unwrap();
        gateway.check("crm", "sub", &add("v1")).unwrap();
        assert_eq!(gateway.approvals_generation().unwrap(), before, "recording offers is no approval");
        assert_eq!(cli.approve("crm", None).unwrap(), vec!["add"]);
        let after = gateway.approvals_generation().unwrap();
        assert_ne!(after, before);
        assert_eq!(gateway.check("crm", "add", &add("v2")).unwrap(), Verdict::Same);
        assert_eq!(cli.approve("crm", None).unwrap(), Vec::<String>::new());
        assert_eq!(gateway.approvals_generation().unwrap(), after, "approving nothing changes nothing");
    }

    #[test]
    fn two_handles_writing_at_once_wait_for_each_other_instead_of_failing() {
        let (dir, gateway) = open();
        let cli = Pins::open(&Pins::path_in(dir.path())).unwrap();
        let offers = std::thread::spawn(move || {
            for round in 0..200 {
                gateway.check("crm", "add", &add(&format!("v{round}"))).unwrap();
            }
        });
        let mut approved = 0;
        for _ in 0..200 {
            approved += cli.approve("crm", None).unwrap().len();
        }
        offers.join().unwrap();
        approved += cli.approve("crm", None).unwrap().len();
        assert!(approved >= 1, "the last offer at least was approved");
        assert_eq!(cli.check("crm", "add", &add("v199")).unwrap(), Verdict::Same);
    }

    #[test]
    fn a_file_from_a_newer_schema_is_refused() {
        let (dir, pins) = open();
        let path = pins.path().to_path_buf();
        drop(pins);
        Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
        let error = Pins::open(&path).unwrap_err();
        assert!(error.contains("schema version 99"), "{error}");
        drop(dir);
    }

    #[test]
    fn changes_name_the_fields_and_properties_that_differ() {
        let pinned = add("v1");
        let mut offered = add("v2");
        offered["title"] = json!("Add");
        offered["inputSchema"]["properties"]["c"] = json!({"type": "number"});
        offered["inputSchema"]["properties"]["a"] = json!({"type": "string"});
        offered["inputSchema"]["properties"].as_object_mut().unwrap().remove("b");
        offered["inputSchema"]["required"] = json!(["a", "c"]);
        offered["annotations"] = json!({"readOnlyHint": false});
        assert_eq!(
            changes(&pinned, &offered),
            [
                "title added",
                "description changed",
                "inputSchema changed (+c, ~a, -b, required)",
                "annotations changed (~readOnlyHint)"
            ]
        );
        assert!(changes(&pinned, &pinned).is_empty());
    }
}
