//! What a worker's Realtime voice session is configured with: its persona, instructions built from its
//! metadata and the live schema of its database, its voice, the `worker_query` function (Realtime format
//! `{type: "function", name, description, parameters}`), turn detection (`turn_detection_json` or server VAD
//! defaults) and the model. [`SessionPlan::session`] is the `session` object the provider's client-secret
//! endpoint takes; minting the secret is the provider module's job.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::meta::Worker;
use super::sandbox::Sandbox;
use super::{DEFAULT_ROW_LIMIT, MAX_ROW_LIMIT};
use crate::config::SummaryLanguage;
use crate::error::GatewayError;

/// The name of the query function offered to the voice model (and of the MCP tool).
pub const QUERY_FUNCTION: &str = "worker_query";
/// Tables and columns described in instructions at most.
const MAX_TABLES: usize = 40;
const MAX_COLUMNS: usize = 40;
/// How long reading the schema may take.
const SCHEMA_DEADLINE: Duration = Duration::from_secs(2);

/// One table (or view) of a worker's database, with its columns as `name TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<String>,
}

/// Read the tables and columns of a worker's database (without `job_meta` and SQLite's own tables).
pub fn read_schema(path: &Path) -> Result<Vec<TableSchema>, GatewayError> {
    let read = || -> rusqlite::Result<Vec<TableSchema>> {
        let sandbox = Sandbox::open(path, Instant::now() + SCHEMA_DEADLINE)?;
        let mut tables = sandbox.conn.prepare(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' \
             AND name <> 'job_meta' ORDER BY name",
        )?;
        let names: Vec<String> = tables.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
        let mut columns = sandbox.conn.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
        names
            .into_iter()
            .take(MAX_TABLES)
            .map(|name| {
                let described = columns
                    .query_map([&name], |row| {
                        let column: String = row.get(0)?;
                        let kind: String = row.get(1)?;
                        Ok(if kind.is_empty() { column } else { format!("{column} {kind}") })
                    })?
                    .take(MAX_COLUMNS)
                    .collect::<Result<_, _>>()?;
                Ok(TableSchema { name, columns: described })
            })
            .collect()
    };
    read().map_err(|e| GatewayError::internal("reading a worker's schema", &e))
}

/// The `worker_query` function in the Realtime format; the session is bound to one worker, so it takes no id.
#[must_use]
pub fn query_function(language: SummaryLanguage) -> Value {
    let description = match language {
        SummaryLanguage::French => format!(
            "Exécute une seule requête SQL SELECT en lecture seule (SQLite) sur ma base et renvoie les lignes \
             avec un résumé à dire. {DEFAULT_ROW_LIMIT} lignes par défaut, {MAX_ROW_LIMIT} au plus."
        ),
        SummaryLanguage::English => format!(
            "Run one read-only SQL SELECT (SQLite) on my database and return the rows with a summary to say \
             aloud. {DEFAULT_ROW_LIMIT} rows by default, at most {MAX_ROW_LIMIT}."
        ),
    };
    json!({
        "type": "function",
        "name": QUERY_FUNCTION,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "One SQLite SELECT statement."},
                "limit": {"type": "integer", "minimum": 1, "description": format!("Rows to return, at most {MAX_ROW_LIMIT}.")},
            },
            "required": ["query"],
            "additionalProperties": false,
        },
    })
}

/// Everything a worker's voice session is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    pub persona: String,
    pub instructions: String,
    pub voice: String,
    pub tools: Vec<Value>,
    pub turn_detection: Value,
    pub model: String,
}

impl SessionPlan {
    /// Plan the session of `worker` whose database has `schema`.
    #[must_use]
    pub fn new(worker: &Worker, schema: &[TableSchema], model: &str, language: SummaryLanguage) -> Self {
        let persona = worker.persona.clone().unwrap_or_else(|| default_persona(worker, language));
        Self {
            instructions: instructions(worker, &persona, schema, language),
            persona,
            voice: worker.voice.clone(),
            tools: vec![query_function(language)],
            turn_detection: worker.turn_detection.clone().unwrap_or_else(default_turn_detection),
            model: model.to_owned(),
        }
    }

    /// The `session` object of `POST /v1/realtime/client_secrets`.
    #[must_use]
    pub fn session(&self, transcription_model: &str) -> Value {
        let mut input = json!({"turn_detection": self.turn_detection});
        if !transcription_model.is_empty() {
            input["transcription"] = json!({"model": transcription_model});
        }
        json!({
            "type": "realtime",
            "model": self.model,
            "instructions": self.instructions,
            "audio": {"input": input, "output": {"voice": self.voice}},
            "tools": self.tools,
        })
    }
}

/// Server VAD with the provider's usual thresholds.
fn default_turn_detection() -> Value {
    json!({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500})
}

fn default_persona(worker: &Worker, language: SummaryLanguage) -> String {
    let (job, employer) = (worker.text("job"), worker.text("employeur"));
    match language {
        SummaryLanguage::French => match (job, employer) {
            (Some(job), Some(employer)) => format!("Je suis {}, {job} chez {employer}.", worker.name),
            (Some(job), None) => format!("Je suis {}, {job}.", worker.name),
            _ => format!("Je suis {}.", worker.name),
        },
        SummaryLanguage::English => match (job, employer) {
            (Some(job), Some(employer)) => format!("I am {}, {job} at {employer}.", worker.name),
            (Some(job), None) => format!("I am {}, {job}.", worker.name),
            _ => format!("I am {}.", worker.name),
        },
    }
}

fn instructions(worker: &Worker, persona: &str, schema: &[TableSchema], language: SummaryLanguage) -> String {
    let tables: Vec<String> = schema.iter().map(|t| format!("- {}({})", t.name, t.columns.join(", "))).collect();
    let example = schema.first().map_or_else(|| "SELECT 1".to_owned(), |t| format!("SELECT COUNT(*) FROM {}", t.name));
    let bio = worker.text("bio").map(|b| format!("\n{b}")).unwrap_or_default();
    match language {
        SummaryLanguage::French => format!(
            "Tu es {name}. {persona}{bio}\n\
             Parle à la première personne, en français, en phrases courtes faciles à dire à voix haute.\n\
             Pour répondre sur ton travail et tes données, appelle l'outil `{QUERY_FUNCTION}` avec une seule \
             requête SQL SELECT (SQLite, lecture seule), par exemple `{example}`. Il renvoie les lignes et un \
             résumé à dire ; {DEFAULT_ROW_LIMIT} lignes par défaut, {MAX_ROW_LIMIT} au plus. N'invente jamais \
             de chiffres : interroge la base.\n\
             Schéma de ta base :\n{tables}",
            name = worker.name,
            tables = if tables.is_empty() { "(aucune table)".to_owned() } else { tables.join("\n") },
        ),
        SummaryLanguage::English => format!(
            "You are {name}. {persona}{bio}\n\
             Speak in the first person, in short sentences that are easy to say aloud.\n\
             To answer about your work and data, call the `{QUERY_FUNCTION}` tool with one SQL SELECT \
             (SQLite, read-only), for example `{example}`. It returns the rows and a summary to say; \
             {DEFAULT_ROW_LIMIT} rows by default, at most {MAX_ROW_LIMIT}. Never make numbers up: query the \
             database.\n\
             Your database schema:\n{tables}",
            name = worker.name,
            tables = if tables.is_empty() { "(no tables)".to_owned() } else { tables.join("\n") },
        ),
    }
}
